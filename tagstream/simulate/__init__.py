"""tagstream.simulate"""
