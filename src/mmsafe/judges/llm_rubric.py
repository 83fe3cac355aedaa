"""Rubrics for LLM judges: package data (judges/rubrics/NAME.md) with a `## system` and a
`## user` section; the user section holds {{request}} and {{response}}. A rubric's version is
the SHA-256 of its text, so an edited rubric is another judge.

The request and the response are untrusted: they go between delimiter lines the rubric names,
and every copy of a delimiter inside them (any case, spacing, full-width or zero-width
disguise) is removed first, so the judged text can never close its own block and speak to the
judge from outside it."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mmsafe.errors import UsageError

RUBRICS_DIR = Path(__file__).with_name("rubrics")
OPEN_RESPONSE, CLOSE_RESPONSE = "<<<MMSAFE_RESPONSE>>>", "<<<END_MMSAFE_RESPONSE>>>"
OPEN_REQUEST, CLOSE_REQUEST = "<<<MMSAFE_REQUEST>>>", "<<<END_MMSAFE_REQUEST>>>"
# the marker words themselves, however spelled: without them no delimiter can be forged
_MARKER = re.compile(r"(?i)(?:end[\s_\-]*)?mmsafe[\s_\-]*(?:request|response)")
_SLOT = re.compile(r"\{\{(request|response)\}\}")
REMOVED = "[delimiter removed]"
MAX_REQUEST_CHARS = 8000  # longer texts are cut (the cut is said) so the judge's context holds them
MAX_RESPONSE_CHARS = 24000


@dataclass(frozen=True)
class Rubric:
    name: str
    system: str
    user: str  # template with {{request}} and {{response}}
    version: str  # sha256 of the file's text, first 12 hex digits

    def messages(self, request: str, response: str) -> tuple[str, str]:
        """(system, user) messages for one item, the untrusted texts neutralised and cut."""
        values = {"request": fence(request, MAX_REQUEST_CHARS), "response": fence(response, MAX_RESPONSE_CHARS)}
        # one pass: text put into a slot is never scanned for slots again
        return self.system, _SLOT.sub(lambda m: values[m.group(1)], self.user)


def load_rubric(name: str, folder: Path = RUBRICS_DIR) -> Rubric:
    path = folder / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"rubric {name!r}: cannot read {path}: {exc.strerror or exc}") from None
    sections = re.split(r"(?m)^## (system|user)[ \t]*$", text)
    parts = dict(zip(sections[1::2], (s.strip() for s in sections[2::2]), strict=True))
    if set(parts) != {"system", "user"} or set(_SLOT.findall(parts["user"])) != {"request", "response"}:
        raise UsageError(f"rubric {name!r} ({path}) needs a '## system' and a '## user' section, "
                         "the user one holding {{request}} and {{response}}")
    return Rubric(name, parts["system"], parts["user"], hashlib.sha256(text.encode()).hexdigest()[:12])


def neutralise(text: str) -> str:
    """The text with every delimiter marker removed. Compatibility forms (full-width letters)
    are folded and invisible format characters dropped first, so no disguised copy survives."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _MARKER.sub(REMOVED, text)


def fence(text: str, limit: int) -> str:
    text = neutralise(text)
    if len(text) > limit:
        text = f"{text[:limit]}\n[… cut by mmsafe: {len(text) - limit} more characters not shown]"
    return text
