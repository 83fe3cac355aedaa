"""Progress display: a rich bar on stderr, or nothing (for --json and tests)."""

from __future__ import annotations

from typing import Any


class NullProgress:
    def stage(self, name: str, total: int) -> Any:
        return self

    def advance(self, n: int = 1) -> None:
        return None

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class BarProgress:
    """One bar per stage; advance() is a counter bump, the bar redraws on rich's own thread."""

    def __init__(self, console: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            refresh_per_second=8,
        )

    def stage(self, name: str, total: int) -> _Bar:
        """A bar of its own: several stages (one per judge) may advance at once."""
        return _Bar(self._p, self._p.add_task(name, total=total))

    def __enter__(self) -> BarProgress:
        self._p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._p.stop()


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._p, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        self._p.advance(self._task, n)
