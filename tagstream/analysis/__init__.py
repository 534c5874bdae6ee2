"""tagstream.analysis"""
