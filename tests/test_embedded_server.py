"""The gguf target's server backend: the embedded SmolLM2 really served by llama.cpp in-process on
127.0.0.1 with parallel slots, asked through the openai fast path, and the server gone afterwards."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from urllib.parse import urlsplit

import pytest

from conftest import mmsafe

pytest.importorskip("xllamacpp")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

from mmsafe.schema import Case, Message, Part  # noqa: E402
from mmsafe.targets import TargetConfig  # noqa: E402
from mmsafe.targets.gguf import GGUFTarget  # noqa: E402
from mmsafe.targets.gguf_server import EmbeddedServer, ServedGGUF  # noqa: E402


def case(i: int, text: str) -> Case:
    return Case(id=f"c{i}", target_id=f"c{i}", task="TT", turns=(Message(role="user", parts=(Part(text=text),)),),
                label="benign", category="test", language="en")


def port_open(address: str) -> bool:
    parts = urlsplit(address)
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((parts.hostname, parts.port)) == 0


@pytest.fixture(autouse=True)
def _backend(monkeypatch):
    monkeypatch.delenv("MMSAFE_GGUF_BACKEND", raising=False)
    monkeypatch.setenv("MMSAFE_THREADS", "2")


def test_embedded_model_is_served_on_loopback_and_stopped_on_close():
    t = GGUFTarget(TargetConfig(params={"max_tokens": 8}, slots=2))
    assert isinstance(t._impl, ServedGGUF) and t.max_concurrency == 2

    async def go():
        await t.start()
        address = t._impl.server.address
        assert address.startswith("http://127.0.0.1:") and port_open(address)
        try:
            replies = await asyncio.gather(*(t.generate(case(i, p)) for i, p in
                                             enumerate(["Say hello.", "Name a colour.", "What is 2+2?"])))
        finally:
            await t.close()
        return address, replies

    address, replies = asyncio.run(go())
    for r in replies:
        assert r.output[0].text.strip()  # the real model wrote something
        assert 0 < r.completion_tokens <= 8 and r.prompt_tokens > 0
    assert not port_open(address) and not EmbeddedServer.live


def test_greedy_replies_repeat_with_the_seed_fixed():
    async def ask():
        t = GGUFTarget(TargetConfig(params={"max_tokens": 12}, slots=1))
        await t.start()
        try:
            return (await t.generate(case(0, "Write one sentence about the sea."))).output[0].text
        finally:
            await t.close()

    assert asyncio.run(ask()) == asyncio.run(ask())


def test_a_cancelled_generation_still_stops_the_server():
    t = GGUFTarget(TargetConfig(params={"max_tokens": 200}, slots=2))

    async def go():
        await t.start()
        address = t._impl.server.address
        task = asyncio.create_task(t.generate(case(0, "Tell me a long story about a dragon.")))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await t.close()
        return address

    address = asyncio.run(go())
    assert not port_open(address) and not EmbeddedServer.live


def test_a_run_stores_replies_and_leaves_no_server_behind(tmp_path, monkeypatch):
    from mmsafe.evaluate import RunOptions, evaluate

    seen: list[EmbeddedServer] = []
    start = EmbeddedServer.start
    monkeypatch.setattr(EmbeddedServer, "start", lambda self: (seen.append(self), start(self))[1])
    out = tmp_path / "run"
    res = asyncio.run(evaluate(RunOptions(limit=3, params={"max_tokens": 12}, judges=("refusal",), out=out, slots=3)))
    assert res["counts"] == {"cases": 3, "generations": 3, "answered": 3, "errors": 0}
    con = sqlite3.connect(out / "run.db")
    bodies = [json.loads(b) for (b,) in con.execute("SELECT body FROM generations")]
    con.close()
    assert len(bodies) == 3 and all(b["output"][0]["text"].strip() and b["completion_tokens"] <= 12 for b in bodies)
    assert len(seen) == 1 and not seen[0].running and not port_open(seen[0].address)
    assert not EmbeddedServer.live
    assert res["backends"] == ["llama.cpp server, 3 slots"]
    # resumed with another slot count (replies decoded in other batches): both are on record, and said
    res = asyncio.run(evaluate(RunOptions(limit=4, params={"max_tokens": 12}, judges=("refusal",), out=out, slots=2)))
    assert res["backends"] == ["llama.cpp server, 3 slots", "llama.cpp server, 2 slots"]
    # resumed once more in a third setup that decodes nothing (every reply stored): not listed
    res = asyncio.run(evaluate(RunOptions(limit=4, params={"max_tokens": 12}, judges=("refusal",), out=out, slots=1)))
    assert res["backends"] == ["llama.cpp server, 3 slots", "llama.cpp server, 2 slots"]
    from mmsafe.report.runs import load_runs
    from mmsafe.report.site import run_facts

    assert any("more than one decoding setup" in c for c in run_facts(load_runs([out])[0])["caveats"])


def test_a_file_that_is_not_gguf_is_named_before_the_run(tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    r = mmsafe("run", "--model", str(bad), "--limit", "1", "--judge", "refusal", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "is not a GGUF file" in r.stderr and "--model" in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()


def test_a_broken_gguf_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 8)  # the magic, then garbage
    r = mmsafe("run", "--model", str(bad), "--limit", "1", "--judge", "refusal", "--out", str(tmp_path / "run"),
               timeout=300)
    assert r.returncode != 0 and "could not load this GGUF file" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
