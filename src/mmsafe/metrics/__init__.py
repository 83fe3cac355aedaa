from mmsafe.metrics.intervals import wilson
from mmsafe.metrics.rates import summarize

__all__ = ["summarize", "wilson"]
