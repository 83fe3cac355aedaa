"""OpenAI-compatible chat endpoints, spoken over mmsafe's lean HTTP/1.1 client (targets/http1.py;
the HTTP client sets the speed ceiling, and no SDK sits in between). aiohttp is imported only for
requests to other hosts (image URLs a server names), or for every request with
MMSAFE_HTTP_CLIENT=aiohttp.
Image-output tasks go to the images endpoints (targets/openai_images.py) unless `--image-api chat`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import re
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import urljoin, urlsplit

from pydantic_core import from_json, to_json

from mmsafe.engine.retry import RetryableError, parse_retry_after
from mmsafe.errors import UsageError
from mmsafe.redact import LOOKAHEAD, redact, redact_cut, redact_repr
from mmsafe.redact import register as redact_register
from mmsafe.schema import IMAGE_OUT_TASKS, Case, Part
from mmsafe.data.cases import max_image_bytes
from mmsafe.store.blobs import BlobStore
from mmsafe import __version__
from mmsafe.targets import http1
from mmsafe.targets.proxy import Proxy, aiohttp_args, proxy_for
from mmsafe.targets import openai_images as images
from mmsafe.targets.base import Reply, TargetConfig, TargetError, TargetUnavailable, images_wanted

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
POLICY_CODES = {"content_policy_violation", "content_filter", "moderation_blocked", "safety_block"}
POLICY_STATUS = {400, 403, 422}  # where providers put a content-policy block (OpenAI/Azure 400, moderation 403)
POLICY_PHRASES = ("content management policy", "content policy", "safety system")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
UNREACHABLE_LIMIT = 3
MAX_REDIRECTS = 10  # hops an image URL may take (aiohttp's own default)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT = re.compile(rb'"content"\s*:\s*"')


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
    """A /chat/completions body: the whole conversation, images as data URLs."""
    # pydantic-core's serializer: the JSON json.dumps makes (UTF-8 text where it writes \\u escapes), 4x faster
    return to_json({"model": model, "messages": [_message(m, blobs) for m in case.turns], **params})


def _retry_after(headers: Any) -> float | None:
    ms = parse_retry_after(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000
    return parse_retry_after(headers.get("retry-after"))


def check_base_url(url: str, flag: str = "--base-url") -> str:
    """An http(s) URL with a host and no credentials in it (keys come from the environment only):
    no user:password@, and no query or fragment, where keys are also put (`?api_key=…`). A URL is
    stored in the run and shown in reports, so what is refused is never echoed either."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{flag}: {_without_secrets(url)!r} is not an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"{flag}: credentials in the URL (user:password@) are refused, so they are never "
                         "stored; put the key in an environment variable and name it with --api-key-env")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise UsageError(f"{flag}: a query (?…) or fragment (#…) in {_without_secrets(url)!r} is refused: the URL is "
                         "stored and shown in reports, and keys put there would be too; put the key in an "
                         "environment variable and name it with --api-key-env")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    return url


def flags_for(text: str, who: str) -> str:
    """A transport message about --base-url / --model / --api-key-env, told in another user's
    flags (`judge`: --judge-base-url…, `attacker`: --attacker-base-url…)."""
    return re.sub(r"--(base-url|model|api-key-env)\b", rf"--{who}-\1", text)


def _without_secrets(url: str) -> str:
    """The URL as it may be shown: no user:password@, no query, no fragment."""
    head, sep, rest = url.partition("://")
    if not sep:
        return redact(url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1])
    netloc, slash, path = rest.partition("/")
    netloc = ("…@" + netloc.rsplit("@", 1)[1]) if "@" in netloc else netloc
    path = path.split("?", 1)[0].split("#", 1)[0]
    netloc = netloc.split("?", 1)[0].split("#", 1)[0]
    return redact(f"{head}://{netloc}{slash}{path}")


def _error_info(body: bytes) -> tuple[str, str, str]:
    """(code, type, message) of an error body; any shape of body gives strings, never an exception.
    Shapes: OpenAI's {"error": {...}} or {"error": "..."}; vLLM's top-level {"object": "error",
    "message", "type", "code"}; FastAPI's {"detail": ...}."""
    try:
        data = json.loads(body)
        err = data.get("error") or {}
    except (ValueError, AttributeError, RecursionError):
        return "", "", redact_cut(body[: 300 + LOOKAHEAD].decode("utf-8", "replace"), 300)
    if not err and isinstance(data.get("message"), str):  # vLLM and servers modelled on it
        err = data
    elif not err and data.get("detail"):  # FastAPI: a string, or a list of validation problems
        detail = data["detail"]
        err = {"message": detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)[:600]}
    if not isinstance(err, dict):
        return "", "", redact_cut(str(err), 300)
    return tuple(redact(str(err.get(k) or ""))[:300] for k in ("code", "type", "message"))  # type: ignore[return-value]


def _count(value: Any) -> int | None:
    """A token count as the server sent it, if it is one (anything else is dropped, not trusted)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else None


def read_json(body: bytes) -> Any:
    """json.loads(body), at twice its speed (pydantic-core's parser) for the bodies that parser
    takes; the rest (a lone surrogate's escape, which the reply's cleaning replaces) go to json.loads."""
    try:
        return from_json(body)
    except ValueError:
        return json.loads(body)


def parse_completion(body: bytes) -> Reply:
    """Read a chat.completion body. A malformed body is retryable (usually transient); an empty
    reply is judged by the engine (see runner.check_reply). `finish_reason: content_filter` keeps
    whatever text came back (it reached the user, so judges read it); `message.refusal` is the
    model refusing through the refusal channel: a block whose message is kept beside the output."""
    try:
        data = read_json(body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
        usage = data.get("usage") or {}
        if not isinstance(message, dict) or not isinstance(usage, dict):
            raise TypeError("message or usage is not an object")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        raise RetryableError(f"malformed completion ({type(exc).__name__}): {redact_repr(body, 160)}") from None
    refusal_text = message.get("refusal")
    blocked = choice.get("finish_reason") == "content_filter" or bool(refusal_text)
    text = message.get("content")
    if text is not None and not isinstance(text, str):  # content parts: keep their text
        parts = text if isinstance(text, list) else [text]
        text = "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("text"))
    return Reply.text(
        text or "",
        provider_refusal=blocked,
        provider_message=str(refusal_text) if refusal_text else None,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
    )


# images kept from one chat reply to a text task (a reply may name any number of URLs, each fetched
# and stored); an image task keeps the images it asked for
CHAT_IMAGES_KEPT = 4


class OpenAITarget:
    """Any OpenAI-compatible /chat/completions endpoint."""

    max_concurrency = None
    blobs: BlobStore | None = None  # set by the run: where the cases' images are

    def __init__(self, cfg: TargetConfig) -> None:
        if not cfg.model:
            raise UsageError("--model is required with --target openai")
        self.model = cfg.model
        self.base_url = check_base_url((cfg.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"))
        # JSON escapes can make text up to 6x longer on the wire (\u0001 for one byte)
        self.max_body_bytes = cfg.max_reply_bytes * 6 + 65536
        self.url = f"{self.base_url}/chat/completions"
        self.note = f"{self.model} at {self.base_url}"
        self._cfg = cfg
        self._headers = {"Content-Type": "application/json"}
        key = _api_key(cfg, self.base_url)
        redact_register(key)  # whatever a server echoes back, this value is never stored or shown
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        params = {k: v for k, v in cfg.params.items() if v is not None}
        reserved = sorted(set(params) & {"model", "messages", "stream", "n", *images.RESERVED})
        if reserved:
            raise UsageError(f"--param {reserved[0]!r} is set by mmsafe itself and cannot be overridden")
        self._params, self._image_params = images.split_params(params)
        if cfg.image_api not in images.APIS:
            raise UsageError(f"--image-api: expected one of {', '.join(images.APIS)}, got {cfg.image_api!r}")
        self.image_model = cfg.image_model or cfg.model  # image-output tasks (TI, IE, IC, MT)
        self.image_api = cfg.image_api
        self.samples = cfg.samples  # images per text-to-image prompt (--samples)
        self.n_cap: int | None = None  # the most images one request gets from this endpoint, once seen
        # images made for a prompt whose --samples request then failed transiently: its retry asks the rest
        self.partial_images: dict[tuple, tuple[list[Part], str | None]] = {}
        self.max_image_bytes = max_image_bytes()  # a bad $MMSAFE_MAX_IMAGE_MB fails here, before the run
        if self.image_model != self.model:
            self.note += f" (images: {self.image_model})"
        self._session: Any = None  # aiohttp.ClientSession, made on first use (see _aiohttp)
        self._started = False
        self._pool: http1.Pool | None = None  # the API's own origin: the lean client
        self._answered = 0  # replies received so far
        self._unreachable = 0  # connection failures before the first reply
        self._proxies: dict[tuple[str, str, int], Proxy | None] = {}  # per origin, read once (aiohttp's requests)

    async def start(self) -> None:
        self._started = True
        if os.environ.get("MMSAFE_HTTP_CLIENT", "lean") != "aiohttp":  # aiohttp for every request: the old path
            self._pool = http1.Pool(self.base_url, self._cfg.concurrency, self._cfg.timeout_s, f"mmsafe/{__version__}")
        else:
            self._proxy(self.base_url)  # a proxy variable mmsafe cannot use fails now

    def _proxy(self, url: str) -> Proxy | None:
        """The environment's proxy for this URL's origin (proxy.proxy_for), read once per origin."""
        origin = http1.origin_of(url)
        if origin not in self._proxies:
            self._proxies[origin] = proxy_for(*origin)
        return self._proxies[origin]

    def _aiohttp(self) -> Any:
        """The aiohttp session, made on first use (importing aiohttp costs a run about 0.2 s)."""
        if self._session is None:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=self._cfg.concurrency, limit_per_host=self._cfg.concurrency,
                                             ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(  # no default headers: the key goes to the API only
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._cfg.timeout_s),
                json_serialize=json.dumps,
            )
        return self._session

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._session is not None:
            await self._session.close()

    async def generate(self, case: Case) -> Reply:
        assert self._started, "start() first"
        image_task = case.task in IMAGE_OUT_TASKS
        if image_task and self.image_api == "images":
            return await images.generate(self, case)
        model = self.image_model if image_task else self.model
        if any(p.type == "image" for m in case.turns for p in m.parts):  # file reads and base64 off the loop
            body = await asyncio.to_thread(_request_body, model, case, self._params, self.blobs)
        else:
            body = _request_body(model, case, self._params, None)
        want = images_wanted(case, self.samples) if image_task else 1
        if want > 1:  # --samples N from a model that answers with images in chat: one reply an image
            return await images.samples(self, case, want, lambda missing: self._chat_images(body, missing))
        return await self._chat(body, image_task, want if image_task else CHAT_IMAGES_KEPT)

    async def _chat(self, body: bytes, image_task: bool, keep: int) -> Reply:
        cap = max(self.max_body_bytes, images.body_cap(self.max_image_bytes)) if image_task else self.max_body_bytes
        status, headers, raw, cut = await self.post(self.url, body, self._headers, cap)
        if status != 200:
            return error_reply(status, raw, headers, self.url)
        if cut:
            return cut_reply(raw, cap)
        reply = parse_completion(raw)
        if images.may_hold_images(raw):  # a unified model's reply with pictures in it
            reply = await images.with_chat_images(self, reply, raw, keep)
        return reply

    async def _chat_images(self, body: bytes, missing: int) -> tuple[list[Part], str | None, str | None]:
        """One chat request of a --samples prompt: (its images, its text, why no image came)."""
        reply = await self._chat(body, True, missing)
        made = [p for p in reply.output if p.type == "image"]
        text = " ".join(p.text for p in reply.output if p.type == "text" and p.text and p.text.strip()) or None
        if made:
            return made, text, None
        return [], text, reply.provider_message or ("blocked by the provider" if reply.provider_refusal
                                                    else "the reply held no image")

    async def post(self, url: str, body: bytes, headers: dict[str, str], cap: int) -> tuple[int, Any, bytes, bool]:
        """(status, headers, body, cut) of one POST to the API; transport trouble is classified here."""
        return await self._send("POST", url, body, headers, cap)

    async def fetch(self, url: str, cap: int) -> tuple[int, Any, bytes, bool]:
        """A GET without the API key (a server may name any host), through aiohttp, following
        redirects (an image URL often redirects to a storage host; see _aiohttp_send)."""
        return await self._send("GET", url, None, {}, cap)

    async def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str], cap: int) -> tuple[int, Any, bytes, bool]:
        assert self._started, "start() first"
        if method == "POST" and self._pool is not None and self._pool.serves(url):  # the API itself: the lean client
            with self._classified(http1.ConnectFailed, http1.HttpError):
                answer = await self._pool.request(method, url, body, headers, cap)
        else:  # a GET (an image URL a server named), or every request with MMSAFE_HTTP_CLIENT=aiohttp
            import aiohttp

            # a proxy refusing its tunnel (407) fails like a connection: it is no transient fault
            with self._classified((aiohttp.ClientConnectorError, aiohttp.ClientHttpProxyError), aiohttp.ClientError):
                answer = await self._aiohttp_send(method, url, body, headers, cap)
        self._answered += 1
        return answer

    async def _aiohttp_send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
                            cap: int) -> tuple[int, Any, bytes, bool]:
        """One request through aiohttp. A GET follows redirects (an image URL often redirects to a
        storage host) hop by hop, each hop with its own host's proxy rule (NO_PROXY may name the first
        host and not the next). The API's own answer is never a redirect to follow: a POST elsewhere
        would send the prompts to another server (the lean client stops on a 3xx the same way)."""
        for _ in range(MAX_REDIRECTS + 1):  # each hop with the same proxy rule as the lean client's
            async with self._aiohttp().request(method, url, data=body, headers=headers, allow_redirects=False,
                                               **aiohttp_args(self._proxy(url))) as resp:
                location = resp.headers.get("Location") if method == "GET" and resp.status in REDIRECTS else None
                if not location:
                    raw, cut = await _read_capped(resp, cap)
                    return resp.status, resp.headers, raw, cut
            url = urljoin(url, location)
            scheme = urlsplit(url).scheme
            if scheme not in ("http", "https"):
                raise TargetError(f"an image URL redirected to a {scheme or 'relative'}: URL, not http(s)")
        raise TargetError(f"an image URL redirected more than {MAX_REDIRECTS} times")

    @contextlib.contextmanager
    def _classified(self, connect_error: type[Exception] | tuple[type[Exception], ...],
                    transport_error: type[Exception]) -> Iterator[None]:
        """Transport trouble of either client as the engine's errors: a time-out or a broken answer is
        retried; failing to connect is retried until it shows the endpoint is unreachable."""
        try:
            yield
        except asyncio.TimeoutError:
            raise RetryableError(f"timed out after {self._cfg.timeout_s:g}s") from None
        except connect_error as exc:
            self._cannot_connect(getattr(exc, "os_error", None), exc)
        except transport_error as exc:
            raise RetryableError(f"connection error: {type(exc).__name__}: {exc}") from None

    def _cannot_connect(self, os_error: OSError | None, exc: Exception) -> NoReturn:
        if os_error is not None and os_error.errno in (errno.EMFILE, errno.ENFILE):
            raise TargetUnavailable(
                "out of file handles: the process may open no more connections (ulimit -n); "
                "lower --concurrency or raise the limit") from None
        # nothing ever answered and connections keep failing: a wrong URL or a server that is
        # down, not a transient fault; stop rather than retry every case with backoff
        self._unreachable += 1
        if self._answered == 0 and self._unreachable >= UNREACHABLE_LIMIT:
            proxy = self._pool.proxy if self._pool is not None else self._proxy(self.base_url)
            via = f" through the proxy {proxy.shown}" if proxy else ""
            fix = "check --base-url" + (" and the proxy variables (HTTPS_PROXY, HTTP_PROXY; NO_PROXY skips a host)"
                                        if proxy else "")
            raise TargetUnavailable(f"cannot connect to {self.base_url}{via} ({os_error or exc}): {fix}") from None
        raise RetryableError(f"connection error: {type(exc).__name__}: {exc}") from None


async def _read_capped(resp: Any, cap: int) -> tuple[bytes, bool]:
    """The body and whether it was cut: never more than `cap` bytes are held, so a huge or
    endless reply costs bounded memory (the connection is dropped at the cut)."""
    # the common case, one read; not for an encoded body, whose Content-Length counts the compressed
    # bytes (a 600 KB gzip body can inflate to 600 MB): that one is inflated chunk by chunk, to the cap
    encoded = resp.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity")
    if resp.content_length is not None and resp.content_length <= cap and not encoded:
        return await resp.read(), False
    buf = bytearray()
    async for chunk in resp.content.iter_any():
        buf += chunk
        if len(buf) > cap:
            return bytes(buf[:cap]), True
    return bytes(buf), False


def salvage_content(prefix: bytes) -> str | None:
    """The reply text readable from the first bytes of a cut-off chat.completion body, if any."""
    m = _CONTENT.search(prefix)
    if m is None:
        return None
    rest = prefix[m.end():].decode("utf-8", "ignore")
    for trim in range(8):  # drop a half-sent escape (\u12, \) at the cut
        try:
            text, _ = json.JSONDecoder().raw_decode('"' + rest[: len(rest) - trim] + '"')
            return text
        except ValueError:
            continue
    return None


def cut_reply(prefix: bytes, cap: int) -> Reply:
    text = salvage_content(prefix)
    if not text:
        raise TargetError(f"reply body over the {cap}-byte cap (--max-reply-bytes) with no readable text: cut off")
    return Reply.text(text, truncated_from=len(prefix))


def error_reply(status: int, raw: bytes, headers: Any, url: str) -> Reply:
    """A non-200 answer. The status decides first: a server error stays an error whatever its
    text says; only a client-side policy block (a content-policy code, or a 400 whose message says
    the content policy blocked it) is the provider refusing."""
    code, kind, message = (" ".join(x.split()) for x in _error_info(raw))  # a server's text: one line
    label = " ".join(x for x in (f"HTTP {status}", code or kind, message) if x)
    if status in RETRY_STATUS or status >= 500:
        raise RetryableError(label, _retry_after(headers))
    if status in POLICY_STATUS and (code in POLICY_CODES or kind in POLICY_CODES
                                    or (status == 400 and any(p in message.lower() for p in POLICY_PHRASES))):
        return Reply(output=(), provider_refusal=True, provider_message=message or code)
    if 300 <= status < 400:  # the lean client follows no redirect: the key is never sent where the user did not say
        where = redact_cut(str(headers.get("location") or ""), 200) if headers is not None else ""
        raise TargetUnavailable(f"{url} answered HTTP {status}, a redirect{f' to {where}' if where else ''}: "
                                "give the URL it redirects to as --base-url (mmsafe does not follow redirects "
                                "with the API key)")
    if status == 407:  # a forward proxy (HTTP_PROXY) refusing: no case will get through
        raise TargetUnavailable(f"{url}: the proxy answered HTTP 407 ({message or code}): give its credentials "
                                "in the proxy variable (http://user:password@host:port) or set NO_PROXY")
    if status in (401, 403):
        raise TargetUnavailable(f"{url} answered HTTP {status} ({message or code}): check the API key "
                                "(read from the variable --api-key-env names, OPENAI_API_KEY by default)")
    if status == 404:
        raise TargetUnavailable(f"{url} answered HTTP 404 ({message or code}): check --base-url and --model")
    raise TargetError(label)
