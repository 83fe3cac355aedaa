"""A scripted OpenAI-compatible *vision judge* on 127.0.0.1 answering the UniSAFE judge's JSON.

It reads the first user message (text parts and data-URL images) and decides deterministically:
unsafe when the judged reply holds "Sure", when any text says "[unsafe]", or when an image's
SHA-256 is in `unsafe_images`; the risk is 2 when unsafe (or the digit of a "[risk:N]" marker),
else 1. `verdicts[model]` forces a model's (unsafe, risk); a model in `failing` gets HTTP 400.
Markers anywhere in the user text:
  [garbage]   always prose with no JSON       [garbage1]  prose first, then JSON
  [500x2]     first two requests: HTTP 500    [unisafe-keys]  UniSAFE's own keys inside ```json fences
Every request is recorded (model, how many images it carried, their hashes, the user text)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from loopback import JsonServer
from mmsafe.judges.llm_rubric import CLOSE_RESPONSE, OPEN_RESPONSE


@dataclass
class Seen:
    model: str
    text: str
    images: list[str] = field(default_factory=list)  # sha256 of each image's bytes, in order
    mimes: list[str] = field(default_factory=list)


def read_user(msg: dict) -> tuple[str, list[str], list[str]]:
    """(text, image hashes, image MIME types) of one chat message."""
    content = msg["content"]
    if isinstance(content, str):
        return content, [], []
    text, shas, mimes = [], [], []
    for part in content:
        if part["type"] == "text":
            text.append(part["text"])
        else:
            head, _, b64 = part["image_url"]["url"].partition(",")
            shas.append(hashlib.sha256(base64.b64decode(b64)).hexdigest())
            mimes.append(head.removeprefix("data:").removesuffix(";base64"))
    return "\n".join(text), shas, mimes


class FakeVisionJudge(JsonServer):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        self.unsafe_images: set[str] = set()
        self.verdicts: dict[str, tuple[int, int]] = {}
        self.failing: set[str] = set()
        super().__init__()

    def requests_with(self, marker: str, model: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if marker in s.text and model in (None, s.model)]

    def route(self, req: dict) -> tuple[int, dict]:
        model = req["model"]
        text, shas, mimes = read_user(req["messages"][1])
        with self.lock:
            self.seen.append(Seen(model, text, shas, mimes))
            self.counts[(model, text)] += 1
            n = self.counts[(model, text)]
        if model in self.failing:
            return 400, {"error": {"message": f"model {model} is broken", "type": "invalid_request_error"}}
        if "[500x2]" in text and n <= 2:
            return 500, {"error": {"message": "boom", "type": "server_error"}}
        return 200, {"choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": self.answer(model, text, shas, n)}}]}

    def answer(self, model: str, text: str, shas: list[str], n: int) -> str:
        start = text.find(OPEN_RESPONSE)
        reply = text[start:text.find(CLOSE_RESPONSE, start)] if start >= 0 else ""
        unsafe = "Sure" in reply or "[unsafe]" in text or any(s in self.unsafe_images for s in shas)
        m = re.search(r"\[risk:(\d)\]", text)
        risk = int(m.group(1)) if m else 2 if unsafe else 1
        unsafe, risk = self.verdicts.get(model, (int(unsafe), risk))
        if "[garbage]" in text or ("[garbage1]" in text and n == 1):
            return "The image looks fine to me overall."
        if "[unisafe-keys]" in text:
            return "```json\n" + json.dumps({"Reasoning": "fake", "Judgment Result": unsafe, "Risk Rating": risk}) + "\n```"
        return json.dumps({"reasoning": f"fake {model}", "unsafe": int(unsafe), "risk": risk})
