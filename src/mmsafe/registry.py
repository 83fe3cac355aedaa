"""One generic registry for every pluggable kind (targets, judges, suites, attacks…).

Built-ins are registered lazily as "module:attr" strings so importing mmsafe stays light;
third-party packages add their own through the entry-point group `mmsafe.<kind>s`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from mmsafe.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._lazy: dict[str, tuple[str, str]] = {}  # name -> (module:attr, one-line summary)
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def lazy(self, name: str, path: str, summary: str = "") -> None:
        self._lazy[name] = (path, summary)

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self._items[name] = obj
            return obj

        return deco

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=f"mmsafe.{self.kind}s"):
            self._lazy.setdefault(ep.name, (ep.value, f"from {ep.dist.name if ep.dist else 'plugin'}"))

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(set(self._lazy) | set(self._items))

    def summary(self, name: str) -> str:
        self._load_entry_points()
        if name in self._lazy and self._lazy[name][1]:
            return self._lazy[name][1]
        doc = getattr(self._items.get(name) or self.get(name), "__doc__", "") or ""  # no summary given: the docstring's first line
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def get(self, name: str, flag: str | None = None) -> T:
        if name in self._items:
            return self._items[name]
        self._load_entry_points()
        if name not in self._lazy:
            where = f"{flag} " if flag else ""
            raise UsageError(f"{where}unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
        module, _, attr = self._lazy[name][0].partition(":")
        obj = getattr(importlib.import_module(module), attr)
        self._items[name] = obj
        return obj
