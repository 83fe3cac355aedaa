"""Any external detector behind HTTP, through a small JSON protocol.

Request: `POST URL` with `Content-Type: application/json` and the body
    {"image": "<base64 of the image file's bytes>", "mime": "image/png"}
(`Authorization: Bearer KEY` when `--api-key-env VAR` names a variable; the key is read from the
environment at use and never stored: MODEL_DIR keeps only the variable's name).
Answer: HTTP 200 with {"fake_probability": p}, p a number in [0, 1].

Which bytes: without the format control the image file as it is; with it the re-encoded JPEG
(data.encoded). 429, 5xx, time-outs and dropped connections are retried (Retry-After honoured);
401, 403 and 404 stop the run (wrong key or URL); any other answer, or a body that is not the
protocol's, makes that image an error: it gets no score (NaN), is counted and named, and is left out
of the metrics. Nothing the server sends is executed or used as a path."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mmsafe.detect.base import Detector
from mmsafe.detect.data import Item, Prep, encoded
from mmsafe.engine.retry import GiveUp, RetryableError, RetryPolicy, parse_retry_after
from mmsafe.errors import UsageError
from mmsafe.redact import redact, redact_repr
from mmsafe.redact import register as redact_register
from mmsafe.targets.http1 import origin_of
from mmsafe.targets.proxy import aiohttp_args, proxy_for

MAX_ANSWER_BYTES = 1 << 16


def check_url(url: str | None) -> str:
    if not url:
        raise UsageError("--url is required with --detector http (the detector's endpoint)")
    from mmsafe.targets.openai import check_base_url

    return check_base_url(url, "--url")


def read_probability(raw: bytes) -> float:
    """p from an answer body, or ValueError saying what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError(f"answer is not JSON: {redact_repr(raw, 110)}") from None
    p = body.get("fake_probability") if isinstance(body, dict) else None
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0 <= p <= 1:
        raise ValueError(f"answer has no fake_probability in [0, 1]: {redact_repr(raw, 110)}")
    return float(p)


class HttpDetector(Detector):
    kind = "http"
    trainable = False

    def __init__(self, prep: Prep, options: dict[str, Any]) -> None:
        super().__init__(prep, options)
        self.url = check_url(options.get("url"))
        self.proxy = proxy_for(*origin_of(self.url))  # a proxy variable mmsafe cannot use fails here, at start
        self.api_key_env = options.get("api_key_env") or None
        self.concurrency = int(options.get("concurrency", 8))
        self.timeout = float(options.get("timeout", 60.0))
        self.headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise UsageError(f"--api-key-env: environment variable {self.api_key_env} is not set")
            redact_register(key)
            self.headers["Authorization"] = f"Bearer {key}"
        self.errors: list[str] = []  # the last score() call's failures, "file: why"

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:  # nothing to learn: the service is the detector
        return None

    def score(self, items: list[Item], prep: Prep | None = None) -> np.ndarray:
        self.errors = []
        return asyncio.run(self._score_all(items, prep or self.prep)) if items else np.zeros(0)

    async def _score_all(self, items: list[Item], prep: Prep) -> np.ndarray:
        import aiohttp

        sem = asyncio.Semaphore(self.concurrency)
        policy = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=5.0)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            async def one(item: Item) -> float:
                async with sem:
                    data, mime = await asyncio.to_thread(encoded, item.path, prep)
                    body = json.dumps({"image": base64.b64encode(data).decode(), "mime": mime}).encode()
                    try:
                        p, _ = await policy.run(lambda: self._post(session, body))
                        return p
                    except (GiveUp, ValueError) as exc:
                        self.errors.append(f"{item.path.name}: {exc}"[:300])
                        return math.nan
            return np.asarray(await asyncio.gather(*(one(i) for i in items)), dtype=np.float64)

    async def _post(self, session, body: bytes) -> float:
        import aiohttp

        try:
            # the environment's proxy, as the openai target's
            async with session.post(self.url, data=body, headers=self.headers, **aiohttp_args(self.proxy)) as resp:
                raw = await resp.content.read(MAX_ANSWER_BYTES + 1)
                status, retry_after = resp.status, parse_retry_after(resp.headers.get("retry-after"))
        except asyncio.TimeoutError:
            raise RetryableError(f"timed out after {self.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise RetryableError(f"connection error: {type(exc).__name__}") from None
        if status == 429 or status >= 500:
            raise RetryableError(f"HTTP {status}", retry_after)
        if status in (401, 403, 404):
            raise UsageError(f"--url {redact(self.url)}: HTTP {status}: check the URL and the key (--api-key-env)")
        if status != 200:
            raise ValueError(f"HTTP {status}: {redact_repr(raw, 110)}")
        if len(raw) > MAX_ANSWER_BYTES:
            raise ValueError(f"answer over {MAX_ANSWER_BYTES} bytes")
        return read_probability(raw)

    def params(self) -> dict[str, Any]:
        return {"url": self.url, "api_key_env": self.api_key_env, "concurrency": self.concurrency,
                "timeout": self.timeout, "protocol": 1}

    def save_weights(self, folder: Path) -> None:  # no weights: the endpoint and the key's variable name
        return None

    @classmethod
    def load(cls, folder: Path, prep: Prep, params: dict[str, Any], options: dict[str, Any]) -> Detector:
        opts = {k: params[k] for k in ("url", "api_key_env", "concurrency", "timeout") if k in params}
        opts.update({k: v for k, v in options.items() if v is not None and k in ("url", "api_key_env")})
        return cls(prep, opts)
