"""tagstream.io"""
