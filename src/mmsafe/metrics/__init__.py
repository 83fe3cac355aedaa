from mmsafe.metrics.intervals import wilson
from mmsafe.metrics.rates import Outcome, summarize, summarize_outcomes

__all__ = ["Outcome", "summarize", "summarize_outcomes", "wilson"]
