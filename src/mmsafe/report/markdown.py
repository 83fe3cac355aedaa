"""Untrusted text (prompts, replies, reasons, model, judge and category names) made inert in
Markdown: one line, bounded length, every ASCII punctuation character backslash-escaped (no HTML,
no links, no code spans, no table breaks, no emphasis), and bare URLs, `www.`, @mentions and
#references broken by a zero-width space so that GitHub does not link them. Used by the report's
leaderboard tables and by `mmsafe compare --markdown`."""

from __future__ import annotations

import re
import string
from typing import Any

from mmsafe.errors import printable

ZWSP = "\u200b"
_LINKISH = re.compile(r"(?i)(?<=:)(?=//)|(?<=w)(?=ww\.)|(?<=[@#])|(?<=\bGH)(?=-\d)")  # URLs, mentions, #12, GH-12
_HEXRUN = re.compile(r"\b[0-9a-fA-F]{7,}\b")  # what GitHub links as a commit SHA
_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")


def md(text: Any, limit: int = 200) -> str:
    """Untrusted text as inert Markdown: one line, at most `limit` characters of it."""
    s = " ".join(printable(str(text)).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = _LINKISH.sub(ZWSP, s)
    s = _HEXRUN.sub(lambda m: m[0][:6] + ZWSP + m[0][6:] if any(c.isdigit() for c in m[0]) else m[0], s)
    return _PUNCT.sub(r"\\\1", s)
