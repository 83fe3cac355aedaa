"""Command line: thin parsing over the library (heavy imports happen inside commands)."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import click

from mmsafe.flagtypes import Finite

from mmsafe import __version__


SIGTERM_EXIT = 128 + signal.SIGTERM  # 143, what a shell reports for a process ended by SIGTERM


def _fail(exc: Exception) -> None:
    from mmsafe.errors import printable
    from mmsafe.redact import redact

    if isinstance(exc, sqlite3.DatabaseError):  # met while reading run folders (report, export, compare)
        exc = _unreadable(exc)
    # server and file text ends up in messages: no escape sequences, no secrets, and one line (a
    # server's text cannot add lines that pass for mmsafe's own in a log)
    click.echo(f"mmsafe: error: {' '.join(printable(redact(str(exc))).split())}", err=True)
    sys.exit(getattr(exc, "exit_code", 2))


def _unreadable(exc: Exception) -> Exception:
    """An SQLite error met while reading run folders (report, export, compare): malformed JSON in
    a record, a damaged page. Reported as a damaged database (by _fail), never a traceback."""
    from mmsafe.errors import UsageError

    return UsageError(f"a run database could not be read ({exc}): it is damaged or was changed outside mmsafe; "
                      "restore it from a copy, or run again into a new --out")


class WorkersOrAuto(click.ParamType):
    """`auto` (None) or a count of processes, 0 to 256."""

    name = "auto|N"

    def convert(self, value, param, ctx):
        if value is None or value == "auto":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            try:
                n = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is neither auto nor a whole number", param, ctx)
        if not 0 <= n <= 256:
            self.fail(f"{n} is not in 0..256", param, ctx)
        return n


def _tune_gc() -> None:
    """A run allocates a few short-lived objects per request, hundreds of thousands in all, beside a
    large heap that lives as long as the run (modules, the judges' models: evaluate freezes it once
    they are loaded, so no collection walks it again). Collect the youngest generation every 20,000
    allocations instead of 700; cyclic garbage is still collected."""
    import gc

    gc.set_threshold(20_000, 10, 10)


class Terminated(Exception):
    """SIGTERM arrived: the run was cancelled like a Ctrl-C."""


async def _until_sigterm(coro):
    """Await `coro`; SIGTERM (timeout, systemd, Kubernetes) cancels it the way Ctrl-C does."""
    import asyncio

    task, loop = asyncio.current_task(), asyncio.get_running_loop()
    got: list[bool] = []

    def on_term() -> None:
        got.append(True)
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_term)
    try:
        return await coro
    except asyncio.CancelledError:
        if got:
            raise Terminated() from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def judge_options(fn):
    """The flags that configure judges which need a model or settings (shared by run and judge-eval)."""
    opts = [
        click.option("--judge-model", default=None, help="Model for LLM/guard judges: a name behind --judge-base-url, or a local path."),
        click.option("--judge-base-url", default=None, help="OpenAI-compatible endpoint serving the judge model."),
        click.option("--judge-api-key-env", default=None, metavar="VAR", help="Environment variable holding the judge endpoint's key."),
        click.option("--judge-concurrency", type=click.IntRange(min=1, max=1000), default=32, show_default=True,
                     help="Judge requests in flight."),
        click.option("--judge-param", "judge_params", multiple=True, metavar="KEY=VALUE",
                     help="A judge setting (e.g. controversial=unsafe), repeatable; part of the judge's identity."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def judge_config(judge_model, judge_base_url, judge_api_key_env, judge_concurrency, judge_params, timeout=120.0,
                 max_attempts=6, calibrate=None):
    from mmsafe.judges.base import JudgeConfig

    return JudgeConfig(model=judge_model, base_url=judge_base_url, api_key_env=judge_api_key_env,
                       concurrency=judge_concurrency, timeout_s=timeout, max_attempts=max_attempts,
                       options=parse_params(judge_params, "--judge-param"), calibrate=calibrate)


class _Commands(click.Group):
    def invoke(self, ctx: click.Context):
        """A Ctrl-C before a command handles it (while it imports, say) exits 130 as a Ctrl-C does
        anywhere else, not click's "Aborted!" with 1, the release gate's regression code."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mmsafe")
def main() -> None:
    """Measure how safe AI models are: run suites against a model, judge the replies, report."""


@main.command()
@click.option("--suite", default="quick", show_default=True, help="Registered suite name, or a path to your own .jsonl/.csv of cases.")
@click.option("--target", default="gguf", show_default=True, help="Target backend (see `mmsafe list targets`).")
@click.option("--model", default=None, help="Model name (openai), GGUF path (gguf; default: embedded SmolLM2-135M).")
@click.option("--image-model", default=None,
              help="Model for image-output tasks (TI, IE, IC, MT) where it differs from --model (part of the run spec).")
@click.option("--image-api", type=click.Choice(["images", "chat"]), default="images", show_default=True,
              help="openai: image tasks go to /images/generations and /images/edits, or to /chat/completions "
                   "(a unified model that answers with images).")
@click.option("--base-url", default=None, help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1.")
@click.option("--api-key-env", default=None, metavar="VAR", help="Environment variable holding the API key [OPENAI_API_KEY].")
@click.option("--samples", type=click.IntRange(min=1, max=100), default=None, metavar="N",
              help="Images per text-to-image prompt (part of the run spec) [10 for the i2p and t2i-templates prompt sets, "
                   "else 1].")
@click.option("--predictions", type=click.Path(path_type=Path), default=None, help="Predictions JSONL for --target replay.")
@click.option("--data", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Dataset files for a registered suite: a folder searched for the suite's files (the protocol suites, "
                   "UniSAFE .jsonl/.parquet, SaLAD), or one file (a UniSAFE .jsonl, SaLAD's data.json, a t2i-templates file).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N cases.")
@click.option("--concurrency", type=click.IntRange(min=1, max=5000), default=100, show_default=True, help="Requests in flight.")
@click.option("--slots", type=click.IntRange(min=1, max=256), default=None,
              help="--target gguf: replies the in-process llama.cpp server decodes at once [8].")
@click.option("--judge", "judges", multiple=True, help="Judge name, repeatable; the first is primary [embedding, refusal].")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None, help="Run folder; reuse it to resume or re-judge.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Generation length limit.")
@click.option("--temperature", type=Finite(min=0), default=None, help="Sampling temperature.")
@click.option("--timeout", type=Finite(min=0.1), default=120.0, show_default=True, help="Seconds per request.")
@click.option("--max-attempts", type=click.IntRange(min=1, max=50), default=6, show_default=True, help="Tries per request.")
@click.option("--param", "extra_params", multiple=True, metavar="KEY=VALUE",
              help="Extra generation parameter sent with every request (VALUE read as JSON if it parses), repeatable.")
@click.option("--system-prompt", default=None, help="System message for every case that has none (part of the run spec).")
@click.option("--max-rps", type=Finite(min=0.01), default=None, help="Requests per second to the target (retries count).")
@click.option("--max-reply-bytes", type=click.IntRange(min=1024), default=1 << 20, show_default=True,
              help="Longest reply kept, in bytes of text; longer ones are cut and the cut recorded.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object on stdout (human text to stderr).")
@click.option("--calibrate", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Labelled .jsonl/.csv to measure the judges on (quality and corrected rates) [shipped held-out set].")
@click.option("--attack", "attacks", multiple=True, metavar="NAME",
              help="Run the cases under this attack too (repeatable; see `mmsafe list attacks`); the plain case always runs.")
@click.option("--attack-family", "attack_families", multiple=True, metavar="FAMILY",
              help="Every attack of this family (repeatable).")
@click.option("--attacks", "all_attacks", type=click.Choice(["all"]), default=None, help="Every attack.")
@click.option("--attack-param", "attack_params", multiple=True, metavar="[NAME.]KEY=VALUE",
              help="An attack parameter, e.g. many-shot.shots=64 (without NAME: every selected attack that takes KEY).")
@click.option("--attack-budget", type=click.IntRange(min=1, max=1000), default=20, show_default=True,
              help="Most target queries an adaptive attack (pair, tap) makes per case.")
@click.option("--attacker-model", default=None, help="Attacker model for language and adaptive attacks (OpenAI-compatible).")
@click.option("--attacker-base-url", default=None, help="The attacker's OpenAI-compatible base URL.")
@click.option("--attacker-api-key-env", default=None, metavar="VAR", help="Environment variable with the attacker's API key.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where generation runs: this process, or sharded across Ray workers (pip install 'mmsafe[ray]').")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to use with --executor ray, e.g. ray://head:10001 or auto [start a local instance].")
@click.option("--ray-workers", type=click.IntRange(min=1, max=1000), default=2, show_default=True, metavar="N",
              help="Ray workers (shards) for --executor ray; each gets --concurrency/N requests in flight.")
@click.option("--judge-workers", type=WorkersOrAuto(), default="auto", show_default=True, metavar="auto|N",
              help="Processes for each CPU-bound local judge (refusal, embedding) while a remote target answers: "
                   "auto moves a judge to one process once it proves slow; 0 judges in this process.")
@judge_options
def run(as_json: bool, judges: tuple[str, ...], max_tokens, temperature, timeout, max_attempts, extra_params,
        judge_model, judge_base_url, judge_api_key_env, judge_concurrency, judge_params, calibrate,
        all_attacks, attack_params, **kw) -> None:
    """Evaluate a model on a suite; resumes if --out already holds this run."""
    import asyncio
    import json

    from mmsafe.engine.progress import for_console
    from mmsafe.errors import MmsafeError
    from mmsafe.evaluate import RESULTS, RunOptions, evaluate, plan
    from mmsafe.report.leaderboard import console, plain, print_report

    err = console(stderr=True)
    params = {k: v for k, v in (("max_tokens", max_tokens), ("temperature", temperature)) if v is not None}
    try:
        params.update(generation_params(parse_params(extra_params), params))
        check_run_flags(kw)
        kw["attack_params"] = parse_params(attack_params, "--attack-param")
        kw["all_attacks"] = all_attacks == "all"
        jcfg = judge_config(judge_model, judge_base_url, judge_api_key_env, judge_concurrency, judge_params,
                            timeout, max_attempts, calibrate)
    except MmsafeError as exc:
        _fail(exc)
    _tune_gc()
    opts = RunOptions(judges=judges, params=params, timeout_s=timeout, max_attempts=max_attempts, judge_config=jcfg,
                      freeze_heap=True, **kw)
    try:
        with for_console(err) as progress:
            warn = lambda m: err.print(f"[yellow]warning:[/yellow] {plain(m, 2000)}")  # noqa: E731
            began = time.perf_counter()
            # the input is read and checked before the event loop starts: a Ctrl-C or SIGTERM there
            # stops at once (the loop would act on it only after the whole suite was read)
            planned = plan(opts, warn)
            results = asyncio.run(_until_sigterm(evaluate(opts, progress, warn=warn, planned=planned,
                                                          load_s=time.perf_counter() - began)))
    except MmsafeError as exc:
        _fail(exc)
    except (KeyboardInterrupt, Terminated) as exc:
        click.echo("interrupted: everything answered so far is stored; run the same command again to resume", err=True)
        sys.exit(SIGTERM_EXIT if isinstance(exc, Terminated) else 130)
    out = Path(results["run"]["out"])
    if as_json:
        print_report([results], err, details=False)
        click.echo(json.dumps(results, ensure_ascii=True))
    else:
        print_report([results], console())
    err.print(f"run database: {plain(str(out / 'run.db'), 1000)}\nresults: {plain(str(out / RESULTS), 1000)}")


def generation_params(extra: dict, flags: dict) -> dict:
    """--param values for what --max-tokens and --temperature set: never both (one would be dropped
    without a word), and held to the same ranges as the flags."""
    from mmsafe.errors import UsageError

    for key, flag in (("max_tokens", "--max-tokens"), ("temperature", "--temperature")):
        if key in extra and key in flags:
            raise UsageError(f"--param {key} and {flag} both given; use one")
    if "max_tokens" in extra:
        v = extra["max_tokens"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UsageError(f"--param max_tokens: {v!r} is not a whole number of at least 1")
    if "temperature" in extra:
        v = extra["temperature"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise UsageError(f"--param temperature: {v!r} is not a number of at least 0")
    return extra


LOCAL_TARGETS = ("openai", "gguf", "hf", "diffusers")  # targets that ask a model: no --predictions


def check_run_flags(kw: dict) -> None:
    """Flags that would be accepted and then have no effect."""
    from mmsafe.errors import UsageError

    if kw.get("system_prompt") is not None and not kw["system_prompt"].strip():
        raise UsageError("--system-prompt: empty; leave the flag out for no system message")
    if kw.get("predictions") is not None and kw.get("target") in LOCAL_TARGETS:
        raise UsageError(f"--predictions is read by --target replay only; --target {kw['target']} asks the model")
    target = kw.get("target")
    if kw.get("slots") is not None and target != "gguf":
        raise UsageError(f"--slots is for --target gguf (the in-process llama.cpp server); --target {target} has none")
    if target == "replay":
        used = [f for f, k in (("--base-url", "base_url"), ("--api-key-env", "api_key_env"), ("--max-rps", "max_rps"))
                if kw.get(k) is not None]
        if used:
            raise UsageError(f"{used[0]}: --target replay reads recorded answers and asks no endpoint")
    if kw.get("image_api", "images") != "images" and target != "openai":
        raise UsageError(f"--image-api is for --target openai; --target {target} makes images its own way")
    if kw.get("ray_address") is not None and kw.get("executor", "local") != "ray":
        raise UsageError("--ray-address: give --executor ray too (the local executor uses no cluster)")


def parse_params(items: tuple[str, ...], flag: str = "--param") -> dict:
    import json

    from mmsafe.data.rows import finite
    from mmsafe.errors import UsageError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag}: expected KEY=VALUE, got {item!r}")
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            parsed = value
        if not finite(parsed):  # NaN, Infinity, 1e999: JSON that no API accepts
            raise UsageError(f"{flag} {key.strip()}: {value!r} is not a finite number")
        if key.strip() in out:
            raise UsageError(f"{flag} {key.strip()}: given twice ({out[key.strip()]!r} and {parsed!r}); give it once")
        out[key.strip()] = parsed
    return out


@main.command("judge-eval")
@click.option("--judge", "judges", multiple=True, required=True, help="Judge name, repeatable.")
@click.option("--data", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Labelled .jsonl/.csv (prompt, response, label, refusal/harmful/warns) [the shipped set].")
@click.option("--split", "which", type=click.Choice(["heldout", "train", "all"]), default=None,
              help="Rows of the stable hash split to use [heldout for the shipped set, all for --data].")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@judge_options
def judge_eval(judges: tuple[str, ...], data: Path | None, which: str | None, limit: int | None, as_json: bool,
               judge_model, judge_base_url, judge_api_key_env, judge_concurrency, judge_params) -> None:
    """Measure judges on labelled replies: accuracy, precision, recall, specificity, F1, kappa."""
    import asyncio
    import json

    from mmsafe.engine.progress import for_console
    from mmsafe.errors import MmsafeError
    from mmsafe.judges.evaluation import evaluate_judges, load_data
    from mmsafe.report.judge_eval import print_judge_eval
    from mmsafe.report.leaderboard import console

    err = console(stderr=True)
    try:
        cfg = judge_config(judge_model, judge_base_url, judge_api_key_env, judge_concurrency, judge_params)
        info, rows = load_data(data, which, limit)
        with for_console(err) as progress:
            result = asyncio.run(_until_sigterm(evaluate_judges(judges, cfg, rows, progress)))
    except MmsafeError as exc:
        _fail(exc)
    except (KeyboardInterrupt, Terminated) as exc:
        click.echo("interrupted", err=True)
        sys.exit(SIGTERM_EXIT if isinstance(exc, Terminated) else 130)
    out = {"data": info, "judges": result}
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=True))
    else:
        print_judge_eval(out, console())


@main.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON list on stdout.")
@click.option("--out", type=click.Path(path_type=Path), default=None, metavar="REPORT_DIR",
              help="Also write an HTML report folder (index.html, charts, Markdown/CSV tables, the case table) there.")
def report(dirs: tuple[Path, ...], as_json: bool, out: Path | None) -> None:
    """Print the leaderboard of one or more finished runs; with --out, write the HTML report too."""
    import json

    from mmsafe.errors import MmsafeError
    from mmsafe.evaluate import results_of
    from mmsafe.report.leaderboard import console, print_report
    from mmsafe.store import Store

    if out is not None:
        from mmsafe.errors import UsageError
        from mmsafe.report.site import build

        if out.resolve() in {d.resolve() for d in dirs}:
            _fail(UsageError(f"--out {out}: that is a run folder; give a new folder for the report"))
        try:
            made = build(list(dirs), out)
        except (MmsafeError, sqlite3.DatabaseError) as exc:
            _fail(exc)
        click.echo(f"wrote {made['index']}: {made['boards']} leaderboards, {made['profiles']} profiles, "
                   f"{made['heatmaps']} heatmaps, {made['rows']} case rows in {made['pages']} data files, "
                   f"{made['images']} thumbnails", err=True)
    all_results = []
    try:
        for d in dirs:
            store = Store.open(d, create=False)
            try:
                all_results.append(results_of(store, d))
            finally:
                store.close()
    except (MmsafeError, sqlite3.DatabaseError) as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(all_results, ensure_ascii=True))
    else:
        print_report(all_results, console())


@main.command()
@click.argument("baseline", type=click.Path(path_type=Path, file_okay=False))
@click.argument("candidate", type=click.Path(path_type=Path, file_okay=False))
@click.option("--judge", default=None, metavar="NAME",
              help="Judge whose safe rate gates [the baseline's primary judge]; every judge both runs have is compared.")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when the candidate's safe rate is significantly lower by more than --margin.")
@click.option("--margin", type=Finite(min=0, max=1, max_open=True), default=0.02, show_default=True,
              help="Drop of the safe rate accepted, as a share (0.02 = 2 points).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object on stdout (summary to stderr).")
@click.option("--markdown", "markdown_file", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="Write a Markdown summary (for a pull-request comment) to FILE.")
@click.option("--max-flips", type=click.IntRange(min=0), default=20, show_default=True,
              help="Cases that became unsafe shown in the terminal and in Markdown (all of them are in --json).")
def compare(baseline: Path, candidate: Path, judge: str | None, fail_on_regression: bool, margin: float,
            as_json: bool, markdown_file: Path | None, max_flips: int) -> None:
    """Compare two runs of the same suite case by case (paired): the release gate."""
    import json

    from mmsafe.errors import MmsafeError, UsageError
    from mmsafe.gate.compare import compare as do_compare
    from mmsafe.gate.summary import markdown, print_compare
    from mmsafe.store.outfile import write_output
    from mmsafe.report.leaderboard import console

    try:
        res = do_compare(baseline, candidate, margin=margin, judge=judge)
        unfinished = [f"the {side}'s last run is '{res[side]['last_status']}'" for side in ("baseline", "candidate")
                      if res[side]["last_status"] not in (None, "finished")]
        if fail_on_regression and unfinished:  # a gate on partial numbers: answers not yet judged read as flips
            raise UsageError(f"--fail-on-regression: {' and '.join(unfinished)}, so its numbers are partial; run "
                             "the same `mmsafe run` command again to finish it, then compare (without the flag, "
                             "compare shows the partial numbers)")
        if markdown_file is not None:
            text = markdown(res, max_flips)
            write_output(markdown_file, "--markdown", lambda fh: fh.write(text))
    except (MmsafeError, sqlite3.DatabaseError) as exc:
        _fail(exc)
    code = 1 if fail_on_regression and res["gate"]["regression"] else 0
    try:
        if as_json:
            print_compare(res, console(stderr=True), max_flips)
            click.echo(json.dumps(res, ensure_ascii=True))
        else:
            print_compare(res, console(), max_flips)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader left; the verdict's exit code stands (1 is a regression)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


@main.command()
@click.argument("dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "unisafe"]), default="jsonl", show_default=True,
              help="unisafe: UniSAFE predictions JSONL, images copied to FILE-STEM-images/ beside it.")
@click.option("--output", "-o", default=None,
              help="File to write, or - for stdout [DIR/cases.FORMAT; unisafe: DIR/unisafe-predictions.jsonl].")
def export(dir: Path, fmt: str, output: str | None) -> None:
    """Write one row per case (prompt, output, each judge's verdict) as JSONL or CSV, or the
    outputs as UniSAFE predictions (re-readable with --target replay)."""
    from mmsafe.errors import MmsafeError
    from mmsafe.store.export import export as do_export

    try:
        where, n = do_export(dir, fmt, sys.stdout if output == "-" else (Path(output) if output else None))
    except (MmsafeError, sqlite3.DatabaseError) as exc:
        _fail(exc)
    if where != "-":
        click.echo(f"wrote {n} cases to {where}", err=True)


@main.command("list")
@click.argument("kind", type=click.Choice(["suites", "targets", "judges", "attacks"]))
def list_(kind: str) -> None:
    """List what is registered: suites, targets, judges or attacks."""
    if kind == "attacks":
        from mmsafe.attacks import load_all

        reg = load_all()
        click.echo(f"{'name':<22} {'family':<16} {'modalities':<26} summary")
        for name in reg.names():
            a = reg.get(name)
            io = f"{'/'.join(sorted(a.inputs))} -> {'/'.join(sorted(a.outputs))}"
            extra = " [adaptive]" if a.adaptive else ""
            click.echo(f"{name:<22} {a.family:<16} {io:<26} {a.summary()}{extra}")
        return
    if kind == "suites":
        from mmsafe.suites import suites as reg
    elif kind == "targets":
        from mmsafe.targets import targets as reg
    else:
        from mmsafe.judges import judges as reg
    width = max([12, *(len(n) for n in reg.names())])
    for name in reg.names():
        click.echo(f"{name:<{width}} {reg.summary(name)}")


def _add_detect() -> None:
    from mmsafe.detect.commands import register

    register(main)


_add_detect()  # `mmsafe detect ...` (fake-image detection; its heavy imports wait inside its commands)


if __name__ == "__main__":
    main()
