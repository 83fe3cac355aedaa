"""The HTTP proxy the environment names for an endpoint, as curl, requests and the OpenAI SDK read it:
`HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones, `ALL_PROXY` for either (lower-case names
first), and `NO_PROXY` (host names, domain suffixes, `*`). A loopback endpoint (localhost,
127.0.0.0/8, ::1: a model server on this machine) is always reached directly. Only http:// proxies
are spoken to (an https endpoint goes through a CONNECT tunnel, with TLS to the endpoint itself);
credentials in the proxy URL go in a `Proxy-Authorization: Basic` header and are never shown:
`Proxy.shown` names the proxy without them."""

from __future__ import annotations

import base64
import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from mmsafe.errors import UsageError
from mmsafe.redact import register


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    # the Proxy-Authorization header's value, when the URL carries credentials; and the URL as the
    # environment gives it (credentials included), for aiohttp's `proxy=`: neither is ever shown
    auth: str | None = field(default=None, repr=False)
    url: str = field(default="", repr=False)

    @property
    def shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def loopback(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_for(scheme: str, host: str) -> Proxy | None:
    """The proxy for an endpoint of this scheme and host, or None to connect directly. A proxy URL
    that is not http:// (socks, https) is a UsageError naming the variable."""
    if loopback(host) or not any(k.lower().endswith("_proxy") for k in os.environ):
        return None
    import urllib.request  # (only where a proxy variable is set: it costs an import of http.client)

    proxies = urllib.request.getproxies_environment()
    key = scheme if proxies.get(scheme) else "all"
    raw = proxies.get(key)
    if not raw or urllib.request.proxy_bypass_environment(host, proxies):
        return None
    var = f"{key.upper()}_PROXY"
    parts = urlsplit(raw if "://" in raw else f"http://{raw}")
    if parts.scheme.lower() != "http":
        raise UsageError(f"{var} names a {parts.scheme}:// proxy; mmsafe speaks to HTTP proxies only "
                         f"(http://host:port, which tunnel https endpoints with CONNECT)")
    try:
        port = parts.port or 80
    except ValueError:
        raise UsageError(f"{var}: not a valid proxy URL (its port)") from None
    if not parts.hostname:
        raise UsageError(f"{var}: not a valid proxy URL (no host)")
    auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        for secret in (parts.password, unquote(parts.password or ""), auth.split(" ", 1)[1]):
            register(secret)  # a proxy that echoes its credentials leaves no trace of them
    return Proxy(parts.hostname, port, auth, parts.geturl())
