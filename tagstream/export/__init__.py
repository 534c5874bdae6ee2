"""tagstream.export"""
