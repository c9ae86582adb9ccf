"""The concierge server: its lifecycle and its public API.

One task accepts connections and gives each its own task
(``_h2_accept.py`` picks its protocol; ``_service.py`` serves HTTP/1.1,
``_h2.py`` HTTP/2). All of them live in one task group, so leaving the
server's ``async with`` cancels them and closes every socket before it
returns. The state lives in three plain objects,
touched only from the server's event loop: the :class:`Store`
(conversations, tokens, messages), the :class:`Hub` (open streams) and the
:class:`Faults`.
"""

from __future__ import annotations

import logging
import re
import ssl
from types import TracebackType

import anyio
import anyio.abc
import anyio.lowlevel

from expys_stream._models import Message
from expys_stream.sse import encode_event

from .._backoff import is_seconds
from ._faults import Faults
from ._h2_accept import Acceptor
from ._hub import ConnectionInfo, Hub
from ._service import RecordedRequest, Service
from ._store import Store

__all__ = ["ConciergeServer", "RecordedRequest", "serve_concierge"]


logger = logging.getLogger("expys_stream.testing")
# A path prefix that needs no encoding: "/" then segments of RFC 3986
# unreserved and sub-delim characters, ":", "@" or percent escapes.
# Empty segments are allowed ("/a//b"), but not a last one (no trailing "/").
_PATH_PREFIX = re.compile(
    r"(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*"
    r"/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+"
)


class ConciergeServer:
    """The embedded concierge: a real HTTP/1.1 and HTTP/2 server for docs/protocol.md.

    Create it with [`serve_concierge`][expys_stream.testing.serve_concierge] and use it as an async
    context manager; it listens from ``__aenter__`` on, and leaving the block closes every
    connection (open streams included) before it returns. Its methods must be called from the event
    loop that runs it (use [`ConciergeThread`][expys_stream.testing.ConciergeThread] from other
    threads).

    Attributes:
        faults: the [`Faults`][expys_stream.testing.Faults] to inject into the next request(s).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        keepalive_interval: float = 15.0,
        retry_ms: int = 10,
        max_queued_events: int = 10_000,
        path_prefix: str = "",
        ssl_context: ssl.SSLContext | None = None,
        http2: bool = True,
        h2_max_concurrent_streams: int = 100,
    ) -> None:
        if type(http2) is not bool:
            raise TypeError("http2 must be a bool")
        if type(h2_max_concurrent_streams) is not int or not 1 <= h2_max_concurrent_streams < 2**31:
            raise ValueError("h2_max_concurrent_streams must be an int from 1 to 2**31 - 1")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext (server side) or None")
        if not isinstance(host, str):
            raise TypeError("host must be a str (an address or a name)")
        if not host:
            raise ValueError("host must not be empty")
        if type(port) is not int or not 0 <= port <= 65535:
            raise ValueError("port must be an int from 0 to 65535")
        if not isinstance(path_prefix, str):
            raise TypeError("path_prefix must be a str")
        if path_prefix and not _PATH_PREFIX.fullmatch(path_prefix):
            raise ValueError(
                "path_prefix must be '/'-separated segments of letters, digits and "
                "-._~!$&'()*+,;=:@ (percent-encode anything else), not ending with '/'"
            )
        if not is_seconds(keepalive_interval) or not keepalive_interval > 0:
            raise ValueError("keepalive_interval must be a number of seconds > 0")
        if type(retry_ms) is not int or retry_ms < 0:
            raise ValueError("retry_ms must be an int >= 0")
        if type(max_queued_events) is not int or max_queued_events < 1:
            raise ValueError("max_queued_events must be an int >= 1")
        self._ssl_context = ssl_context
        self._host = host
        self._port = port
        self._prefix = path_prefix
        self._store = Store()
        self.faults: Faults = Faults()
        self._hub = Hub()
        self._service = Service(
            self._store,
            self.faults,
            self._hub,
            keepalive=float(keepalive_interval),
            retry_ms=retry_ms,
            max_queued=max_queued_events,
            prefix=path_prefix,
        )
        self._acceptor = Acceptor(
            self._service,
            self._hub,
            self.faults,
            ssl_context=ssl_context,
            http2=http2,
            h2_max_concurrent_streams=h2_max_concurrent_streams,
        )
        self._started = False
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._bound_port = 0

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> ConciergeServer:
        if self._started:
            raise RuntimeError("a ConciergeServer can be started only once")
        listener = await anyio.create_tcp_listener(local_host=self._host, local_port=self._port)
        self._started = True
        self._bound_port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._listener = listener
        self._hub.start()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            for one in listener.listeners:
                self._task_group.start_soon(self._accept_loop, one)
            logger.debug("concierge listening on %s", self.base_url)
        except BaseException:
            # Leave nothing running (and trio's nursery stack as it was).
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        assert self._listener is not None
        self._task_group.cancel_scope.cancel()
        try:
            # Not given the body's exception: a task group would wrap it in an
            # exception group, and the caller should see their own exception.
            await self._task_group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._listener.aclose()

    # -- the public API ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (``https://`` with TLS) plus the path prefix; no trailing slash."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host}:{self._bound_port}{self._prefix}"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._bound_port

    def add_conversation(self, conversation_id: str) -> str:
        """Create a conversation (if it does not exist yet) and return its id."""
        return self._store.add_conversation(conversation_id)

    def add_user(self, user_id: str) -> str:
        """Create a user (if it does not exist yet), member of nothing; return its id."""
        return self._store.add_user(user_id)

    def add_member(self, conversation_id: str, user_id: str) -> str:
        """Make ``user_id`` (created if needed) a member; return a fresh token for it."""
        self._store.add_member(conversation_id, user_id)
        return self._store.issue_token(user_id)

    def remove_member(self, conversation_id: str, user_id: str) -> None:
        """Take a membership away; the user's tokens then get 403 there."""
        self._store.remove_member(conversation_id, user_id)

    def issue_token(self, user_id: str, ttl: float | None = None) -> str:
        """Another token for an existing user, expiring after ``ttl`` seconds if given."""
        return self._store.issue_token(user_id, ttl)

    def expire_token(self, token: str) -> None:
        """From now on, requests with ``token`` get 401."""
        self._store.expire_token(token)

    def messages(self, conversation_id: str) -> list[Message]:
        """Every stored message of the conversation, oldest first."""
        return [stored.message for stored in self._store.conversation(conversation_id).messages]

    async def publish(self, conversation_id: str, author_id: str, body: str | None) -> Message:
        """Store a message from ``author_id`` and fan it out to the open streams."""
        stored = self._store.append(conversation_id, author_id, body)
        self._hub.fan_out(conversation_id, stored.seq, stored.event)
        await anyio.lowlevel.checkpoint()
        return stored.message

    async def publish_event(
        self,
        conversation_id: str,
        event: str,
        data: str,
        *,
        id: str | None = None,  # noqa: A002 - the SSE field is called id
    ) -> None:
        """Send a non-message SSE event (``typing``, ``read``, ...) to the open streams.

        Nothing is stored: only the conversation's current subscribers get it.
        """
        self._store.conversation(conversation_id)
        self._hub.fan_out(conversation_id, 0, encode_event(data, event=event, id=id))
        await anyio.lowlevel.checkpoint()

    async def send_raw(self, conversation_id: str, data: bytes) -> None:
        """Write ``data`` verbatim (one chunk) to every current subscriber."""
        self._store.conversation(conversation_id)
        self._hub.fan_out(conversation_id, 0, bytes(data))
        await anyio.lowlevel.checkpoint()

    @property
    def open_streams(self) -> int:
        """How many stream responses are open right now (see `stream_count`)."""
        return self._hub.open

    def stream_count(self, conversation_id: str | None = None) -> int:
        """Open streams, in one conversation or (None) in all.

        A stream is open from the moment it is subscribed until its client
        closes the connection or the server ends it. A client's close counts
        at once: each stream's socket is asked when counting, so a stream
        the test has just closed is never counted, even before the server's
        own task for it has noticed.
        """
        return self._hub.count(conversation_id)

    async def wait_for_streams(self, n: int, conversation_id: str | None = None) -> None:
        """Return once at least ``n`` streams are open (in ``conversation_id``).

        A stream counts from the moment it is subscribed, so a message
        published after this returns reaches it; one whose client has
        closed the connection no longer counts (see `stream_count`),
        so closing a stream, opening another and waiting for one waits for
        the new one. Bound the wait with ``anyio.fail_after``.
        """
        await self._hub.wait_until_count(n, conversation_id, exact=False)

    async def wait_for_stream_count(self, n: int, conversation_id: str | None = None) -> None:
        """Return once exactly ``n`` streams are open (in ``conversation_id``).

        E.g. ``wait_for_stream_count(0)`` after clients went away: a stream
        stops counting once its client has closed the connection, or once
        the server has ended it and it has left the fan-out.
        """
        await self._hub.wait_until_count(n, conversation_id, exact=True)

    async def drop_streams(
        self, conversation_id: str | None = None, *, reset: bool = False
    ) -> None:
        """Abort every open stream (of one conversation) now: no chunked terminator.

        ``reset=True`` resets the connections (TCP RST) instead of closing
        them. Returns when those connections are closed.
        """
        if type(reset) is not bool:
            raise TypeError("reset must be a bool")
        victims = self._hub.current(conversation_id)
        for subscriber in victims:
            subscriber.abort("dropped", reset=reset)
        await self._hub.wait_gone(victims)

    async def end_streams(self, conversation_id: str | None = None) -> None:
        """End every open stream (of one conversation) cleanly, as a deploy would.

        Each stream finishes the event it is writing, sends the chunked
        terminator and closes (a stalled stream once its stall is over);
        returns when they are closed.
        """
        victims = self._hub.current(conversation_id)
        for subscriber in victims:
            subscriber.finish()
        await self._hub.wait_gone(victims)

    def connections(self) -> list[ConnectionInfo]:
        """A snapshot of the open client connections, oldest first (HTTP/1.1 and HTTP/2)."""
        return [record.info() for record in self._hub.connections.values()]

    async def goaway(self, *, last_stream_id: int | None = None, error_code: int = 0) -> None:
        """Send GOAWAY on every open HTTP/2 connection now.

        Streams up to ``last_stream_id`` (default: the newest one) go on
        until they end or the server closes; later ones end at once, without
        a frame, and a stream the client opens afterwards is ignored (RFC 9113
        section 6.8: the client knows they were not processed).
        ``error_code``: 0 is ``NO_ERROR``, 2 ``INTERNAL_ERROR``.
        """
        if last_stream_id is not None and (
            type(last_stream_id) is not int or not 0 <= last_stream_id < 2**31
        ):
            raise ValueError("last_stream_id must be an int from 0 to 2**31 - 1, or None")
        if type(error_code) is not int or not 0 <= error_code <= 0xFFFFFFFF:
            raise ValueError("error_code must be an int from 0 to 2**32 - 1")
        for record in list(self._hub.connections.values()):
            if record.handle is not None:
                await record.handle.goaway(last_stream_id, error_code)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        return list(self._service.requests)

    # -- connections ---------------------------------------------------------------------

    async def _accept_loop(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        assert self._task_group is not None
        assert isinstance(listener, anyio.abc.SocketListener)
        while True:
            try:
                stream = await listener.accept()
            except anyio.ClosedResourceError:
                return
            except (anyio.BrokenResourceError, OSError) as exc:
                # Out of file descriptors, most likely: wait and try again.
                logger.warning("concierge: accept failed: %r", exc)
                await anyio.sleep(0.05)
                continue
            self._task_group.start_soon(self._acceptor.serve, stream)


def serve_concierge(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    keepalive_interval: float = 15.0,
    retry_ms: int = 10,
    max_queued_events: int = 10_000,
    path_prefix: str = "",
    ssl_context: ssl.SSLContext | None = None,
    http2: bool = True,
    h2_max_concurrent_streams: int = 100,
) -> ConciergeServer:
    """The embedded concierge server, to use as ``async with serve_concierge() as server``.

    Args:
        port: the TCP port; 0 picks a free one (see ``server.base_url``).
        host: the address to listen on.
        keepalive_interval: seconds of idleness after which a stream gets
            a ``: keepalive`` comment.
        retry_ms: the ``retry`` value (ms) that opens every stream. The
            default, 10, keeps a reconnect after an injected drop fast;
            pass the service's own 1500 to test how a client honours a
            real floor.
        max_queued_events: how many events one stream may have waiting
            before the server gives up on that (too slow) client and
            disconnects it.
        path_prefix: serve under this path (e.g. ``"/prefix"``), to test
            base URLs that carry one; ``base_url`` includes it.
        ssl_context: a server-side ``ssl.SSLContext`` to serve https
            (``base_url`` then starts with ``https://``); None: plain http.
            The server sets its ALPN protocols: ``h2`` and ``http/1.1``.
        http2: serve HTTP/2 too (with h2 installed: the ``http2`` extra):
            chosen by ALPN over TLS, by the connection preface (prior
            knowledge) in cleartext. False: HTTP/1.1 only. Without h2, an
            HTTP/2 client gets a GOAWAY saying so.
        h2_max_concurrent_streams: the SETTINGS_MAX_CONCURRENT_STREAMS the
            server announces (and enforces) on each HTTP/2 connection.

    Works on asyncio and trio. Leaving the block closes the listener and
    every connection, streams included, before it returns.
    """
    return ConciergeServer(
        port,
        host=host,
        keepalive_interval=keepalive_interval,
        retry_ms=retry_ms,
        max_queued_events=max_queued_events,
        path_prefix=path_prefix,
        ssl_context=ssl_context,
        http2=http2,
        h2_max_concurrent_streams=h2_max_concurrent_streams,
    )


for _public in (ConciergeServer, serve_concierge):
    _public.__module__ = "expys_stream.testing"
del _public
