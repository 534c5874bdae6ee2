"""tagstream.sources: where live tags come from, and how a live run is recorded and analysed.

    Source (base)       start(), read(timeout_s) -> TagChunk | None, stop(), drain(), close(),
                        counters(), finished, time_unit_ps, sync_divider; context manager
    QutagSource         quTAG via the vendor library (ctypes; TAGSTREAM_QUTAG_LIB)
    SimulatedSource     the simulator in real time × speed (default when no quTAG is attached)
    ReplaySource        a recorded file in real time × speed or as fast as possible, pausable
    PacedSource         any chunk iterable paced by wall clock (the two above are this)
    Recorder            every tag to disk + <recording>.meta.json
    LiveSession         source → recorder + analysis threads; status(), snapshot()
"""

from tagstream.sources.base import ClampingReorderer, DataLossEvent, Source, SourceCounters
from tagstream.sources.live import LiveSession, LiveStatus
from tagstream.sources.paced import PacedSource
from tagstream.sources.qutag import QutagSource
from tagstream.sources.recorder import Recorder, read_meta
from tagstream.sources.replay import ReplaySource

__all__ = ["ClampingReorderer", "DataLossEvent", "Source", "SourceCounters", "LiveSession", "LiveStatus", "PacedSource",
           "QutagSource", "Recorder", "read_meta", "ReplaySource"]
