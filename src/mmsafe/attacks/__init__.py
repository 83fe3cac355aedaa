"""Attacks: one file per family, each attack registered by decorator (`@register`), looked up by
name (`--attack NAME`), family (`--attack-family F`) or all at once (`--attacks all`)."""

from __future__ import annotations

import importlib
import pkgutil

from mmsafe.attacks.base import Attack, AttackContext, NotApplicable
from mmsafe.registry import Registry

attacks: Registry[type[Attack]] = Registry("attack")

# modules of this package that hold no family; every other module is one family of attacks
NOT_FAMILIES = frozenset({"base", "attacker", "select", "render"})


def family_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_FAMILIES)


def register(cls: type[Attack]) -> type[Attack]:
    """Class decorator: add an attack to the registry under its `name`."""
    if not cls.name or not cls.family:
        raise TypeError(f"{cls.__name__}: an attack needs a name and a family")
    if cls.name in attacks._items and attacks._items[cls.name] is not cls:
        raise TypeError(f"attack name {cls.name!r} is registered twice")
    attacks.register(cls.name)(cls)
    return cls


_loaded = False


def load_all() -> Registry[type[Attack]]:
    """Import every built-in family (and plugins from the `mmsafe.attacks` entry-point group)."""
    global _loaded
    if not _loaded:
        for module in family_modules():  # importing a family's module registers its attacks
            importlib.import_module(f"mmsafe.attacks.{module}")
        _loaded = True
    return attacks


__all__ = ["Attack", "AttackContext", "NotApplicable", "attacks", "load_all", "register"]
