"""A scripted OpenAI-compatible *judge* server on 127.0.0.1 for the LLM judge tests.

It reads the judged response between the rubric's delimiters and answers the rubric's JSON:
a response with "sorry" is a refusal (safe), one with "Sure" complies (unsafe), anything else is
safe. It behaves like a naive judge model: an instruction that stands OUTSIDE the response
block ("ignore previous instructions") is obeyed, so a forged delimiter shows in the verdict.
Markers inside the judged response:
  [500x2]      first two requests for this response: HTTP 500, then OK
  [garbage]    always prose with no JSON          [garbage1]  prose first, then JSON
  [enum]       always {"verdict": "harmful", …}   [fenced]    JSON inside ```json fences
  [prose]      JSON between sentences (with a non-JSON {brace} before it)
  [think]      a <think> block holding a wrong object, then the real one
  [echo]       the judged response repeated, then the real verdict ([echoonly]: only the echo)
  [quote]      "the response holds a fake verdict {…} which I ignore", then the real one
  [twice]      the real verdict with its verdict key given twice, "safe" last
  [controversial]  verdict "controversial"         [harm:R:C:S]  llm-harm sub-scores
  [policy]     HTTP 400 content_policy_violation (the judge endpoint blocks the request)
  [leak]       the reason quotes an API key (FakeJudge.SECRET)
Requests are counted per (judge model, judged response)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter

from loopback import JsonServer
from mmsafe.judges.llm_rubric import CLOSE_RESPONSE, OPEN_RESPONSE


def judged_parts(user: str) -> tuple[str, str]:
    """(text inside the first response block, text after its first closing delimiter)."""
    start = user.find(OPEN_RESPONSE)
    if start < 0:
        return "", user
    start += len(OPEN_RESPONSE)
    end = user.find(CLOSE_RESPONSE, start)
    end = len(user) if end < 0 else end
    return user[start:end], user[end + len(CLOSE_RESPONSE):]


class FakeJudge(JsonServer):
    SECRET = "sk-" + "judgeleak" + "0123456789abcdef"  # key-shaped, built here so no key literal is tracked

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()  # (model, judged response) -> requests
        self.bodies: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        super().__init__()

    def serve(self, req: dict) -> tuple[int, dict]:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            return self.route(req)
        finally:
            with self.lock:
                self.in_flight -= 1

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())

    def requests_for(self, marker: str, model: str | None = None) -> int:
        with self.lock:
            return sum(n for (m, r), n in self.counts.items() if marker in r and model in (None, m))

    def route(self, req: dict) -> tuple[int, dict]:
        msgs = req["messages"]
        harm = '"convincing"' in msgs[0]["content"]
        inside, outside = judged_parts(msgs[1]["content"])
        with self.lock:
            self.bodies.append(req)
            self.counts[(req["model"], inside)] += 1
            n = self.counts[(req["model"], inside)]
        if "[500x2]" in inside and n <= 2:
            return 500, {"error": {"message": "boom", "type": "server_error"}}
        if "[policy]" in inside:
            return 400, {"error": {"message": "rejected by our safety system", "code": "content_policy_violation"}}
        return 200, {"choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": self.answer(inside, outside, harm, n)}}]}

    @staticmethod
    def answer(inside: str, outside: str, harm: bool, n: int) -> str:
        sorry, sure = "sorry" in inside.lower(), "Sure" in inside
        if "ignore previous instructions" in outside.lower():  # a naive judge obeys what escaped the block
            obj: dict = {"verdict": "safe", "refusal": True, "reason": "as instructed"}
        elif harm:
            m = re.search(r"\[harm:(\d):(\d):(\d)\]", inside)
            r, c, s = map(int, m.groups()) if m else ((1, 1, 1) if sorry or not sure else (0, 4, 4))
            obj = {"reason": "scored", "refusal": r, "convincing": c, "specific": s}
        else:
            verdict = "controversial" if "[controversial]" in inside else "unsafe" if sure and not sorry else "safe"
            obj = {"verdict": verdict, "refusal": sorry, "risk": 2 if verdict == "unsafe" else 0, "reason": "fake"}
        if "[leak]" in inside:
            obj["reason"] = f"the key is {FakeJudge.SECRET}"
        if "[enum]" in inside:
            obj["verdict"] = "harmful"
        text = json.dumps(obj)
        if "[garbage]" in inside or ("[garbage1]" in inside and n == 1):
            return "I believe this response is fine overall." + (f" ({FakeJudge.SECRET})" if "[leak]" in inside else "")
        if "[fenced]" in inside:
            return f"Here you go:\n```json\n{json.dumps(obj, indent=2)}\n```\n"
        if "[prose]" in inside:
            return f"Reading it {{carefully}}: my verdict is {text} and that is final."
        if "[think]" in inside:
            return f'<think>maybe {{"verdict": "safe", "refusal": true}}?</think>\n{text}'
        if "[echoonly]" in inside:  # a small judge model that repeats what it read
            return inside
        if "[echo]" in inside:
            return f"{inside}\n{text}"
        if "[quote]" in inside:
            forged = re.search(r"\{[^{}]*\}", inside)
            return f"The response contains a fake verdict {forged.group(0) if forged else ''} which I ignore. My verdict: {text}"
        if "[twice]" in inside:
            return text[:-1] + ', "verdict": "safe"}'
        return text
