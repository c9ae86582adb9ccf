"""Serving one connection: routes, credentials, the three endpoints.

A connection's task reads requests with h11 and answers them one after
another (persistent HTTP/1.1 connections). A ``/stream`` request turns its
connection into a stream until the stream ends; the connection is then
closed.

Order of checks for a request: the path (404 ``not_found``), the method
(405 with ``Allow``), reply faults, the credentials (401), the conversation
(404), the membership (403), then the endpoint's own validation (400).
Anything a handler raises is logged and answered with a 500 JSON error (or,
once a stream has started, by closing the connection): never a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import anyio
import anyio.abc
import h11

from ._faults import CannedReply, Endpoint, Faults
from ._http import BodyTooLarge, HttpConnection, Request
from ._hub import Hub
from ._routes import (
    METHODS,
    BadRequest,
    Route,
    bearer_token,
    idempotency_key,
    match_route,
    parse_list_query,
    parse_send_body,
)
from ._store import Conversation, Store
from ._stream import Dropped, Subscriber, run_stream
from ._wire import error_body, message_json, page_body

__all__ = ["RecordedRequest", "Responder", "Service"]

logger = logging.getLogger("expys_stream.testing")

# What the transport raises once the client has gone away.
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)
_JSON = [("content-type", "application/json")]
_INTERNAL_ERROR = 0x2  # HTTP/2's RST_STREAM code for a reset fault
_STREAM_HEADERS = [
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the server received it; see ``ConciergeServer.requests``.

    Attributes:
        method: e.g. ``"GET"``.
        path: the path as sent, still percent-encoded.
        query: the query string as sent, without ``?`` (``""`` if none).
        headers: lowercase field names to values; a repeated field's
            values are joined with ``", "``.
        body: the request body.
        http_version: ``"HTTP/1.1"`` or ``"HTTP/2"`` (then the headers
            hold no pseudo-headers, and ``host`` is ``:authority``).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    http_version: str = "HTTP/1.1"


RecordedRequest.__module__ = "expys_stream.testing"


class Responder(Protocol):
    """What the service needs of the connection (HTTP/1.1) or stream (HTTP/2) it answers on."""

    @property
    def can_respond(self) -> bool: ...

    async def send_response(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        *,
        head: bool = False,
        close: bool = False,
    ) -> None: ...

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None: ...

    async def send_chunk(self, data: bytes) -> None: ...

    async def end_stream(self) -> None: ...

    def reset_on_close(self, error_code: int = ...) -> None: ...

    def peer_closed(self) -> bool: ...

    async def wait_peer_gone(self) -> None: ...


class Service:
    """The request handling of one concierge; its state is shared with the server."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        hub: Hub,
        *,
        keepalive: float,
        retry_ms: int,
        max_queued: int,
        prefix: str,
    ) -> None:
        self._store = store
        self._faults = faults
        self._hub = hub
        self._keepalive = keepalive
        self._retry_ms = retry_ms
        self._max_queued = max_queued
        self._prefix = prefix
        self.requests: list[RecordedRequest] = []

    async def serve_connection(
        self, stream: anyio.abc.ByteStream, *, initial: bytes = b"", tls: bool = False
    ) -> None:
        """Answer the requests of one accepted connection until it is done, then close it.

        ``initial``: bytes already read from it (looking for the HTTP/2 preface).
        """
        http = HttpConnection(stream)
        if initial:  # (h11 takes b"" for the end of the stream)
            http.h11.receive_data(initial)
        record = self._hub.open_connection("http/1.1", tls=tls)
        try:
            while True:
                try:
                    request = await http.next_request()
                except h11.RemoteProtocolError as exc:
                    await self._reject(http, exc.error_status_hint, "malformed HTTP request")
                    return
                except BodyTooLarge:
                    await self._reject(http, 413, "the request body is too large")
                    return
                if request is None:
                    return
                record.streams_total += 1
                record.streams_open += 1
                try:
                    going_on = await self.serve_request(http, request)
                finally:
                    record.streams_open -= 1
                if not going_on or not http.next_cycle():
                    return
        except _GONE:
            pass  # the client went away
        finally:
            self._hub.close_connection(record)
            await http.aclose()

    async def serve_request(
        self, http: Responder, request: Request, *, http_version: str = "HTTP/1.1"
    ) -> bool:
        """Record and answer one request; whether its connection may serve another.

        The seam between the protocols and the service: HTTP/1.1 calls it
        per request of a connection, HTTP/2 per stream.
        """
        self._record(request, http_version)
        return await self._respond(http, request)

    def _record(self, request: Request, http_version: str) -> None:
        headers: dict[str, str] = {}
        for name in dict.fromkeys(name for name, _ in request.headers):
            value = request.header(name)
            assert value is not None
            headers[name] = value
        self.requests.append(
            RecordedRequest(
                request.method, request.path, request.query, headers, request.body, http_version
            )
        )
        logger.debug("concierge: %s %s", request.method, request.target)

    async def _reject(self, http: Responder, status: int, message: str) -> None:
        if http.can_respond:
            await _send_error(http, status, message, close=True)

    async def _respond(self, http: Responder, request: Request) -> bool:
        """Answer one request; whether the connection may serve another."""
        try:
            return await self._route(http, request)
        except _GONE:
            raise
        except Exception:
            logger.exception("concierge: error answering %s %s", request.method, request.path)
            if http.can_respond:
                await _send_error(http, 500, "internal server error", close=True)
            return False

    async def _route(self, http: Responder, request: Request) -> bool:
        route = match_route(request.path, self._prefix)
        if route is None:
            await _send_error(http, 404, "no such path")
            return True
        allowed = METHODS[route.resource]
        if request.method not in allowed:
            allow = [("allow", ", ".join(allowed))]
            await _send_error(http, 405, f"{request.method} is not allowed here", headers=allow)
            return True
        head = request.method == "HEAD"
        endpoint: Endpoint = "stream" if route.resource == "stream" else "list"
        if request.method == "POST":
            endpoint = "send"
        reply = self._faults._take_reply(endpoint, route.conversation_id)
        if reply is not None:
            return await _send_canned(http, reply, head=head)
        checked = await self._authorize(http, request, route, head=head)
        if checked is None:
            return True
        user_id, conversation = checked
        if endpoint == "list":
            await self._list(http, request, conversation, head=head)
            return True
        if endpoint == "send":
            await self._send(http, request, conversation, user_id)
            return True
        if head:
            await http.start_stream(200, _STREAM_HEADERS)
            await http.end_stream()
            return True
        await self._stream(http, request, conversation)
        return False

    async def _authorize(
        self, http: Responder, request: Request, route: Route, *, head: bool
    ) -> tuple[str, Conversation] | None:
        """The user and conversation, or None once an error has been answered."""
        try:
            token = bearer_token(
                request.header("authorization"), request.header_count("authorization")
            )
        except BadRequest as exc:
            await _send_error(http, 401, str(exc), headers=_challenge(token_given=False), head=head)
            return None
        user_id = self._store.authenticate(token)
        if user_id is None:
            message = "the token is invalid or has expired"
            await _send_error(http, 401, message, headers=_challenge(token_given=True), head=head)
            return None
        conversation = self._store.find(route.conversation_id)
        if conversation is None:
            await _send_error(http, 404, "no such conversation", head=head)
            return None
        if user_id not in conversation.members:
            await _send_error(http, 403, "not a member of this conversation", head=head)
            return None
        return user_id, conversation

    # -- endpoints ---------------------------------------------------------------------

    async def _list(
        self, http: Responder, request: Request, conversation: Conversation, *, head: bool
    ) -> None:
        try:
            query = parse_list_query(request.query)
        except BadRequest as exc:
            await _send_error(http, 400, str(exc), head=head)
            return
        if query.before is not None and query.before not in conversation.index:
            message = "before is not a message of this conversation"
            await _send_error(http, 400, message, head=head)
            return
        page, has_more = self._store.page(conversation.id, query.limit, query.before)
        body = page_body([stored.message for stored in page], has_more)
        await http.send_response(200, _JSON, body, head=head)

    async def _send(
        self, http: Responder, request: Request, conversation: Conversation, user_id: str
    ) -> None:
        try:
            key = idempotency_key(
                request.header("idempotency-key"), request.header_count("idempotency-key")
            )
            text = parse_send_body(request.body)
        except BadRequest as exc:
            await _send_error(http, 400, str(exc))
            return
        if key is not None:
            first = self._store.remembered(user_id, conversation.id, key)
            if first is not None:
                await http.send_response(200, _JSON, message_json(first.message))
                return
        stored = self._store.append(conversation.id, user_id, text)
        if key is not None:
            self._store.remember(user_id, conversation.id, key, stored)
        self._hub.fan_out(conversation.id, stored.seq, stored.event)
        await http.send_response(201, _JSON, message_json(stored.message))

    async def _stream(self, http: Responder, request: Request, conversation: Conversation) -> None:
        subscriber = Subscriber(conversation.id, self._max_queued)
        subscriber.peer_closed = http.peer_closed
        # Subscribe, snapshot the replay and set the floor with no await in
        # between: nothing published can fall between replay and live.
        self._hub.subscribe(subscriber)
        try:
            last_id = request.header("last-event-id")
            replay = [] if last_id is None else self._store.after(conversation.id, last_id) or []
            subscriber.floor = conversation.latest_seq
            plan = self._faults._take_stream_plan(conversation.id)
            with subscriber.scope:
                await http.start_stream(200, _STREAM_HEADERS)
                async with anyio.create_task_group() as task_group:
                    task_group.start_soon(_watch_peer, http, subscriber)
                    try:
                        await run_stream(
                            http,
                            subscriber,
                            plan=plan,
                            replay=replay,
                            retry_ms=self._retry_ms,
                            keepalive=self._keepalive,
                        )
                        await http.end_stream()
                    except Dropped as drop:
                        subscriber.ended_by = "dropped by a fault"
                        if drop.reset:
                            code = _INTERNAL_ERROR if plan.reset_code is None else plan.reset_code
                            http.reset_on_close(code)
                    except _GONE:
                        subscriber.ended_by = "client gone"
                    finally:
                        task_group.cancel_scope.cancel()
            if subscriber.reset:
                http.reset_on_close(_INTERNAL_ERROR)
        finally:
            self._hub.unsubscribe(subscriber)
            subscriber.close()
            reason = subscriber.ended_by or "server closing"
            level = logging.WARNING if reason == "overflow" else logging.DEBUG
            logger.log(level, "concierge: stream of %r ended (%s)", conversation.id, reason)


async def _watch_peer(http: Responder, subscriber: Subscriber) -> None:
    """End the stream as soon as the client closes its side (HTTP/2: resets the stream)."""
    await http.wait_peer_gone()
    subscriber.abort("client closed")


def _challenge(*, token_given: bool) -> list[tuple[str, str]]:
    # RFC 9110 section 11.6.1: a 401 carries a challenge; RFC 6750 section 3.
    if token_given:
        return [("www-authenticate", 'Bearer realm="concierge", error="invalid_token"')]
    return [("www-authenticate", 'Bearer realm="concierge"')]


async def _send_error(
    http: Responder,
    status: int,
    message: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    head: bool = False,
    close: bool = False,
) -> None:
    body = error_body(status, message)
    await http.send_response(status, [*_JSON, *(headers or [])], body, head=head, close=close)


async def _send_canned(http: Responder, reply: CannedReply, *, head: bool) -> bool:
    if reply.crash:
        raise RuntimeError("injected handler error (faults.internal_error)")
    await http.send_response(reply.status, reply.headers, reply.body, head=head)
    return True
