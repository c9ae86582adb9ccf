"""The transport: redirects followed, and each hop sent by the right edge.

:class:`Transport` is what the streams and the client talk to. It builds
the header fields of every hop (the client's protocol headers on every hop,
the token and the caller's headers only while the hops stay on the first
URL's origin; see ``_redirects``), follows redirects, and hands each hop to
an edge (``_base.Edge``): the HTTP/2 edge when ``http2=True`` and the
origin speaks it (and no proxy is in the way), else the HTTP/1.1 edge.

With ``http2=True`` the transport must be entered (``async with``): its
HTTP/2 connections run in the task group it opens there, so that they
outlive any one stream and close when the block is left.
"""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import httpcore
from anyio.abc import TaskGroup

from .._errors import RedirectError, StreamClosed
from ._base import NOT_ENTERED, Edge, Exchange
from ._http11 import H11Edge
from ._proxy import ProxySettings
from ._redirects import (
    GET_ON_ANY,
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    hop_headers,
    next_hop,
    same_origin,
    without_body_headers,
)
from ._urls import _redact, header_problem

if TYPE_CHECKING:
    from ._http2 import H2Edge

__all__ = ["H2_MISSING", "Transport"]

H2_MISSING = "http2=True needs the h2 package: pip install 'expys-stream[http2]'"


class Transport:
    """The edges (HTTP/1.1, and HTTP/2 when asked) with the library's
    timeouts, errors and redirects.

    The HTTP/1.1 edge owns the httpcore pool it creates (and closes it in
    :meth:`aclose`); a pool given by the caller is used and left open.
    """

    def __init__(
        self,
        *,
        pool: httpcore.AsyncConnectionPool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = 10.0,
        head_timeout: float | None = None,
        user_agent: str,
        proxy: ProxySettings | None = None,
        http2: bool = False,
    ) -> None:
        if pool is not None and not callable(getattr(pool, "handle_async_request", None)):
            raise TypeError("pool must be an httpcore.AsyncConnectionPool (an async one) or None")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext or None")
        if not isinstance(user_agent, str):
            raise TypeError("user_agent must be a str")
        if type(http2) is not bool:
            raise TypeError(f"http2 must be a bool, not {type(http2).__name__}")
        problem = header_problem("User-Agent", user_agent)
        if problem is not None:
            raise ValueError(f"user_agent: {problem}")
        self._h11 = H11Edge(
            pool=pool,
            ssl_context=ssl_context,
            connect_timeout=connect_timeout,
            head_timeout=head_timeout,
            proxy=proxy,
        )
        self._h2: H2Edge | None = None
        if http2:
            if importlib.util.find_spec("h2") is None:
                raise ImportError(H2_MISSING)
            from ._http2 import H2Edge

            self._h2 = H2Edge(
                ssl_context=ssl_context, connect_timeout=connect_timeout, head_timeout=head_timeout
            )
        # The client's own headers of every request (before the caller's).
        self._base_headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        self._closed = False
        self._on_close: set[Callable[[], None]] = set()
        self._task_group: TaskGroup | None = None

    @property
    def http2(self) -> H2Edge | None:
        """The HTTP/2 edge, when ``http2=True``."""
        return self._h2

    # -- the block that hosts the HTTP/2 connections ----------------------------

    async def __aenter__(self) -> Transport:
        if self._h2 is not None and self._task_group is None:
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
            self._task_group = task_group
            self._h2.bind(task_group)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            task_group, self._task_group = self._task_group, None
            if task_group is not None:
                assert self._h2 is not None
                self._h2.bind(None)
                task_group.cancel_scope.cancel()
                # Every task in it catches its own errors (H2Conn.run, the
                # connecting tasks): only cancellation is left to end it.
                await task_group.__aexit__(None, None, None)

    def check_entered(self) -> None:
        """Raise ``RuntimeError`` when HTTP/2 is on and no block hosts it:
        said before a stream starts, not from inside its task group."""
        if self._h2 is not None and not self._h2.entered and not self._closed:
            raise RuntimeError(NOT_ENTERED)

    # -- life ----------------------------------------------------------------------

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (once) when this transport is closed."""
        self._on_close.add(callback)

    def discard_on_close(self, callback: Callable[[], None]) -> None:
        """Forget a callback given to :meth:`on_close`."""
        self._on_close.discard(callback)

    async def aclose(self) -> None:
        """Refuse new requests, tell the streams that use this transport,
        and close the connections it made. Idempotent."""
        if self._closed:
            return
        self._closed = True
        callbacks, self._on_close = self._on_close, set()
        for callback in callbacks:
            callback()
        if self._h2 is not None:
            await self._h2.aclose()
        await self._h11.aclose()

    # -- requests ------------------------------------------------------------------

    async def open(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        origin_only: Mapping[str, str] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        read_timeout: float | None,
        follow_redirects: bool = True,
        get_on: frozenset[int] = GET_ON_ANY,
    ) -> Exchange:
        """Send a request and return the response with its body unread.

        ``headers`` are the client's protocol headers, sent on every hop;
        ``origin_only`` are the token and the caller's headers, sent only
        while the hops stay on the first URL's origin (see ``_redirects``).
        A name in any case replaces the same name given before it.
        ``content_type`` is the body's, sent as a protocol header.

        Redirects (301, 302, 303, 307, 308) are followed up to
        :data:`MAX_REDIRECTS` hops, the method and body of each as
        ``_redirects.next_hop`` says: 307 and 308 keep both, 303 (and 301
        or 302 after a POST) sends a GET without the body and its header
        fields. ``get_on`` narrows the statuses allowed to make that change
        (``GET_ON_SEE_OTHER``: only 303; another is a RedirectError).

        Raises:
            ReadTimeout: the response head was not complete within the
                head timeout (connecting and sending included).
            RedirectError: a redirect that cannot be followed, or too many.
        """
        if self._closed:
            raise StreamClosed("the client is closed")
        first_url = url
        on_origin = True
        protocol = {**self._base_headers, **headers}
        if content_type is not None:
            protocol["Content-Type"] = content_type
        for _hop in range(MAX_REDIRECTS + 1):
            on_origin = on_origin and same_origin(url, first_url)
            fields = hop_headers(protocol, origin_only, on_origin=on_origin)
            response = await self._send_once(method, url, fields, body, read_timeout)
            if not follow_redirects or response.status not in REDIRECT_STATUSES:
                return response
            location = response.header(b"location")
            await response.aclose()
            hop = next_hop(method, response.status, url, location, get_on=get_on)
            url, method = hop.url, hop.method
            if not hop.keep_body:
                body = b""
                protocol = without_body_headers(protocol) or {}
                origin_only = without_body_headers(origin_only)
        raise RedirectError(f"more than {MAX_REDIRECTS} redirects, last to {_redact(url)}")

    async def _send_once(
        self,
        method: str,
        url: str,
        fields: list[tuple[bytes, bytes]],
        body: bytes,
        read_timeout: float | None,
    ) -> Exchange:
        h2: Edge | None = self._h2  # (typed as the interface: mypy holds H2Edge to it)
        if h2 is not None and not self._h11.proxied(url):  # (proxies: HTTP/1.1)
            response = await h2.send(method, url, fields, body, read_timeout)
            if response is not None:
                return response
        return await self._h11.send(method, url, fields, body, read_timeout)


if TYPE_CHECKING:  # both edges implement the interface the router relies on
    _H11_IS_AN_EDGE: type[Edge] = H11Edge
