"""Progress display: a rich bar per stage on a terminal, plain lines where stderr is not a
terminal (CI logs, pipes: "generate: 120/204 (59%) 12.3 s" at least every 10 s and at each
stage's end), or nothing (tests). `for_console` picks."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, TextIO

LINE_EVERY_S = 10.0


def for_console(console: Any) -> Any:
    """Bars on a terminal, lines anywhere else (rich draws nothing live off a terminal)."""
    return BarProgress(console) if console.is_terminal else LineProgress(console.file)


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


class LineProgress:
    """One plain line per stage on `stream`: when the stage starts, every `every` seconds while it
    runs (a ticker thread prints even when nothing advances, e.g. while a model loads), and when it
    ends. advance() only bumps a counter, under a lock (judges advance from worker threads)."""

    def __init__(self, stream: TextIO | None = None, every: float = LINE_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._out = stream or sys.stderr
        self.every, self._clock = every, clock
        self._lock = threading.Lock()
        self._stages: list[_Line] = []
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def stage(self, name: str, total: int) -> _Line:
        line = _Line(self, name, total, self._clock())
        with self._lock:
            self._stages.append(line)
        self._print(line)
        if total <= 0:
            line.close()
        return line

    def tick(self) -> None:
        """Print every running stage not printed for `every` seconds (the ticker calls this)."""
        now = self._clock()
        with self._lock:
            due = [s for s in self._stages if not s.ended and now - s.printed >= self.every]
        for s in due:
            self._print(s)

    def _print(self, line: _Line) -> None:
        now = self._clock()
        with self._lock:
            line.printed = now
            text = line.render(now)
        try:
            self._out.write(text + "\n")
            self._out.flush()
        except (OSError, ValueError):  # a closed pipe must not stop the run
            pass

    def _ended(self, line: _Line) -> None:
        with self._lock:
            if line.ended:
                return
            line.ended = True
        self._print(line)

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.every)):
            self.tick()

    def __enter__(self) -> LineProgress:
        self._ticker = threading.Thread(target=self._run, name="mmsafe-progress", daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:  # a stage cut short (Ctrl-C, an error) still says where it stopped
            open_ = [s for s in self._stages if not s.ended]
        for s in open_:
            self._print(s)


class _Line:
    def __init__(self, owner: LineProgress, name: str, total: int, started: float) -> None:
        self._owner, self.name, self.total, self.started = owner, name, max(0, total), started
        self.done, self.printed, self.ended = 0, started, False

    def advance(self, n: int = 1) -> None:
        with self._owner._lock:
            self.done += n
            finished = self.done >= self.total
        if finished:
            self._owner._ended(self)

    def close(self) -> None:
        self._owner._ended(self)

    def render(self, now: float) -> str:
        pct = f" ({100 * self.done // self.total}%)" if self.total else ""
        return f"{self.name}: {self.done}/{self.total}{pct} {now - self.started:.1f} s" + (" done" if self.ended else "")
