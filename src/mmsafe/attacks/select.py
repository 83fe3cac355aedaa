"""From flags to attack instances: `--attack NAME` (repeatable), `--attack-family F` (repeatable),
`--attacks all`, `--attack-param [NAME.]KEY=VALUE` (with NAME, that attack only; without, every
selected attack that takes KEY)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmsafe.attacks import load_all
from mmsafe.attacks.base import Attack, AttackContext
from mmsafe.errors import UsageError


def families() -> dict[str, list[str]]:
    reg = load_all()
    out: dict[str, list[str]] = {}
    for name in reg.names():
        out.setdefault(reg.get(name).family, []).append(name)
    return out


def chosen(names: tuple[str, ...] = (), fams: tuple[str, ...] = (), every: bool = False) -> list[str]:
    """The attack names the flags select, in registry order, each once; `none` is the plain case."""
    reg = load_all()
    if every:
        return reg.names()
    by_family = families()
    picked: list[str] = []
    for f in fams:
        if f not in by_family:
            raise UsageError(f"--attack-family: unknown family {f!r}; choose one of: {', '.join(sorted(by_family))}")
        picked.extend(by_family[f])
    for n in names:
        if n == "none":
            continue  # the plain case always runs
        reg.get(n, "--attack")
        picked.append(n)
    return list(dict.fromkeys(picked))


def build(names: list[str], params: dict[str, Any], ctx: AttackContext) -> list[Attack]:
    """Instances of the named attacks with their --attack-param values; a parameter no selected
    attack takes is an error naming it."""
    reg = load_all()
    per: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in params.items():
        target, dot, k = key.rpartition(".")
        if dot:
            if target not in per:
                raise UsageError(f"--attack-param {key}: attack {target!r} is not selected")
            if k not in reg.get(target).defaults:
                raise UsageError(f"--attack-param {key}: {target} takes {_takes(reg.get(target))}")
            per[target][k] = value
        else:
            takers = [n for n in names if k in reg.get(n).defaults]
            if not takers:
                raise UsageError(f"--attack-param {key}: no selected attack takes {k!r}")
            for n in takers:
                per[n].setdefault(k, value)
    out = []
    for n in names:
        try:
            out.append(reg.get(n)(ctx, **per[n]))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--attack-param: {exc}") from None
    labels = [a.label for a in out]
    if len(set(labels)) != len(labels):
        raise UsageError("--attack: the same attack is selected twice with the same parameters")
    return out


@dataclass(frozen=True)
class Recipe:
    """What a run's attacks are built from, picklable: the driver builds them from it, and so does
    each Ray worker (`--executor ray`), with its own blob store and attacker client, so both hold the
    same attacks under the same labels."""

    names: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)  # --attack-param
    budget: int = 20  # --attack-budget
    modes: frozenset[str] | None = None
    # model, base URL, key variable, timeout, temperature, max tokens, tries per request (Attacker's arguments)
    attacker: tuple[str, str | None, str | None, float, float, int, int] | None = None

    def build(self, blobs: Any = None) -> tuple[list[Attack], AttackContext]:
        from mmsafe.attacks.attacker import Attacker

        ctx = AttackContext(blobs=blobs, attacker=Attacker(*self.attacker) if self.attacker else None,
                            budget=self.budget, modes=self.modes)
        return build(list(self.names), self.params, ctx), ctx


def _takes(cls: type[Attack]) -> str:
    return ", ".join(f"{k} (default {v!r})" for k, v in cls.defaults.items()) or "no parameters"
