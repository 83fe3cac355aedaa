"""`mmsafe detect train|eval|cross|enrich`: thin click commands over the detect package."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mmsafe.errors import printable
from mmsafe.flagtypes import Finite

DIR = click.Path(path_type=Path, file_okay=False)


def _fail(exc: Exception) -> None:
    from mmsafe.cli import _fail as fail

    fail(exc)


def _emit(result: dict, as_json: bool, text) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, allow_nan=False))
    else:
        text(result)


def _pct(v) -> str:
    return "  n/a" if v is None else f"{100 * v:5.1f}%"


def _num(v) -> str:
    return " n/a" if v is None else f"{v:.3f}"


def _shown(text: str, limit: int = 60) -> str:
    """A file or folder name as a terminal may show it: no control, escape or bidi characters, one line."""
    one = printable(str(text)).replace("\n", " ")
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _print_metrics(res: dict) -> None:
    m, fc = res["metrics"], res["format_control"]
    click.echo(f"{'family':<18} {'real':>5} {'fake':>5} {'accuracy':>9} {'95% CI':>15} {'AP':>6} {'ROC-AUC':>7}"
               f" {'acc. removed by control':>24}")
    rows = [("overall", m["overall"], fc["accuracy_removed"]["overall"])]
    rows += [(f, b, fc["accuracy_removed"]["families"].get(f)) for f, b in m["families"].items()]
    for name, b, removed in rows:
        lo, hi = b["accuracy"]["ci95"]
        click.echo(f"{_shown(name):<18} {b['n_real']:>5} {b['n_fake']:>5} {_pct(b['accuracy']['value']):>9} "
                   f"{f'[{100 * lo:.1f}, {100 * hi:.1f}]':>15} {_num(b['average_precision']):>6} {_num(b['roc_auc']):>7}"
                   f" {'n/a' if removed is None else f'{100 * removed:+.1f} pts':>24}")
    for key in ("skipped", "errors"):
        note = res.get(key) or {}
        if note.get("count"):
            click.echo(f"{key}: {note['count']} image(s), e.g. {'; '.join(_shown(e, 300) for e in note['examples'])}",
                       err=True)


def prep_options(fn):
    opts = [
        click.option("--size", type=click.IntRange(16, 1024), default=128, show_default=True,
                     help="Images become SIZE×SIZE (centre crop; resized under the control)."),
        click.option("--control/--no-control", default=True, show_default=True,
                     help="Re-encode real and fake alike (same size, JPEG at --quality) before the detector sees them."),
        click.option("--quality", type=click.IntRange(1, 100), default=90, show_default=True,
                     help="JPEG quality of the format control."),
        click.option("--test-fraction", type=Finite(0.05, 0.9), default=0.3, show_default=True,
                     help="Share of each family held out for measuring."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--epochs", type=click.IntRange(1, 1000), default=30, show_default=True, help="cnn: training passes."),
        click.option("--clip", "clip_path", type=DIR, default=None, help="clip: a local CLIP model folder (offline)."),
        click.option("--url", default=None, help="http: the external detector's endpoint."),
        click.option("--api-key-env", default=None, metavar="VAR", help="http: environment variable holding its key."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _options(epochs, clip_path, url, api_key_env) -> dict:
    return {"epochs": epochs, "clip": str(clip_path) if clip_path else None, "url": url, "api_key_env": api_key_env}


@click.group()
def detect() -> None:
    """Fake-image detection: train, measure, cross-generator matrix, prompt-enrichment study."""


@detect.command()
@click.option("--real", type=DIR, required=True, help="Folder of real images.")
@click.option("--fake", type=DIR, required=True, help="Folder of generated images, one sub-folder per generator family.")
@click.option("--detector", "kind", type=click.Choice(["spectral", "cnn", "clip", "http"]), default="spectral", show_default=True)
@click.option("--out", type=DIR, required=True, help="MODEL_DIR to create (must not exist or be empty).")
@prep_options
@click.option("--json", "as_json", is_flag=True, help="Print the held-out results as JSON.")
def train(real, fake, kind, out, size, control, quality, test_fraction, seed, epochs, clip_path, url, api_key_env, as_json):
    """Train a detector on a held-out split; MODEL_DIR gets its kind, parameters, training set and metrics."""
    from mmsafe.detect import base, detector_class
    from mmsafe.detect.data import Prep, load_folders
    from mmsafe.detect.training import train as do_train
    from mmsafe.errors import MmsafeError, UsageError

    try:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(f"--out {out}: exists and is not empty; choose a new folder (nothing is overwritten)")
        detector_class(kind)  # its packages, before any image is read
        data = load_folders(real, fake)
        det, training, res, shas = do_train(kind, data, Prep(size, control, quality),
                                             _options(epochs, clip_path, url, api_key_env), test_fraction, seed)
        training.update({"real": str(real.resolve()), "fake": str(fake.resolve())})
        res["skipped"] = training["images"]["skipped"]
        base.save(det, out, training, res, shas)
    except MmsafeError as exc:
        _fail(exc)
    click.echo(f"trained {kind} on {training['split']['train']} images, measured on {training['split']['test']} held out; "
               f"saved to {out}", err=True)
    _emit(res, as_json, _print_metrics)


@detect.command("eval")
@click.option("--model", "model_dir", type=DIR, required=True, help="MODEL_DIR made by `mmsafe detect train`.")
@click.option("--real", type=DIR, required=True)
@click.option("--fake", type=DIR, required=True)
@click.option("--clip", "clip_path", type=DIR, default=None, help="clip: the CLIP folder, if it moved since training.")
@click.option("--api-key-env", default=None, metavar="VAR", help="http: override the key's variable.")
@click.option("--json", "as_json", is_flag=True)
def eval_(model_dir, real, fake, clip_path, api_key_env, as_json):
    """Measure a trained detector per family, with and without the format control. Images the model
    was trained on are left out (counted)."""
    from mmsafe.detect import base
    from mmsafe.detect.data import load_folders
    from mmsafe.detect.evaluation import measure
    from mmsafe.errors import MmsafeError, UsageError

    try:
        det, meta, trained = base.load(model_dir, {"clip": str(clip_path) if clip_path else None,
                                                   "api_key_env": api_key_env})
        data = load_folders(real, fake)
        items = [i for i in data.items if i.sha256 not in trained and i.file_sha256 not in trained]
        if not any(i.label == 0 for i in items) or not any(i.label == 1 for i in items):
            raise UsageError("--real/--fake: after leaving out the images the model was trained on, "
                             "real or fake images are left with none to measure")
        res = {"model": str(model_dir), "kind": meta["kind"], **measure(det, items),
               "excluded_training_images": len(data.items) - len(items), "skipped": data.describe()["skipped"]}
    except MmsafeError as exc:
        _fail(exc)
    if res["excluded_training_images"]:
        click.echo(f"left out {res['excluded_training_images']} image(s) the model was trained on", err=True)
    _emit(res, as_json, _print_metrics)


@detect.command("cross")
@click.option("--real", type=DIR, required=True)
@click.option("--fake", type=DIR, required=True)
@click.option("--detector", "kind", type=click.Choice(["spectral", "cnn", "clip"]), default="spectral", show_default=True)
@prep_options
@click.option("--json", "as_json", is_flag=True)
def cross_(real, fake, kind, size, control, quality, test_fraction, seed, epochs, clip_path, url, api_key_env, as_json):
    """Cross-generator matrix: train on each family, test on every family (held-out images)."""
    from mmsafe.detect import detector_class
    from mmsafe.detect.cross import cross
    from mmsafe.detect.data import Prep, load_folders
    from mmsafe.errors import MmsafeError

    try:
        detector_class(kind)  # its packages, before any image is read
        res = cross(kind, load_folders(real, fake), Prep(size, control, quality),
                    _options(epochs, clip_path, url, api_key_env), test_fraction, seed)
    except MmsafeError as exc:
        _fail(exc)

    def text(r):
        fams = r["families"]
        click.echo("accuracy; rows: trained on, columns: tested on")
        click.echo(f"{'':<16}" + "".join(f"{_shown(f)[:12]:>13}" for f in fams))
        for f, row in zip(fams, r["accuracy"]):
            click.echo(f"{_shown(f)[:15]:<16}" + "".join(f"{_pct(v):>13}" for v in row))
        click.echo(f"mean accuracy, same family {_pct(r['mean_accuracy_same_family'])}, "
                   f"other families {_pct(r['mean_accuracy_other_families'])}")

    _emit(res, as_json, text)


@detect.command()
@click.option("--prompts", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Prompts: JSONL with a `prompt` field (optional `id`), or plain text, one per line.")
@click.option("--rewriter-model", required=True, help="The LLM that rewrites prompts (any OpenAI-compatible endpoint).")
@click.option("--rewriter-base-url", default=None)
@click.option("--rewriter-api-key-env", default=None, metavar="VAR")
@click.option("--target", type=click.Choice(["openai"]), default="openai", show_default=True,
              help="Image target (OpenAI-compatible /images/generations).")
@click.option("--model", "image_model", required=True, help="The image model.")
@click.option("--base-url", default=None)
@click.option("--api-key-env", default=None, metavar="VAR")
@click.option("--model-dir", type=DIR, required=True, help="The detector (MODEL_DIR from `mmsafe detect train`).")
@click.option("--versions", type=click.IntRange(1, 10), default=2, show_default=True, help="Rewrites after v0.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--timeout", type=Finite(1, 3600), default=120.0, show_default=True)
@click.option("--out", type=DIR, default=None, help="Folder for images and results [./mmsafe-detect/enrich-TIME].")
@click.option("--detector-api-key-env", default=None, metavar="VAR", help="http detector: override the key's variable.")
@click.option("--json", "as_json", is_flag=True)
def enrich(prompts, rewriter_model, rewriter_base_url, rewriter_api_key_env, target, image_model, base_url, api_key_env,
           model_dir, versions, concurrency, timeout, out, detector_api_key_env, as_json):
    """Prompt-enrichment study: rewrite each prompt v0 -> v1 -> v2 with an LLM, generate an image per
    version, detect, and report the detection rate per version (all made is stored under --out)."""
    import asyncio
    import time

    from mmsafe.detect import base
    from mmsafe.detect.enrich import EnrichConfig, read_prompts, run
    from mmsafe.errors import MmsafeError, UsageError

    try:
        if out is None:
            out = Path("mmsafe-detect") / time.strftime("enrich-%Y%m%d-%H%M%S")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(f"--out {out}: exists and is not empty; choose a new folder")
        items = read_prompts(prompts)
        try:
            det, _, _ = base.load(model_dir, {"api_key_env": detector_api_key_env})
        except UsageError as exc:  # here --model is the image model: the detector folder is --model-dir
            raise UsageError(str(exc).replace(f"--model {model_dir}", f"--model-dir {model_dir}", 1)) from None
        cfg = EnrichConfig(rewriter_model, rewriter_base_url, rewriter_api_key_env, image_model, base_url, api_key_env,
                           versions, concurrency, timeout)
        res = asyncio.run(run(items, cfg, det, out))
    except MmsafeError as exc:
        _fail(exc)

    def text(r):
        click.echo(f"{'version':<8} {'words':>7} {'images':>7} {'refused':>8} {'errors':>7} {'detected':>9} {'95% CI':>15}")
        for v in r["versions"]:
            d = v["detection_rate"]
            ci = f"[{100 * d['ci95'][0]:.1f}, {100 * d['ci95'][1]:.1f}]"
            click.echo(f"{v['version']:<8} {_num(v['mean_words']):>7} {v['images']:>7} {v['refused']:>8} "
                       f"{v['errors']:>7} {_pct(d['value']):>9} {ci:>15}")
        click.echo(f"stored in {r['out']}", err=True)

    _emit(res, as_json, text)


def register(main: click.Group) -> None:
    main.add_command(detect)
