"""Click parameter types shared by the command groups."""

from __future__ import annotations

import math

import click


class Finite(click.FloatRange):
    """A float flag that refuses nan and inf (which pass any range check)."""

    def convert(self, value, param, ctx):
        v = super().convert(value, param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return v
