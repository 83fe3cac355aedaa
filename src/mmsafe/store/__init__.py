from mmsafe.store.sqlite import Store

__all__ = ["Store"]
