"""Proxies: which one a request goes through, and the pools that reach them.

The pure part (with ``_no_proxy.py``) reads the settings (the ``proxy`` argument, else the
environment's ``*_proxy`` variables, see :func:`resolve_proxy`) and answers,
for one URL, which proxy to use (:meth:`ProxySettings.proxy_for`, which
applies ``NO_PROXY``). A transport serves many URLs (a redirect may lead to
another host), so the choice is made per request: :class:`ProxyPools` keeps
one httpcore pool per proxy, made when first needed. httpcore does the
proxying itself: absolute-form requests to an HTTP proxy for ``http`` URLs,
a ``CONNECT`` tunnel for ``https`` URLs, SOCKS5 through ``socksio``.

Credentials from a proxy URL go into the proxy's pool only (as
``Proxy-Authorization: Basic`` or SOCKS5 username/password); every text
made here shows a proxy as :attr:`ProxyURL.shown`, without them.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import httpcore

from .._errors import ConnectError, ExpysError, ProxyError
from .._text import printable
from ._no_proxy import NoProxy, parse_no_proxy

__all__ = [
    "NoProxy",
    "ProxyPools",
    "ProxySettings",
    "ProxyURL",
    "parse_no_proxy",
    "parse_proxy_url",
    "proxy_failure",
    "proxy_refused",
    "resolve_proxy",
    "settings_from_environment",
]

# Schemes a proxy URL may have, and their default ports. Both SOCKS5 forms
# let the proxy resolve the service's host name (httpcore sends the name).
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
_SOCKS = frozenset({"socks5", "socks5h"})
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_STATUS = re.compile(r"([1-5][0-9][0-9])\b")
_SOCKS_EXTRA = "pip install 'expys-stream[socks]'"


@dataclass(frozen=True, slots=True)
class ProxyURL:
    """A proxy, parsed; its credentials stay out of ``repr`` and of :attr:`shown`."""

    scheme: str
    host: str  # lower case; an IPv6 address without brackets
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def shown(self) -> str:
        """``scheme://host:port``: the proxy as errors and logs show it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def auth(self) -> tuple[bytes, bytes] | None:
        """The credentials as httpcore takes them, or None."""
        if not self.username and not self.password:
            return None
        return self.username.encode("utf-8"), self.password.encode("utf-8")

    def __repr__(self) -> str:
        with_credentials = ", with credentials" if self.auth else ""
        return f"ProxyURL({self.shown!r}{with_credentials})"


def parse_proxy_url(text: str, *, source: str = "proxy") -> ProxyURL:
    """Parse a proxy URL such as ``http://user:pass@proxy:3128``.

    Without a scheme, ``http://`` is meant (``proxy:3128``), as curl reads
    it. The port defaults to the scheme's (80, 443, 1080 for SOCKS5).
    Userinfo is percent-decoded. A path is ignored.

    Raises:
        ValueError: naming ``source`` (the argument or the variable) and
            never quoting the URL, which may hold a password.
    """
    if not isinstance(text, str):
        raise TypeError(f"{source} must be a str URL or None")
    text = text.strip()
    if not text:
        raise ValueError(f"{source} is empty")
    if _UNSAFE.search(text):
        raise ValueError(f"{source}: the proxy URL holds whitespace or control characters")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ValueError(f"{source}: not a valid proxy URL (bad host or port)") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        if scheme in ("socks4", "socks4a"):
            raise ValueError(f"{source}: SOCKS4 proxies are not supported; use socks5://")
        raise ValueError(
            f"{source}: a proxy URL's scheme must be http, https, socks5 or socks5h, "
            f"not {printable(scheme[:20])!r}"
        )
    if not host:
        raise ValueError(f"{source}: the proxy URL has no host")
    if parts.netloc.rpartition("@")[2].startswith("["):
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise ValueError(f"{source}: invalid IPv6 address in the proxy URL") from None
    else:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise ValueError(f"{source}: invalid proxy host name") from None
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"{source}: invalid proxy host name")
    return ProxyURL(
        scheme=scheme,
        host=host,
        port=_DEFAULT_PORTS[scheme] if port is None else port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


# -- the settings ------------------------------------------------------------------------


_NO_BYPASS = NoProxy()


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Which proxy serves http URLs and which serves https URLs, and the bypass."""

    http: ProxyURL | None
    https: ProxyURL | None
    no_proxy: NoProxy = _NO_BYPASS

    def proxy_for(self, url: str) -> ProxyURL | None:
        """The proxy for a request to ``url`` (absolute http or https), or None: direct."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        proxy = self.https if scheme == "https" else self.http
        if proxy is None:
            return None
        port = parts.port or (443 if scheme == "https" else 80)
        if self.no_proxy.bypasses(parts.hostname or "", port):
            return None
        return proxy


def settings_from_environment(environ: Mapping[str, str]) -> ProxySettings | None:
    """The proxy settings the environment gives, or None if it names no proxy.

    ``https_proxy`` serves https URLs, ``http_proxy`` http URLs, and
    ``all_proxy`` both when the other is unset; ``no_proxy`` lists the
    hosts that bypass them (:func:`parse_no_proxy`). Each name is looked
    up in lower case first, then in upper case (set, even to "", the lower
    case one wins; an empty value means no proxy from that variable).
    ``HTTP_PROXY`` in upper case is ignored when ``REQUEST_METHOD`` is set:
    under CGI it holds the request's ``Proxy`` header ("httpoxy").

    Raises:
        ValueError: a variable holds an invalid proxy URL (naming the
            variable, never its value).
    """
    cgi = "REQUEST_METHOD" in environ
    every = _proxy_variable(environ, "all_proxy", upper=True)
    http = _proxy_variable(environ, "http_proxy", upper=not cgi) or every
    https = _proxy_variable(environ, "https_proxy", upper=True) or every
    if http is None and https is None:
        return None
    found = _variable(environ, "no_proxy", upper=True)
    no_proxy = parse_no_proxy(found[1]) if found is not None else _NO_BYPASS
    return ProxySettings(http=http, https=https, no_proxy=no_proxy)


def _variable(environ: Mapping[str, str], name: str, *, upper: bool) -> tuple[str, str] | None:
    for key in (name, name.upper()) if upper else (name,):
        if key in environ:
            value = environ[key].strip()
            return (key, value) if value else None
    return None


def _proxy_variable(environ: Mapping[str, str], name: str, *, upper: bool) -> ProxyURL | None:
    found = _variable(environ, name, upper=upper)
    if found is None:
        return None
    key, value = found
    return parse_proxy_url(value, source=f"the {key} environment variable")


def resolve_proxy(
    proxy: object,
    trust_env: object,
    *,
    pool_given: bool,
    environ: Mapping[str, str] | None = None,
) -> ProxySettings | None:
    """The settings for the public ``proxy`` and ``trust_env`` arguments.

    ``proxy`` (a URL) serves every request, whatever the environment says
    (``NO_PROXY`` included); None (the default) leaves it to the
    environment when ``trust_env`` is true, and means no proxy otherwise.
    A ``pool`` given by the caller is used as it is: the environment is
    then not read, and ``proxy`` is refused.

    Raises:
        TypeError, ValueError: a bad argument, a bad proxy URL in the
            environment, or a SOCKS proxy without the SOCKS extra.
    """
    if type(trust_env) is not bool:
        raise TypeError("trust_env must be a bool")
    if proxy is not None:
        if pool_given:
            raise ValueError("give either pool or proxy, not both (give the pool its own proxy)")
        parsed = parse_proxy_url(proxy, source="proxy")  # type: ignore[arg-type]
        _check_support(parsed, "proxy")
        return ProxySettings(http=parsed, https=parsed)
    if not trust_env or pool_given:
        return None
    settings = settings_from_environment(os.environ if environ is None else environ)
    if settings is not None:
        for one in {settings.http, settings.https}:
            if one is not None:
                _check_support(one, "the proxy environment variables")
    return settings


def _check_support(proxy: ProxyURL, source: str) -> None:
    if proxy.scheme not in _SOCKS:
        return
    try:
        importlib.import_module("socksio")
    except ImportError:
        raise ValueError(
            f"{source}: {proxy.shown} is a SOCKS5 proxy, which needs the optional "
            f"SOCKS support: {_SOCKS_EXTRA}"
        ) from None


# -- pools and errors --------------------------------------------------------------------


class ProxyPools:
    """One httpcore pool per proxy, made on first use; closed together.

    ``options`` are the keyword arguments of the transport's own pool
    (``ssl_context``, ``max_connections``, ``http1``, ``http2``...). An
    https proxy's own certificate is checked with the same ``ssl_context``.
    """

    def __init__(self, settings: ProxySettings, options: Mapping[str, Any]) -> None:
        self.settings = settings
        self._options = dict(options)
        self._pools: dict[ProxyURL, httpcore.AsyncConnectionPool] = {}

    def pool(self, proxy: ProxyURL) -> httpcore.AsyncConnectionPool:
        """The pool that reaches ``proxy``."""
        pool = self._pools.get(proxy)
        if pool is None:
            pool = self._pools[proxy] = self._make(proxy)
        return pool

    def _make(self, proxy: ProxyURL) -> httpcore.AsyncConnectionPool:
        host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
        if proxy.scheme in _SOCKS:
            _hide_socks_credentials()
            return _SocksPool(
                proxy_url=f"socks5://{host}:{proxy.port}", proxy_auth=proxy.auth, **self._options
            )
        proxy_tls = self._options.get("ssl_context") if proxy.scheme == "https" else None
        return httpcore.AsyncHTTPProxy(
            proxy_url=f"{proxy.scheme}://{host}:{proxy.port}",
            proxy_auth=proxy.auth,
            proxy_ssl_context=proxy_tls,
            **self._options,
        )

    async def aclose(self) -> None:
        """Close every pool made so far."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


class _SocksPool(httpcore.AsyncSOCKSProxy):
    """httpcore's SOCKS5 pool, but a failed handshake's socket is closed.

    httpcore's SOCKS5 connection keeps the socket to the proxy in a local
    variable until the handshake succeeds, and leaves it open when the
    handshake fails (credentials refused, say): it would stay open until
    the garbage collector finds it. The failure's traceback still holds
    that frame, so the socket is closed from there.
    """

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        try:
            return await super().handle_async_request(request)
        except Exception as exc:
            await _close_handshake_stream(exc)
            raise


async def _close_handshake_stream(exc: BaseException) -> None:
    tb = exc.__traceback__
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
        if (
            frame.f_code.co_name != "handle_async_request"
            or "socks" not in frame.f_code.co_filename
        ):
            continue
        stream = frame.f_locals.get("stream")
        owner = frame.f_locals.get("self")
        if getattr(owner, "_connection", True) is None and callable(
            getattr(stream, "aclose", None)
        ):
            with anyio.CancelScope(shield=True), suppress(Exception):
                await stream.aclose()  # type: ignore[union-attr]


class _HideSocksCredentials(logging.Filter):
    """Cuts the credentials out of httpcore's SOCKS debug lines.

    httpcore's trace of the SOCKS5 handshake logs its arguments, the
    username and password among them (``auth=(b'user', b'password')``,
    the last argument): this filter, on the ``httpcore.socks`` logger,
    replaces them before any handler sees the line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if isinstance(message, str) and " auth=" in message:
            record.msg = message[: message.index(" auth=")] + " auth=[hidden]"
            record.args = None
        return True


_SOCKS_FILTER = _HideSocksCredentials()


def _hide_socks_credentials() -> None:
    logger = logging.getLogger("httpcore.socks")
    if _SOCKS_FILTER not in logger.filters:
        logger.addFilter(_SOCKS_FILTER)


def proxy_refused(proxy: ProxyURL, where: str, status: int | None, reason: str) -> ProxyError:
    """The final error for a proxy that refused a request to ``where``."""
    if proxy.password:
        reason = reason.replace(proxy.password, "[password]")
    detail = printable(reason[:200])
    if status == 407:
        detail += " (credentials missing or wrong)" if detail else "credentials missing or wrong"
    return ProxyError(
        f"proxy {proxy.shown} refused the request to {where}: {detail}",
        status=status,
        proxy=proxy.shown,
    )


def proxy_failure(exc: Exception, proxy: ProxyURL, where: str, detail: str) -> ExpysError | None:
    """Our error for httpcore's ``exc`` on a request through ``proxy``, or None.

    A refusal that will not heal (a 4xx answer to CONNECT, SOCKS
    credentials refused) is a :class:`ProxyError`; a proxy that cannot be
    reached, or cannot reach the service, a :class:`ConnectError`.
    ``where`` is the request's URL as shown; ``detail`` describes ``exc``.
    """
    if isinstance(exc, httpcore.ProxyError):
        text = str(exc)
        status = _STATUS.match(text)
        if status is not None and 400 <= int(status.group(1)) < 500:
            return proxy_refused(proxy, where, int(status.group(1)), text)
        if text.startswith(("Requested ", "Invalid username")):  # SOCKS5 authentication
            return proxy_refused(proxy, where, None, text)
        return ConnectError(
            f"proxy {proxy.shown} could not connect to {where}: {printable(text[:200])}"
        )
    if isinstance(exc, httpcore.ConnectError | httpcore.ConnectTimeout):
        return ConnectError(f"cannot connect to {where} through proxy {proxy.shown}: {detail}")
    if type(exc).__module__.startswith("socksio"):
        return ConnectError(f"the SOCKS5 proxy {proxy.shown} broke the protocol: {detail}")
    return None
