"""The blocking client: each call is the async client's, run on the shared portal.

Arguments are checked in the caller's thread by the async constructors
themselves (no I/O, no loop needed), so bad input raises here, before any
thread starts. Requests and streams then run on the one event-loop thread
of ``expys_stream._portal``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Literal, Unpack

from . import _portal
from ._client import Client as _AsyncClient
from ._client import open_message_stream as _async_open_message_stream
from ._errors import StreamClosed
from ._event_stream import TokenSource
from ._event_stream import open_event_stream as _async_open_event_stream
from ._models import Message, MessagePage
from ._options import ClientOptions, Environment, EventStreamOptions
from ._sync_streams import EventStream, MessageStream

__all__ = ["Client", "open_event_stream", "open_message_stream"]


class Client:
    """A client of the concierge service for one member token, for blocking code.

    The twin of [`expys_stream.Client`][expys_stream.Client], with the same
    arguments, errors and results. Use it as a context manager (or call
    [`close`][expys_stream.sync.Client.close]):

        with Client(token=token) as client:
            page = client.list_messages("cnv_123", limit=10)
            client.send_message("cnv_123", "Hello!")
            with client.open_message_stream("cnv_123") as stream:
                for message in stream:
                    ...

    It may be shared by threads: each call runs as its own task on the
    library's event-loop thread ([the sync guide](../sync.md)); a stream
    belongs to the thread that iterates it.

    Args:
        token: the member token, or a callable returning a fresh one (called
            before every request and every reconnect, in a worker thread, so
            it may block; an awaitable it returns is awaited).
        base_url: the service's base URL (may carry a path prefix); else
            ``EXPYS_BASE_URL``; else the environment's.
        environment: ``"production"`` or ``"sandbox"``.
        **options: the options of [`ClientOptions`][expys_stream.ClientOptions]
            (``pool``, ``connect_timeout``, ``read_timeout``, ``backoff_base``,
            ``backoff_cap``, ``reset_after``, ``max_retries``,
            ``request_retries``, ``max_event_size``, ``ssl_context``,
            ``user_agent``), each with its default there. A ``pool`` is an
            ``httpcore.AsyncConnectionPool``: it runs on the library's
            event-loop thread, and the client leaves it open.

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an option out of range, or a bad base URL.
        RuntimeError: a request or stream started on a thread that runs an
            event loop.
    """

    def __init__(
        self,
        *,
        token: TokenSource,
        base_url: str | None = None,
        environment: Environment = "production",
        **options: Unpack[ClientOptions],
    ) -> None:
        # The async constructor checks every argument and option, here in
        # the caller's thread: a bad one raises before any thread starts.
        self._aclient = _AsyncClient(
            token=_portal.sync_token(token),
            base_url=base_url,
            environment=environment,
            **options,
        )
        self._lock = threading.Lock()
        self._lease: _portal.Lease | None = None  # taken on first use
        # With http2=True the async client is entered in a task of the
        # portal (its HTTP/2 connections run in that task's group) and
        # left in the same task by close().
        self._host: AbstractContextManager[Any] | None = None
        self._closed = False

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._aclient.base_url

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client; returns once its connection pool is closed.

        Its open streams end with [`StreamClosed`][expys_stream.StreamClosed]
        (after the messages they already received), further requests raise
        it, and the connection pool is closed if the client made it.
        Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            lease, self._lease = self._lease, None
            host, self._host = self._host, None
        if lease is None:
            return  # never used: no connection, no loop
        try:
            if lease.valid:
                if host is not None:
                    host.__exit__(None, None, None)
                else:
                    _portal.call(lease.portal, self._aclient.aclose)
        finally:
            lease.release()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "_lease", None) is not None and not self._closed:
            # (Not closed here: a collection may run on the loop's own thread.)
            _warn(
                "an expys_stream.sync.Client was used and never closed: "
                "its event-loop thread stays until the process exits",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    def _portal_lease(self) -> _portal.Lease:
        _portal.check_thread()
        with self._lock:
            if self._closed:
                raise StreamClosed("the client is closed")
            lease = self._lease
            if lease is None:
                lease = self._lease = _portal.lease()
                if self._aclient._transport.http2 is not None:
                    host = lease.portal.wrap_async_context_manager(self._aclient)
                    host.__enter__()
                    self._host = host
            elif not lease.valid:
                raise RuntimeError(
                    "this client was used before os.fork(): make a new one in this process"
                )
            return lease

    def list_messages(
        self, conversation_id: str, *, limit: int = 20, before: str | None = None
    ) -> MessagePage:
        """One page of the backlog: the newest ``limit`` messages (before ``before``).

        Messages come oldest first; ``has_more`` tells whether older ones
        exist (pass the first message's id as ``before`` to page back).

        Raises:
            ValueError: ``limit`` outside 1..100, or text that is not valid
                Unicode.
            TypeError: ``before`` is not a non-empty str.
            AuthenticationError: 401, even after a fresh token.
            PermissionDeniedError: 403, the token's user is not a member.
            ConversationNotFoundError: 404, no such conversation.
            HTTPStatusError: another error status.
            RateLimitedError: 429, once the retries are spent.
            ServerError: 5xx, once the retries are spent.
            TransportError: the network failed, once the retries are spent.
            StreamClosed: the client is closed.
            RuntimeError: called on a thread that runs an event loop.
        """
        portal = self._portal_lease().portal

        async def run() -> MessagePage:
            return await self._aclient.list_messages(conversation_id, limit=limit, before=before)

        return _portal.call(portal, run)

    def send_message(
        self, conversation_id: str, body: str | None, *, idempotency_key: str | None = None
    ) -> Message:
        """Send a message; returns it as stored.

        One ``Idempotency-Key`` (a new UUID unless given) is used for this
        call and reused by each of its retries, so a retried send never
        stores the message twice.

        Raises:
            TypeError: ``body`` or ``idempotency_key`` has the wrong type.
            ValueError: ``body`` or ``idempotency_key`` cannot be sent (an
                empty or invalid key, a lone surrogate).
            HTTPStatusError: the server refused; the same subclasses as
                [`list_messages`][expys_stream.sync.Client.list_messages] raises.
            TransportError: the network failed, once the retries are spent.
            StreamClosed: the client is closed.
            RuntimeError: called on a thread that runs an event loop.
        """
        portal = self._portal_lease().portal

        async def run() -> Message:
            return await self._aclient.send_message(
                conversation_id, body, idempotency_key=idempotency_key
            )

        return _portal.call(portal, run)

    def open_message_stream(
        self,
        conversation_id: str,
        *,
        last_event_id: str | None = None,
        history: int = 0,
        on_invalid: Literal["raise", "skip"] = "raise",
    ) -> MessageStream:
        """A live stream of the conversation's messages; use with ``with``.

        Args:
            conversation_id: the conversation.
            last_event_id: resume after this message id (a value you kept
                from ``stream.last_event_id``).
            history: first deliver the newest ``history`` messages of the
                backlog (oldest first), then go live right after the last of
                them, so nothing sent in between is lost or repeated.
            on_invalid: ``"raise"`` a
                [`MessageDecodeError`][expys_stream.MessageDecodeError] for a
                message event that is not a valid message, or ``"skip"`` it
                with a warning in the log.

        Raises:
            ValueError: ``history`` outside 0..100, or given together with
                ``last_event_id``.
            StreamClosed: the client is closed.
            RuntimeError: called on a thread that runs an event loop.
        """
        if self._closed:
            raise StreamClosed("the client is closed")
        astream = self._aclient.open_message_stream(
            conversation_id, last_event_id=last_event_id, history=history, on_invalid=on_invalid
        )
        # The client's lease keeps the loop (and so its pooled connections)
        # alive between streams; each entered stream also holds one.
        self._portal_lease()
        return MessageStream(astream)


def open_message_stream(
    conversation_id: str,
    *,
    token: TokenSource,
    base_url: str | None = None,
    environment: Environment = "production",
    last_event_id: str | None = None,
    history: int = 0,
    on_invalid: Literal["raise", "skip"] = "raise",
    **options: Unpack[ClientOptions],
) -> MessageStream:
    """Stream a conversation's new messages, live, as [`Message`][expys_stream.Message] objects.

    The twin of [`expys_stream.open_message_stream`][expys_stream.open_message_stream]:

        with open_message_stream("cnv_123", token=token) as stream:
            for message in stream:
                print(message.author_id, message.body)

    Every message arrives exactly once and in order for as long as you stay
    in the block, across dropped connections and server restarts. Leaving
    the block (``break``, ``return``, an exception, Ctrl-C) closes the
    connection and any pending reconnect timer before it returns.

    ``token``, ``base_url``, ``environment`` and ``**options`` (the options
    of [`ClientOptions`][expys_stream.ClientOptions]: timeouts, backoff,
    ``max_retries``, ``max_event_size``, ``pool``, ``ssl_context``,
    ``user_agent``...) are as for [`Client`][expys_stream.sync.Client]; the
    stream closes the private client it makes. ``last_event_id``,
    ``history`` and ``on_invalid`` are as for
    [`Client.open_message_stream`][expys_stream.sync.Client.open_message_stream].

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an argument or option is invalid (checked before any I/O).
    """
    astream = _async_open_message_stream(
        conversation_id,
        token=_portal.sync_token(token),
        base_url=base_url,
        environment=environment,
        last_event_id=last_event_id,
        history=history,
        on_invalid=on_invalid,
        **options,
    )
    return MessageStream(astream)


def open_event_stream(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    token: TokenSource | None = None,
    last_event_id: str | None = None,
    method: str = "GET",
    body: bytes | None = None,
    json: object = None,
    **options: Unpack[EventStreamOptions],
) -> EventStream:
    """Open a reconnecting SSE stream to any ``http(s)`` URL, for blocking code.

    The twin of [`expys_stream.open_event_stream`][expys_stream.open_event_stream].
    Use the result with ``with``, then ``for``:

        with open_event_stream(url, headers=headers) as stream:
            for event in stream:
                ...

    The same guarantees as the message stream apply: reconnect with
    full-jitter backoff, ``Last-Event-ID`` resume, idle detection, clean
    cancellation.

    Args:
        url: the absolute http or https URL of the event stream.
        headers: extra request headers (sent to the first URL's origin only
            when they carry credentials).
        token: a bearer token, or a callable that returns a fresh one;
            called before every connection, in a worker thread, so it may
            block (an awaitable it returns is awaited).
        last_event_id: resume after this event ID.
        method: the request method (``"POST"``, ``"REPORT"``...), as for
            the async twin.
        body: the request content, as bytes (not with GET).
        json: a value to send as a JSON body instead of ``body``; the
            method, body and headers are sent again on every reconnect.
        **options: the options of
            [`EventStreamOptions`][expys_stream.EventStreamOptions]
            (``pool``, ``connect_timeout``, ``read_timeout``,
            ``backoff_base``, ``backoff_cap``, ``reset_after``,
            ``max_retries``, ``max_event_size``, ``ssl_context``,
            ``user_agent``), each with its default there. A ``pool`` is an
            ``httpcore.AsyncConnectionPool``: it runs on the library's
            event-loop thread.

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an argument is invalid (checked before any I/O).
    """
    if token is not None:
        token = _portal.sync_token(token)
    astream = _async_open_event_stream(
        url,
        headers=headers,
        token=token,
        last_event_id=last_event_id,
        method=method,
        body=body,
        json=json,
        **options,
    )
    return EventStream(astream)


Client.__module__ = "expys_stream.sync"
open_message_stream.__module__ = "expys_stream.sync"
open_event_stream.__module__ = "expys_stream.sync"
