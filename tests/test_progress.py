"""Progress off a terminal: plain lines at least every 10 s and at each stage's end, for every stage."""

from __future__ import annotations

import io
import re

import pytest

from conftest import mmsafe
from mmsafe.engine.progress import BarProgress, LineProgress, for_console

pytestmark = pytest.mark.timeout(120)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_printer_prints_at_start_every_interval_and_at_the_end():
    clock, out = Clock(), io.StringIO()
    p = LineProgress(out, every=10.0, clock=clock)  # not entered: the test drives tick() itself
    bar = p.stage("generate", 204)
    assert out.getvalue().splitlines() == ["generate: 0/204 (0%) 0.0 s"]
    clock.now += 5
    bar.advance(100)
    p.tick()  # 5 s since the last line: nothing yet
    assert len(out.getvalue().splitlines()) == 1
    clock.now += 7.3
    bar.advance(20)
    p.tick()
    assert out.getvalue().splitlines()[-1] == "generate: 120/204 (58%) 12.3 s"
    clock.now += 9.9
    p.tick()  # 9.9 s since that line
    assert len(out.getvalue().splitlines()) == 2
    clock.now += 0.1
    p.tick()  # nothing advanced, but 10 s passed: a line anyway (a model loading, a slow reply)
    assert out.getvalue().splitlines()[-1] == "generate: 120/204 (58%) 22.3 s"
    clock.now += 1
    bar.advance(84)  # the end prints at once, without waiting for the interval
    assert out.getvalue().splitlines()[-1] == "generate: 204/204 (100%) 23.3 s done"
    clock.now += 60
    p.tick()  # a finished stage stays quiet
    assert len(out.getvalue().splitlines()) == 4


def test_several_stages_and_an_empty_one():
    clock, out = Clock(), io.StringIO()
    p = LineProgress(out, every=10.0, clock=clock)
    a, b = p.stage("judge:refusal", 3), p.stage("judge:embedding", 2)
    p.stage("metrics", 0)  # nothing to do: started and done at once
    clock.now += 10
    a.advance()
    p.tick()
    lines = out.getvalue().splitlines()
    assert "metrics: 0/0 0.0 s done" in lines
    assert lines[-2:] == ["judge:refusal: 1/3 (33%) 10.0 s", "judge:embedding: 0/2 (0%) 10.0 s"]
    b.advance(2)
    assert out.getvalue().splitlines()[-1] == "judge:embedding: 2/2 (100%) 10.0 s done"


def test_the_ticker_thread_prints_while_nothing_advances_and_exit_says_where_a_stage_stopped():
    out = io.StringIO()
    with LineProgress(out, every=0.05) as p:
        p.stage("load judges", 2)
        import time

        time.sleep(0.4)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 4 and all(l.startswith("load judges: 0/2 (0%)") for l in lines)


def test_bars_on_a_terminal_lines_elsewhere():
    from rich.console import Console

    assert isinstance(for_console(Console(file=io.StringIO(), force_terminal=True)), BarProgress)
    assert isinstance(for_console(Console(file=io.StringIO())), LineProgress)


def test_a_piped_run_shows_progress_lines_for_every_stage(tmp_path, fake_server):
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url, "--limit", "12",
               "--judge", "refusal", "--out", str(out), "--json", timeout=110)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    for stage, total in (("load judges", 1), ("generate", 12), ("metrics", 1)):
        assert any(re.fullmatch(rf"{stage}: {total}/{total} \(100%\) \d+\.\d s done", l) for l in lines), (stage, r.stderr)
    assert any(re.fullmatch(r"generate: 0/12 \(0%\) \d+\.\d s", l) for l in lines), r.stderr  # the stage's start
    # every stage that printed (judging, measuring the judge too when it ran) reached its end
    stages = {m.group(1) for l in lines if (m := re.fullmatch(r"([\w: -]+): \d+/\d+( \(\d+%\))? \d+\.\d s( done)?", l))}
    ended = {m.group(1) for l in lines if (m := re.fullmatch(r"([\w: -]+): \d+/\d+.* done", l))}
    assert stages == ended and {"load judges", "generate", "metrics"} <= stages, r.stderr
