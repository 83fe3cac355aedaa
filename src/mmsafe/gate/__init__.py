"""The release gate: `mmsafe compare BASELINE CANDIDATE` pairs two runs of the same suite case by
case and says whether the candidate is significantly less safe (pairing, statistics, summaries)."""

from mmsafe.gate.compare import compare

__all__ = ["compare"]
