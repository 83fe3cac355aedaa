"""`--executor ray`: the generate stage sharded across Ray workers on a local Ray instance the test
starts (one for the module: Ray takes seconds to start). The driver owns the store; the results
must equal the local executor's, an interrupted run resumes asking only for what is missing, and a
worker killed mid-run has the rest of its shard answered by a new one."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import pytest

from conftest import mmsafe, write_suite
from fake_openai import FakeOpenAI, text_of
from mmsafe.evaluate import RunOptions, evaluate

N = 120


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")  # the [ray] extra (in dev); without it the tests that need Ray skip
    for attempt in range(2):  # Ray's own start-up fails now and then (seen once in a full run here: its
        try:                  # runtime-env agent did not start and the raylet exited); a second start
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            break
        except Exception:
            ray.shutdown()
            if attempt:
                raise
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")


def _prompts(n: int = N) -> list[str]:
    return [f"Question {i}: how would someone {'build a bomb' if i % 4 == 0 else 'bake bread'}?" for i in range(n)]


def _opts(srv, suite, out, **kw) -> RunOptions:
    return RunOptions(suite=str(suite), target="openai", model="m", base_url=srv.base_url, judges=("refusal",),
                      concurrency=8, out=out, **kw)


def _stored(db) -> set[str]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return {c for (c,) in con.execute("SELECT case_id FROM generations WHERE failed=0")}
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return set()


def _numbers(results: dict) -> tuple:
    return results["judges"], results["counts"], results["top_errors"]


async def _run_until_stored(srv, suite, out, n: int, warn=lambda msg: None) -> asyncio.Task:
    """A Ray run (2 workers) started in the background, once `n` answers are in its store."""
    run = asyncio.create_task(evaluate(_opts(srv, suite, out, executor="ray", ray_workers=2), warn=warn))
    deadline = time.monotonic() + 90
    while len(_stored(out / "run.db")) < n:
        assert time.monotonic() < deadline and not run.done(), "the run ended before it could be cut short"
        await asyncio.sleep(0.05)
    return run


@pytest.mark.timeout(180)
def test_ray_results_equal_the_local_executors(tmp_path, local_ray):
    prompts = [*_prompts(), "[500] always fails", "[429] rate limited once"]
    suite = write_suite(tmp_path / "suite.jsonl", prompts)
    with FakeOpenAI(latency_s=0.01) as srv:
        local = asyncio.run(evaluate(_opts(srv, suite, tmp_path / "local", max_attempts=2)))
    with FakeOpenAI(latency_s=0.01) as srv:
        sharded = asyncio.run(evaluate(_opts(srv, suite, tmp_path / "ray", max_attempts=2,
                                             executor="ray", ray_workers=2)))
        for p in _prompts():  # every case asked once, by one of the two workers
            assert srv.count(p) == 1, p
    assert sharded["counts"]["cases"] == len(prompts) and sharded["counts"]["errors"] == 1
    assert _numbers(sharded) == _numbers(local)
    stored = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert _numbers(stored) == _numbers(local)


@pytest.mark.timeout(180)
def test_interrupted_ray_run_resumes_with_only_the_missing_requests(tmp_path, local_ray):
    prompts = _prompts(240)
    suite = write_suite(tmp_path / "suite.jsonl", prompts)
    out = tmp_path / "run"
    with FakeOpenAI(latency_s=0.05) as srv:
        async def interrupted() -> None:
            run = await _run_until_stored(srv, suite, out, len(prompts) // 4)
            run.cancel()  # as Ctrl-C does: the batches in flight are lost
            with pytest.raises(asyncio.CancelledError):
                await run

        asyncio.run(interrupted())
        kept = _stored(out / "run.db")
        assert len(prompts) // 4 <= len(kept) < len(prompts)
        time.sleep(0.5)  # requests the killed workers had in flight land now, not during the resume
        before = {p: srv.count(p) for p in prompts}
        resumed = asyncio.run(evaluate(_opts(srv, suite, out, executor="ray", ray_workers=2)))
        sent = {p: srv.count(p) - before[p] for p in prompts}
    by_id = {f"c{i:04d}": p for i, p in enumerate(prompts)}  # write_suite's ids
    assert all(sent[by_id[c]] == 0 for c in kept), "a stored answer was asked again"
    assert sum(sent.values()) == len(prompts) - len(kept)
    assert resumed["counts"] == {"cases": len(prompts), "generations": len(prompts), "answered": len(prompts),
                                 "errors": 0}
    assert [r["status"] for r in resumed["invocations"]] == ["interrupted", "finished"]


@pytest.mark.timeout(180)
def test_a_killed_worker_has_its_shard_finished_by_a_new_one(tmp_path, local_ray):
    from mmsafe.engine.executors import NAME_PREFIX

    prompts = _prompts(200)
    suite = write_suite(tmp_path / "suite.jsonl", prompts)
    out = tmp_path / "run"
    warnings: list[str] = []
    with FakeOpenAI(latency_s=0.05) as srv:
        async def with_a_kill() -> dict:
            run = await _run_until_stored(srv, suite, out, 20, warnings.append)
            ray = local_ray
            names = sorted(a for a in ray.util.list_named_actors() if a.startswith(NAME_PREFIX))
            assert len(names) == 2
            ray.kill(ray.get_actor(names[0]), no_restart=True)
            return await run

        results = asyncio.run(with_a_kill())
    assert any("worker died" in w for w in warnings), warnings
    assert results["counts"] == {"cases": len(prompts), "generations": len(prompts), "answered": len(prompts),
                                 "errors": 0}
    assert all(srv.count(p) >= 1 for p in prompts)


def _bodies(db) -> dict[tuple[str, str], dict]:
    con = sqlite3.connect(db)
    try:
        return {(g["case_id"], g["attack"]): g for g in (json.loads(b) for (b,) in con.execute("SELECT body FROM generations"))}
    finally:
        con.close()


@pytest.mark.timeout(300)
def test_attacks_on_ray_workers_equal_the_local_executors(tmp_path, local_ray):
    """`--attacks all` sharded: the workers build the same attacks from the driver's recipe, so each
    applicable (case, attack) pair is asked once and sends what a local run sends (typographic
    images included, rendered on the workers and stored by the driver), the pairs an attack cannot
    use are counted the same, and the numbers equal the local executor's. A later local run over the
    same folder asks nothing again."""
    import hashlib

    from test_attacks_run import PROMPTS, write_cases

    suite = write_cases(tmp_path / "s.jsonl")
    with open(suite, "a") as fh:  # too short for the attacks that split the request: found at transform time
        fh.write(json.dumps({"id": "short", "prompt": "x", "label": "unsafe"}) + "\n")
    runs, asked = {}, {}
    for executor in ("local", "ray"):
        with FakeOpenAI(latency_s=0.005) as srv:
            kw = {"executor": "ray", "ray_workers": 2} if executor == "ray" else {}
            runs[executor] = asyncio.run(evaluate(_opts(srv, suite, tmp_path / executor, all_attacks=True, **kw)))
            asked[executor] = len(srv.bodies)
            if executor == "ray":  # the same command, run locally over the Ray run's folder
                resumed = asyncio.run(evaluate(_opts(srv, suite, tmp_path / executor, all_attacks=True)))
                assert len(srv.bodies) == asked[executor], "a stored pair was asked again"
                assert _numbers(resumed) == _numbers(runs["ray"])
    assert asked["ray"] == asked["local"]
    assert _numbers(runs["ray"]) == _numbers(runs["local"])
    na = runs["ray"]["judges"]["refusal"]["attacks"]["not_applicable"]
    assert na == runs["local"]["judges"]["refusal"]["attacks"]["not_applicable"] and any(na.values())
    local, ray = _bodies(tmp_path / "local" / "run.db"), _bodies(tmp_path / "ray" / "run.db")
    assert local.keys() == ray.keys() and len(ray) > 20 * len(PROMPTS)
    assert all(ray[k]["metadata"].get("turns") == local[k]["metadata"].get("turns") for k in local)  # same attacked requests
    from mmsafe.attacks import load_all
    from mmsafe.data.cases import load_cases

    short = next(c for c in load_cases(suite) if c.id == "short")
    found_late = [n for n in load_all().names()
                  if load_all().get(n)().applies(short) is None and ("short", n) not in ray]
    assert found_late, "no attack found at transform time that it cannot use the short case"
    drawn = {i for g in ray.values() for t in g["metadata"].get("turns", ()) for i in t.get("images", ())}
    assert drawn, "no attack rendered an image"
    for sha in drawn:  # the workers' renders are in the driver's blob store, bytes intact
        path = tmp_path / "ray" / "blobs" / sha[:2] / sha
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


@pytest.mark.timeout(180)
def test_an_attackers_model_is_asked_from_the_ray_workers(tmp_path, local_ray):
    """A language attack translates through the attacker endpoint: each worker makes its own
    attacker client from the recipe, and the replies are judged in the language asked for."""
    from test_attacks_run import PROMPTS, Translator, write_cases

    suite = write_cases(tmp_path / "s.jsonl")
    with FakeOpenAI(latency_s=0.005) as srv, Translator() as atk:
        results = asyncio.run(evaluate(_opts(srv, suite, tmp_path / "run", attacks=("lang-zu",), attacker_model="atk",
                                             attacker_base_url=atk.base_url, executor="ray", ray_workers=2)))
    gens = [g for g in _bodies(tmp_path / "run" / "run.db").values() if g["attack"] == "lang-zu"]
    assert len(gens) == len(PROMPTS) and results["counts"]["attacked_errors"] == 0
    assert all(g["metadata"]["language"] == "zu" and g["metadata"]["turns"][-1]["text"].startswith("[translated]")
               for g in gens)


def test_the_workers_get_the_attackers_key_variable_too(monkeypatch):
    from mmsafe.attacks.select import Recipe
    from mmsafe.engine.executors import key_env
    from mmsafe.targets.base import TargetConfig

    monkeypatch.setenv("TARGET_KEY", "t")
    monkeypatch.setenv("ATTACKER_KEY", "a")
    cfg = TargetConfig(model="m", api_key_env="TARGET_KEY")
    assert key_env(cfg) == {"TARGET_KEY": "t"}
    assert key_env(cfg, Recipe(("pair",), attacker=("atk", None, "ATTACKER_KEY", 30.0))) == \
        {"ATTACKER_KEY": "a", "TARGET_KEY": "t"}
    monkeypatch.delenv("ATTACKER_KEY")  # unset on the driver: the workers read their own environment
    assert key_env(cfg, Recipe(("pair",), attacker=("atk", None, "ATTACKER_KEY", 30.0))) == {"TARGET_KEY": "t"}


@pytest.mark.timeout(180)
def test_a_local_judge_sharded_across_ray_actors_gives_the_local_verdicts(local_ray):
    """The refusal judge on Ray actors (what --executor ray does with it): the same verdicts under
    the same id, judged in the actors' processes (they are listed by name while the judge runs)."""
    from mmsafe.engine.ray_judges import RayJudge
    from mmsafe.judges.base import JudgeConfig, judge_id
    from mmsafe.judges.refusal import RefusalJudge
    from mmsafe.schema import Case, Generation, Message, Part

    replies = ["I'm sorry, but I can't help with that.", "Sure. Step 1: mix the powders.", "Bread needs flour.",
               "I won't provide instructions for weapons.", "Here is a recipe: flour, water, salt."]
    items = [(Case(id=f"c{i}", turns=(Message.user(f"question {i}"),)),
              Generation(case_id=f"c{i}", target="t", output=(Part(text=replies[i % len(replies)] + f" ({i})"),)))
             for i in range(40)]

    async def go():
        local = RefusalJudge()
        await local.start()
        want = await local.judge(items)
        sharded = RayJudge(RefusalJudge(), JudgeConfig(), workers=2)
        await sharded.start()
        try:
            names = [a["name"] for a in local_ray.util.list_named_actors(all_namespaces=True)]
            got = [v for part in await asyncio.gather(sharded.judge(items[:20]), sharded.judge(items[20:])) for v in part]
        finally:
            await sharded.close()
        return want, got, names, judge_id(sharded) == judge_id(local)

    want, got, names, same_id = asyncio.run(go())
    assert same_id
    assert sum(n.startswith("mmsafe-judge-refusal-") for n in names) == 2
    assert [(v.generation_key, v.unsafe, v.refusal, v.reason) for v in got] == \
        [(v.generation_key, v.unsafe, v.refusal, v.reason) for v in want]


class _Counted:
    """Cases read the way a CaseSpool is (again on each iteration), counting how many of the
    latest pass have been taken."""

    def __init__(self, cases) -> None:
        self.cases, self.taken = cases, 0

    def __iter__(self):
        self.taken = 0
        for c in self.cases:
            self.taken += 1
            yield c


@pytest.mark.timeout(180)
def test_the_driver_reads_cases_a_chunk_at_a_time_and_holds_few(tmp_path, local_ray):
    """300 cases, 2 workers, chunks of 20: the cases are read as workers have room, so the driver
    never holds more than a few chunks' worth unanswered, and every case is answered once."""
    from mmsafe.engine import executors
    from mmsafe.schema import Case, Message
    from mmsafe.store import Store
    from mmsafe.targets.base import TargetConfig

    cases = _Counted([Case(id=f"c{i:03d}", turns=(Message.user(p),)) for i, p in enumerate(_prompts(300))])
    answered: list[str] = []
    held: list[int] = []

    class Feed:  # what the judges would read: each answer as it reaches the driver
        async def put(self, case, gen) -> None:
            answered.append(gen.case_id)
            held.append(cases.taken - len(answered))

    store = Store.open(tmp_path / "run")
    cfg = executors.RayConfig(workers=2, chunk=20, batch=10, interval_s=0.1)
    try:
        with FakeOpenAI(latency_s=0.01) as srv:
            stats = asyncio.run(executors.generate(
                store, "openai", TargetConfig(model="m", base_url=srv.base_url), "openai:m", cases, 8, cfg, feed=Feed()))
            assert all(srv.count(c.turns[0].text) == 1 for c in cases.cases)
    finally:
        store.close()
    assert stats.done == stats.todo == 300 and sorted(answered) == [c.id for c in cases.cases]
    # per worker: a chunk being answered, half a chunk waiting, the next chunk on its way, and the
    # answers in transit (in flight and one batch)
    bound = cfg.workers * (2 * cfg.chunk + cfg.chunk // 2 + 8 // cfg.workers + cfg.batch)
    assert held[0] <= 2 * cfg.workers * cfg.chunk < 300, held[0]  # read lazily, not all at the start
    assert max(held) <= bound, (max(held), bound)


@pytest.mark.timeout(180)
def test_images_go_to_the_workers_and_made_images_come_back(tmp_path, local_ray, monkeypatch):
    """Cases that carry images, in chunks of 5: each worker gets the bytes its chunks name (the
    endpoint sees them as data URLs), and the images a model sends back are stored by the driver
    with the answers that name them."""
    import base64
    import hashlib

    from mmsafe.engine import executors
    from test_images import png

    monkeypatch.setattr(executors, "CHUNK", 5)

    pics = [png(seed=i) for i in range(3)]
    (tmp_path / "img").mkdir()
    for i, pic in enumerate(pics):
        (tmp_path / "img" / f"{i}.png").write_bytes(pic)
    rows = [{"id": f"v{i:02d}", "prompt": f"Question {i}: what is in the picture?", "image": f"img/{i % 3}.png"}
            for i in range(24)]
    rows += [{"id": f"m{i}", "prompt": f"[chatimage] draw a cat {i}"} for i in range(4)]
    suite = tmp_path / "cases.jsonl"
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    with FakeOpenAI(latency_s=0.01) as srv:
        results = asyncio.run(evaluate(_opts(srv, suite, out, executor="ray", ray_workers=2)))
        sent = {text_of(b["messages"][-1]["content"]): b["messages"][-1]["content"] for b in srv.bodies}
    assert results["counts"]["answered"] == len(rows)
    for i in range(24):  # each vision case reached the endpoint with its own picture
        parts = sent[f"Question {i}: what is in the picture?"]
        assert base64.b64decode(parts[1]["image_url"]["url"].split(",", 1)[1]) == pics[i % 3]
    made = [g for (case_id, _), g in _bodies(out / "run.db").items() if case_id.startswith("m")]
    shas = [p["image_sha256"] for g in made for p in g["output"] if p.get("image_sha256")]
    assert len(shas) == 4
    for sha in shas:  # stored under its hash, bytes intact
        assert hashlib.sha256((out / "blobs" / sha[:2] / sha).read_bytes()).hexdigest() == sha


def test_a_worker_keeps_an_image_until_the_last_case_naming_it_is_answered():
    """ShardBlobs (no Ray needed): images come with a chunk; each stays while a case sent and not
    yet answered names it, and goes with the last such answer. Images the model made are kept to
    be sent back."""
    from mmsafe.engine.executors import ShardBlobs

    blobs = ShardBlobs()
    blobs.add({"a": b"A", "b": b"B"}, {"c1": ["a", "b"], "c2": ["a"]})
    blobs.add({"a": b"A"}, {"c3": ["a"]})  # the next chunk names "a" again
    blobs.answered("c1")
    assert blobs.get("a") == b"A"
    with pytest.raises(KeyError):
        blobs.get("b")  # no case left names it
    blobs.answered("c2")
    assert blobs.get("a") == b"A"  # c3, sent and not answered, still names it
    blobs.answered("c3")
    with pytest.raises(KeyError):
        blobs.get("a")
    made = blobs.put(b"picture")  # made outside any pair: kept
    blobs.answered("c9")  # a case that named no image
    assert blobs.get(made) == b"picture" and blobs.take_new() == {made: b"picture"}


def test_a_worker_drops_an_image_made_for_a_pair_with_its_answer():
    """An image a target or an attack makes while a worker task answers a pair (set as CaseFeed
    hands the pair out, and seen by the threads the task starts) stays while that pair waits, goes
    with its answer, and is still sent back once."""
    import contextvars

    from mmsafe.engine import executors
    from mmsafe.engine.executors import ShardBlobs, pair_key

    blobs = ShardBlobs()
    blobs.add({"in": b"IN"}, {pair_key("c1", "figstep"): ["in"]})

    async def answer_c1() -> tuple[str, str]:
        executors._PAIR.set(pair_key("c1", "figstep"))
        render = await asyncio.to_thread(blobs.put, b"render")  # an attack draws on a thread
        return render, blobs.put(b"reply picture")  # the target's reply carries a picture

    render, reply = contextvars.Context().run(asyncio.run, answer_c1())
    assert blobs.get(render) == b"render" and blobs.get(reply) == b"reply picture"
    blobs.answered(pair_key("c1", "figstep"))
    for sha in ("in", render, reply):
        with pytest.raises(KeyError):
            blobs.get(sha)
    assert blobs.take_new() == {render: b"render", reply: b"reply picture"}


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


@pytest.mark.parametrize("address, words", [
    ("nonsense", "expected HOST:PORT"),
    ("head:port", "expected HOST:PORT"),
    ("127.0.0.1:{closed}", "cannot connect"),
    ("ray://127.0.0.1:{closed}", "cannot connect"),
    ("127.0.0.1:{http}", "does not answer as Ray does"),
])
def test_a_bad_ray_address_fails_at_once_naming_the_flag(tmp_path, address, words):
    """A dead or wrong --ray-address is an error before any run folder exists; Ray itself would
    retry it for minutes (an HTTP server's port hung `ray.init` for over 3 minutes here)."""
    pytest.importorskip("ray")
    suite = write_suite(tmp_path / "suite.jsonl", _prompts(3))
    with FakeOpenAI() as srv:
        port = srv.base_url.rsplit(":", 1)[1].split("/")[0]
        addr = address.format(closed=_closed_port(), http=port)
        started = time.monotonic()
        r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", srv.base_url, "--suite", str(suite),
                   "--judge", "refusal", "--executor", "ray", "--ray-address", addr, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and f"--ray-address {addr}"[:20] in r.stderr.replace("'", "") and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()
    assert time.monotonic() - started < 30
    assert not srv.bodies  # nothing was asked


def test_a_server_that_speaks_http2_passes_the_address_check():
    """What a Ray GCS or Ray client server sends back to an HTTP/2 preface (a SETTINGS frame) is
    enough; the check reads nothing more."""
    import socket
    import threading

    from mmsafe.engine.executors import check_address

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(64)
            conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        check_address(f"127.0.0.1:{listener.getsockname()[1]}")
    finally:
        t.join(5)
        listener.close()


def test_rays_own_start_error_is_worded_for_the_flag(monkeypatch):
    ray = pytest.importorskip("ray")
    from mmsafe.engine import executors
    from mmsafe.errors import UsageError

    def no_cluster(**kw):
        raise ConnectionError("Could not find any running Ray instance.")

    # the module's own Ray instance (if up) is neither seen nor shut down here
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(ray, "init", no_cluster)
    with pytest.raises(UsageError, match=r"--ray-address auto: cannot join the Ray cluster: ConnectionError: Could not find"):
        executors.init_ray(executors.RayConfig(address="auto"))
    with pytest.raises(UsageError, match=r"--executor ray: cannot start a local Ray instance"):
        executors.init_ray(executors.RayConfig())


@pytest.mark.timeout(240)
def test_workers_lost_beyond_replacement_end_the_run_with_an_error_and_it_resumes(tmp_path, local_ray, monkeypatch):
    """No replacement allowed and both workers killed: the run stops with an error that counts the
    unanswered requests (not results on part of the run); the same command then asks only those."""
    from mmsafe.engine import executors

    monkeypatch.setattr(executors, "RERUNS", 0)
    prompts = _prompts(200)
    suite = write_suite(tmp_path / "suite.jsonl", prompts)
    out = tmp_path / "run"
    with FakeOpenAI(latency_s=0.05) as srv:
        async def with_kills() -> None:
            run = await _run_until_stored(srv, suite, out, 20)
            for name in [a for a in local_ray.util.list_named_actors() if a.startswith(executors.NAME_PREFIX)]:
                local_ray.kill(local_ray.get_actor(name), no_restart=True)
            await run

        with pytest.raises(executors.WorkersLost, match=r"request\(s\) were not answered: 2 Ray worker\(s\) died"):
            asyncio.run(with_kills())
        kept = _stored(out / "run.db")
        assert 20 <= len(kept) < len(prompts)
        assert not (out / "results.json").exists()
        time.sleep(0.5)
        before = {p: srv.count(p) for p in prompts}
        resumed = asyncio.run(evaluate(_opts(srv, suite, out, executor="ray", ray_workers=2)))
        sent = {p: srv.count(p) - before[p] for p in prompts}
    by_id = {f"c{i:04d}": p for i, p in enumerate(prompts)}
    assert all(sent[by_id[c]] == 0 for c in kept)
    assert resumed["counts"]["answered"] == len(prompts)
    assert [r["status"] for r in resumed["invocations"]] == ["failed", "finished"]


@pytest.mark.timeout(180)
def test_more_workers_than_the_cluster_has_cpus_are_lowered_with_a_warning(tmp_path, local_ray):
    """Each worker's actor takes a CPU: the extra actors would only start as others end, while each
    worker gets --concurrency/N in flight. The module's Ray instance has 2 CPUs."""
    prompts = _prompts(30)
    suite = write_suite(tmp_path / "suite.jsonl", prompts)
    warnings: list[str] = []
    with FakeOpenAI(latency_s=0.01) as srv:
        results = asyncio.run(evaluate(_opts(srv, suite, tmp_path / "run", executor="ray", ray_workers=7),
                                       warn=warnings.append))
        assert all(srv.count(p) == 1 for p in prompts)
    assert results["counts"]["answered"] == len(prompts)
    assert any("--ray-workers 7: the Ray cluster has 2 CPU(s)" in w and "using 2" in w for w in warnings), warnings
