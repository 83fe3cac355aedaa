"""Prompt-enrichment study: does a longer, more descriptive prompt make generated images harder
to detect?

For each prompt, v0 is the prompt as given; v(k+1) is v(k) rewritten by an LLM behind any
OpenAI-compatible endpoint (REWRITE_INSTRUCTION as the system message), up to `versions`. Each
version goes to an image target (the openai target's /images/generations path, reused as it is)
and the image it returns is scored by a trained detector (MODEL_DIR).

Definitions, per version:
- detection_rate: images the detector calls fake (p >= 0.5) / images made, Wilson 95% interval;
- refused: the image endpoint blocked the prompt (no image); errors: the rewrite or the image
  request failed after retries, or the detector could not score the image. Neither enters the
  detection rate's denominator; both are counted. A failed rewrite ends that prompt's chain.
- mean_words: mean length of the version's prompts in words.
Everything made is kept under OUT: `blobs/` (images by SHA-256), `enrich.jsonl` (one row per
prompt and version, appended as it is made) and `results.json`. Rewriter text is untrusted: it is
only ever sent on as a prompt (capped at MAX_PROMPT_CHARS) and stored as data."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafe.detect.base import Detector
from mmsafe.detect.data import Item
from mmsafe.detect.metrics import THRESHOLD
from mmsafe.engine.conversation import ask
from mmsafe.engine.retry import GiveUp, RetryPolicy
from mmsafe.errors import InputError
from mmsafe.metrics.rates import rate
from mmsafe.schema import Case, Message, Part
from mmsafe.store.blobs import BlobStore
from mmsafe.targets.base import TargetConfig, TargetError

REWRITE_INSTRUCTION = (
    "You rewrite prompts for an image generator. Rewrite the user's prompt into a longer, more descriptive "
    "version: keep its subject and meaning, and add concrete visual detail (setting, lighting, colours, "
    "materials, composition, camera or art style). Reply with the rewritten prompt only.")
MAX_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class EnrichConfig:
    rewriter_model: str
    rewriter_base_url: str | None
    rewriter_api_key_env: str | None
    image_model: str
    base_url: str | None
    api_key_env: str | None
    versions: int = 2
    concurrency: int = 8
    timeout: float = 120.0


def read_prompts(path: Path) -> list[tuple[str, str]]:
    """[(id, prompt)] from JSONL (`prompt`, optional `id`) or plain text (one prompt per line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), None, None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), None, None, f"cannot read it as UTF-8 text ({exc})") from None
    out, seen = [], set()
    jsonl = path.suffix.lower() == ".jsonl"
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise InputError(str(path), n, None, f"not JSON ({exc.args[0][:80]})") from None
            if not isinstance(row, dict):
                raise InputError(str(path), n, None, "a line must be a JSON object")
            prompt = row.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise InputError(str(path), n, "prompt", "missing, empty or not a string")
            pid = str(row.get("id", f"p{n}"))
        else:
            prompt, pid = line.strip(), f"p{n}"
        if pid in seen:
            raise InputError(str(path), n, "id", f"duplicate id {pid!r}")
        seen.add(pid)
        out.append((pid, prompt.strip()[:MAX_PROMPT_CHARS]))
    if not out:
        raise InputError(str(path), None, "prompt", "no prompts in the file")
    return out


def _targets(cfg: EnrichConfig, blobs: BlobStore):
    from mmsafe.targets.openai import OpenAITarget

    rewriter = OpenAITarget(TargetConfig(model=cfg.rewriter_model, base_url=cfg.rewriter_base_url,
                                         api_key_env=cfg.rewriter_api_key_env, concurrency=cfg.concurrency,
                                         timeout_s=cfg.timeout))
    images = OpenAITarget(TargetConfig(model=cfg.image_model, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                                       concurrency=cfg.concurrency, timeout_s=cfg.timeout))
    images.blobs = blobs
    return rewriter, images


async def _rewrite(rewriter, policy: RetryPolicy, pid: str, prompt: str) -> str:
    case = Case(id=pid, turns=(Message(role="system", parts=(Part(text=REWRITE_INSTRUCTION),)), Message.user(prompt)))
    reply, _ = await policy.run(lambda: ask(rewriter, case, 1 << 16))
    text = "\n".join(p.text for p in reply.output if p.text).strip()
    if reply.provider_refusal or not text:
        raise TargetError("the rewriter returned no rewrite" + (f" ({reply.provider_message})" if reply.provider_message else ""))
    return text[:MAX_PROMPT_CHARS]


async def _image(images, policy: RetryPolicy, pid: str, prompt: str) -> tuple[str | None, bool]:
    """(sha256 of the image, refused)."""
    case = Case(id=pid, task="TI", turns=(Message.user(prompt),))
    reply, _ = await policy.run(lambda: images.generate(case))
    got = [p for p in reply.output if p.type == "image" and p.image_sha256]
    if reply.provider_refusal and not got:
        return None, True
    if not got:
        raise TargetError("the image endpoint returned no image")
    return got[0].image_sha256, False


async def run(prompts: list[tuple[str, str]], cfg: EnrichConfig, det: Detector, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    blobs = BlobStore(out / "blobs")
    rewriter, images = _targets(cfg, blobs)
    policy = RetryPolicy(max_attempts=4)
    log = out / "enrich.jsonl"
    lock, sem = asyncio.Lock(), asyncio.Semaphore(cfg.concurrency)
    rows: list[dict[str, Any]] = []

    async def record(row: dict[str, Any]) -> None:
        async with lock:
            rows.append(row)
            line = json.dumps(row, ensure_ascii=False) + "\n"
            await asyncio.to_thread(_append, log, line)

    async def score(v: int, sha: str, row: dict[str, Any]) -> None:
        try:
            p = float((await asyncio.to_thread(det.score, [Item(blobs.path(sha), 1, f"v{v}", sha)]))[0])
        except (ValueError, OSError) as exc:  # a model's image that does not decode: this row's error only
            row["error"] = f"the detector could not score the image: {exc}"[:500]
            return
        if p == p:  # not NaN
            row["fake_probability"], row["detected"] = round(p, 6), p >= THRESHOLD
        else:
            row["error"] = "the detector could not score the image: " + "; ".join(getattr(det, "errors", []))

    async def chain(pid: str, prompt: str) -> None:
        text = prompt
        for v in range(cfg.versions + 1):
            row: dict[str, Any] = {"id": pid, "version": f"v{v}", "prompt": text if v == 0 else None,
                                   "image_sha256": None, "refused": False, "error": None,
                                   "fake_probability": None, "detected": None}
            async with sem:
                if v > 0:
                    try:
                        text = row["prompt"] = await _rewrite(rewriter, policy, f"{pid}-v{v}", text)
                    except (GiveUp, TargetError) as exc:
                        row["error"] = f"rewrite failed: {exc}"[:500]
                if row["error"] is None:
                    try:
                        sha, row["refused"] = await _image(images, policy, f"{pid}-v{v}", text)
                        row["image_sha256"] = sha
                        if sha is not None:
                            await score(v, sha, row)
                    except (GiveUp, TargetError) as exc:
                        row["error"] = f"image failed: {exc}"[:500]
            await record(row)
            if row["prompt"] is None:  # no rewrite: nothing to build the next version on
                break

    await rewriter.start()
    await images.start()
    try:
        await asyncio.gather(*(chain(pid, p) for pid, p in prompts))
    finally:
        await rewriter.close()
        await images.close()
    res = summarise(rows, cfg.versions)
    res.update({"out": str(out), "detector": det.kind, "rewriter_model": cfg.rewriter_model,
                "image_model": cfg.image_model, "prompts": len(prompts), "rewrite_instruction": REWRITE_INSTRUCTION})
    await asyncio.to_thread((out / "results.json").write_text, json.dumps(res, indent=2, ensure_ascii=False), "utf-8")
    return res


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)


def summarise(rows: list[dict[str, Any]], versions: int) -> dict[str, Any]:
    out = []
    for v in range(versions + 1):
        mine = [r for r in rows if r["version"] == f"v{v}"]
        scored = [r for r in mine if r["detected"] is not None]
        words = [len(r["prompt"].split()) for r in mine if r["prompt"]]
        probs = [r["fake_probability"] for r in scored]
        out.append({
            "version": f"v{v}", "prompts": len(mine), "images": sum(r["image_sha256"] is not None for r in mine),
            "refused": sum(bool(r["refused"]) for r in mine), "errors": sum(r["error"] is not None for r in mine),
            "mean_words": round(sum(words) / len(words), 2) if words else None,
            "mean_fake_probability": round(sum(probs) / len(probs), 4) if probs else None,
            "detection_rate": rate(sum(bool(r["detected"]) for r in scored), len(scored)),
        })
    return {"versions": out}
