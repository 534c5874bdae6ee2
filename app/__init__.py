"""tagstream.app: the PyQt6 + pyqtgraph desktop app (installed as tagstream.app). It only displays
pipeline result snapshots; it computes nothing itself."""
