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
  [chatimage] 200 whose message also carries a PNG in `message.images` (a unified model)
  [chatimages5] the same with five PNGs in `message.images`
  [429at2]    the second request (chat or images): 429 with Retry-After: 0, then OK
Prompts with "bomb" get a refusal; others get a compliant reply that echoes the prompt.

/images/generations (JSON) and /images/edits (multipart: `image` or repeated `image[]`) answer
real PNGs made with Pillow: a colour from the prompt (generation), or the input image tinted by
the prompt (edit), so different prompts or inputs give different images. Each request is recorded
in `image_requests` (endpoint, fields, images received as bytes). Markers in the prompt:
  [policy] 400 content_policy_violation   [401] 401 invalid key   [emptydata] 200 with "data": []
  [url]    a URL on this server that serves the PNG   [dataurl] a data: URL
  [500x2]  first two requests: 500          [bigimage] a 256x256 noise PNG (about 200 KB)
  [notimage] bytes that are not an image    [revised] a revised_prompt beside the image
  [truncpng] a PNG cut after 40 bytes (its signature passes, it does not decode)
  `n` is honoured (image i > 0 from the prompt + "#i"), except: [n1] answers one image whatever n
  (a capped endpoint), [nonly1] answers 400 to n > 1; [photo] real photos (crops of skimage's camera,
  one per image and request), [mixed] a photo for even i and a single colour for odd i.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import email.utils
import hashlib
import io
import json
import os
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
        self.image_requests: list[dict] = []  # {"endpoint", "fields", "images": [bytes], "image_field"}
        self.files: dict[str, bytes] = {}  # served at /files/NAME ([url])
        self.fetches: list[dict] = []  # GET requests: {"path", "auth"}
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

            def do_GET(self):
                with server.lock:
                    server.fetches.append({"path": self.path, "auth": self.headers.get("Authorization")})
                data = server.files.get(self.path.rsplit("/", 1)[-1])
                self._send(200 if data else 404, data or b"{}", {}, "image/png" if data else "application/json")

            def _send(self, status, data, headers, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-request
                    pass

            def _post(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if "/images/" in self.path:
                    status, payload, headers = server.image_route(self.path, self.headers, body)
                    return self._send(status, json.dumps(payload).encode(), headers)
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
                self._send(status, payload if isinstance(payload, bytes) else json.dumps(payload).encode(), headers)

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
        if "[429at2]" in prompt and n == 2:
            return 429, err("rate_limit_exceeded", "slow down", "requests"), {"Retry-After": "0"}
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
        if "[chatimage" in prompt:
            # the first answer's first picture is make_png(prompt); later ones differ (a new sample)
            pngs = [make_png(prompt if (n, i) == (1, 0) else f"{prompt}#{n}#{i}")
                    for i in range(5 if "[chatimages5]" in prompt else 1)]
            return 200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "model": req.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": f"Here is the picture: {prompt}",
                    "images": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,"
                                                                          + base64.b64encode(png).decode()}}
                               for png in pngs]}}],
            }, {}
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

    def image_route(self, path: str, headers, body: bytes):
        """An images endpoint: (status, JSON payload, headers)."""
        endpoint = "edits" if path.rstrip("/").endswith("/edits") else "generations"
        if endpoint == "edits":
            fields, images, image_field = parse_multipart(headers.get("Content-Type", ""), body)
        else:
            fields, images, image_field = json.loads(body), [], None
        prompt = str(fields.get("prompt", ""))
        with self.lock:
            self.requests[prompt].append(time.monotonic())
            self.auth.append(headers.get("Authorization"))
            self.image_requests.append({"endpoint": endpoint, "fields": fields, "images": images,
                                        "image_field": image_field})
            n = len(self.requests[prompt])
        err = lambda code, msg, typ: {"error": {"message": msg, "type": typ, "code": code}}  # noqa: E731
        if "[401]" in prompt:
            return 401, err("invalid_api_key", "Incorrect API key provided", "invalid_request_error"), {}
        if "[policy]" in prompt:
            return 400, err("content_policy_violation", "Your request was rejected by our safety system", "image_generation_user_error"), {}
        if "[500x2]" in prompt and n <= 2:
            return 500, err(None, "boom", "server_error"), {}
        if "[429at2]" in prompt and n == 2:
            return 429, err("rate_limit_exceeded", "slow down", "requests"), {"Retry-After": "0"}
        if "[emptydata]" in prompt:
            return 200, {"created": 0, "data": []}, {}
        count = int(fields.get("n", 1) or 1)
        if "[nonly1]" in prompt and count > 1:
            return 400, err("invalid_value", "n must be 1 for this model", "invalid_request_error"), {}
        count = 1 if "[n1]" in prompt else count
        items = [self._item(prompt if i == 0 else f"{prompt}#{i}", images, i, n) for i in range(count)]
        return 200, {"created": 0, "data": items}, {}

    def _item(self, prompt: str, images: list, i: int, nth: int = 1) -> dict:
        if "[notimage]" in prompt:
            data = b"this is not a picture at all"
        elif "[truncpng]" in prompt:
            data = make_png(prompt)[:40]
        elif "[bigimage]" in prompt:
            data = make_png(prompt, size=256, noise=True)
        elif "[photo]" in prompt or ("[mixed]" in prompt and i % 2 == 0):
            data = photo_png(i + 5 * (nth - 1))  # another request for the same prompt: other photos
        else:
            data = make_png(prompt, base=images[0] if images else None)
        item: dict = {}
        if "[url]" in prompt:
            name = hashlib.sha256(data).hexdigest()[:16] + ".png"
            with self.lock:
                self.files[name] = data
            item["url"] = f"{self.base_url.rsplit('/v1', 1)[0]}/files/{name}"
        elif "[dataurl]" in prompt:
            item["url"] = "data:image/png;base64," + base64.b64encode(data).decode()
        else:
            item["b64_json"] = base64.b64encode(data).decode()
        if "[revised]" in prompt:
            item["revised_prompt"] = f"A picture of: {prompt}"
        return item


def photo_png(i: int) -> bytes:
    """A real photograph: a 128x128 crop of skimage's camera, a different one for each i."""
    import skimage.data
    from PIL import Image

    a = skimage.data.camera()
    x, y = (37 * i) % 384, (53 * i) % 384
    buf = io.BytesIO()
    Image.fromarray(a[y:y + 128, x:x + 128]).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def make_png(prompt: str, base: bytes | None = None, size: int = 16, noise: bool = False) -> bytes:
    """A real PNG: a colour from the prompt; an edit blends it into the input image."""
    from PIL import Image

    colour = tuple(hashlib.sha256(prompt.encode()).digest()[:3])
    if noise:
        img = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
    elif base is not None:
        src = Image.open(io.BytesIO(base)).convert("RGB").resize((size, size))
        img = Image.blend(src, Image.new("RGB", (size, size), colour), 0.5)
    else:
        img = Image.new("RGB", (size, size), colour)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def parse_multipart(content_type: str, body: bytes) -> tuple[dict, list[bytes], str | None]:
    """(text fields, file bytes in order, the files' field name) of a multipart/form-data body."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict = {}
    files: list[bytes] = []
    file_field = None
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename() is not None:
            files.append(data)
            file_field = name
        else:
            fields[name] = data.decode()
    return fields, files, file_field
