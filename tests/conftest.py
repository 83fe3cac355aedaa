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
