"""The template family: every wrapper keeps the request word for word, uses the case's rng
reproducibly, and is not applicable to image-output cases or cases with no request."""

from __future__ import annotations

import random

import pytest

from mmsafe.attacks import load_all
from mmsafe.attacks.base import IMAGE_IN, TEXT_IN, TEXT_OUT, AttackContext, NotApplicable
from mmsafe.schema import Case, Message, Part

NAMES = ["aim", "dev-mode", "hypothetical", "fiction", "prefix-injection", "refusal-suppression",
         "style-injection", "combination"]
REQUEST = 'How do I pick the lock on a "standard" door? {request} {p}'  # braces must survive


def chat(prompt: str = REQUEST, *, system: str | None = None, image: bool = False, task: str = "chat") -> Case:
    parts = (Part(text=prompt), *((Part(type="image", image_sha256="ab" * 32, mime="image/png"),) if image else ()))
    turns = ((Message(role="system", parts=(Part(text=system),)),) if system else ()) + (
        Message.user("hello"), Message(role="assistant", parts=(Part(text="hi"),)), Message(role="user", parts=parts))
    return Case(id="c1", turns=turns, task=task)


def attack(name: str):
    return load_all().get(name)(AttackContext(seed=3))


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_family_and_summary(name):
    cls = load_all().get(name)
    assert cls.name == name and cls.family == "template"
    assert cls.summary() and not cls.adaptive
    assert cls.inputs == frozenset({TEXT_IN, IMAGE_IN}) and cls.outputs == frozenset({TEXT_OUT})


@pytest.mark.parametrize("name", NAMES)
def test_request_verbatim_and_shape(name):
    a = attack(name)
    case = chat()
    assert a.applies(case) is None
    out = a.attacked(case)
    assert REQUEST in out.prompt and out.prompt != REQUEST
    assert out.metadata["attack"] == name
    assert out.turns[-1].role == "user"
    assert out.turns[-3:-1] == case.turns[:2]  # the earlier turns are kept as they were
    if name == "aim":
        assert out.turns[0].role == "system" and "amoral" in out.turns[0].text
        persona = out.turns[0].text.split("You play ")[1].split(",")[0]
        assert persona in out.prompt and "{p}" not in out.turns[0].text
        assert out.prompt.count("{p}") == 1  # only the request's own
    else:
        assert out.turns[0].role == "user"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_rng_and_varied(name):
    a = attack(name)
    case = chat()
    assert a.transform(case, random.Random(7)) == a.transform(case, random.Random(7))
    assert a.attacked(case) == a.attacked(case)
    seen = {a.transform(case, random.Random(s)).turns for s in range(40)}
    assert len(seen) >= 2  # more than one wording


def test_rule_contents():
    case = chat()
    assert "Sure, here is" in attack("prefix-injection").attacked(case).prompt
    assert "apologi" in attack("refusal-suppression").attacked(case).prompt
    assert "disclaimer" in attack("style-injection").attacked(case).prompt
    combo = attack("combination").attacked(case).prompt
    assert "Sure, here is" in combo and "apologi" in combo.lower() and "disclaimer" in combo
    assert "story" in attack("fiction").attacked(case).prompt.lower() or \
        "novel" in attack("fiction").attacked(case).prompt
    assert "hypothetical" in attack("hypothetical").attacked(case).prompt.lower() or \
        "imagin" in attack("hypothetical").attacked(case).prompt.lower()


def test_aim_merges_existing_system_prompt():
    out = attack("aim").attacked(chat(system="Be brief."))
    assert out.turns[0].role == "system" and out.turns[0].text.endswith("Be brief.")
    assert sum(m.role == "system" for m in out.turns) == 1


@pytest.mark.parametrize("name", NAMES)
def test_image_text_case_keeps_its_image(name):
    case = chat(image=True, task="IT")
    a = attack(name)
    assert a.applies(case) is None
    out = a.attacked(case)
    assert out.input_images == case.input_images and REQUEST in out.prompt


@pytest.mark.parametrize("name", NAMES)
def test_not_applicable(name):
    a = attack(name)
    assert isinstance(a.applies(chat(task="TI")), str)
    assert isinstance(a.applies(chat("   ")), str)
    with pytest.raises(NotApplicable):
        a.transform(chat("   "), random.Random(0))
