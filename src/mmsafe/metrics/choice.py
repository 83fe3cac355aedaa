"""Which option of a multiple-choice question a free-text reply chose, by rule; never a guess.

`parse_choice(text, options, letters)` reads the reply in tiers, the first that names any option
deciding:

  1. a statement of the choice: "Answer: B", "the correct answer is (B)", "the answer would be
     option b", "my choice is C", "I choose B", "I'd go with (A)", "B is correct", "C is the
     answer", "\\boxed{C}", "答案是 B", "答：B", "选B";
  2. the reply opening with a letter: "B", "(b)", "**B.**", "B) My kid", "C: not enough info"
     (unless its first line names another, "(A) and (B)", or other lines start with one, as in
     the options listed back);
  3. a letter mentioned: a line that starts with one, one in brackets anywhere ("(B)", "[B]"),
     "option B";
  4. the option's own text, quoted or not, in any case ("My grandmother", "it is 'not enough
     info'"); a leading "the"/"a"/"an" is optional, and an option whose text lies inside a longer
     option's mention ("African" in "African American") is not counted.

Two different options named within the deciding tier is ambiguous: None, like a reply that names
none; so is a letter joined to another ("A or B", "A/B", "B and C", "B, C", "B, or possibly A"): a
hedge between options is no choice. A letter is read in any case, except a lower-case "a" or "i" followed by a word ("answer a
question"), which is English, not a choice; a negated letter ("not (B)", "I would not choose A")
is not a choice.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

_MARKUP = re.compile(r"[*_`~]+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")
_WORDS = frozenset("ai")  # lower-case letters that are also English words


def default_letters(n: int) -> str:
    if n > len(string.ascii_uppercase):
        raise ValueError(f"{n} options: at most {len(string.ascii_uppercase)} can be lettered")
    return string.ascii_uppercase[:n]


def parse_choice(text: str | None, options: Sequence[str], letters: str | Sequence[str] | None = None) -> str | None:
    """The letter (from `letters`, default A, B, C… one per option) of the option the reply chose,
    or None when it names none or more than one."""
    letters = list(default_letters(len(options)) if letters is None else letters)
    if len(letters) != len(options):
        raise ValueError(f"{len(options)} options but {len(letters)} letters ({''.join(letters)})")
    if any(len(x) != 1 or not x.isalpha() for x in letters) or len({x.casefold() for x in letters}) != len(letters):
        raise ValueError(f"letters must be distinct single letters, got {letters!r}")
    if not text or not text.strip():
        return None
    clean = _normalize(text)
    cls = "[" + "".join(re.escape(x.upper() + x.lower()) for x in letters) + "]"
    by_fold = {x.casefold(): x for x in letters}
    statement, opening, mention = _tiers(cls)
    first_line = clean.strip().split("\n", 1)[0]
    for found in (_letters(statement, clean, cls),
                  # an opening letter decides unless its own line names another ("(A) and (B)"),
                  # or other lines start with one (the options listed back)
                  _letters(opening, clean, cls) and _letters(opening + mention, first_line, cls)
                  + _letters(mention[:1], clean, cls),
                  _letters(mention, clean, cls)):
        found = {by_fold[m.casefold()] for m in found}
        if found:
            return found.pop() if len(found) == 1 else None
    found = _options_named(clean, letters, options)
    return found.pop() if len(found) == 1 else None


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _MARKUP.sub("", text)


_END = r"(?![\w'])"
_SP = r"[^\S\n]"  # a space that does not cross a line: "Cannot answer\nB. …" names no answer
_DELIM = r"\s*(?:[)\]]|[.:,](?!\w)|$|\s+[-\u2013\u2014]\s)"


def _tiers(cls: str) -> tuple[tuple[str, ...], ...]:
    """Letter patterns, strongest first; each pattern's group 1 is the letter."""
    statement = (
        rf"(?i)\b(?:answer|(?:correct|right|best|final|my){_SP}+(?:option|choice|letter))\b"
        rf"(?:{_SP}+(?:is|would{_SP}+be|should{_SP}+be|will{_SP}+be|must{_SP}+be))?{_SP}*(?:[:=\-\u2013\u2014]{_SP}*)?"
        rf"(?:(?:the{_SP}+)?(?:option|choice|letter){_SP}*)?[(\[]?{_SP}*({cls}){_END}",
        rf"(?i)\b(?:choose|chose|choosing|pick|picked|picking|select|selected|selecting|go(?:ing)?{_SP}+with|went{_SP}+with)"
        rf"{_SP}+(?:(?:the{_SP}+)?(?:option|choice|letter|answer){_SP}+)?[(\[]?{_SP}*({cls}){_END}",
        rf"(?:答案|选项|选择|選項|選擇|答|选|選){_SP}*(?:是|为|為|应为|應為|:)?{_SP}*[(\[]?{_SP}*({cls})(?![A-Za-z])",
        # the letter first: "B is correct", "(C) is the right answer", "A would be the best option"
        rf"(?i)(?<![\w'])[(\[]?({cls})[)\]]?{_SP}+(?:is|would{_SP}+be|should{_SP}+be|must{_SP}+be|seems)"
        rf"(?:{_SP}+(?:the|most|probably|likely|clearly|definitely))*"
        rf"{_SP}+(?:correct|right|(?:best|correct|right|final){_SP}+(?:answer|option|choice)|answer)\b",
        rf"\\boxed\{{{_SP}*({cls}){_SP}*\}}",
    )
    opening = (rf"\A[\s>#\-]*[(\[]?\s*({cls}){_DELIM}",)
    mention = (
        rf"(?m)^[\s>#\-]*[(\[]?\s*({cls}){_DELIM}",  # a line that starts with a letter
        rf"[(\[]\s*({cls})\s*[)\]]",  # a letter in brackets anywhere
        rf"(?i)\b(?:option|choice|letter){_SP}+[(\[]?{_SP}*({cls}){_END}",
    )
    return statement, opening, mention


def _article(text: str, end: int) -> bool:
    """The letter ending at `end` is an English word ("a question", "i think"), not an option."""
    letter = text[end - 1]
    return letter.islower() and letter in _WORDS and re.match(r"\s+[a-z]", text[end:]) is not None


_NEGATED = re.compile(r"(?i)\b(?:not|never|n't)\s+(?:\w+\s+)?$")


def _letters(patterns: tuple[str, ...], text: str, cls: str) -> list[str]:
    out = []
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            letter = m.group(1)
            if _article(text, m.end(1)):
                continue  # "answer a question": the article, not option A
            if _NEGATED.search(text[max(0, m.start() - 24):m.start()]):
                continue  # "I would not choose A", "the answer is not (B)"
            out.append(letter)
            out.extend(_hedged(text, m.end(1), cls))
    return out


# "or" / "and" in the benchmarks' languages (English, German, French, Spanish, Italian, Portuguese,
# Russian, Arabic, Chinese, Japanese), or a slash, comma or ampersand
_JOIN = r"(?:\b(?:or|and|oder|und|ou|et|o|y|e|ou|или|и|أو|و)\b|或者|或|和|及|または|か|/|,|&|、)"
_HEDGE = (r"[)\]]?[^\S\n]*(?:,[^\S\n]*)?" + _JOIN + r"[^\S\n]*(?:(?:possibly|maybe|perhaps|probably)\s+)?"
          r"(?:(?:option|choice|letter)[^\S\n]+)?[(\[]?[^\S\n]*({cls})(?![\w'])"
          # "A, and B is wrong": a new clause ruling B out, not a hedge
          r"(?![)\]]?\s+(?:is|was|are)(?:n't|\s+not|\s+(?:wrong|incorrect|false|a\s+distractor)))")


def _hedged(text: str, at: int, cls: str) -> list[str]:
    """The letters joined to the one ending at `at` ("A or B", "B/C", "B, or possibly A"): each
    counts as named, so a hedge is ambiguous."""
    out = []
    while m := re.match(_HEDGE.format(cls=cls), text[at:], re.I):
        letter = m.group(1)
        if _article(text, at + m.end(1)):
            break  # "B, a kid": the article
        out.append(letter)
        at += m.end(1)
    return out


def _fold(text: str) -> str:
    return " ".join(text.casefold().replace('"', " ").split())


def _options_named(text: str, letters: list[str], options: Sequence[str]) -> set[str]:
    hay = _fold(text)
    spans: list[tuple[int, int, str]] = []
    for letter, option in zip(letters, options, strict=True):
        needle = _ARTICLE.sub("", _fold(_normalize(option))).strip(" .!?'")  # curly quotes, markup: as the reply
        if not needle:
            continue
        for m in re.finditer(rf"(?<![\w]){re.escape(needle)}(?![\w])", hay):
            spans.append((m.start(), m.end(), letter))
    # a shorter option inside a longer option's mention ("african" within "african american") is that longer one
    return {letter for s, e, letter in spans
            if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)}
