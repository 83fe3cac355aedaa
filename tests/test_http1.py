"""The lean HTTP/1.1 client (targets/http1.py) against loopback servers that answer in every framing
HTTP/1.1 allows, and in ways it does not: each answer is read whole, cut at the cap, or an HttpError;
never a hang, never a wrong body, never a connection reused after a doubtful answer."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import shutil
import ssl
import subprocess
import zlib

import pytest

from conftest import mmsafe, stored_generations, write_suite
from mmsafe.targets import http1


class Server:
    """A raw loopback server: `script(request_bytes)` gives the bytes to send (a list: each item is
    written on its own, with a short pause, so answers arrive in pieces) and whether to close after."""

    def __init__(self, script, tls: ssl.SSLContext | None = None) -> None:
        self.script, self.tls = script, tls
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/v1/chat/completions"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                pieces, close = self.script(request)
                for piece in pieces:
                    if piece is None:  # a pause: the client waits, nothing is sent
                        await asyncio.sleep(3600)
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.001)
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _ok(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def _chunked(body: bytes, *headers: str, sizes=(3, 1, 50)) -> bytes:
    out, i, k = [], 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        out.append(b"%x;ext=1\r\n" % len(body[i:i + n]) + body[i:i + n] + b"\r\n")
        i, k = i + n, k + 1
    extra = "".join(f"{h}\r\n" for h in headers)
    return (f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{extra}\r\n".encode() + b"".join(out)
            + b"0\r\nX-Trailer: t\r\n\r\n")


BODY = json.dumps({"choices": [{"message": {"content": "hello " * 40}}]}).encode()


async def _ask(srv: Server, cap: int = 1 << 20, n: int = 1, timeout_s: float = 5.0, body: bytes = b"{}"):
    pool = http1.Pool(srv.url, 10, timeout_s, "mmsafe-test")
    try:
        return [await pool.request("POST", srv.url, body, {"Content-Type": "application/json"}, cap) for _ in range(n)]
    finally:
        await pool.close()


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("framing", ["length", "chunked", "gzip", "gzip-chunked", "deflate", "raw-deflate",
                                     "http10-until-close", "continue-first", "split-bytes"])
def test_every_framing_gives_the_same_body(framing):
    answers = {
        "length": lambda: [_ok(BODY)],
        "chunked": lambda: [_chunked(BODY)],
        "gzip": lambda: [_ok(gzip.compress(BODY), "Content-Encoding: gzip")],
        "gzip-chunked": lambda: [_chunked(gzip.compress(BODY), "Content-Encoding: gzip")],
        "deflate": lambda: [_ok(zlib.compress(BODY), "Content-Encoding: deflate")],
        "raw-deflate": lambda: [_ok(_raw_deflate(BODY), "Content-Encoding: deflate")],
        "http10-until-close": lambda: [b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n", BODY[:10], BODY[10:]],
        "continue-first": lambda: [b"HTTP/1.1 100 Continue\r\n\r\n", _ok(BODY)],
        "split-bytes": lambda: [bytes([b]) for b in _chunked(BODY)],
    }
    close = framing == "http10-until-close"

    async def go():
        async with Server(lambda req: (answers[framing](), close)) as srv:
            (status, headers, body, cut), = await _ask(srv)
            return status, headers, body, cut

    status, headers, body, cut = run(go())
    assert (status, body, cut) == (200, BODY, False)
    assert headers is not None


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def test_keep_alive_reuses_one_connection_and_close_opens_a_new_one():
    async def go(close_header: bool):
        extra = ("Connection: close",) if close_header else ()
        async with Server(lambda req: ([_ok(BODY, *extra)], close_header)) as srv:
            answers = await _ask(srv, n=5)
            return srv.connections, [a[2] for a in answers]

    conns, bodies = run(go(False))
    assert conns == 1 and bodies == [BODY] * 5
    conns, bodies = run(go(True))
    assert conns == 5 and bodies == [BODY] * 5


def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    async def go():
        async with Server(lambda req: ([_ok(BODY)], True)) as srv:  # keep-alive announced, then closed
            pool = http1.Pool(srv.url, 4, 5.0, "t")
            try:
                first = await pool.request("POST", srv.url, b"{}", {}, 1 << 20)
                await asyncio.sleep(0.1)  # the close reaches the client while the connection is idle
                second = await pool.request("POST", srv.url, b"{}", {}, 1 << 20)
            finally:
                await pool.close()
            return first[2], second[2], srv.connections

    assert run(go()) == (BODY, BODY, 2)


def test_a_kept_connection_closed_as_the_request_goes_out_is_asked_again_on_a_new_one():
    """The server lets a keep-alive connection go just as the next request arrives (idle timeouts,
    proxies): that request is sent again at once on a new connection, not failed as an attempt.
    A new connection that closes unanswered is still an error: nothing is asked twice for it."""
    seen = []

    def script(req: bytes):
        seen.append(req)
        return ([_ok(BODY)], False) if len(seen) % 2 else ([], True)  # every second request: closed unanswered

    async def go():
        async with Server(script) as srv:
            pool = http1.Pool(srv.url, 1, 5.0, "t")
            try:
                answers = [await pool.request("POST", srv.url, b"{}", {}, 1 << 20) for _ in range(2)]
            finally:
                await pool.close()
            return [a[2] for a in answers], srv.connections

    assert run(go()) == ([BODY, BODY], 2) and len(seen) == 3

    async def never():
        async with Server(lambda req: ([], True)) as srv:
            with pytest.raises(http1.HttpError, match="without answering"):
                await _ask(srv)
            return len(srv.requests)

    assert run(never()) == 1


@pytest.mark.parametrize("cap", [10, len(BODY) - 1])
@pytest.mark.parametrize("framing", ["length", "chunked", "gzip"])
def test_a_body_over_the_cap_comes_back_cut_and_the_connection_is_dropped(framing, cap):
    answers = {"length": _ok(BODY), "chunked": _chunked(BODY), "gzip": _ok(gzip.compress(BODY), "Content-Encoding: gzip")}

    async def go():
        async with Server(lambda req: ([answers[framing]], False)) as srv:
            out = await _ask(srv, cap=cap, n=2)
            return out, srv.connections

    out, conns = run(go())
    assert all(a[2] == BODY[:cap] and a[3] is True for a in out)
    assert conns == 2  # a cut answer's connection still holds its rest: never reused


def test_a_decompression_bomb_is_cut_at_the_cap():
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in about 50 KB

    async def go():
        async with Server(lambda req: ([_ok(bomb, "Content-Encoding: gzip")], False)) as srv:
            return await _ask(srv, cap=1000)

    (status, _, body, cut), = run(go())
    assert (status, len(body), cut) == (200, 1000, True)


def test_the_aiohttp_path_cuts_a_decompression_bomb_at_the_cap_too():
    # image URLs (and MMSAFE_HTTP_CLIENT=aiohttp) read through aiohttp: its Content-Length counts the
    # compressed bytes, so a small gzip body must not be read whole and inflated past the cap
    import aiohttp

    from mmsafe.targets.openai import _read_capped

    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 1_000_000

    async def go():
        async with Server(lambda req: ([_ok(bomb, "Content-Encoding: gzip")], False)) as srv:
            async with aiohttp.ClientSession() as session, session.get(srv.url) as resp:
                return await _read_capped(resp, 1_000_000)

    body, cut = run(go())
    assert cut is True and len(body) == 1_000_000


@pytest.mark.parametrize("answer, says", [
    (b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", "malformed status line"),
    (b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", "not followed by CRLF"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nxx", "unsupported Content-Encoding"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope", "does not decompress"),
    # a gzip body without its 8-byte trailer (CRC and size): cut short, not a whole answer
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % (len(gzip.compress(b"{}")) - 8)
     + gzip.compress(b"{}")[:-8], "truncated"),
    (b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "headers over"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 5000, "line over"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "mid-answer"),
    (b"", "without answering"),
    # digits that str.isdigit() accepts and int() does not (latin-1 superscripts)
    (b"HTTP/1.1 2\xb20 OK\r\nContent-Length: 2\r\n\r\n{}", "malformed status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n{}", "bad Content-Length"),
    # a body in absurdly many tiny chunks: refused after a bounded number, never held piece by piece
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * 200_000 + b"0\r\n\r\n",
     "chunks"),
])
def test_broken_answers_are_http_errors_not_hangs(answer, says):
    async def go():
        async with Server(lambda req: ([answer] if answer else [], True)) as srv:
            with pytest.raises(http1.HttpError) as err:
                await _ask(srv)
            return str(err.value)

    assert says in run(go())


def test_a_server_that_never_answers_times_out():
    async def go():
        async with Server(lambda req: ([b"HTTP/1.1 200 OK\r\n", None], False)) as srv:
            with pytest.raises(TimeoutError):
                await _ask(srv, timeout_s=0.3)

    run(go())


def test_a_closed_port_is_connect_failed():
    async def go():
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        pool = http1.Pool(f"http://127.0.0.1:{port}/v1", 2, 2.0, "t")
        with pytest.raises(http1.ConnectFailed) as err:
            await pool.request("POST", f"http://127.0.0.1:{port}/v1/x", b"", {}, 100)
        return err.value.os_error

    assert isinstance(run(go()), ConnectionRefusedError)


def test_header_values_with_line_breaks_are_refused_before_sending():
    async def go():
        async with Server(lambda req: ([_ok(BODY)], False)) as srv:
            pool = http1.Pool(srv.url, 2, 2.0, "t")
            with pytest.raises(ValueError, match="line break"):
                await pool.request("POST", srv.url, b"{}", {"Authorization": "Bearer x\r\nX-Evil: 1"}, 100)
            await pool.close()
            return srv.requests

    assert run(go()) == []


def test_the_request_carries_host_path_query_and_length():
    async def go():
        async with Server(lambda req: ([_ok(BODY)], False)) as srv:
            pool = http1.Pool(srv.url, 2, 2.0, "agent/1")
            await pool.request("POST", srv.url + "?api-version=2", b'{"a":1}', {"Authorization": "Bearer k"}, 1 << 20)
            await pool.close()
            return srv.requests[0], srv.port

    request, port = run(go())
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?api-version=2 HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}" in lines and "Content-Length: 7" in lines and "Authorization: Bearer k" in lines
    assert body == b'{"a":1}'


def test_random_splits_and_garbage_never_hang_or_escape():
    """The parser fed a valid answer in random pieces reads it exactly; fed random damage of it,
    it ends in an answer or an HttpError, and eof always settles it."""
    rng = random.Random(7)
    valid = [_ok(BODY), _chunked(BODY), _chunked(gzip.compress(BODY), "Content-Encoding: gzip"),
             _ok(gzip.compress(BODY), "Content-Encoding: gzip")]

    async def go():
        loop = asyncio.get_running_loop()
        for i in range(400):
            data = bytearray(rng.choice(valid))
            damaged = i % 2 == 1
            if damaged:
                for _ in range(rng.randint(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            fut = loop.create_future()
            answer = http1._Answer(fut, 1 << 20, False)
            pos = 0
            while pos < len(data) and not fut.done():
                step = rng.randint(1, 40)
                answer.feed(bytes(data[pos:pos + step]))
                pos += step
            answer.eof(None)
            assert fut.done()
            if not damaged:
                status, _, body, cut = fut.result()
                assert (status, body, cut) == (200, BODY, False)
            elif fut.exception() is not None:
                assert isinstance(fut.exception(), http1.HttpError)

    run(go())


def _self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def _chat(req: bytes):
    return [_ok(json.dumps({"choices": [{"message": {"content": "I can't help with that."}}]}).encode(),
                "Content-Type: application/json")], False


def test_https_end_to_end_trusts_ssl_cert_file_and_refuses_an_unknown_certificate(tmp_path):
    """A whole `mmsafe run` over TLS: the certificate is checked against the system's store, which
    SSL_CERT_FILE names here; without it the self-signed server is refused, naming the reason."""
    ctx, cert = _self_signed(tmp_path)
    suite = write_suite(tmp_path / "s.jsonl", ["hello", "how do I pick a lock?"])

    async def go():
        async with Server(_chat, tls=ctx) as srv:
            base = f"https://127.0.0.1:{srv.port}/v1"
            args = ("run", "--target", "openai", "--model", "m", "--base-url", base, "--suite", str(suite),
                    "--judge", "refusal", "--json", "--max-attempts", "2")
            trusted = await asyncio.to_thread(mmsafe, *args, "--out", str(tmp_path / "ok"),
                                              env={"SSL_CERT_FILE": str(cert)})
            refused = await asyncio.to_thread(mmsafe, *args, "--out", str(tmp_path / "bad"))
            return trusted, refused, len(srv.requests)

    trusted, refused, served = run(go())
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout)["counts"]["answered"] == 2 and served == 2
    assert refused.returncode != 0 and "certificate verify failed" in refused.stderr


def test_a_whole_run_against_aiohttps_own_server_in_every_framing(tmp_path):
    """aiohttp.web as the endpoint (a real server, not ours): plain, gzip-compressed, chunked and
    streamed answers reach the store as the text the server sent."""
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        prompt = (await request.json())["messages"][-1]["content"]
        body = json.dumps({"choices": [{"message": {"content": f"answer to {prompt} " + "x" * 3000}}]}).encode()
        if "plain" in prompt:
            return web.Response(body=body, content_type="application/json")
        if "gzip" in prompt:
            resp = web.Response(body=body, content_type="application/json")
            resp.enable_compression(web.ContentCoding.gzip)
            return resp
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        if "deflate" in prompt:
            resp.enable_compression(web.ContentCoding.deflate)
        await resp.prepare(request)
        for i in range(0, len(body), 700):
            await resp.write(body[i:i + 700])
            await asyncio.sleep(0.001)
        await resp.write_eof()
        return resp

    prompts = ["plain one", "gzip two", "chunked three", "deflate chunked four"]
    suite = write_suite(tmp_path / "s.jsonl", prompts)

    async def go():
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            return await asyncio.to_thread(
                mmsafe, "run", "--target", "openai", "--model", "m", "--base-url", f"http://127.0.0.1:{port}/v1",
                "--suite", str(suite), "--judge", "refusal", "--json", "--max-attempts", "1", "--concurrency", "2",
                "--out", str(tmp_path / "run"))
        finally:
            await runner.cleanup()

    r = run(go())
    assert r.returncode == 0, r.stderr
    texts = {cid: g["output"][0]["text"] for cid, g in stored_generations(tmp_path / "run").items()}
    assert texts == {f"c{i:04d}": f"answer to {p} " + "x" * 3000 for i, p in enumerate(prompts)}


def test_bytes_after_an_answer_retire_the_connection():
    """A server that sends more than the answer it framed: the extra bytes are never read as the
    next request's answer; the next request gets a new connection."""
    async def go():
        async with Server(lambda req: ([_ok(BODY), b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad"], False)) as srv:
            pool = http1.Pool(srv.url, 4, 5.0, "t")
            try:
                bodies = []
                for _ in range(3):
                    bodies.append((await pool.request("POST", srv.url, b"{}", {}, 1 << 20))[2])
                    await asyncio.sleep(0.05)  # the stray answer arrives while the connection is idle or done
            finally:
                await pool.close()
            return bodies, srv.connections

    bodies, conns = run(go())
    assert bodies == [BODY] * 3 and conns == 3


def test_a_redirect_from_the_api_stops_the_run_naming_where_it_points(tmp_path):
    """The key is never sent where the user did not point: a 3xx from the endpoint is an error (exit
    2) that names the Location, before more cases are asked."""
    suite = write_suite(tmp_path / "s.jsonl", [f"q{i}" for i in range(5)])

    def redirect(req: bytes):
        return [b"HTTP/1.1 307 Temporary Redirect\r\nLocation: https://elsewhere.example/v1/chat/completions\r\n"
                b"Content-Length: 0\r\n\r\n"], False

    async def go():
        async with Server(redirect) as srv:
            base = f"http://127.0.0.1:{srv.port}/v1"
            r = await asyncio.to_thread(mmsafe, "run", "--target", "openai", "--model", "m", "--base-url", base,
                                        "--suite", str(suite), "--judge", "refusal", "--concurrency", "1",
                                        "--out", str(tmp_path / "run"))
            return r, len(srv.requests)

    r, asked = run(go())
    assert r.returncode == 2, r.stderr
    assert "HTTP 307" in r.stderr and "https://elsewhere.example/v1/chat/completions" in r.stderr and "--base-url" in r.stderr
    assert asked == 1 and "Traceback" not in r.stderr


def test_with_the_aiohttp_client_a_redirect_is_not_followed_either(tmp_path):
    """MMSAFE_HTTP_CLIENT=aiohttp: the prompts are never posted where a 3xx points."""
    suite = write_suite(tmp_path / "s.jsonl", ["q0", "q1"])
    elsewhere: list[bytes] = []

    def other(req: bytes):
        elsewhere.append(req)
        return [_ok(json.dumps({"choices": [{"message": {"content": "from elsewhere"}}]}).encode())], False

    async def go():
        async with Server(other) as far:
            def redirect(req: bytes):
                return [b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:%d/v1/chat/completions\r\n"
                        b"Content-Length: 0\r\n\r\n" % far.port], False

            async with Server(redirect) as srv:
                base = f"http://127.0.0.1:{srv.port}/v1"
                return await asyncio.to_thread(mmsafe, "run", "--target", "openai", "--model", "m", "--base-url", base,
                                               "--suite", str(suite), "--judge", "refusal", "--concurrency", "1",
                                               "--out", str(tmp_path / "run"), env={"MMSAFE_HTTP_CLIENT": "aiohttp"})

    r = run(go())
    assert r.returncode == 2 and "HTTP 307" in r.stderr, r.stderr
    assert not elsewhere
