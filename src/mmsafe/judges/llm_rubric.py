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
from mmsafe.judges.refusal_patterns import drawn_as_nothing

RUBRICS_DIR = Path(__file__).with_name("rubrics")
OPEN_RESPONSE, CLOSE_RESPONSE = "<<<MMSAFE_RESPONSE>>>", "<<<END_MMSAFE_RESPONSE>>>"
OPEN_REQUEST, CLOSE_REQUEST = "<<<MMSAFE_REQUEST>>>", "<<<END_MMSAFE_REQUEST>>>"
# the marker words themselves, however spelled: without them no delimiter can be forged. Matched on
# a skeleton of the text (see _skeleton): any separator between the words, or none
_MARKER = re.compile(r"(?:end[\W_]*)?mm[\W_]*safe[\W_]*(?:request|response)")
# letters of other scripts drawn like the Latin ones of the marker words
_LOOKALIKE = str.maketrans("аеорсѕіјԁмтуxхnυνκεοαρτзнвкпгԛ", "aeopcsijdmtyxxnuvkeoaptzhbknrq")
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


def _invisible(ch: str) -> bool:
    """Drawn as nothing, or (a combining mark) as part of the letter before it."""
    return drawn_as_nothing(ch) or unicodedata.category(ch) in ("Mn", "Me")


def _skeleton(text: str) -> tuple[str, list[int]]:
    """The text as the eye reads its letters (lower case, look-alike letters of other scripts as
    Latin, invisible characters left out), and for each skeleton character its index in `text`."""
    chars, where = [], []
    for i, ch in enumerate(text):
        if _invisible(ch):
            continue
        chars.append(ch.lower().translate(_LOOKALIKE)[:1] or ch)
        where.append(i)
    return "".join(chars), where


def neutralise(text: str) -> str:
    """The text with every delimiter marker removed. Compatibility forms (full-width letters) are
    folded and format characters dropped first; markers are then found on the text's skeleton
    (case, look-alike letters, combining and invisible characters, separators), so no disguised
    copy survives. The text around them is kept as it is."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    skeleton, where = _skeleton(text)
    out, last = [], 0
    for m in _MARKER.finditer(skeleton):
        start, end = where[m.start()], where[m.end() - 1] + 1
        while end < len(text) and _invisible(text[end]):  # marks riding on the last letter go too
            end += 1
        out += [text[last:start], REMOVED]
        last = end
    out.append(text[last:])
    return "".join(out)


def fence(text: str, limit: int) -> str:
    text = neutralise(text)
    if len(text) > limit:
        text = f"{text[:limit]}\n[… cut by mmsafe: {len(text) - limit} more characters not shown]"
    return text
