"""tagstream.levels: intensity levels by change-point analysis on photon arrival times."""
