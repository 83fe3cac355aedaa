"""The image side of an OpenAI-compatible server, for the openai target.

The case's task picks the endpoint: TI -> POST /images/generations (JSON); IE and IC -> POST
/images/edits (multipart: one input image as `image`, several as repeated `image[]`); MT -> each
turn edits the latest image of the conversation (the previous turn's output, else the case's input
image) with the turn's text, or generates when there is none yet. What comes back:
- `data[0].b64_json`, or `data[0].url` (a data: URL decoded, an http(s) one fetched without the
  API key), must be a PNG, JPEG, GIF or WebP of at most max_image_bytes(); else the case fails;
- a content-policy error or an empty `data` is the provider refusing (no retry);
- the bytes go to the run's blob store, the reply holds `Part(type="image")` (and the
  `revised_prompt`, if any, as text).
TI with `--samples N` > 1 asks `n` = the images still missing, again while the endpoint answers fewer
(a server that caps n), and with n=1 from then on when it rejects n > 1 with a 400; a block or an
empty answer after some images stops there (the images missing are refused, the message says how
many). A server that answers more than asked: the first N are kept.
Chat replies may carry images too (`message.images`, content parts `image_url` / `output_image`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from dataclasses import replace
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlsplit

from mmsafe.engine.retry import RetryableError
from mmsafe.redact import redact, redact_cut, redact_repr
from mmsafe.schema import Case, Part
from mmsafe.store.blobs import sniff_mime
from mmsafe.targets.base import Reply, TargetError, images_wanted

if TYPE_CHECKING:
    from mmsafe.targets.openai import OpenAITarget

APIS = ("images", "chat")
RESERVED = frozenset({"prompt", "image", "image[]"})  # set by mmsafe on image requests
# --param keys that only one side understands (the rest go to both)
IMAGE_ONLY = frozenset({"size", "quality", "background", "output_format", "output_compression", "moderation",
                        "style", "input_fidelity", "partial_images"})
CHAT_ONLY = frozenset({"max_tokens", "max_completion_tokens", "temperature", "top_p", "frequency_penalty",
                       "presence_penalty", "stop", "seed", "logprobs", "top_logprobs", "logit_bias", "modalities",
                       "tools", "tool_choice", "reasoning_effort"})
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[^;,]*)*)(;base64)?,", re.I)
_PARSE_OFF_LOOP = 1 << 20  # bodies bigger than this are parsed and decoded on a worker thread


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(chat params, image params). `response_format` as a string (url | b64_json) is the images'."""
    def image_side(k: str, v: Any) -> bool:
        return k in IMAGE_ONLY or (k == "response_format" and isinstance(v, str))
    chat = {k: v for k, v in params.items() if not image_side(k, v)}
    image = {k: v for k, v in params.items() if k not in CHAT_ONLY and (k != "response_format" or isinstance(v, str))}
    return chat, image


def body_cap(max_image: int) -> int:
    """The largest image response read: one capped image in base64 plus room for the JSON around it."""
    return max_image * 4 // 3 + 65536


def inputs(case: Case) -> tuple[Part, ...]:
    """The images a request edits: IE/IC all the case's input images; MT the latest one of the
    conversation (the last assistant image, else the input image); none means generate."""
    if case.task == "MT":
        made = [p for m in case.turns if m.role == "assistant" for p in m.images]
        return tuple(made[-1:]) or case.input_images[-1:]
    if case.task in ("IE", "IC"):
        if not case.input_images:
            raise TargetError(f"a {case.task} case needs an input image to edit; this one has none")
        return case.input_images
    return ()


def _form_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _quote(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart(fields: dict[str, Any], files: list[tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request: text fields, then (name, bytes, mime) files."""
    boundary = f"mmsafe-{secrets.token_hex(16)}"
    out = bytearray()
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(k)}"\r\n\r\n'.encode()
        out += _form_value(v).encode() + b"\r\n"
    for i, (name, data, mime) in enumerate(files):
        ext = mime.split("/")[-1]
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="image{i}.{ext}"\r\n'
                f"Content-Type: {mime}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _edit_body(t: OpenAITarget, prompt: str, parts: tuple[Part, ...]) -> tuple[bytes, str]:
    if t.blobs is None:
        raise TargetError("this case has images but the run has no blob store")
    name = "image" if len(parts) == 1 else "image[]"
    files = [(name, t.blobs.get(p.image_sha256 or ""), p.mime or "image/png") for p in parts]
    return multipart({"model": t.image_model, "prompt": prompt, **t._image_params}, files)


async def generate(t: OpenAITarget, case: Case) -> Reply:
    """One image request for this case (an MT step case: this turn), its answer as a Reply."""
    from mmsafe.targets.openai import error_reply

    edit = inputs(case)
    want = images_wanted(case, t.samples)
    if not edit and want > 1:
        return await _generations(t, case, want)
    base, cap = t.base_url, body_cap(t.max_image_bytes)
    if edit:  # blob reads off the loop
        url = f"{base}/images/edits"
        body, ctype = await asyncio.to_thread(_edit_body, t, case.prompt, edit)
        headers = {**t._headers, "Content-Type": ctype}
    else:
        url = f"{base}/images/generations"
        body = json.dumps({"model": t.image_model, "prompt": case.prompt, "n": 1, **t._image_params}).encode()
        headers = t._headers
    status, resp_headers, raw, cut = await t.post(url, body, headers, cap)
    if status != 200:
        return error_reply(status, raw, resp_headers, url)
    if cut:
        raise TargetError(f"image response cut off at {cap} bytes: its image is over the "
                          f"{_mib(t.max_image_bytes)} MiB limit per image ($MMSAFE_MAX_IMAGE_MB)")
    data, revised = await _off_loop(len(raw), _image_items, raw)
    if not data:
        return Reply(output=(), provider_refusal=True, provider_message="the image endpoint returned no image (empty data)")
    item = data[0]
    got = await _image_of(t, item.get("b64_json"), item.get("url"))
    parts = [got] + ([Part(text=revised)] if revised else [])
    return Reply(output=tuple(parts))


async def samples(t: OpenAITarget, case: Case, want: int,
                  ask: Callable[[int], Awaitable[tuple[list[Part], str | None, str | None]]]) -> Reply:
    """`want` images for one text-to-image prompt, in as many requests as the endpoint needs.
    `ask(missing)` makes one request: (images, text beside them, why it stopped or None).

    A transient error (429, 5xx, a time-out) part way keeps the images already made: the engine's
    retry of this case asks only for the missing ones, instead of paying for all of them again."""
    key = (case.id, case.prompt, want)  # an attacked variant of the case asks another prompt
    got, text = t.partial_images.pop(key, ([], None))
    stopped = None
    try:
        while len(got) < want:
            made, said, stopped = await ask(want - len(got))
            text = text or said
            got += made[: want - len(got)]
            if stopped:
                break
    except RetryableError:
        if got:
            t.partial_images[key] = (got, text)
        raise
    if not got:
        return Reply(output=(*([Part(text=text)] if text else []),), provider_refusal=True, provider_message=stopped)
    note = f"{want - len(got)} of {want} images not made: {stopped}" if stopped else None
    return Reply(output=(*got, *([Part(text=text)] if text else [])), provider_message=note)


async def _generations(t: OpenAITarget, case: Case, want: int) -> Reply:
    """`want` images from /images/generations: n = the images still missing, again while the
    endpoint answers fewer (a server that caps n), n=1 from then on after a 400 to n > 1."""
    from mmsafe.targets.openai import error_reply

    url = f"{t.base_url}/images/generations"

    async def ask(missing: int) -> tuple[list[Part], str | None, str | None]:
        while True:
            n = min(missing, t.n_cap or missing)
            body = json.dumps({"model": t.image_model, "prompt": case.prompt, "n": n, **t._image_params}).encode()
            cap = body_cap(t.max_image_bytes) * n
            status, resp_headers, raw, cut = await t.post(url, body, t._headers, cap)
            if status == 200:
                break
            try:
                blocked = error_reply(status, raw, resp_headers, url)
            except TargetError:
                if status == 400 and n > 1:  # an endpoint that takes n=1 only: one image a request from now on
                    t.n_cap = 1
                    continue
                raise
            return [], None, blocked.provider_message or "blocked by the provider"
        if cut:
            raise TargetError(f"image response cut off at {cap} bytes: an image is over the "
                              f"{_mib(t.max_image_bytes)} MiB limit per image ($MMSAFE_MAX_IMAGE_MB)")
        data, rev = await _off_loop(len(raw), _image_items, raw)
        if not data:
            return [], None, "the image endpoint returned no image (empty data)"
        made = [await _image_of(t, item.get("b64_json"), item.get("url")) for item in data[:missing]]
        if len(data) < n and t.n_cap is None:  # the server's cap on n, remembered for the next prompts
            t.n_cap = len(data)
        return made, rev, None

    return await samples(t, case, want, ask)


def _mib(n: int) -> str:
    return f"{n / 2**20:.3g}"


async def _off_loop(size: int, fn, *args):
    return await asyncio.to_thread(fn, *args) if size > _PARSE_OFF_LOOP else fn(*args)


def _image_items(raw: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """(data items, revised prompt) of an images response; malformed is retryable, like chat."""
    try:
        data = json.loads(raw)["data"]
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise TypeError("data is not a list of objects")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RetryableError(f"malformed image response ({type(exc).__name__}): {redact_repr(raw, 160)}") from None
    revised = data[0].get("revised_prompt") if data else None
    return data, revised if isinstance(revised, str) and revised.strip() else None


async def _image_of(t: OpenAITarget, b64: Any, url: Any) -> Part:
    """The image a response names (base64, data: URL or http(s) URL), checked and stored."""
    cap = t.max_image_bytes
    if isinstance(b64, str) and b64:
        data = await _off_loop(len(b64), _decode_b64, b64, cap)
    elif isinstance(url, str) and url.lower().startswith("data:"):
        data = await _off_loop(len(url), _decode_data_url, url, cap)
    elif isinstance(url, str) and urlsplit(url).scheme.lower() in ("http", "https") and urlsplit(url).hostname:
        data = await _download(t, url, cap)
    else:
        raise TargetError(f"the image response has no b64_json and no usable url ({redact(repr(url))[:120]})")
    return await _store(t, data)


def _check(data: bytes, cap: int) -> bytes:
    if len(data) > cap:
        raise TargetError(f"image of {len(data)} bytes is over the {_mib(cap)} MiB limit per image ($MMSAFE_MAX_IMAGE_MB)")
    if sniff_mime(data) is None:
        raise TargetError(f"the returned bytes are not a PNG, JPEG, GIF or WebP image ({redact(repr(data[:16]))})")
    return data


def _decode_b64(b64: str, cap: int) -> bytes:
    if len(b64) > cap * 4 // 3 + 8:  # before decoding: never more than the cap in memory
        raise TargetError(f"image of about {len(b64) * 3 // 4} bytes is over the {_mib(cap)} MiB limit per image "
                          "($MMSAFE_MAX_IMAGE_MB)")
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise TargetError("the returned image is not valid base64") from None
    return _check(data, cap)


def _decode_data_url(url: str, cap: int) -> bytes:
    m = _DATA_URL.match(url)
    if m is None:
        raise TargetError(f"not a usable data: URL ({redact_cut(url, 60)!r}…)")
    rest = url[m.end():]
    if m.group(3):
        return _decode_b64(rest, cap)
    return _check(unquote_to_bytes(rest[: cap * 3 + 3]), cap)


async def _download(t: OpenAITarget, url: str, cap: int) -> bytes:
    status, _, raw, cut = await t.fetch(url, cap + 1)
    where = redact(url.split("?", 1)[0])[:200]  # signed URLs: the query is a credential
    if status == 429 or status >= 500:
        raise RetryableError(f"fetching the image at {where}: HTTP {status}")
    if status != 200:
        raise TargetError(f"fetching the image at {where}: HTTP {status}")
    if cut or len(raw) > cap:
        raise TargetError(f"the image at {where} is over the {_mib(cap)} MiB limit per image ($MMSAFE_MAX_IMAGE_MB)")
    return _check(raw, cap)


async def _store(t: OpenAITarget, data: bytes) -> Part:
    if t.blobs is None:
        raise TargetError("the target made an image but the run has no blob store")
    sha = await asyncio.to_thread(t.blobs.put, data)
    return Part(type="image", image_sha256=sha, mime=sniff_mime(data))


# -- chat replies that carry images ---------------------------------------------------------------

def may_hold_images(raw: bytes) -> bool:
    """Cheap test before a second parse: only bodies that mention images are looked at again."""
    return b'"images"' in raw or b'"image_url"' in raw or b'"output_image"' in raw


def _urls(raw: bytes) -> list[Any]:
    """The image URLs of a chat.completion: `message.images` entries, then image content parts."""
    try:
        message = json.loads(raw)["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return []
    if not isinstance(message, dict):
        return []
    items = [*(message.get("images") or [])] if isinstance(message.get("images"), list) else []
    content = message.get("content")
    if isinstance(content, list):
        items += [p for p in content if isinstance(p, dict) and p.get("type") in ("image_url", "output_image")]
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        ref = item.get("image_url", item.get("url"))
        out.append(ref.get("url") if isinstance(ref, dict) else ref if ref is not None else item.get("b64_json"))
    return out


async def with_chat_images(t: OpenAITarget, reply: Reply, raw: bytes, keep: int) -> Reply:
    """The reply with the first `keep` images its chat message carries added after its text (a
    reply may name any number of image URLs: each would be fetched and stored)."""
    found = await _off_loop(len(raw), _urls, raw)
    if not found:
        return reply
    parts = []
    for u in found[:keep]:
        is_url = isinstance(u, str) and u[:8].lower().startswith(("data:", "http://", "https://"))
        parts.append(await _image_of(t, None, u) if is_url else await _image_of(t, u, None))
    text = tuple(p for p in reply.output if p.type != "text" or (p.text and p.text.strip()))
    return replace(reply, output=(*text, *parts))
