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

import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast

import anyio
import anyio.abc
import h11
import httpcore

from .._errors import ProtocolError, StreamClosed, TransportError
from ._chunked import BodyReader, ChunkedReader, LengthReader, UntilCloseReader
from ._coding import DecodedBody, content_coding, inflate_bounded
from ._errors_map import (
    _describe,
    _raise_translated,
    _translate,
    head_timeout_error,
    read_timeout_error,
)
from ._proxy import ProxyPools, ProxySettings, proxy_failure, proxy_refused
from ._urls import _host_header, _redact

__all__ = ["H11Edge", "Response", "StreamBody", "open_body"]

#: Error bodies are read up to this many bytes, so a hostile server cannot
#: make an error object (or our memory) large.
MAX_ERROR_BODY = 64 * 1024
#: Bytes asked of the socket per read on a stream.
READ_SIZE = 64 * 1024
#: How long closing a response may take before it is abandoned.
CLOSE_TIMEOUT = 2.0
#: Methods whose requests carry no Content-Length when they have no body.
_NO_CONTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


@dataclass(slots=True)
class Response:
    """A response whose body is still to be read (or closed)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    url: str
    raw: httpcore.Response

    @property
    def http_version(self) -> str:
        """The version the server answered in (``"HTTP/1.1"`` or ``"HTTP/1.0"``)."""
        version = self.raw.extensions.get("http_version", b"HTTP/1.1")
        return version.decode("ascii") if isinstance(version, bytes) else "HTTP/1.1"

    def open_body(
        self, read_timeout: float | None, scope: anyio.CancelScope, *, bulk: bool = True
    ) -> StreamBody | DecodedBody:
        """The reader of the payload (see :func:`open_body`)."""
        return open_body(self, read_timeout, scope, bulk=bulk)

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
        """Read at most ``limit`` bytes of the body, then close the response.

        A gzip or deflate body is decoded (to at most ``limit`` bytes).

        Raises:
            ProtocolError: a successful response in a coding the client
                cannot decode, or a corrupt one. (An error response's body
                in such a coding reads as ``b""``: its status still counts.)
        """
        try:
            coding = content_coding(self.header(b"content-encoding"))
        except ProtocolError:
            if 200 <= self.status < 300:
                await self.aclose()
                raise
            await self.aclose()
            return b""
        data = await self._read_raw(limit)
        return data if coding is None else inflate_bounded(coding, data, limit)

    async def _read_raw(self, limit: int) -> bytes:
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


def open_body(
    response: Response,
    read_timeout: float | None,
    scope: anyio.CancelScope,
    *,
    bulk: bool = True,
) -> StreamBody | DecodedBody:
    """The reader of a stream response's payload, its content coding undone
    (see ``_coding``); a body without one is a plain :class:`StreamBody`.

    Raises:
        ProtocolError: a content coding the client cannot decode.
    """
    coding = content_coding(response.header(b"content-encoding"))
    body = StreamBody(response, read_timeout, scope, bulk=bulk)
    return body if coding is None else DecodedBody(body, coding)


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

    async def aclose(self) -> None:
        """Close httpcore's body iterator, if one was used (idempotent).

        A body left before its end (an error, a cancellation) would leave the
        iterator to the garbage collector, which trio reports.
        """
        fallback, self._fallback = self._fallback, None
        close = getattr(fallback, "aclose", None)
        if close is not None:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True), suppress(Exception):
                await close()

    async def _read_fallback(self) -> bytes:
        if self._fallback is None:
            raise StreamClosed("the body was closed")
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


class H11Edge:
    """The HTTP/1.1 edge: an httpcore connection pool (and the proxies'
    pools), the library's timeouts and errors. See ``_base.Edge``.

    Owns the pool it creates (and closes it in :meth:`aclose`); a pool given
    by the caller is used and left open.
    """

    def __init__(
        self,
        *,
        pool: httpcore.AsyncConnectionPool | None,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float | None,
        head_timeout: float | None,
        proxy: ProxySettings | None,
    ) -> None:
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
        self._head_timeout = head_timeout
        # Request extensions by read timeout, shared by every request: the
        # pool keeps a request (and so its extensions) as long as its
        # response is open, and httpcore only reads them.
        self._shared_extensions: dict[float | None, dict[str, Any]] = {}

    def proxied(self, url: str) -> bool:
        """Whether a request to ``url`` goes through a proxy."""
        proxies = self._proxies
        return proxies is not None and proxies.settings.proxy_for(url) is not None

    async def aclose(self) -> None:
        """Close the pools this edge made (bounded in time)."""
        if self._owns_pool:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self._pool.aclose()
                if self._proxies is not None:
                    await self._proxies.aclose()

    def _extensions(self, read_timeout: float | None) -> dict[str, Any]:
        extensions = self._shared_extensions.get(read_timeout)
        if extensions is None:
            connect = self._connect_timeout
            timeouts = {"connect": connect, "read": read_timeout, "write": connect, "pool": connect}
            extensions = self._shared_extensions[read_timeout] = {"timeout": timeouts}
        return extensions

    async def send(
        self,
        method: str,
        url: str,
        fields: list[tuple[bytes, bytes]],
        body: bytes,
        read_timeout: float | None,
    ) -> Response:
        """Send one request over HTTP/1.1; the response with its body unread."""
        wire_headers = [(b"Host", _host_header(url)), *fields]
        # (RFC 9110 8.6: a POST without content still says so, "0".)
        if body or method not in _NO_CONTENT_METHODS:
            wire_headers.append((b"Content-Length", str(len(body)).encode("ascii")))
        request = httpcore.Request(
            method.encode("ascii"),
            url,
            headers=wire_headers,
            content=body,
            extensions=self._extensions(read_timeout),
        )
        # One deadline for the whole head: a server that trickles it a byte
        # at a time never trips the read timeout, which each byte resets.
        limit = self._head_timeout
        proxies = self._proxies
        proxy = None if proxies is None else proxies.settings.proxy_for(url)
        pool = self._pool if proxy is None or proxies is None else proxies.pool(proxy)
        with anyio.move_on_after(math.inf if limit is None else limit) as head_scope:
            try:
                raw = await pool.handle_async_request(request)
            except Exception as exc:
                if proxy is not None:
                    failure = proxy_failure(exc, proxy, _redact(url), _describe(exc))
                    if failure is not None:
                        raise failure from None
                _raise_translated(exc, url)
        if head_scope.cancelled_caught:
            assert limit is not None
            raise head_timeout_error(url, limit)
        response = Response(status=raw.status, headers=raw.headers, url=url, raw=raw)
        if proxy is not None and raw.status == 407:  # from a forward proxy (http URLs)
            await response.aclose()
            raise proxy_refused(proxy, _redact(url), 407, "407 Proxy Authentication Required")
        return response
