"""tagstream.stages"""
