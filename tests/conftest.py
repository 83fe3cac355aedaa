from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture
def fake_server():
    with FakeOpenAI() as srv:
        yield srv


def write_suite(path: Path, prompts: list[str], label_every: int = 3) -> Path:
    """A user suite file: every `label_every`-th prompt is benign."""
    with path.open("w", encoding="utf-8") as fh:
        for i, p in enumerate(prompts):
            benign = i % label_every == 0
            fh.write(json.dumps({"id": f"c{i:04d}", "prompt": p, "label": "benign" if benign else "unsafe",
                                 "category": f"cat{i % 4}", "language": "en" if i % 2 else "fr"}) + "\n")
    return path


def mmsafe(*args: str, env: dict | None = None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OPENAI_API_KEY": "test-key", **(env or {})}
    return subprocess.run([sys.executable, "-m", "mmsafe", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, **kw)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    # trained judge heads are cached per test session, never in the user's home
    os.environ["MMSAFE_CACHE"] = str(tmp_path_factory.getbasetemp() / "mmsafe-cache")


def plugin_env(tmp_path: Path, name: str, source: str, entry_points: str) -> dict:
    """Install a one-module plugin package (entry points given as entry_points.txt text) into a
    folder of its own; returns the environment that puts it on the path of an `mmsafe` subprocess."""
    site = tmp_path / "site"
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"{name}.py").write_text(source)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def judge_once(judge, items, timeout: float = 300):
    """Start a judge, judge `items` [(Case, Generation)], close it; returns the verdicts."""
    import asyncio

    async def go():
        await judge.start()
        try:
            return await judge.judge(items)
        finally:
            await judge.close()

    return asyncio.run(asyncio.wait_for(go(), timeout))


def stored_generations(out: Path) -> dict[str, dict]:
    """The generations a run folder's database holds, by case id, as stored JSON."""
    import sqlite3

    con = sqlite3.connect(out / "run.db")
    try:
        return {cid: json.loads(body) for cid, body in con.execute("SELECT case_id, body FROM generations")}
    finally:
        con.close()
