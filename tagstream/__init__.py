"""tagstream: streaming analysis of single-quantum-dot photon time tags.

Data flows one way: source -> TagChunk -> pipeline stages -> result snapshots -> views/exporters.
"""

from tagstream.chunk import TagChunk

__all__ = ["TagChunk", "__version__"]
__version__ = "0.1.0"
