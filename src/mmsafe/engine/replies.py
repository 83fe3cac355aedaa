"""What a target sends back is untrusted data. Before a reply becomes a stored generation:
- an empty one (no text but whitespace, no image, no provider block) is a failure, retried and
  then recorded as the error "empty reply": it is never counted as an answer, safe or not;
- its text is made storable (lone surrogates replaced), secrets are redacted, and its size is
  capped at `max_bytes` (the cut recorded in the generation);
- a reply that still cannot be stored becomes that case's error with the reason, and the run goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from mmsafe.engine.retry import RetryableError
from mmsafe.redact import redact
from mmsafe.schema import Generation
from mmsafe.targets.base import Reply, TargetError

EMPTY = "empty reply"
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_empty(reply: Reply) -> bool:
    if reply.provider_refusal:
        return False  # a block is an answer (the judges read any text that came with it)
    return not any(p.type == "image" or (p.text and p.text.strip()) for p in reply.output)


def check_reply(reply: Reply, retry: bool = True) -> Reply:
    """Raise for an empty reply: retryable where asking again may help, else a plain failure."""
    if is_empty(reply):
        raise RetryableError(EMPTY) if retry else TargetError(EMPTY)
    return reply


def clean_text(text: str) -> str:
    """Storable and secret-free: lone surrogates (invalid in UTF-8) become U+FFFD, secrets are masked."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return redact(text)


def cap_text(text: str, max_bytes: int | None) -> tuple[str, int | None]:
    """(text cut to at most max_bytes of UTF-8, original size in bytes if it was cut)."""
    if max_bytes is None or len(text) * 4 <= max_bytes:  # cheap bound: no cut needed
        return text, None
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text, None
    return data[:max_bytes].decode("utf-8", "ignore"), len(data)


def tidy(reply: Reply, max_bytes: int | None) -> Reply:
    """The reply made safe to store: clean text, redacted secrets, text parts cut to max_bytes."""
    out, cut_from, changed = [], reply.truncated_from, False
    for p in reply.output:
        if p.type == "text" and p.text:
            text, was = cap_text(clean_text(p.text), max_bytes)
            cut_from = max(was, cut_from or 0) if was is not None else cut_from
            if text != p.text:
                p, changed = p.model_copy(update={"text": text}), True
        out.append(p)
    message = clean_text(reply.provider_message)[:2000] if reply.provider_message else None
    if not changed and message == reply.provider_message and cut_from == reply.truncated_from:
        return reply  # the common reply: nothing to clean or cut (Reply is frozen, so it is shared safely)
    return replace(reply, output=tuple(out), provider_message=message, truncated_from=cut_from)


def storable(build: Callable[[], Generation], case_id: str, target: str, latency_s: float, attempts: int,
             attack: str = "none") -> tuple[Generation, str]:
    """The generation `build()` makes and its JSON (what the store writes, made once), if it fits
    the record and serializes; else the same case as an error that says why (a reply that cannot be
    stored never stops the run)."""
    try:
        gen = build()
        return gen, gen.model_dump_json()
    except Exception as exc:  # noqa: BLE001 - any reason a reply cannot be stored is that case's error
        gen = Generation(case_id=case_id, target=target, attack=attack, latency_s=latency_s, attempts=attempts,
                         error=f"reply could not be stored: {type(exc).__name__}: {clean_text(str(exc))[:200]}")
        return gen, gen.model_dump_json()
