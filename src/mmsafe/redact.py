"""Secrets never leave the process: every text a server sends (error bodies, block messages,
replies) passes through `redact()` before it is stored, written or shown. Some proxies echo the
`Authorization` header back in an error body; the key's value and anything shaped like a bearer
token or an API key is replaced by `[REDACTED]`."""

from __future__ import annotations

import re

MASK = "[REDACTED]"
_known: set[str] = set()  # the values of keys this process read from the environment
_SHAPES = re.compile(
    r"(?i)\b(?:bearer|basic)\s+(?=[A-Za-z0-9._~+/=-]*[0-9=])[A-Za-z0-9._~+/=-]{12,}"  # an Authorization value
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}"  # OpenAI-style and similar secret keys
)
_KEY_FIELD = re.compile(r"(?i)(api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s&\"',;}]{6,}")  # api-key=… in URLs, JSON, headers
_CHEAP = ("earer", "asic", "sk-", "pk-", "rk-", "key")  # a text with none of these has no token shapes


def register(secret: str | None) -> None:
    """Remember a secret's value so every later `redact()` hides it (short values are too common to hunt)."""
    if secret and len(secret) >= 6:
        _known.add(secret)


def redact(text: str) -> str:
    if not text:
        return text
    for s in _known:
        if s in text:
            text = text.replace(s, MASK)
    lowered = text.lower()
    if any(c in lowered for c in _CHEAP):
        text = _KEY_FIELD.sub(lambda m: m.group(1) + MASK, _SHAPES.sub(MASK, text))
    return text


LOOKAHEAD = 512  # characters past a cut that redact_cut reads: a key longer than this is unheard of


def redact_cut(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, secrets hidden. Redacted before the cut: cut first, a
    key across the cut would lose its tail, and the head left over would match neither the key
    nor any token shape."""
    return redact(text[: limit + max(LOOKAHEAD, *(len(k) for k in _known), 0)])[:limit]


def redact_repr(raw: bytes, limit: int) -> str:
    """The start of bytes a server sent, as a message shows them: their repr, secrets hidden before
    the cut (redact_cut), at most `limit` characters."""
    return redact_cut(repr(raw[: limit + LOOKAHEAD]), limit)
