"""Runs through an HTTP proxy named by the environment (targets/proxy.py): an https endpoint through
a CONNECT tunnel (TLS with the endpoint, the proxy sees ciphertext), an http one in absolute form,
with the proxy's credentials sent as Proxy-Authorization and never written anywhere; a refusing
proxy is named (without its credentials); NO_PROXY and loopback endpoints go direct.

The endpoint's host name (api.mmsafe.test) exists only in the loopback proxy, which maps it to a
loopback server: the run can only reach it through the proxy."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import ssl
import subprocess

import pytest

from conftest import mmsafe, write_suite
from mmsafe.errors import UsageError
from mmsafe.redact import redact
from mmsafe.targets.proxy import loopback, proxy_for
from test_http1 import Server, _chat

HOST = "api.mmsafe.test"
SECRET = "pr0xy-s3cret-pass"
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class Proxy:
    """A loopback forward proxy: CONNECT host:port opens a tunnel to the loopback server mapped to
    that name; an absolute-form request is passed to it. `refuse` answers CONNECT with that status."""

    def __init__(self, origins: dict[str, int], refuse: str | None = None) -> None:
        self.origins, self.refuse = origins, refuse
        self.heads: list[bytes] = []

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            method, target = head.split(b" ", 2)[:2]
            if method == b"CONNECT":
                if self.refuse:
                    writer.write(f"HTTP/1.1 {self.refuse}\r\nContent-Length: 6\r\n\r\ndenied".encode())
                    await writer.drain()
                    return
                host, port = target.decode().rsplit(":", 1)
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.origins[f"{host}:{port}"])
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:  # http://host:port/path: the same bytes go on to that origin
                where = target.decode().split("/")[2]
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.origins[where])
                up_w.write(head)
            await asyncio.gather(_pipe(reader, up_w, self.heads), _pipe(up_r, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, seen: list | None = None) -> None:
    try:
        while data := await src.read(65536):
            if seen is not None:
                seen.append(data)
            dst.write(data)
            await dst.drain()
    except ConnectionError:
        pass
    finally:
        dst.close()


def _cert_for(tmp_path, name: str):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def _clean_env(**extra: str) -> dict:
    """Proxy variables as given here only: the machine's own are blanked for the subprocess (an
    empty lower-case one switches its upper-case twin off), those given are set in both cases."""
    env = {name: "" for name in os.environ if name.lower() in PROXY_VARS}
    for k, v in extra.items():
        env[k] = v
        if k.lower() in PROXY_VARS:
            env[k.lower()] = env[k.upper()] = v
    return env


def _run_args(tmp_path, base: str, out: str) -> tuple[str, ...]:
    suite = write_suite(tmp_path / "s.jsonl", ["hello", "how do I pick a lock?", "tell me a joke"])
    return ("run", "--target", "openai", "--model", "m", "--base-url", base, "--suite", str(suite),
            "--judge", "refusal", "--json", "--max-attempts", "2", "--out", str(tmp_path / out))


def _nothing_kept(tmp_path, *texts: str) -> None:
    """The proxy's password is in no file of the run and in nothing printed."""
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.suffix in (".db", ".json", ".jsonl", ".html", ".csv", ""):
            assert SECRET.encode() not in f.read_bytes(), f
    for t in texts:
        assert SECRET not in t


@pytest.mark.parametrize("client", ["lean", "aiohttp"])
def test_an_https_endpoint_through_a_connect_tunnel(tmp_path, client):
    ctx, cert = _cert_for(tmp_path, HOST)

    async def go():
        async with Server(_chat, tls=ctx) as srv, Proxy({f"{HOST}:{srv.port}": srv.port}) as proxy:
            env = _clean_env(HTTPS_PROXY=f"http://tester:{SECRET}@127.0.0.1:{proxy.port}", SSL_CERT_FILE=str(cert),
                             MMSAFE_HTTP_CLIENT=client)
            done = await asyncio.to_thread(mmsafe, *_run_args(tmp_path, f"https://{HOST}:{srv.port}/v1", "out"), env=env)
            return done, proxy.heads, srv.requests

    done, heads, requests = asyncio.run(go())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["answered"] == 3 and len(requests) == 3
    connects = [h for h in heads if h.startswith(b"CONNECT ")]
    assert connects and all(h.startswith(f"CONNECT {HOST}:".encode()) for h in connects)
    token = base64.b64encode(f"tester:{SECRET}".encode()).decode()
    assert all(f"Proxy-Authorization: Basic {token}".encode().lower() in h.lower() for h in connects)
    # inside the tunnel the proxy saw ciphertext only: no request line, no prompt
    assert not any(b"/v1/chat/completions" in h or b"pick a lock" in h for h in heads)
    assert all(b"proxy-authorization" not in r.lower() for r in requests)  # the endpoint never gets the proxy's key
    _nothing_kept(tmp_path, done.stdout, done.stderr)


def test_an_http_endpoint_is_asked_in_absolute_form_through_the_proxy(tmp_path):
    async def go():
        async with Server(_chat) as srv, Proxy({f"{HOST}:{srv.port}": srv.port}) as proxy:
            env = _clean_env(HTTP_PROXY=f"http://tester:{SECRET}@127.0.0.1:{proxy.port}")
            done = await asyncio.to_thread(mmsafe, *_run_args(tmp_path, f"http://{HOST}:{srv.port}/v1", "out"), env=env)
            return done, srv.requests

    done, requests = asyncio.run(go())
    assert done.returncode == 0, done.stderr
    assert len(requests) == 3
    assert all(r.startswith(f"POST http://{HOST}:".encode()) and b"/v1/chat/completions HTTP/1.1" in r.split(b"\r\n")[0]
               for r in requests)
    assert all(f"Host: {HOST}:".encode() in r for r in requests)
    assert all(b"Proxy-Authorization: Basic " in r for r in requests)
    _nothing_kept(tmp_path, done.stdout, done.stderr)


def test_a_proxy_that_refuses_the_tunnel_is_named_without_its_credentials(tmp_path):
    async def go():
        async with Proxy({}, refuse="407 Proxy Authentication Required") as proxy:
            env = _clean_env(HTTPS_PROXY=f"http://tester:{SECRET}@127.0.0.1:{proxy.port}")
            return await asyncio.to_thread(mmsafe, *_run_args(tmp_path, f"https://{HOST}:443/v1", "out"), env=env), proxy

    done, proxy = asyncio.run(go())
    assert done.returncode != 0
    assert f"proxy http://127.0.0.1:{proxy.port}" in done.stderr and "407" in done.stderr
    _nothing_kept(tmp_path, done.stdout, done.stderr)


def test_a_socks_proxy_is_a_usage_error_naming_the_variable(tmp_path):
    done = mmsafe(*_run_args(tmp_path, f"https://{HOST}/v1", "out"), env=_clean_env(ALL_PROXY="socks5://127.0.0.1:1080"))
    assert done.returncode == 2 and "ALL_PROXY" in done.stderr and "socks5" in done.stderr


def _only(monkeypatch, **env: str) -> None:
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)
        monkeypatch.delenv(v.upper(), raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def test_which_proxy_an_endpoint_gets(monkeypatch):
    _only(monkeypatch, HTTPS_PROXY="http://sec.corp:3128", HTTP_PROXY="plain.corp:8080", NO_PROXY="internal.corp,.lab")
    assert (proxy_for("https", "api.openai.com").host, proxy_for("https", "api.openai.com").port) == ("sec.corp", 3128)
    assert (proxy_for("http", "example.com").host, proxy_for("http", "example.com").port) == ("plain.corp", 8080)
    for direct in ("internal.corp", "x.internal.corp", "gpu.lab", "127.0.0.1", "localhost", "::1", "[::1]", "127.8.9.1"):
        assert proxy_for("https", direct) is None, direct
    _only(monkeypatch, ALL_PROXY="http://all.corp:1")
    assert proxy_for("https", "a.com").host == proxy_for("http", "a.com").host == "all.corp"
    _only(monkeypatch, HTTPS_PROXY="http://sec.corp:3128", NO_PROXY="*")
    assert proxy_for("https", "api.openai.com") is None
    _only(monkeypatch)
    assert proxy_for("https", "api.openai.com") is None


def test_proxy_credentials_become_a_header_and_are_redacted(monkeypatch):
    _only(monkeypatch, HTTPS_PROXY=f"http://me%40corp:{SECRET}@sec.corp:3128")
    p = proxy_for("https", "api.openai.com")
    assert p.auth == "Basic " + base64.b64encode(f"me@corp:{SECRET}".encode()).decode()
    assert SECRET not in repr(p) and SECRET not in p.shown and p.shown == "http://sec.corp:3128"
    assert SECRET not in redact(f"upstream said: bad password {SECRET} for {p.auth}")


@pytest.mark.parametrize("bad", ["https://sec.corp:3128", "socks5h://sec.corp:1080", "http://sec.corp:notaport"])
def test_a_proxy_mmsafe_cannot_speak_to_is_refused(monkeypatch, bad):
    _only(monkeypatch, HTTPS_PROXY=bad)
    with pytest.raises(UsageError, match="HTTPS_PROXY"):
        proxy_for("https", "api.openai.com")


def test_loopback_names():
    assert all(loopback(h) for h in ("localhost", "LOCALHOST.", "a.localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]",
                                     "::ffff:127.0.0.1"))
    assert not any(loopback(h) for h in ("10.0.0.1", "example.com", "localhost.example.com", "::2"))


def test_credentials_never_reach_a_message_or_file_on_the_aiohttp_path(tmp_path):
    """aiohttp's proxy errors quote the proxy URL: it is given the URL without credentials (and the
    credentials apart), so a short password, or a token carried as the user name, shows nowhere."""
    for user, password in (("tester", "pw1"), ("tok3nABCDEF12345", "")):
        async def go():
            async with Proxy({}, refuse="407 Proxy Authentication Required") as proxy:
                env = _clean_env(HTTPS_PROXY=f"http://{user}:{password}@127.0.0.1:{proxy.port}",
                                 MMSAFE_HTTP_CLIENT="aiohttp")
                return await asyncio.to_thread(mmsafe, *_run_args(tmp_path, f"https://{HOST}:443/v1", user), env=env)

        done = asyncio.run(go())
        assert done.returncode != 0
        secret = f"{user}:{password}@"
        assert secret not in done.stdout + done.stderr
        assert not [f for f in tmp_path.rglob("*") if f.is_file() and secret.encode() in f.read_bytes()]


def test_connect_names_the_port_even_when_it_is_the_default(monkeypatch):
    """RFC 9110 9.3.6: CONNECT's target is host and port (curl, requests and aiohttp send
    `CONNECT api.openai.com:443`), also for the default base URL."""
    from mmsafe.targets import http1

    heads: list[bytes] = []

    async def go():
        async def serve(r, w):
            heads.append(await r.readuntil(b"\r\n\r\n"))
            w.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await w.drain()
            w.close()

        srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        _only(monkeypatch, HTTPS_PROXY=f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}")
        pool = http1.Pool("https://api.openai.com/v1", 1, 5, "t")
        with pytest.raises(http1.ConnectFailed, match="400"):
            await pool.request("POST", "https://api.openai.com/v1/chat/completions", b"{}", {}, 100)
        await pool.close()
        srv.close()

    asyncio.run(go())
    line, host = heads[0].split(b"\r\n")[:2]
    assert (line, host) == (b"CONNECT api.openai.com:443 HTTP/1.1", b"Host: api.openai.com:443")


@pytest.mark.parametrize("no_proxy,url,direct", [
    ("10.0.0.0/8", "http://10.1.2.3:8000/v1", True), ("10.0.0.0/8", "http://11.1.2.3:8000/v1", False),
    ("192.168.0.0/16", "https://192.168.7.9/v1", True), ("gpu.lab:8000", "http://gpu.lab:8000/v1", True),
    ("gpu.lab:8000", "http://gpu.lab:9000/v1", False), ("*.corp.com", "https://api.corp.com/v1", True),
    (".corp.com", "https://corp.com/v1", True), ("corp.com", "https://notcorp.com/v1", False),
    ("[fd00::1]:8000", "http://[fd00::1]:8000/v1", True), ("fd00::/8", "http://[fd12::5]/v1", True),
    ("10.1.2.3", "http://10.1.2.3/v1", True), ("api.corp.com.", "https://API.corp.com/v1", True)])
def test_no_proxy_as_curl_and_requests_read_it(monkeypatch, no_proxy, url, direct):
    """CIDR blocks, host:port entries, suffixes with a leading dot or `*.`: an endpoint NO_PROXY names
    never goes through the proxy (for an http one, the proxy would read the API key and prompts)."""
    from mmsafe.targets.http1 import origin_of

    _only(monkeypatch, HTTP_PROXY="http://proxy.corp:3128", HTTPS_PROXY="http://proxy.corp:3128", NO_PROXY=no_proxy)
    assert (proxy_for(*origin_of(url)) is None) == direct


def test_a_forward_proxy_answering_407_stops_the_run(tmp_path):
    """HTTP_PROXY for an http endpoint: a proxy that wants credentials answers 407 to every request;
    the run stops naming it, as a 407 to CONNECT does (not exit 0 with every case an error)."""
    async def serve(r, w):
        try:
            while True:
                h = await r.readuntil(b"\r\n\r\n")
                n = next((int(x.split(b":")[1]) for x in h.split(b"\r\n") if x.lower().startswith(b"content-length:")), 0)
                await r.readexactly(n)
                w.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=x\r\n"
                        b"Content-Length: 12\r\n\r\nauth needed.")
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

    async def go():
        srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        env = _clean_env(HTTP_PROXY=f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}")
        try:
            return await asyncio.to_thread(mmsafe, *_run_args(tmp_path, f"http://{HOST}:8000/v1", "out"), env=env)
        finally:
            srv.close()

    done = asyncio.run(go())
    assert done.returncode != 0 and "407" in done.stderr and "proxy" in done.stderr


def test_a_password_with_unencoded_url_characters_is_read_whole(monkeypatch):
    _only(monkeypatch, https_proxy="http://user:12#34/5?6@sec.corp:3128/")
    p = proxy_for("https", "api.openai.com")
    assert (p.host, p.port, p.shown) == ("sec.corp", 3128, "http://sec.corp:3128")
    assert p.auth == "Basic " + base64.b64encode(b"user:12#34/5?6").decode()
    with pytest.raises(UsageError, match="https_proxy"):  # the variable as it is set, lower case here
        _only(monkeypatch, https_proxy="socks5://sec.corp:1080")
        proxy_for("https", "api.openai.com")


def test_a_token_user_name_is_redacted_and_a_plain_one_is_not(monkeypatch):
    _only(monkeypatch, HTTPS_PROXY="http://tok3nABCDEF12345:@sec.corp:3128")
    proxy_for("https", "api.openai.com")
    assert "tok3nABCDEF12345" not in redact("denied for tok3nABCDEF12345")
    _only(monkeypatch, HTTPS_PROXY="http://alice:pw-9f8e7d@sec.corp:3128")
    proxy_for("https", "api.openai.com")
    assert redact("alice wrote") == "alice wrote" and "pw-9f8e7d" not in redact("pw-9f8e7d")


def test_an_image_redirect_takes_each_hosts_own_proxy_rule(monkeypatch):
    """An image URL on a host reached directly (loopback here, or one NO_PROXY names) that redirects to
    an outside storage host: the next hop goes through the proxy, as that host's rule says."""
    from mmsafe.targets.base import TargetConfig
    from mmsafe.targets.openai import OpenAITarget

    def storage(req: bytes):
        return [b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 7\r\n\r\nPNGDATA"], False

    async def go():
        async with Server(storage) as store, Proxy({f"images.mmsafe.test:{store.port}": store.port}) as proxy:
            def first(req: bytes):
                where = f"http://images.mmsafe.test:{store.port}/img.png"
                return [f"HTTP/1.1 302 Found\r\nLocation: {where}\r\nContent-Length: 0\r\n\r\n".encode()], False

            async with Server(first) as api:
                _only(monkeypatch, HTTP_PROXY=f"http://127.0.0.1:{proxy.port}")
                t = OpenAITarget(TargetConfig(model="m", base_url=f"http://127.0.0.1:{api.port}/v1"))
                await t.start()
                try:
                    got = await t.fetch(f"http://127.0.0.1:{api.port}/files/1", 1000)
                finally:
                    await t.close()
                return got, api.requests, proxy.heads, store.requests

    (status, _, raw, cut), first_hop, via_proxy, stored = asyncio.run(go())
    assert (status, raw, cut) == (200, b"PNGDATA", False)
    assert first_hop[0].startswith(b"GET /files/1 ")  # loopback: asked directly
    assert via_proxy and via_proxy[0].startswith(b"GET http://images.mmsafe.test:")  # the next hop: through the proxy
    assert len(stored) == 1
