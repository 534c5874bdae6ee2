"""Views: one small module per plot. Each view owns pyqtgraph items on a PlotItem given to it and has
update(results, ...) that only copies arrays from a tagstream Results snapshot into those items
(display transforms only: units, cropping to the visible window, log of zeros -> NaN). The same
views draw the live window (tagstream.app.window) and the PNG report (tagstream.export.report).
"""

from tagstream.app.views.blinking import CorrelationView, DwellHistogramView
from tagstream.app.views.decays import DecayView
from tagstream.app.views.flid import FlidView
from tagstream.app.views.g2 import G2View
from tagstream.app.views.levels import LevelFlidView, LevelsOverlay
from tagstream.app.views.lifetime import LifetimeHistogramView, LifetimeTraceView
from tagstream.app.views.spectra import SpectraViews
from tagstream.app.views.trace import IntensityTraceView

__all__ = ["CorrelationView", "DwellHistogramView", "DecayView", "FlidView", "G2View", "IntensityTraceView", "LevelFlidView", "LevelsOverlay", "LifetimeHistogramView", "LifetimeTraceView",
           "SpectraViews"]
