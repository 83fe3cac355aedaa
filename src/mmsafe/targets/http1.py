"""A lean HTTP/1.1 client for the API's hot path: keep-alive connections to one origin, spoken over
asyncio protocols. The HTTP client sets a run's ceiling, and a bare loop over aiohttp's
general-purpose request path (tracing hooks, cookie jar, URL objects, a stream reader per response)
took about twice as long as one over this kind of client; the openai target sends its API POSTs here
and keeps aiohttp for image downloads (which follow redirects).

What it speaks: HTTP/1.1 over TCP or TLS; bodies framed by Content-Length, chunked encoding or the
connection's end; gzip and deflate content encoding; interim 1xx answers skipped. What it refuses:
header sections over 64 KiB, malformed status lines, sizes and chunk lines, conflicting lengths:
each is an `HttpError` (transport trouble the caller retries), never a hang. A body is never held
beyond `cap` bytes (decompressed): past it the prefix comes back marked cut and the connection is
dropped.

Through a proxy (targets/proxy.py: HTTPS_PROXY, HTTP_PROXY, NO_PROXY from the environment) an http
endpoint is asked in absolute form and an https one through a CONNECT tunnel, TLS end to end."""

from __future__ import annotations

import asyncio
import ssl
import zlib
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict

from mmsafe.redact import redact_cut
from mmsafe.targets.proxy import proxy_for

MAX_HEAD = 65536  # bytes of status line and headers
MAX_LINE = 4096  # bytes of one chunk-size line or trailer line
MIN_CHUNKS = 4096  # chunks any body may come in; past that, at most one per 16 bytes of the reply cap
_HEAD_END = b"\r\n\r\n"
_HEX = frozenset(b"0123456789abcdefABCDEF")


class HttpError(Exception):
    """The server broke the protocol or the connection mid-answer."""


class Unanswered(HttpError):
    """The connection closed before any byte of the answer came (a keep-alive connection the
    server had just let go, as idle timeouts and proxies do)."""

    reused = False  # the connection had served an earlier request


class ConnectFailed(HttpError):
    """No connection could be made (refused, unresolvable, TLS handshake failed)."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error) or type(os_error).__name__)
        self.os_error = os_error


_DEFAULT_PORT = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORT.get(scheme, 80)


def _decoder(encoding: str) -> Any:
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return _Deflate()
    raise HttpError(f"unsupported Content-Encoding {encoding[:40]!r} (asked for gzip or deflate)")


def _ended(decoder: Any) -> bool:
    """The compressed stream reached its end marker (gzip: with its CRC and size checked)."""
    d = decoder._d if isinstance(decoder, _Deflate) else decoder
    return d is None or bool(d.eof)


class _Deflate:
    """`deflate` as servers send it: zlib-wrapped as the RFC says, or raw as some do."""

    def __init__(self) -> None:
        self._d: Any = None

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._d is None:
            self._d = zlib.decompressobj(zlib.MAX_WBITS if data[:1] and data[0] & 0x0F == 8 else -zlib.MAX_WBITS)
        return self._d.decompress(data, max_length)


class _Answer:
    """One response being read: a state machine fed with whatever bytes arrive."""

    def __init__(self, fut: asyncio.Future, cap: int, head_only: bool) -> None:
        self.fut, self.cap, self.head_only = fut, cap, head_only
        self.buf = bytearray()
        self.state = "head"
        self.status = 0
        self.headers: CIMultiDict[str] | None = None
        self.body = bytearray()  # one buffer, however many pieces the body comes in
        self.chunks = 0  # chunks read: a body framed in absurdly many tiny chunks costs CPU, not memory
        self.coded = 0  # compressed bytes fed to the decoder
        self.size = 0  # body bytes kept (decoded)
        self.left = 0  # bytes of the current length-framed body or chunk still to come
        self.keep_alive = True
        self.decoder: Any = None

    # ---- feeding -------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if self.state == "done":  # bytes after the answer, before it was taken: never reuse the connection
            self.keep_alive = False
            return
        self.buf += data
        try:
            self._advance()
        except HttpError as exc:
            self._fail(exc)
        except ValueError as exc:  # a number that passed a check but does not convert: still a bad answer
            self._fail(HttpError(f"malformed answer ({redact_cut(str(exc), 80)})"))

    def eof(self, exc: BaseException | None) -> None:
        if self.fut.done():
            return
        if self.state == "until_close":  # (such an answer never keeps its connection)
            self._finish()
        elif self.state == "head" and not self.buf:
            self._fail(Unanswered(f"server closed the connection without answering{f' ({exc})' if exc else ''}"))
        else:
            self._fail(HttpError(f"server closed the connection mid-answer{f' ({exc})' if exc else ''}"))

    def _advance(self) -> None:
        while not self.fut.done():
            state = self.state
            if state == "head":
                if not self._head():
                    return
            elif state == "length":
                if not self.buf:
                    return
                self._keep(self._take())
                if self.left == 0 and not self.fut.done():
                    self._finish()
            elif state == "until_close":
                if not self.buf:
                    return
                data = bytes(self.buf)
                self.buf.clear()
                self._keep(data)
            elif state == "chunk_size":
                line = self._line()
                if line is None:
                    return
                size_text = line.split(b";", 1)[0].strip()
                if not size_text or len(size_text) > 15 or not _HEX.issuperset(size_text):
                    raise HttpError(f"bad chunk size line {redact_cut(line.decode('latin-1'), 40)!r}")
                size = int(size_text, 16)
                self.chunks += 1
                if self.chunks > max(MIN_CHUNKS, self.cap // 16):
                    raise HttpError(f"body sent in over {max(MIN_CHUNKS, self.cap // 16)} chunks")
                self.left, self.state = size, ("chunk" if size else "trailers")
            elif state == "chunk":
                if self.left == 0:
                    if len(self.buf) < 2:
                        return
                    if self.buf[:2] != b"\r\n":
                        raise HttpError("chunk not followed by CRLF")
                    del self.buf[:2]
                    self.state = "chunk_size"
                    continue
                if not self.buf:
                    return
                self._keep(self._take())
            elif state == "trailers":
                line = self._line()
                if line is None:
                    return
                if not line:
                    self._finish()
            else:  # pragma: no cover - every state is handled above
                raise AssertionError(state)

    def _take(self) -> bytes:
        """Up to `left` bytes of the buffer: what belongs to the body or chunk being read."""
        take = bytes(self.buf[: self.left]) if len(self.buf) > self.left else bytes(self.buf)
        del self.buf[: len(take)]
        self.left -= len(take)
        return take

    def _line(self) -> bytes | None:
        end = self.buf.find(b"\r\n")
        if end < 0:
            if len(self.buf) > MAX_LINE:
                raise HttpError(f"a chunk or trailer line over {MAX_LINE} bytes")
            return None
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def _head(self) -> bool:
        end = self.buf.find(_HEAD_END)
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise HttpError(f"response headers over {MAX_HEAD} bytes")
            return False
        if end > MAX_HEAD:
            raise HttpError(f"response headers over {MAX_HEAD} bytes")
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        status_line = lines[0].split(" ", 2)
        version = status_line[0]
        if len(status_line) < 2 or not version.startswith("HTTP/1.") or not (
                len(status_line[1]) == 3 and status_line[1].isascii() and status_line[1].isdigit()):
            raise HttpError(f"malformed status line {redact_cut(lines[0], 60)!r}")
        status = int(status_line[1])
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or " " in name:
                raise HttpError(f"malformed header line {redact_cut(line, 60)!r}")
            headers.add(name, value.strip())
        if 100 <= status < 200:  # interim (100 Continue, 103 Early Hints): the real answer follows
            return True
        self.status, self.headers = status, headers
        conn = ",".join(headers.getall("Connection", ())).lower()
        self.keep_alive = ("close" not in conn) if version != "HTTP/1.0" else ("keep-alive" in conn)
        if self.head_only or status in (204, 304):
            self._finish()
            return True
        encodings = headers.getall("Content-Encoding", ())
        self.decoder = _decoder(encodings[-1]) if encodings else None
        te = ",".join(headers.getall("Transfer-Encoding", ())).lower()
        lengths = set(headers.getall("Content-Length", ()))
        if te:
            self.keep_alive = self.keep_alive and not lengths  # both: the framing is suspect, never reuse
            self.state = "chunk_size" if te.rsplit(",", 1)[-1].strip() == "chunked" else "until_close"
            if self.state == "until_close":
                self.keep_alive = False
        elif lengths:
            if len(lengths) > 1 or not all(x.isascii() and x.isdigit() for x in lengths):
                raise HttpError(f"bad Content-Length {redact_cut(', '.join(sorted(lengths)), 60)!r}")
            self.left, self.state = int(lengths.pop()), "length"
            if self.left == 0:
                self._finish()
        else:
            self.state, self.keep_alive = "until_close", False
        return True

    # ---- the body --------------------------------------------------------------------------------
    def _keep(self, data: bytes) -> None:
        if self.decoder is not None:
            self.coded += len(data)
            try:
                data = self.decoder.decompress(data, self.cap - self.size + 1)
            except zlib.error as exc:
                raise HttpError(f"body does not decompress: {exc}") from None
            # at most one byte past the cap is decoded (0 would mean no limit): reaching it cuts the body
        self.body += data
        self.size += len(data)
        if self.size > self.cap:
            self.keep_alive = False
            self._done(bytes(self.body[: self.cap]), True)

    def _finish(self) -> None:
        if self.buf:  # bytes after the answer: nothing was asked for them
            self.keep_alive = False
        if self.decoder is not None and self.coded and not _ended(self.decoder):  # a gzip without its trailer
            self._fail(HttpError("compressed body ends before its end (truncated)"))
            return
        self._done(bytes(self.body), False)

    def _done(self, body: bytes, cut: bool) -> None:
        self.state = "done"
        if not self.fut.done():
            self.fut.set_result((self.status, self.headers, body, cut))

    def _fail(self, exc: BaseException) -> None:
        self.state, self.keep_alive = "done", False
        if not self.fut.done():
            self.fut.set_exception(exc)


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer: _Answer | None = None
        self.closed = False
        self.tunnel: asyncio.Future | None = None  # a proxy's answer to CONNECT, while it is awaited
        self._head = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self._tunnel_data(data)
            return
        if self.answer is None:  # bytes nobody asked for: the connection cannot be trusted again
            self.close()
            return
        self.answer.feed(data)

    def _tunnel_data(self, data: bytes) -> None:
        assert self.tunnel is not None
        if self.tunnel.done():  # answered already: the caller acts on it
            return
        self._head += data
        end = self._head.find(_HEAD_END)
        if end >= 0:  # the answer's head, and whether bytes came past it (a refusal's body, or trouble)
            self.tunnel.set_result((bytes(self._head[:end]), end + len(_HEAD_END) < len(self._head)))
        elif len(self._head) > MAX_HEAD:
            self.tunnel.set_exception(HttpError("the proxy's answer to CONNECT is over 64 KiB"))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.tunnel is not None and not self.tunnel.done():
            self.tunnel.set_exception(HttpError("the proxy closed the connection before answering CONNECT"))
        if self.answer is not None:
            self.answer.eof(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _expire(fut: asyncio.Future, timeout_s: float) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(f"no complete answer within {timeout_s:g}s"))


class Pool:
    """Keep-alive connections to one origin, at most `limit` at once."""

    def __init__(self, url: str, limit: int, timeout_s: float, user_agent: str) -> None:
        self.scheme, self.host, self.port = origin_of(url)
        self.timeout_s = timeout_s
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.scheme == "https" else None
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = host if self.port == _DEFAULT_PORT.get(self.scheme) else f"{host}:{self.port}"
        self._authority = f"{host}:{self.port}"  # CONNECT's target (RFC 9110 9.3.6): the port always
        self.proxy = proxy_for(self.scheme, self.host, self.port)  # None: connect directly
        # plain http through a proxy: requests in absolute form, with the proxy's credentials
        self._forward = self.proxy is not None and self._ssl is None
        auth = f"Proxy-Authorization: {self.proxy.auth}\r\n" if self._forward and self.proxy.auth else ""
        self._common = (f"Host: {self._host_header}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\n"
                        f"Accept-Encoding: gzip, deflate\r\n{auth}").encode("latin-1")
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(limit)
        self._open: set[_Conn] = set()
        self._targets: dict[str, str] = {}  # URL -> request target, for the few URLs a run posts to

    def serves(self, url: str) -> bool:
        return url in self._targets or origin_of(url) == (self.scheme, self.host, self.port)

    def _request_line(self, method: str, url: str) -> bytes:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            if self._forward:  # absolute form, as a forward proxy reads it
                target = f"{self.scheme}://{self._host_header}{target}"
            if len(self._targets) < 64:
                self._targets[url] = target
        return f"{method} {target} HTTP/1.1\r\n".encode("latin-1")

    async def request(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
                      cap: int) -> tuple[int, CIMultiDict[str], bytes, bool]:
        """(status, headers, body, cut) of one request; HttpError (or ConnectFailed) when the
        transport fails, TimeoutError past the pool's timeout (connecting included)."""
        lines = [self._request_line(method, url), self._common]
        for k, v in headers.items():
            if "\r" in v or "\n" in v or "\r" in k or "\n" in k:
                raise ValueError(f"header {k!r}: a line break is not allowed in a header")
            lines.append(f"{k}: {v}\r\n".encode("latin-1"))
        if body is not None:
            lines.append(b"Content-Length: %d\r\n" % len(body))
        lines.append(b"\r\n")
        head = b"".join(lines)
        loop = asyncio.get_running_loop()
        async with self._slots:
            deadline = loop.time() + self.timeout_s
            try:
                return await self._once(head, body, cap, method, deadline, reuse=True)
            except Unanswered as exc:
                if not exc.reused:
                    raise
            # a kept connection the server closed as the request went out: asked again at once on a
            # new one, not as a failed attempt (the same request the retry policy would send after a wait)
            return await self._once(head, body, cap, method, deadline, reuse=False)

    async def _once(self, head: bytes, body: bytes | None, cap: int, method: str, deadline: float,
                    reuse: bool) -> tuple[int, CIMultiDict[str], bytes, bool]:
        loop = asyncio.get_running_loop()
        conn, reused = await self._checkout(deadline, reuse)
        fut = loop.create_future()
        answer = conn.answer = _Answer(fut, cap, method == "HEAD")
        # a timer, not asyncio.timeout: the same bound for a fraction of the cost per request
        timer = loop.call_at(deadline, _expire, fut, self.timeout_s)
        try:
            assert conn.transport is not None
            conn.transport.write(head + body if body else head)
            result = await fut
        except BaseException as exc:
            conn.answer = None
            self._drop(conn)
            if isinstance(exc, Unanswered):
                exc.reused = reused
            raise
        finally:
            timer.cancel()
        conn.answer = None
        if answer.keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            self._drop(conn)
        return result

    async def _checkout(self, deadline: float, reuse: bool = True) -> tuple[_Conn, bool]:
        """A connection, and whether it was kept from an earlier request."""
        while reuse and self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
            self._open.discard(conn)
        loop = asyncio.get_running_loop()
        conn: _Conn | None = None
        try:
            async with asyncio.timeout_at(deadline):
                if self.proxy is None:
                    _, conn = await loop.create_connection(
                        _Conn, self.host, self.port, ssl=self._ssl, server_hostname=self.host if self._ssl else None)
                else:
                    _, conn = await loop.create_connection(_Conn, self.proxy.host, self.proxy.port)
                    if self._ssl is not None:
                        await self._tunnel(conn)
        except BaseException as exc:
            if conn is not None:  # a half-made connection (a tunnel the proxy refused) is not kept
                conn.close()
            # (TimeoutError is an OSError too, but it is the caller's to report)
            if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                raise ConnectFailed(exc) from None
            raise
        self._open.add(conn)
        return conn, False

    async def _tunnel(self, conn: _Conn) -> None:
        """CONNECT through the proxy to the endpoint, then TLS with the endpoint over that tunnel."""
        assert self.proxy is not None and conn.transport is not None and self._ssl is not None
        loop = asyncio.get_running_loop()
        auth = f"Proxy-Authorization: {self.proxy.auth}\r\n" if self.proxy.auth else ""
        conn.tunnel = loop.create_future()
        conn.transport.write(f"CONNECT {self._authority} HTTP/1.1\r\nHost: {self._authority}\r\n{auth}\r\n"
                             .encode("latin-1"))
        try:
            head, more = await conn.tunnel
        except HttpError as exc:
            raise ConnectFailed(OSError(f"proxy {self.proxy.shown}: {exc}")) from None
        conn.tunnel = None
        status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:120]
        parts = status.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or parts[1] != "200":
            raise ConnectFailed(OSError(f"proxy {self.proxy.shown} refused the tunnel to {self._authority}: {status!r}"))
        if more:  # bytes past the proxy's answer, before TLS began: not a tunnel to trust
            raise ConnectFailed(OSError(f"proxy {self.proxy.shown} sent bytes after its answer to CONNECT"))
        tls = await loop.start_tls(conn.transport, conn, self._ssl, server_hostname=self.host)
        if tls is None:  # the connection closed as TLS began
            raise ConnectFailed(OSError(f"proxy {self.proxy.shown}: the tunnel closed before TLS began"))
        conn.transport = tls  # type: ignore[assignment]

    def _drop(self, conn: _Conn) -> None:
        conn.close()
        self._open.discard(conn)

    async def close(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing
