"""The one edge to httpcore: requests, timeouts, redirects, errors, bodies.

Nothing else in the package imports httpcore or h11. Every exception they
(or the sockets under them) raise is translated here, once, into the
library's own hierarchy; callers never see a foreign exception.

Stream bodies are read in bulk: once a ``text/event-stream`` response's
headers are in, :class:`StreamBody` takes the bytes that h11 had already
buffered plus the connection's network stream, and undoes the HTTP framing
itself (see ``_chunked.py``). httpcore keeps doing what it is good at,
pooling, connecting, TLS, proxies and timeouts; the response is still
closed through httpcore, which then closes the connection. If the response
is not the plain HTTP/1.1 kind this needs, the body is read through
httpcore's own iterator instead.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import math
import os
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, NoReturn, cast
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import anyio
import anyio.abc
import h11
import httpcore

from ._chunked import BodyReader, ChunkedReader, LengthReader, UntilCloseReader
from ._errors import (
    AuthenticationError,
    ConnectError,
    ExpysError,
    HTTPStatusError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ReadTimeout,
    RedirectError,
    ServerError,
    StreamClosed,
    TransportError,
)
from ._proxy import ProxyPools, ProxySettings, proxy_failure, proxy_refused
from ._text import printable

__all__ = [
    "MAX_REDIRECTS",
    "Response",
    "StreamBody",
    "Transport",
    "origin_of",
    "read_timeout_error",
    "status_error",
]

#: Redirect hops followed for one request (PROTOCOL.md: at most 5).
MAX_REDIRECTS = 5
#: Error bodies are read up to this many bytes, so a hostile server cannot
#: make an error object (or our memory) large.
MAX_ERROR_BODY = 64 * 1024
#: Bytes asked of the socket per read on a stream.
READ_SIZE = 64 * 1024
#: How long closing a response may take before it is abandoned.
CLOSE_TIMEOUT = 2.0

_READ_TIMEOUT = "nothing received from {} within the read timeout"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that carry credentials: never sent to another origin.
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"cookie", b"proxy-authorization"})
# RFC 9110 field names (tokens), and field values as h11 accepts them once
# encoded: no NUL, no whitespace but spaces and tabs between other bytes.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")


def header_problem(name: object, value: object) -> str | None:
    """Why HTTP/1.1 cannot carry this header as it is, or None if it can.

    The answer never quotes the value, which may be a credential.
    """
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        return f"{name!r} is not a header name"
    if not isinstance(value, str):
        return f"the value of {name} is not a str"
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        return f"the value of {name} is not valid Unicode (a lone surrogate)"
    if not _FIELD_VALUE.fullmatch(encoded):
        return (
            f"the value of {name} starts or ends with whitespace, or holds NUL, CR, LF, "
            "a vertical tab or a form feed"
        )
    return None


def origin_of(url: str) -> tuple[str, str, int]:
    """The (scheme, host, port) origin of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _redact(url: str) -> str:
    """The URL without userinfo, query or fragment, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@contextmanager
def _translate(url: str) -> Iterator[None]:
    # The single place where foreign exceptions become ours. The original is
    # not chained (``from None``): its text is kept, its type is not exposed.
    # Paths where a stream waits (connecting, reading) call
    # ``_raise_translated`` in an ``except`` clause instead: no generator
    # kept while they wait.
    try:
        yield
    except Exception as exc:
        _raise_translated(exc, url)


def _raise_translated(exc: Exception, url: str) -> NoReturn:
    """Raise our error for ``exc`` (see ``_translated``), or ``exc`` itself."""
    error = _translated(exc, url)
    if error is None:
        raise exc
    raise error from None


def _translated(exc: Exception, url: str) -> ExpysError | None:
    """Our error for a foreign exception from httpcore, h11 or a socket, else None."""
    where = _redact(url)
    match exc:
        case httpcore.ConnectError() | httpcore.ConnectTimeout() | httpcore.ProxyError():
            return ConnectError(f"cannot connect to {where}: {_describe(exc)}")
        case httpcore.ReadTimeout():
            return ReadTimeout(_READ_TIMEOUT.format(where))
        case httpcore.PoolTimeout():
            return ConnectError(f"no connection to {where} became free in time")
        case httpcore.UnsupportedProtocol():
            return ConnectError(f"unsupported URL {where}: {_describe(exc)}")
        case httpcore.LocalProtocolError() | h11.LocalProtocolError():
            # We built a bad request: no retry.
            # (h11 quotes the offending bytes, which may be a credential.)
            reason = _QUOTED_BYTES.sub(" (not shown)", _describe(exc))
            return ProtocolError(f"invalid request to {where}: {reason}")
        case httpcore.TimeoutException() | httpcore.NetworkError() | httpcore.ProtocolError():
            return TransportError(f"connection to {where} failed: {_describe(exc)}")
        case h11.ProtocolError() | anyio.BrokenResourceError() | anyio.ClosedResourceError():
            return TransportError(f"connection to {where} failed: {_describe(exc)}")
        case ssl.SSLError():
            return ConnectError(f"TLS with {where} failed: {_describe(exc)}")
        case OSError():
            return TransportError(f"connection to {where} failed: {_describe(exc)}")
    return None


_QUOTED_BYTES = re.compile(r" ?b(['\"]).*")


def _describe(exc: BaseException) -> str:
    # httpcore's and anyio's errors often print as nothing, or as the event
    # loop's words ("Connect call failed"): the OS's reason under them
    # ("Connection reset by peer") is what a reader needs, once.
    text = str(exc)
    reason = _os_reason(exc)
    if reason is not None and reason[0].lower() not in text.lower():
        described = f"{reason[0]} ({reason[1]})"
        text = f"{text}: {described}" if text else described
    return (text or type(exc).__name__)[:300]


def _os_reason(exc: BaseException) -> tuple[str, str] | None:
    """The OS's words and name for the first errno down ``exc``'s causes."""
    # Depth first through causes and groups' members (trio's "all attempts
    # to connect ... failed" keeps each attempt's error in a group under
    # it), and through the context of ``exc`` itself (httpcore keeps the
    # error it replaced there) but no deeper: further down, a context may be
    # whatever the caller was handling. Bounded, as chains may be long or
    # cyclic.
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    if exc.__context__ is not None and exc.__context__ is not exc.__cause__:
        todo.insert(0, exc.__context__)  # after the causes
    while todo and len(seen) < 64:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and not isinstance(current, _NOT_OS_ERRNO):
            code = current.errno
            if type(code) is int and code in errno.errorcode:
                return os.strerror(code), errno.errorcode[code]
        if isinstance(current, BaseExceptionGroup):
            todo.extend(reversed(current.exceptions))
        if current.__cause__ is not None:
            todo.append(current.__cause__)
    return None


# OSErrors whose errno is not the OS's: OpenSSL's codes, and getaddrinfo's
# (positive on BSD and macOS, where they collide with errno values).
_NOT_OS_ERRNO = (ssl.SSLError, socket.gaierror, socket.herror)


def status_error(
    status: int,
    body: bytes,
    url: str,
    *,
    not_found: type[NotFoundError] = NotFoundError,
    secret: str | None = None,
) -> HTTPStatusError:
    """The error for a final error status, with the server's code and message.

    ``secret`` (the token the request carried) is blanked out of them, in
    case the server echoes it.
    """
    code, message = _error_details(body, secret)
    cls: type[HTTPStatusError]
    if status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = not_found
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    else:
        cls = HTTPStatusError
    return cls(status, code=code, server_message=message, url=_redact(url))


def _error_details(body: bytes, secret: str | None = None) -> tuple[str | None, str | None]:
    # PROTOCOL.md: {"error": {"code": "...", "message": "..."}}. Anything else
    # (HTML from a proxy, truncated JSON) yields no details, not an error.
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    # The token is blanked out before the text is cut, so that no part of
    # it survives at the cut.
    return (
        _shown(code, 100, secret) if isinstance(code, str) else None,
        _shown(message, 500, secret) if isinstance(message, str) else None,
    )


def _shown(text: str, limit: int, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[token]")
    return printable(text[:limit])


@dataclass(slots=True)
class Response:
    """A response whose body is still to be read (or closed)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    url: str
    raw: httpcore.Response

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` in lower case), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The Content-Type, decoded leniently, or ""."""
        value = self.header(b"content-type")
        return "" if value is None else value.decode("latin-1")

    async def read_bounded(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """Read at most ``limit`` bytes of the body, then close the response."""
        parts: list[bytes] = []
        size = 0
        try:
            with _translate(self.url):
                async for part in self.raw.aiter_stream():
                    parts.append(part)
                    size += len(part)
                    if size >= limit:
                        break
        finally:
            await self.aclose()
        return b"".join(parts)[:limit]

    async def aclose(self) -> None:
        """Close the response (idempotent, shielded, bounded in time)."""
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            with suppress(Exception):  # closing must not raise
                await self.raw.aclose()


class StreamBody:
    """Reads a streaming response's payload in bulk; see the module docstring.

    In bulk mode the socket is read straight from the byte stream under
    httpcore's network stream (anyio's, or trio's under trio). The read
    timeout is the deadline of ``scope``, the caller's cancel scope, for as
    long as a read waits (and ``inf`` otherwise): an idle stream then waits
    in one coroutine under a scope it already has, not in httpcore's reader
    with its two context managers and a scope of its own. The caller treats
    a cancellation that ``scope`` catches as a read timeout, and does not
    use the scope again. A network stream of another kind is read through
    its ``read`` method, with httpcore's timeout.
    """

    __slots__ = (
        "_fallback",
        "_leading",
        "_network",
        "_reader",
        "_receive",
        "_scope",
        "_timeout",
        "_url",
    )

    def __init__(
        self,
        response: Response,
        read_timeout: float | None,
        scope: anyio.CancelScope,
        *,
        bulk: bool = True,
    ) -> None:
        self._url = response.url
        self._timeout = read_timeout
        self._scope = scope
        self._leading = b""
        self._network: Any = None
        self._receive: Callable[[int], Awaitable[bytes]] | None = None
        self._reader: BodyReader | None = None
        self._fallback: AsyncIterator[bytes] | None = None
        raw = response.raw
        network = raw.extensions.get("network_stream")
        version = raw.extensions.get("http_version")
        h11_state = _h11_connection(raw)
        usable = network is not None and h11_state is not None
        if bulk and usable and version in (b"HTTP/1.1", b"HTTP/1.0"):
            assert h11_state is not None
            self._leading, _closed = h11_state.trailing_data
            self._network = network
            self._receive = _byte_receiver(network)
            self._reader = _framing(response, version)
        else:
            self._fallback = raw.aiter_stream().__aiter__()

    @property
    def bulk(self) -> bool:
        """Whether the body is read in bulk (else through httpcore's iterator)."""
        return self._reader is not None

    async def read(self) -> bytes:
        """The next piece of payload; ``b""`` at the end of the body."""
        reader = self._reader
        if reader is None:
            return await self._read_fallback()
        receive = self._receive
        while not reader.done:
            if self._leading:
                data, self._leading = self._leading, b""
            elif receive is None:
                try:
                    data = await self._network.read(READ_SIZE, timeout=self._timeout)
                except Exception as exc:
                    _raise_translated(exc, self._url)
            else:
                # Inline, not a helper coroutine: this is where an idle
                # stream waits, and every frame here is kept while it does.
                scope = self._scope
                if self._timeout is not None:
                    scope.deadline = anyio.current_time() + self._timeout
                try:
                    data = await receive(READ_SIZE)
                except anyio.EndOfStream:
                    data = b""
                except Exception as exc:
                    if not _is_socket_error(exc):
                        raise
                    raise TransportError(
                        f"connection to {_redact(self._url)} failed: {_describe(exc)}"
                    ) from None
                finally:
                    scope.deadline = math.inf
                if scope.cancel_called:
                    # The deadline passed as the data came in: the data is
                    # dropped unread, and the connection replaced.
                    raise read_timeout_error(self._url)
            if not data:
                return b""  # the server closed the connection
            payload = reader.feed(data)
            if payload:
                return payload
        return b""

    async def _read_fallback(self) -> bytes:
        assert self._fallback is not None
        try:
            return await self._fallback.__anext__()
        except StopAsyncIteration:
            return b""
        except Exception as exc:
            _raise_translated(exc, self._url)


def _byte_receiver(network: Any) -> Callable[[int], Awaitable[bytes]] | None:
    # httpcore's anyio and trio network streams keep the byte stream they
    # wrap as ``_stream``: an anyio ByteReceiveStream (``receive``, which
    # raises EndOfStream at the end) or a trio stream (``receive_some``,
    # which returns b"").
    inner = getattr(network, "_stream", None)
    if isinstance(inner, anyio.abc.ByteReceiveStream):
        return inner.receive
    receive_some = getattr(inner, "receive_some", None)
    if callable(receive_some) and type(network).__module__ == "httpcore._backends.trio":
        return cast("Callable[[int], Awaitable[bytes]]", receive_some)
    return None


def read_timeout_error(url: str) -> ReadTimeout:
    """The error for a stream that received nothing within its read timeout."""
    return ReadTimeout(_READ_TIMEOUT.format(_redact(url)))


def _is_socket_error(exc: Exception) -> bool:
    # What a byte stream's receive raises when the connection fails: anyio's
    # or trio's resource errors, or an OSError (ssl.SSLError is one).
    if isinstance(exc, OSError | anyio.BrokenResourceError | anyio.ClosedResourceError):
        return True
    cls = type(exc)
    return cls.__module__.startswith("trio") and cls.__name__.endswith("ResourceError")


def _h11_connection(raw: httpcore.Response) -> h11.Connection | None:
    # httpcore wraps the connection's body stream in the pool's; the h11
    # state machine behind them holds the body bytes read with the headers.
    stream = getattr(raw.stream, "_stream", raw.stream)
    connection = getattr(stream, "_connection", None)
    state = getattr(connection, "_h11_state", None)
    return state if isinstance(state, h11.Connection) else None


def _framing(response: Response, version: bytes) -> BodyReader:
    encoding = response.header(b"transfer-encoding")
    if encoding is not None and version == b"HTTP/1.1":
        if encoding.lower().replace(b" ", b"").split(b",")[-1] == b"chunked":
            return ChunkedReader()
        return UntilCloseReader()
    length = response.header(b"content-length")
    if length is not None and length.strip().isdigit():
        return LengthReader(int(length))
    return UntilCloseReader()


class Transport:
    """An httpcore connection pool with the library's timeouts and errors.

    Owns the pool it creates (and closes it in :meth:`aclose`); a pool given
    by the caller is used and left open.
    """

    def __init__(
        self,
        *,
        pool: httpcore.AsyncConnectionPool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = 10.0,
        user_agent: str,
        proxy: ProxySettings | None = None,
    ) -> None:
        if pool is not None and not callable(getattr(pool, "handle_async_request", None)):
            raise TypeError("pool must be an httpcore.AsyncConnectionPool (an async one) or None")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext or None")
        if not isinstance(user_agent, str):
            raise TypeError("user_agent must be a str")
        problem = header_problem("User-Agent", user_agent)
        if problem is not None:
            raise ValueError(f"user_agent: {problem}")
        self._owns_pool = pool is None
        options: dict[str, Any] = {
            "ssl_context": ssl_context,
            "max_connections": None,
            "http1": True,
            "http2": False,
        }
        self._pool = pool if pool is not None else httpcore.AsyncConnectionPool(**options)
        # Requests that the proxy settings send through a proxy use its pool.
        self._proxies = None if proxy is None or pool is not None else ProxyPools(proxy, options)
        self._connect_timeout = connect_timeout
        self._user_agent = user_agent.encode("latin-1", "replace")
        self._closed = False
        self._on_close: set[Callable[[], None]] = set()
        # Request extensions by read timeout, shared by every request: the
        # pool keeps a request (and so its extensions) as long as its
        # response is open, and httpcore only reads them.
        self._shared_extensions: dict[float | None, dict[str, Any]] = {}

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (once) when this transport is closed."""
        self._on_close.add(callback)

    def discard_on_close(self, callback: Callable[[], None]) -> None:
        """Forget a callback given to :meth:`on_close`."""
        self._on_close.discard(callback)

    async def aclose(self) -> None:
        """Refuse new requests, tell the streams that use this transport,
        and close the pool if this transport made it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        callbacks, self._on_close = self._on_close, set()
        for callback in callbacks:
            callback()
        if self._owns_pool:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self._pool.aclose()
                if self._proxies is not None:
                    await self._proxies.aclose()

    async def open(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        body: bytes = b"",
        read_timeout: float | None,
        follow_redirects: bool = True,
    ) -> Response:
        """Send a request and return the response with its body unread.

        Redirects (301, 302, 303, 307, 308) are followed up to
        :data:`MAX_REDIRECTS` hops for GET; credential headers are dropped
        once a hop leaves the first URL's origin. A POST follows only 307
        and 308, which keep the method and body.
        """
        if self._closed:
            raise StreamClosed("the client is closed")
        first_origin = origin_of(url)
        for _hop in range(MAX_REDIRECTS + 1):
            same_origin = origin_of(url) == first_origin
            response = await self._send_once(
                method, url, headers, body, read_timeout, with_credentials=same_origin
            )
            if not follow_redirects or response.status not in _REDIRECTS:
                return response
            if method != "GET" and response.status not in (307, 308):
                await response.aclose()
                raise RedirectError(f"{method} got a {response.status} redirect; not followed")
            location = response.header(b"location")
            await response.aclose()
            url = _redirect_target(url, location)
        raise RedirectError(f"more than {MAX_REDIRECTS} redirects, last to {_redact(url)}")

    def _extensions(self, read_timeout: float | None) -> dict[str, Any]:
        extensions = self._shared_extensions.get(read_timeout)
        if extensions is None:
            connect = self._connect_timeout
            timeouts = {"connect": connect, "read": read_timeout, "write": connect, "pool": connect}
            extensions = self._shared_extensions[read_timeout] = {"timeout": timeouts}
        return extensions

    async def _send_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        read_timeout: float | None,
        *,
        with_credentials: bool,
    ) -> Response:
        wire_headers: list[tuple[bytes, bytes]] = [
            (b"Host", _host_header(url)),
            (b"User-Agent", self._user_agent),
        ]
        for name, value in headers.items():
            key = name.encode("ascii")
            if not with_credentials and key.lower() in _CREDENTIAL_HEADERS:
                continue
            wire_headers.append((key, value.encode("utf-8")))
        if body:
            wire_headers.append((b"Content-Length", str(len(body)).encode("ascii")))
        request = httpcore.Request(
            method.encode("ascii"),
            url,
            headers=wire_headers,
            content=body,
            extensions=self._extensions(read_timeout),
        )
        proxies = self._proxies
        proxy = None if proxies is None else proxies.settings.proxy_for(url)
        pool = self._pool if proxy is None or proxies is None else proxies.pool(proxy)
        try:
            raw = await pool.handle_async_request(request)
        except Exception as exc:
            failure = (
                None if proxy is None else proxy_failure(exc, proxy, _redact(url), _describe(exc))
            )
            if failure is not None:
                raise failure from None
            _raise_translated(exc, url)
        response = Response(status=raw.status, headers=raw.headers, url=url, raw=raw)
        if proxy is not None and raw.status == 407:  # from a forward proxy (http URLs)
            await response.aclose()
            raise proxy_refused(proxy, _redact(url), 407, "407 Proxy Authentication Required")
        return response


def _host_header(url: str) -> bytes:
    # (Every URL here went through ascii_url: the host is ASCII already.)
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("ascii")
    if b":" in host:  # an IPv6 literal
        host = b"[" + host + b"]"
    default = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default:
        host += b":%d" % parts.port
    return host


def _redirect_target(url: str, location: bytes | None) -> str:
    if location is None or not location.strip():
        raise RedirectError(f"redirect from {_redact(url)} without a Location")
    try:
        return ascii_url(urljoin(url, location.decode("utf-8").strip()))
    except (UnicodeDecodeError, ValueError):
        raise RedirectError(f"redirect from {_redact(url)} to an invalid Location") from None


# What stays as it is: every printable ASCII character but those WHATWG's
# URL standard percent-encodes (its path and special-query percent-encode
# sets), so that a URL goes out as a browser would send it and a signed one
# stays as signed. "%" stays: escapes already made are kept.
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
_PATH_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>?`{}')
_QUERY_SAFE = "".join(c for c in _PRINTABLE if c not in "\"#<>'")
# A host name as DNS takes it: labels of letters, digits, "-" and "_",
# joined by dots, maybe with the root's trailing dot.
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
# RFC 6874: a zone in an IPv6 literal is "%25" then unreserved characters.
_ZONE = re.compile(r"25[A-Za-z0-9._~-]+")


def _ip_literal(host: str) -> str:
    """The inside of a bracketed host, checked: an IPv6 address, maybe with
    a zone; anything else (IPvFuture included) is a ValueError."""
    address, percent, zone = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise ValueError(f"invalid IPv6 address {host!r}") from None
    if percent and not _ZONE.fullmatch(zone):
        raise ValueError(f"invalid zone in IPv6 address {host!r}")
    return host


def ascii_url(url: str) -> str:
    """``url`` as HTTP sends it: an absolute http(s) URL in ASCII.

    A host name outside ASCII becomes its IDNA (punycode) form; any other
    character outside ASCII, or not allowed in a URL (space, quote, angle
    brackets...), is percent-encoded as UTF-8, as browsers do. Userinfo and
    the fragment are dropped: neither is sent.

    Host names go through Python's IDNA 2003 codec, so a few differ from
    what browsers (UTS 46) make of them: ``faß.de`` becomes ``fass.de``.
    Write such a name in its ``xn--`` form to be sure of it.

    Raises:
        ValueError: not an absolute http(s) URL, a bad port, a host name
            that IDNA cannot encode (an empty label, a label over 63
            characters) or that holds anything but letters, digits, ``-``,
            ``_`` and dots once encoded, or a bracketed host that is not an
            IPv6 address (with an RFC 6874 zone, if any).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        # (urllib's text quotes the netloc, password included.)
        raise ValueError("urllib cannot split it (a bad IPv6 literal or netloc)") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the scheme must be http or https, not {parts.scheme!r}")
    if not host:
        raise ValueError("there is no host")
    port = parts.port  # a ValueError of its own for a bad one
    if parts.netloc.rpartition("@")[2].startswith("["):
        host = f"[{_ip_literal(host)}]"
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"invalid host name {host!r}") from None
        # IDNA maps some characters to ASCII that no host name may hold
        # (U+FF1C to "<", U+00A0 to a space), and leaves ASCII as it is.
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"invalid host name {host!r}")
    netloc = host if port is None else f"{host}:{port}"
    path = quote(parts.path, safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((parts.scheme, netloc, path, query, ""))
