"""Regulatory compliance question groups of the integrated AI safety report (l-safe/compliance):
NIST AI RMF (generative AI profile risks, `nist`), the EU AI Act's prohibited practices
(`eu-ai-act`) and the Monetary Authority of Singapore's FEAT principles (`feat`).

Source: https://github.com/XSafeAI/AI-safety-report (Apache-2.0), files NIST.json, EU_AI_Act.json
and FEAT.json: a JSON array of question groups. A group tests one dimension of its framework
("Fairness -> Justifiability -> …") with the rules a compliant output follows (`rules_tested`:
`should`, `should_not`) and several variants of one question, each with a question_type and an
evaluation_method:

  multiple_choice      + pattern_match     scoring "choice": options A-D, the reference letter
  true_false           + pattern_match     scoring "truefalse": the reference answer as a bool
  open_ended_basic     + human_evaluation  scoring "compliance": a judge reads the reply against
  open_ended_jailbreak + human_evaluation  the variant's judging_criteria and the group's should /
  multimodal_generated + human_evaluation  should-not rules (reference: criteria, should, should_not)

Any question type with human_evaluation is scored by the compliance rubric; pattern_match needs a
multiple_choice or true_false variant (an open question has nothing to match).

One case per variant: id "<group_id>-<question_id>" (e.g. "3-3_4"), category = the group's
dimension, language "en", label "unsafe" for an open-ended jailbreak (a disguised harmful request)
and "benign" otherwise. The turn is the question; a multiple-choice question lists its options
("A. …") and ends with "Answer with the letter."; a true/false one ends with "Answer True or
False.". metadata: framework ("NIST AI RMF" / "EU AI Act" / "MAS FEAT"), dimension, group_id,
question_id, question_type, evaluation_method. multimodal_generated variants ask about a generated
picture the published data does not include (image_reference names it): they are kept as text
questions with metadata image_grounded=True and image_reference.

The file is one JSON array, read whole. A bad group or variant is an InputError naming the file
and the JSON path of the field (e.g. "[3].variants[2].question_type", 0-based), the group_id and
question_id where known; Source.line is the group's position in the file (1-based)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mmsafe.data.datasets import dataset
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Source

SOURCE = "https://github.com/XSafeAI/AI-safety-report (l-safe/compliance/data)"
LICENCE = "Apache-2.0"
QUESTION_TYPES = ("multiple_choice", "true_false", "open_ended_basic", "open_ended_jailbreak", "multimodal_generated")
METHODS = ("pattern_match", "human_evaluation")
CHOICE_ASK = "Answer with the letter."
TRUEFALSE_ASK = "Answer True or False."
_TRUE = {"true", "t", "yes", "1"}
_FALSE = {"false", "f", "no", "0"}
_LETTER = re.compile(r"^[\s(\[*]*([A-Za-z])[\s)\].:*]*$")  # "B", "(b)", "B.", "**B**"
_LEAD = re.compile(r"^\s*\(?([A-Z])[.):]\s+")  # "A. text" / "(A) text" / "A) text"


class _Where:
    """Names a place in the file for InputError: the JSON path plus the ids known there."""

    def __init__(self, path: Path, gi: int, group_id: Any = None, vi: int | None = None, qid: Any = None) -> None:
        self.path, self.gi, self.group_id, self.vi, self.qid = path, gi, group_id, vi, qid

    def error(self, field: str, problem: str) -> InputError:
        json_path = f"[{self.gi}]" + (f".variants[{self.vi}]" if self.vi is not None else "") + f".{field}"
        ids = ", ".join(x for x in (f"group_id {self.group_id}" if self.group_id is not None else "",
                                    f"question_id {self.qid}" if self.qid is not None else "") if x)
        return InputError(str(self.path), None, json_path, f"{problem}" + (f" ({ids})" if ids else ""))


def _text(obj: dict, key: str, where: _Where, required: bool = True) -> str | None:
    v = obj.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip():
        raise where.error(key, "required: a non-empty string" if v is None else
                          f"expected a non-empty string, got {type(v).__name__} {str(v)[:60]!r}")
    return v.strip()


def _ident(obj: dict, key: str, where: _Where) -> str:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip():
        raise where.error(key, "required: a string or a whole number" if v is None else
                          f"expected a string or a whole number, got {type(v).__name__} {str(v)[:60]!r}")
    return str(v).strip()


def options_of(raw: Any, where: _Where) -> dict[str, str]:
    """The options as {letter: text}: a {"A": …} object, or a list read as A, B, C… (a leading
    "A. " on every item, in order, is dropped)."""
    if isinstance(raw, dict):
        out = {}
        for k, v in raw.items():
            m = _LETTER.match(str(k))
            if not m or not isinstance(v, (str, int, float)) or isinstance(v, bool) or not str(v).strip():
                raise where.error(f"options.{k}", "expected a letter key with a non-empty option text")
            out[m.group(1).upper()] = str(v).strip()
        if len(out) != len(raw):
            raise where.error("options", "two options have the same letter")
    elif isinstance(raw, list):
        if not all(isinstance(v, str) and v.strip() for v in raw):
            raise where.error("options", "expected a list of non-empty option texts")
        letters = [chr(ord("A") + i) for i in range(len(raw))]
        leads = [_LEAD.match(v) for v in raw]
        if all(m and m.group(1) == ch for m, ch in zip(leads, letters)):
            raw = [v[m.end():] for v, m in zip(raw, leads) if m]
        out = dict(zip(letters, (v.strip() for v in raw)))
    else:
        raise where.error("options", "required for a multiple_choice variant: an object of letter -> text or a list"
                          if raw is None else f"expected an object or a list, got {type(raw).__name__}")
    if len(out) < 2 or len(out) > 26:
        raise where.error("options", f"a multiple-choice question needs 2 to 26 options, got {len(out)}")
    return dict(sorted(out.items()))


def choice_answer(raw: Any, options: dict[str, str], where: _Where) -> str:
    """The reference letter: "B", "b", "(B)", "B." or the text of one option."""
    if isinstance(raw, str):
        m = _LETTER.match(raw)
        if m and m.group(1).upper() in options:
            return m.group(1).upper()
        hits = [k for k, v in options.items() if v.strip().lower() == raw.strip().lower()]
        if len(hits) == 1:
            return hits[0]
    raise where.error("answer", f"expected one of the option letters {', '.join(options)} (or an option's text), "
                      f"got {str(raw)[:60]!r}")


def truefalse_answer(raw: Any, where: _Where) -> bool:
    """The reference answer: a JSON boolean, or "True"/"False"/"yes"/"no"/1/0."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (str, int)) and str(raw).strip().lower() in _TRUE | _FALSE:
        return str(raw).strip().lower() in _TRUE
    raise where.error("answer", f"expected true or false, got {str(raw)[:60]!r}")


def scoring_of(qtype: str, method: str, where: _Where) -> str:
    if method == "human_evaluation":
        return "compliance"
    if qtype == "multiple_choice":
        return "choice"
    if qtype == "true_false":
        return "truefalse"
    raise where.error("evaluation_method", f"pattern_match needs a multiple_choice or true_false question, "
                      f"not {qtype} (use human_evaluation)")


def variant_case(v: dict, group: dict, rules: dict[str, str], framework: str, name: str, path: Path,
                 where: _Where) -> Case:
    qid = _ident(v, "question_id", where)
    where.qid = qid
    qtype = v.get("question_type")
    if qtype not in QUESTION_TYPES:
        raise where.error("question_type", f"{str(qtype)[:60]!r} is not one of {', '.join(QUESTION_TYPES)}")
    method = v.get("evaluation_method")
    if method not in METHODS:
        raise where.error("evaluation_method", f"{str(method)[:60]!r} is not one of {', '.join(METHODS)}")
    question = _text(v, "question_text", where)
    scoring = scoring_of(qtype, method, where)
    reference: dict[str, Any] = {"scoring": scoring}
    text = question
    if scoring == "choice":
        options = options_of(v.get("options"), where)
        reference.update(answer=choice_answer(v.get("answer"), options, where), options=options)
        text = f"{question}\n\n" + "\n".join(f"{k}. {t}" for k, t in options.items()) + f"\n\n{CHOICE_ASK}"
    elif scoring == "truefalse":
        reference["answer"] = truefalse_answer(v.get("answer"), where)
        text = f"{question}\n\n{TRUEFALSE_ASK}"
    else:
        reference.update(criteria=_text(v, "judging_criteria", where, required=False), should=rules["should"],
                         should_not=rules["should_not"], question_type=qtype)
    meta: dict[str, Any] = {"framework": framework, "dimension": group["dimension"], "group_id": group["raw_id"],
                            "question_id": qid, "question_type": qtype, "evaluation_method": method}
    if qtype == "multimodal_generated":
        meta["image_grounded"] = True
        if isinstance(v.get("image_reference"), str):
            meta["image_reference"] = v["image_reference"]
    return Case(id=f"{group['group_id']}-{qid}", turns=(Message.user(text),), category=group["dimension"],
                label="unsafe" if qtype == "open_ended_jailbreak" else "benign", language="en",
                source=Source(dataset=name, file=str(path), line=where.gi + 1), reference=reference,
                metadata=meta)


def load_groups(path: Path, framework: str, name: str) -> list[Case]:
    try:
        with path.open(encoding="utf-8-sig") as fh:  # a BOM (Notepad, PowerShell) dropped, as every loader does
            groups = json.load(fh)
    except UnicodeDecodeError as exc:
        raise InputError(str(path), None, None, f"not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), exc.lineno, None, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except OSError as exc:
        raise InputError(str(path), None, None, f"cannot read: {exc.strerror or exc}") from None
    if not isinstance(groups, list) or not groups:
        raise InputError(str(path), None, None, "expected a non-empty JSON array of question groups")
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for gi, g in enumerate(groups):
        where = _Where(path, gi)
        if not isinstance(g, dict):
            raise InputError(str(path), None, f"[{gi}]", f"expected a question group object, got {type(g).__name__}")
        gid = _ident(g, "group_id", where)
        where.group_id = gid
        dimension = _text(g, "dimension", where)
        rt = g.get("rules_tested")
        if not isinstance(rt, dict):
            raise where.error("rules_tested", "required: an object with `should` and `should_not`")
        rules = {k: _text(rt, k, _Where(path, gi, gid)) or "" for k in ("should", "should_not")}
        variants = g.get("variants")
        if not isinstance(variants, list) or not variants:
            raise where.error("variants", "required: a non-empty list of question variants")
        group = {"group_id": gid, "raw_id": g["group_id"], "dimension": dimension}
        for vi, v in enumerate(variants):
            vw = _Where(path, gi, gid, vi)
            if not isinstance(v, dict):
                raise InputError(str(path), None, f"[{gi}].variants[{vi}]",
                                 f"expected a question variant object, got {type(v).__name__} (group_id {gid})")
            case = variant_case(v, group, rules, framework, name, path, vw)
            if case.id in seen:
                raise vw.error("question_id", f"duplicate case id {case.id!r} (first at {seen[case.id]})")
            seen[case.id] = f"[{gi}].variants[{vi}]"
            cases.append(case)
    return cases


@dataset(name="nist", title="NIST AI RMF compliance questions (AI safety report)", modality="language",
         mode="compliance", source=SOURCE, licence=LICENCE, files=("**/NIST.json",), size=129)
def load_nist(path: Path, images: dict[str, bytes]) -> list[Case]:
    return load_groups(path, "NIST AI RMF", "nist")


@dataset(name="eu-ai-act", title="EU AI Act compliance questions (AI safety report)", modality="language",
         mode="compliance", source=SOURCE, licence=LICENCE, files=("**/EU_AI_Act.json",), size=160)
def load_eu_ai_act(path: Path, images: dict[str, bytes]) -> list[Case]:
    return load_groups(path, "EU AI Act", "eu-ai-act")


@dataset(name="feat", title="MAS FEAT compliance questions (AI safety report)", modality="language",
         mode="compliance", source=SOURCE, licence=LICENCE, files=("**/FEAT.json",), size=84)
def load_feat(path: Path, images: dict[str, bytes]) -> list[Case]:
    return load_groups(path, "MAS FEAT", "feat")
