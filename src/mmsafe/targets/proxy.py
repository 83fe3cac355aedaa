"""The HTTP proxy the environment names for an endpoint, as curl, requests and the OpenAI SDK read it:
`HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones, `ALL_PROXY` for either (lower-case names
first), and `NO_PROXY` (host names, domain suffixes, `*`, IP addresses, CIDR blocks, any of them
with `:port`). A loopback endpoint (localhost, 127.0.0.0/8, ::1: a model server on this machine) is
always reached directly. Only http:// proxies are spoken to (an https endpoint goes through a
CONNECT tunnel, with TLS to the endpoint itself); credentials in the proxy URL go in a
`Proxy-Authorization: Basic` header and are never shown: `Proxy.shown` names the proxy without them."""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from mmsafe.errors import UsageError
from mmsafe.redact import register


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    # the Proxy-Authorization header's value when the URL carries credentials, and those credentials
    # decoded as (user, password) for aiohttp's `proxy_auth=`; neither is ever shown: aiohttp is given
    # `shown` as the proxy URL, so its errors (which quote the proxy URL) never hold them
    auth: str | None = field(default=None, repr=False)
    login: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def aiohttp_args(proxy: Proxy | None) -> dict:
    """aiohttp's request arguments for this proxy: its URL without credentials (aiohttp's errors
    quote it) and the credentials apart."""
    if proxy is None:
        return {}
    import aiohttp

    auth = aiohttp.BasicAuth(*proxy.login, encoding="utf-8") if proxy.login else None
    return {"proxy": proxy.shown, "proxy_auth": auth}


def loopback(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """NO_PROXY as curl (7.86+) and requests read it: `*`; names and domain suffixes (a leading `.`
    or `*.` is ignored, so `corp.com` covers `api.corp.com`); IP addresses and CIDR blocks
    (`10.0.0.0/8`, `fd00::/8`); any of these with `:port` to match that port only."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return True
        want = None
        if entry.startswith("[") and "]" in entry:  # [v6] or [v6]:port
            entry, _, rest = entry[1:].partition("]")
            want = int(rest[1:]) if rest[:1] == ":" and rest[1:].isdigit() else None
        elif entry.count(":") == 1 and entry.rpartition(":")[2].isdigit():  # name:port or v4:port
            entry, _, p = entry.rpartition(":")
            want = int(p)
        if not entry or (want is not None and want != port):
            continue
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def proxy_for(scheme: str, host: str, port: int | None = None) -> Proxy | None:
    """The proxy for an endpoint of this scheme and host, or None to connect directly. A proxy URL
    that is not http:// (socks, https) is a UsageError naming the variable."""
    if loopback(host) or not any(k.lower().endswith("_proxy") for k in os.environ):
        return None
    import urllib.request  # (only where a proxy variable is set: it costs an import of http.client)

    proxies = urllib.request.getproxies_environment()
    key = scheme if proxies.get(scheme) else "all"
    raw = proxies.get(key)
    if not raw or bypassed(host, port, proxies.get("no", "")):
        return None
    var = next((n for n in os.environ if n.lower() == f"{key}_proxy" and os.environ[n] == raw), f"{key.upper()}_PROXY")
    kind, sep, rest = raw.partition("://")
    if not sep:
        kind, rest = "http", raw
    if kind.lower() != "http":
        raise UsageError(f"{var} names a {kind}:// proxy; mmsafe speaks to HTTP proxies only "
                         f"(http://host:port, which tunnel https endpoints with CONNECT)")
    # the credentials are split off by hand: a password may hold an unencoded # / ? or @, which a
    # URL parser would read as the URL's own (and show part of the password as the host)
    userinfo, at, hostpart = rest.rpartition("@")
    parts = urlsplit("http://" + re.split(r"[/?#]", hostpart, maxsplit=1)[0])
    try:
        proxy_port = parts.port or 80
    except ValueError:
        raise UsageError(f"{var}: not a valid proxy URL (its port)") from None
    if not parts.hostname:
        raise UsageError(f"{var}: not a valid proxy URL (no host)")
    auth = login = None
    if at:
        user, _, password = userinfo.partition(":")
        login = (unquote(user), unquote(password))
        auth = "Basic " + base64.b64encode(":".join(login).encode("utf-8")).decode("ascii")
        # a proxy that echoes its credentials leaves no trace of them; a user name is a secret too
        # when it looks like a token (some proxy services carry the key there), not when it is a word
        for secret in (password, login[1], auth.split(" ", 1)[1], *((user, login[0]) if len(user) >= 12 else ())):
            register(secret)
    return Proxy(parts.hostname, proxy_port, auth, login)
