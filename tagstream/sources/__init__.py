"""tagstream.sources"""
