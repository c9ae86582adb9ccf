"""The concierge on its own event loop in a background thread, for sync code.

:class:`ConciergeThread` starts an anyio blocking portal (a thread running
an event loop), enters a :class:`ConciergeServer` inside it, and forwards
every method call to that loop with ``portal.call``, so the server's state
is only ever touched by its own thread. The ``a``-prefixed methods do the
same from async code on any event loop, through a worker thread, so that a
long wait never blocks the caller's loop.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Literal, TypeVar

import anyio
import anyio.to_thread
from anyio.from_thread import BlockingPortal, start_blocking_portal

from expys_stream._models import Message

from ._faults import Faults
from ._hub import ConnectionInfo
from ._server import ConciergeServer, RecordedRequest

__all__ = ["ConciergeThread"]

_T = TypeVar("_T")


def _in_trio_run() -> bool:
    try:
        import trio.lowlevel
    except ImportError:
        return False
    return trio.lowlevel.in_trio_run()


class ConciergeThread:
    """The concierge server running in a background thread; a sync context manager.

        with ConciergeThread() as server:
            token = server.add_member("cnv_demo", "usr_alice")
            server.publish("cnv_demo", "usr_bob", "hello")

    It takes the arguments of [`serve_concierge`][expys_stream.testing.serve_concierge], plus
    ``backend`` (``"asyncio"`` or ``"trio"``: the loop the server thread runs). Every method of
    [`ConciergeServer`][expys_stream.testing.ConciergeServer] is here as a blocking, thread-safe
    method; each async one also has an ``a``-prefixed coroutine version (``apublish``,
    ``await_for_streams``, ...) that waits in a worker thread and so may be awaited from async tests
    on asyncio or trio. ``faults`` is the server's [`Faults`][expys_stream.testing.Faults] itself
    (it is thread-safe).

    Entering starts the thread and the server; leaving closes every
    connection and stops the thread before it returns.
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
        backend: Literal["asyncio", "trio"] = "asyncio",
    ) -> None:
        self._server = ConciergeServer(
            port,
            host=host,
            keepalive_interval=keepalive_interval,
            retry_ms=retry_ms,
            max_queued_events=max_queued_events,
            path_prefix=path_prefix,
        )
        self._backend = backend
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._server_cm: AbstractContextManager[ConciergeServer] | None = None
        self._portal: BlockingPortal | None = None

    def __enter__(self) -> ConciergeThread:
        if self._portal_cm is not None:
            raise RuntimeError("this server is already running")
        if self._backend == "trio" and _in_trio_run():
            # trio cannot make a blocking call into another trio loop from
            # its own thread: starting would hang rather than fail.
            raise RuntimeError(
                "a ConciergeThread(backend='trio') cannot be started from a running trio"
                " loop's thread; start it outside the loop (e.g. in a sync pytest fixture)"
                " or use serve_concierge() in the test's own loop"
            )
        portal_cm = start_blocking_portal(self._backend, name="expys-concierge")
        portal = portal_cm.__enter__()
        try:
            server_cm = portal.wrap_async_context_manager(self._server)
            server_cm.__enter__()
        except BaseException:
            portal_cm.__exit__(None, None, None)
            raise
        self._portal_cm, self._server_cm, self._portal = portal_cm, server_cm, portal
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        portal_cm, server_cm = self._portal_cm, self._server_cm
        self._portal_cm = self._server_cm = self._portal = None
        try:
            if server_cm is not None:
                server_cm.__exit__(None, None, None)
        finally:
            if portal_cm is not None:
                portal_cm.__exit__(None, None, None)

    def _portal_or_fail(self) -> BlockingPortal:
        if self._portal is None:
            raise RuntimeError("the server is not running (use 'with ConciergeThread() as ...')")
        return self._portal

    def _call(self, func: Callable[[], _T]) -> _T:
        return self._portal_or_fail().call(func)

    def _await(self, func: Callable[[], Awaitable[_T]]) -> _T:
        return self._portal_or_fail().call(func)

    async def _await_async(self, func: Callable[[], Awaitable[_T]]) -> _T:
        # Run func in the server's loop and wait for it in a worker thread of
        # the caller's loop (asyncio or trio alike); if the caller is
        # cancelled, so is func (cancelling the future is thread-safe and
        # does not block). The task is started from a worker thread too:
        # trio refuses a blocking call into another trio loop from its own
        # thread, so a trio test could not otherwise reach a trio server.
        portal = self._portal_or_fail()
        future = await anyio.to_thread.run_sync(portal.start_task_soon, func)
        try:
            return await anyio.to_thread.run_sync(future.result, abandon_on_cancel=True)
        finally:
            future.cancel()

    # -- state, as on ConciergeServer -------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The server's [`Faults`][expys_stream.testing.Faults] (thread-safe)."""
        return self._server.faults

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` plus the path prefix; no trailing slash."""
        return self._server.base_url

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._server.port

    @property
    def open_streams(self) -> int:
        """How many stream responses are open right now."""
        return self._call(lambda: self._server.open_streams)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        return self._call(lambda: self._server.requests)

    def stream_count(self, conversation_id: str | None = None) -> int:
        """Open streams, in one conversation or (None) in all."""
        return self._call(lambda: self._server.stream_count(conversation_id))

    def add_conversation(self, conversation_id: str) -> str:
        """Create a conversation (if it does not exist yet) and return its id."""
        return self._call(lambda: self._server.add_conversation(conversation_id))

    def add_user(self, user_id: str) -> str:
        """Create a user (if it does not exist yet), member of nothing; return its id."""
        return self._call(lambda: self._server.add_user(user_id))

    def add_member(self, conversation_id: str, user_id: str) -> str:
        """Make ``user_id`` (created if needed) a member; return a fresh token for it."""
        return self._call(lambda: self._server.add_member(conversation_id, user_id))

    def remove_member(self, conversation_id: str, user_id: str) -> None:
        """Take a membership away; the user's tokens then get 403 there."""
        self._call(lambda: self._server.remove_member(conversation_id, user_id))

    def issue_token(self, user_id: str, ttl: float | None = None) -> str:
        """Another token for an existing user, expiring after ``ttl`` seconds if given."""
        return self._call(lambda: self._server.issue_token(user_id, ttl))

    def expire_token(self, token: str) -> None:
        """From now on, requests with ``token`` get 401."""
        self._call(lambda: self._server.expire_token(token))

    def messages(self, conversation_id: str) -> list[Message]:
        """Every stored message of the conversation, oldest first."""
        return self._call(lambda: self._server.messages(conversation_id))

    # -- blocking versions of the async methods ---------------------------------------

    def publish(self, conversation_id: str, author_id: str, body: str | None) -> Message:
        """Store a message from ``author_id``, fan it out, and return it."""
        return self._await(
            functools.partial(self._server.publish, conversation_id, author_id, body)
        )

    def publish_event(
        self,
        conversation_id: str,
        event: str,
        data: str,
        *,
        id: str | None = None,  # noqa: A002 - the SSE field is called id
    ) -> None:
        """Send a non-message SSE event to the conversation's open streams."""
        self._await(
            functools.partial(self._server.publish_event, conversation_id, event, data, id=id)
        )

    def send_raw(self, conversation_id: str, data: bytes) -> None:
        """Write ``data`` verbatim to every current subscriber of the conversation."""
        self._await(functools.partial(self._server.send_raw, conversation_id, data))

    def wait_for_streams(
        self, n: int, conversation_id: str | None = None, *, timeout: float | None = 10.0
    ) -> None:
        """Block until at least ``n`` streams are open; ``TimeoutError`` after ``timeout``."""
        server = self._server

        async def wait() -> None:
            with anyio.fail_after(timeout):
                await server.wait_for_streams(n, conversation_id)

        self._await(wait)

    def wait_for_stream_count(
        self, n: int, conversation_id: str | None = None, *, timeout: float | None = 10.0
    ) -> None:
        """Block until exactly ``n`` streams are open; ``TimeoutError`` after ``timeout``."""
        server = self._server

        async def wait() -> None:
            with anyio.fail_after(timeout):
                await server.wait_for_stream_count(n, conversation_id)

        self._await(wait)

    def drop_streams(self, conversation_id: str | None = None, *, reset: bool = False) -> None:
        """Abort every open stream (no chunked terminator; ``reset``: with a
        TCP reset); return once closed."""
        self._await(functools.partial(self._server.drop_streams, conversation_id, reset=reset))

    def end_streams(self, conversation_id: str | None = None) -> None:
        """End every open stream cleanly; return once closed."""
        self._await(functools.partial(self._server.end_streams, conversation_id))

    def connections(self) -> list[ConnectionInfo]:
        """A snapshot of the open client connections (see ``ConciergeServer.connections``)."""
        return self._call(self._server.connections)

    def goaway(self, *, last_stream_id: int | None = None, error_code: int = 0) -> None:
        """Send GOAWAY on every open HTTP/2 connection (see ``ConciergeServer.goaway``)."""
        goaway = self._server.goaway
        self._await(functools.partial(goaway, last_stream_id=last_stream_id, error_code=error_code))

    # -- the same, awaitable from any event loop ----------------------------------------

    async def apublish(self, conversation_id: str, author_id: str, body: str | None) -> Message:
        """``publish``, awaitable from async code on any event loop."""
        server = self._server
        return await self._await_async(
            functools.partial(server.publish, conversation_id, author_id, body)
        )

    async def apublish_event(
        self,
        conversation_id: str,
        event: str,
        data: str,
        *,
        id: str | None = None,  # noqa: A002 - the SSE field is called id
    ) -> None:
        """``publish_event``, awaitable from async code on any event loop."""
        server = self._server
        await self._await_async(
            functools.partial(server.publish_event, conversation_id, event, data, id=id)
        )

    async def asend_raw(self, conversation_id: str, data: bytes) -> None:
        """``send_raw``, awaitable from async code on any event loop."""
        await self._await_async(functools.partial(self._server.send_raw, conversation_id, data))

    async def await_for_streams(self, n: int, conversation_id: str | None = None) -> None:
        """``wait_for_streams``, awaitable (bound it with ``anyio.fail_after``)."""
        server = self._server
        await self._await_async(functools.partial(server.wait_for_streams, n, conversation_id))

    async def await_for_stream_count(self, n: int, conversation_id: str | None = None) -> None:
        """``wait_for_stream_count``, awaitable (bound it with ``anyio.fail_after``)."""
        server = self._server
        await self._await_async(functools.partial(server.wait_for_stream_count, n, conversation_id))

    async def adrop_streams(
        self, conversation_id: str | None = None, *, reset: bool = False
    ) -> None:
        """``drop_streams``, awaitable from async code on any event loop."""
        drop = functools.partial(self._server.drop_streams, conversation_id, reset=reset)
        await self._await_async(drop)

    async def aend_streams(self, conversation_id: str | None = None) -> None:
        """``end_streams``, awaitable from async code on any event loop."""
        await self._await_async(functools.partial(self._server.end_streams, conversation_id))

    async def agoaway(self, *, last_stream_id: int | None = None, error_code: int = 0) -> None:
        """``goaway``, awaitable from async code on any event loop."""
        goaway = self._server.goaway
        await self._await_async(
            functools.partial(goaway, last_stream_id=last_stream_id, error_code=error_code)
        )


ConciergeThread.__module__ = "expys_stream.testing"
