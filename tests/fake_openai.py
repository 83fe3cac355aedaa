"""A scripted OpenAI-compatible server on 127.0.0.1 for tests (the network layer only).

It counts every request per prompt and can misbehave on cue, by markers in the prompt:
  [429]       first request: 429 with Retry-After: 1, then OK
  [503date]   first request: 503 with Retry-After as an HTTP date 1 s ahead, then OK
  [500x2]     first two requests: 500, then OK
  [500]       always 500
  [policy]    400 content_policy_violation (a provider block)
  [filter]    200 with finish_reason content_filter
  [bad]       200 with a truncated JSON body, then OK
  [401]       401 invalid key
  [slow]      first request: 3 s before the reply, then immediate
  [reset]     first request: the connection is closed without a reply
  [5xxpolicy] always 500/503 whose message mentions "safety system" / "content management policy"
  [filtertext] 200, finish_reason content_filter, with harmful text in the reply
  [empty] [blank] [null]  200 with content "", whitespace only, or null (always)
  [emptyx1]   first request: content "", then OK
  [badusage]  200 with non-integer usage counts
  [surrogate] 200 whose content holds a lone surrogate (\ud800)
  [echoauth]  first request: 500 whose message echoes the Authorization header, then OK
  [echo401]   401 whose message echoes the Authorization header
  [ansi401]   401 whose message holds escape sequences and rich markup
  [huge]      200 with a 3 MB reply
  [flood]     200 with a chunked body that never ends (until the client hangs up, or 30 s)
  [nanwait]   first request: 429 with Retry-After: nan and retry-after-ms: nan, then OK
Prompts with "bomb" get a refusal; others get a compliant reply that echoes the prompt.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REFUSAL = "I'm sorry, but I can't help with that."


def text_of(content) -> str:
    """The text of a message's content: a string, or a list of parts (vision requests)."""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default backlog of 5 drops connections when hundreds arrive at once


class FakeOpenAI:
    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.requests: dict[str, list[float]] = defaultdict(list)  # prompt -> arrival times
        self.auth: list[str | None] = []
        self.bodies: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.flood_bytes = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._post()
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _post(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                req = json.loads(body)
                status, payload, headers = server.route(req, self.headers.get("Authorization"))
                prompt = text_of(req["messages"][-1]["content"])
                if "[reset]" in prompt and server.count(prompt) == 1:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if "[flood]" in prompt:
                    return self._flood()
                if "[slow]" in prompt and server.count(prompt) == 1:
                    time.sleep(3)
                if server.latency_s:
                    time.sleep(server.latency_s)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-request
                    pass

            def _flood(self):
                """A chunked 200 that never ends: 64 KiB chunks until the client hangs up (bounded)."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b'{"choices": [{"message": {"content": "' + b"A" * 65536
                deadline = time.monotonic() + 30
                try:
                    while time.monotonic() < deadline:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        server.flood_bytes += len(chunk)
                        chunk = b"A" * 65536
                except OSError:  # the client stopped reading: what we want
                    pass
                self.close_connection = True

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def total(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.requests.values())

    def count(self, prompt: str) -> int:
        with self.lock:
            return len(self.requests.get(prompt, []))

    def route(self, req: dict, auth: str | None):
        prompt = text_of(req["messages"][-1]["content"])
        with self.lock:
            self.requests[prompt].append(time.monotonic())
            self.auth.append(auth)
            self.bodies.append(req)
            n = len(self.requests[prompt])
        err = lambda code, msg, typ: {"error": {"message": msg, "type": typ, "code": code}}  # noqa: E731
        if "[401]" in prompt:
            return 401, err("invalid_api_key", "Incorrect API key provided", "invalid_request_error"), {}
        if "[429]" in prompt and n == 1:
            return 429, err("rate_limit_exceeded", "slow down", "requests"), {"Retry-After": "1"}
        if "[503date]" in prompt and n == 1:
            return 503, err(None, "overloaded", "server_error"), {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)}
        if ("[500x2]" in prompt and n <= 2) or "[500]" in prompt:
            return 500, err(None, "boom", "server_error"), {}
        if "[echo401]" in prompt:
            return 401, err("invalid_api_key", f"Incorrect API key provided: {auth}", "invalid_request_error"), {}
        if "[ansi401]" in prompt:
            return 401, err("invalid_api_key", "\x1b]0;pwned\x07\x1b[2J\x1b[31mbad key\x1b[0m [bold red]boom[/] :skull:", "auth"), {}
        if "[echoauth]" in prompt and n == 1:
            return 500, err(None, f"upstream failed; request headers were Authorization: {auth}", "server_error"), {}
        if "[5xxpolicy]" in prompt:
            if n % 2:
                return 500, err("content_filter", "The server had an error while processing your request (safety system)", "server_error"), {}
            return 503, err(None, "Azure content management policy service unavailable", "server_error"), {}
        if "[nanwait]" in prompt and n == 1:
            return 429, err("rate_limit_exceeded", "slow down", "requests"), {"Retry-After": "nan", "retry-after-ms": "nan"}
        if "[policy]" in prompt:
            return 400, err("content_policy_violation", "Your request was rejected by our safety system", "invalid_request_error"), {}
        if "[bad]" in prompt and n == 1:
            return 200, b'{"id": "x", "choices": [{"message": {"content": "trunc', {}
        finish = "content_filter" if "[filter" in prompt else "stop"
        text = "" if finish == "content_filter" else (REFUSAL if "bomb" in prompt.lower() else f"Sure. Here is how: {prompt}")
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        if "[filtertext]" in prompt:
            text = "Sure. Step 1: mix the two chemicals. Step 2: seal the container tightly and heat it."
        elif "[empty]" in prompt or ("[emptyx1]" in prompt and n == 1):
            text = ""
        elif "[blank]" in prompt:
            text = "  \n\t "
        elif "[null]" in prompt:
            text = None
        elif "[badusage]" in prompt:
            usage = {"prompt_tokens": "many", "completion_tokens": 1.5, "total_tokens": [1]}
        elif "[surrogate]" in prompt:
            text = "broken \ud800 text"
        elif "[huge]" in prompt:
            text = "B" * (3 * 1024 * 1024)
        return 200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "model": req.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": usage,
        }, {}
