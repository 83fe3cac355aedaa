"""The true/false keyword rule: which of True or False a reply to "Answer True or False." chose.

`parse_truefalse(text) -> True | False | None`:
1. a reasoning model's <think> block, markdown emphasis and the echo "true or false" / "true/false"
   are dropped; curly apostrophes are straightened;
2. an explicit "answer: X" / "the answer is X" / "verdict: X" (X true or false) decides;
3. otherwise the first decisive word decides: true / false, correct / incorrect, accurate /
   inaccurate, right / wrong as a predicate ("that is wrong"), a negation turning any of them
   ("not true", "isn't correct", "not entirely accurate": False; "not false": True); yes / no and a
   lone T / F only as the reply's first word;
4. ambiguous is None: no decisive word, or the first decisive word's sentence also holds one
   meaning the opposite ("No, it is true that…", "partly true, partly false").
"""

from __future__ import annotations

import re

_THINK = re.compile(r"(?is)<think>.*?(?:</think>|\Z)")
_ECHO = re.compile(r"(?i)\btrue\s*(?:or|/|\|)\s*false\b|\bfalse\s*(?:or|/|\|)\s*true\b")
_EXPLICIT = re.compile(r"(?i)\b(?:answer|verdict)\s*(?:is|would be|:|=|-)\s*[:\-]?\s*[\"'(\[]*\s*(true|false)\b")
_NEG = r"(?:not|never|isn't|aren't|wasn't|weren't|ain't|doesn't\s+seem|is\s+n't)"
_POS_WORDS = r"true|correct|accurate"
_NEG_WORDS = r"false|incorrect|inaccurate|untrue"
# alternatives in priority at the same position: negated forms first
_DECISIVE = re.compile(
    rf"(?i)\b{_NEG}\s+(?:\w+\s+){{0,2}}?(?P<negpos>{_POS_WORDS})\b"
    rf"|\b{_NEG}\s+(?:\w+\s+){{0,2}}?(?P<negneg>{_NEG_WORDS})\b"
    rf"|\b(?P<neg>{_NEG_WORDS})\b"
    rf"|\b(?P<pos>{_POS_WORDS})\b"
    r"|\b(?:is|are|that's|it's|was|statement's)\s+(?:\w+\s+)?(?P<pred>right|wrong)\b"
)
_FIRST_WORD = re.compile(r"^\W*(?:(?P<w>yes|no|right|wrong)\b(?!')|(?P<l>[tf])\s*(?:[.!):\]]|$))", re.I)
_SENTENCE_END = re.compile(r"[.!?;\n]")


def _clean(text: str) -> str:
    text = _THINK.sub(" ", text).replace("’", "'").replace("‘", "'")
    text = re.sub(r"[*_`#]+", " ", text)
    return _ECHO.sub(" ", text)


def _value(m: re.Match) -> bool:
    if m.group("negpos") or m.group("neg"):
        return False
    if m.group("negneg") or m.group("pos"):
        return True
    return m.group("pred").lower() == "right"


def parse_truefalse(text: str | None) -> bool | None:
    """True, False, or None when the reply decides neither (or both) — see the module docstring."""
    if not text:
        return None
    body = _clean(text)
    explicit = {m.group(1).lower() == "true" for m in _EXPLICIT.finditer(body)}
    if len(explicit) == 1:
        return explicit.pop()
    if len(explicit) > 1:
        return None
    first = _FIRST_WORD.match(body)
    if first:
        word = (first.group("w") or first.group("l")).lower()
        value = word in ("yes", "t", "right")
        start = first.end()
    else:
        m = _DECISIVE.search(body)
        if m is None:
            return None
        value, start = _value(m), m.end()
    end = _SENTENCE_END.search(body, start)
    rest = body[start:end.start() if end else len(body)]
    if any(_value(o) != value for o in _DECISIVE.finditer(rest)):
        return None
    return value
