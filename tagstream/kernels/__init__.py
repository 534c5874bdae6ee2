"""tagstream.kernels"""
