"""OpenAI-compatible chat endpoints, spoken over aiohttp directly (the HTTP client sets the
speed ceiling: this path runs near a bare aiohttp loop, several times the openai SDK's rate)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import aiohttp

from mmsafe.engine.retry import RetryableError, parse_retry_after
from mmsafe.errors import UsageError
from mmsafe.schema import Case
from mmsafe.store.blobs import BlobStore
from mmsafe.targets.base import Reply, TargetConfig, TargetError, TargetUnavailable

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
POLICY_CODES = {"content_policy_violation", "content_filter", "moderation_blocked", "safety_block"}
DEFAULT_BASE_URL = "https://api.openai.com/v1"
UNREACHABLE_LIMIT = 3


def _api_key(cfg: TargetConfig, base_url: str) -> str | None:
    var = cfg.api_key_env or "OPENAI_API_KEY"
    key = os.environ.get(var)
    if key:
        return key
    if cfg.api_key_env or base_url.startswith(DEFAULT_BASE_URL):
        raise UsageError(f"--api-key-env: environment variable {var} is not set (the API key is read from it)")
    return None  # local servers (vLLM, Ollama, LM Studio) often need no key


def _message(m: Any, blobs: BlobStore | None) -> dict[str, Any]:
    """A chat message; one with images becomes a list of text and image_url (data URL) parts."""
    if all(p.type == "text" for p in m.parts):
        return {"role": m.role, "content": m.text}
    if blobs is None:
        raise TargetError("this case has images but the run has no blob store")
    content: list[dict[str, Any]] = []
    for p in m.parts:
        if p.type == "text":
            content.append({"type": "text", "text": p.text or ""})
        else:
            b64 = base64.b64encode(blobs.get(p.image_sha256 or "")).decode()
            content.append({"type": "image_url", "image_url": {"url": f"data:{p.mime};base64,{b64}"}})
    return {"role": m.role, "content": content}


def _request_body(model: str, case: Case, params: dict[str, Any], blobs: BlobStore | None) -> bytes:
    return json.dumps({"model": model, "messages": [_message(m, blobs) for m in case.turns], **params}).encode()


def _retry_after(headers: Any) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def _error_info(body: bytes) -> tuple[str, str]:
    try:
        err = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        return "", body[:200].decode("utf-8", "replace")
    if not isinstance(err, dict):
        return "", str(err)[:200]
    return str(err.get("code") or err.get("type") or ""), str(err.get("message") or "")[:300]


def parse_completion(body: bytes) -> Reply:
    """Read a chat.completion body; malformed or empty replies are retryable (they are usually transient)."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise RetryableError(f"malformed completion ({type(exc).__name__}): {body[:120]!r}") from None
    usage = data.get("usage") or {}
    refusal_text = message.get("refusal")
    blocked = choice.get("finish_reason") == "content_filter" or bool(refusal_text)
    text = message.get("content") or refusal_text or ""
    if not isinstance(text, str):
        text = json.dumps(text)
    return Reply.text(
        text,
        provider_refusal=blocked,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


class OpenAITarget:
    """Any OpenAI-compatible /chat/completions endpoint."""

    max_concurrency = None
    blobs: BlobStore | None = None  # set by the run: where the cases' images are

    def __init__(self, cfg: TargetConfig) -> None:
        if not cfg.model:
            raise UsageError("--model is required with --target openai")
        self.model = cfg.model
        self.base_url = (cfg.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.note = f"{self.model} at {self.base_url}"
        self._cfg = cfg
        self._headers = {"Content-Type": "application/json"}
        key = _api_key(cfg, self.base_url)
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._params = {k: v for k, v in cfg.params.items() if v is not None}
        reserved = sorted(set(self._params) & {"model", "messages", "stream", "n"})
        if reserved:
            raise UsageError(f"--param {reserved[0]!r} is set by mmsafe itself and cannot be overridden")
        self._session: aiohttp.ClientSession | None = None
        self._answered = 0  # replies received so far
        self._unreachable = 0  # connection failures before the first reply

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._cfg.concurrency, limit_per_host=self._cfg.concurrency, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_s),
            json_serialize=json.dumps,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def generate(self, case: Case) -> Reply:
        assert self._session is not None, "start() first"
        if any(p.type == "image" for m in case.turns for p in m.parts):  # file reads and base64 off the loop
            body = await asyncio.to_thread(_request_body, self.model, case, self._params, self.blobs)
        else:
            body = _request_body(self.model, case, self._params, None)
        try:
            async with self._session.post(self.url, data=body) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except asyncio.TimeoutError:
            raise RetryableError(f"timed out after {self._cfg.timeout_s:g}s") from None
        except aiohttp.ClientConnectorError as exc:
            # nothing ever answered and connections keep failing: a wrong URL or a server that is
            # down, not a transient fault; stop rather than retry every case with backoff
            self._unreachable += 1
            if self._answered == 0 and self._unreachable >= UNREACHABLE_LIMIT:
                raise TargetUnavailable(f"cannot connect to {self.base_url} ({exc.os_error or exc}): check --base-url") from None
            raise RetryableError(f"connection error: {type(exc).__name__}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise RetryableError(f"connection error: {type(exc).__name__}: {exc}") from None
        self._answered += 1
        if status == 200:
            return parse_completion(raw)
        code, message = _error_info(raw)
        if code in POLICY_CODES or "content management policy" in message or "safety system" in message:
            return Reply.text(message or code, provider_refusal=True)
        if status in RETRY_STATUS:
            raise RetryableError(f"HTTP {status} {code} {message}".strip(), _retry_after(headers))
        if status in (401, 403):
            raise TargetUnavailable(f"{self.url} answered HTTP {status} ({message or code}): check the API key variable")
        if status == 404:
            raise TargetUnavailable(f"{self.url} answered HTTP 404 ({message or code}): check --base-url and --model")
        raise TargetError(f"HTTP {status} {code} {message}".strip())
