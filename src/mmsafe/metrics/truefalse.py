"""The true/false keyword rule: which of True or False a reply to "Answer True or False." chose.

`parse_truefalse(text) -> True | False | None`:
1. a reasoning model's <think> block, markdown emphasis and the echo "true or false" / "true/false"
   are dropped; curly apostrophes are straightened;
2. an explicit "answer: X" / "the answer is X" / "verdict: X" (X true or false, or a lone T / F),
   or a verdict on the statement itself ("the statement is false", "this claim isn't accurate"),
   decides, wherever it stands: "Yes, I can answer that. The statement is false." is False;
3. otherwise the first decisive word decides: true / false, correct / incorrect, accurate /
   inaccurate, right / wrong as a predicate ("that is wrong"), a negation turning any of them
   ("not true", "isn't correct", "not entirely accurate": False; "not false": True; but "not only
   true" is no negation); yes / no and a
   lone T / F only as the reply's first word;
4. ambiguous is None: no decisive word, or the first decisive word's sentence also holds one
   meaning the opposite ("No, it is true that…", "partly true, partly false").
"""

from __future__ import annotations

import re

_THINK = re.compile(r"(?is)<think>.*?(?:</think>|\Z)")
_ECHO = re.compile(r"(?i)\btrue\s*(?:or|/|\|)\s*false\b|\bfalse\s*(?:or|/|\|)\s*true\b")
_EXPLICIT = re.compile(r"(?i)\b(?:answer|verdict)\s*(?:is|would be|:|=|-)\s*[:\-]?\s*[\"'(\[]*\s*"
                       r"(true|false|[tf](?=\s*(?:[.!)\]]|$)))\b")
_ON_STATEMENT = re.compile(
    r"(?i)\b(?:the|this|that)\s+(?:given\s+|above\s+|original\s+)?(?:statement|claim|assertion|proposition)"
    r"\s+(?:is|was|would\s+be|seems(?:\s+to\s+be)?)(?P<not>\s+not|n't)?"
    r"\s+(?:(?:entirely|completely|fully|actually|definitely|indeed|therefore|thus|clearly|absolutely|quite)\s+)?"
    r"(?P<v>true|correct|accurate|false|incorrect|inaccurate|untrue)\b")
_NEG = r"(?:not|never|isn't|aren't|wasn't|weren't|ain't|doesn't\s+seem|is\s+n't)"
_POS_WORDS = r"true|correct|accurate"
_NEG_WORDS = r"false|incorrect|inaccurate|untrue"
# alternatives in priority at the same position: negated forms first
_NOT_A_NEGATION = r"(?!(?:only|just|merely|simply)\b)"  # "not only true, but…" affirms
_DECISIVE = re.compile(
    rf"(?i)\b{_NEG}\s+{_NOT_A_NEGATION}(?:\w+\s+){{0,2}}?(?P<negpos>{_POS_WORDS})\b"
    rf"|\b{_NEG}\s+{_NOT_A_NEGATION}(?:\w+\s+){{0,2}}?(?P<negneg>{_NEG_WORDS})\b"
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
    explicit = {m.group(1).lower() in ("true", "t") for m in _EXPLICIT.finditer(body)}
    explicit |= {(m.group("v").lower() in ("true", "correct", "accurate")) != bool(m.group("not"))
                 for m in _ON_STATEMENT.finditer(body)}
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
