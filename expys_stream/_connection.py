"""One connection of a stream: the request, the response's check, the reads.

The reader (``_reader.py``) calls :meth:`_Connection._attempt` once per
attempt. :meth:`_Connection._pump` is the hot loop: one socket read, one
decoder feed, one hop to the consumer.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from ._backoff import MAX_RETRY_AFTER, parse_retry_after
from ._channel import Channel
from ._errors import NotAnEventStream, NotFoundError, ProtocolError, Secrets
from ._headers import TokenSource, bearer, resolve_token, resume_value
from ._http._chunked import FramingError
from ._http._http11 import StreamBody
from ._lifecycle import Lifecycle
from ._request_body import StreamRequest
from ._stream_parts import StreamOptions, _is_event_stream, _Item, _NewConnection, _Retry
from ._transport import Exchange, Transport, _redact, status_error
from .sse import EventTooLarge, ServerSentEvent, SSEDecoder

__all__: list[str] = []

logger = logging.getLogger("expys_stream")


class _Connection:
    """The attempt's code, and the slots of every stream (``_StreamCore``)."""

    # Slotted: a process may hold thousands of idle streams (docs/performance.md).
    __slots__ = (
        "__weakref__",
        "_bulk_body",
        "_channel",
        "_comments",
        "_filter_replays",
        "_headers",
        "_held",
        "_lifecycle",
        "_not_found",
        "_options",
        "_owns_transport",
        "_prelude",
        "_reader_scope",
        "_request",
        "_restart",
        "_resume_id",
        "_retry_field",
        "_secrets",
        "_shut",
        "_state",
        "_stopped",
        "_task",
        "_token",
        "_transport",
        "_url",
    )

    _url: str
    _request: StreamRequest
    _transport: Transport
    _headers: dict[str, str] | None
    _token: TokenSource | None
    _options: StreamOptions
    _not_found: type[NotFoundError]
    _bulk_body: bool
    _secrets: Secrets
    _resume_id: str
    _retry_field: float | None
    _filter_replays: bool
    _lifecycle: Lifecycle
    _comments: bool
    # A batch the reader was cancelled while handing over (by restart()):
    # the reader hands it over before the next attempt, so none is lost.
    _held: list[Any] | None

    @property
    def _url_for_log(self) -> str:
        return _redact(self._url)

    async def _attempt(self, send: Channel[_Item], scope: anyio.CancelScope, number: int) -> bool:
        """Attempt ``number`` (1, 2, ... in a row); True when the server
        asked us to stop (204)."""
        headers, origin_only = await self._request_headers()
        # The credential sent, to blank it out of anything we emit.
        secret = bearer(origin_only)
        if secret:
            self._secrets = self._secrets.with_tokens(secret)
        lifecycle = self._lifecycle
        request = self._request
        lifecycle.begin(number, request.method, self._url)
        response = await self._transport.open(
            request.method,
            self._url,
            headers,
            origin_only=origin_only,
            body=request.body,
            content_type=request.content_type,
            read_timeout=self._options.read_timeout,
        )
        del headers, origin_only  # (not kept alive by this frame while the stream is idle)
        try:
            await self._check(response, secret)
            if response.status == 204:
                return True
            lifecycle.connected(response.status, response.headers, self._resume_id)
            if lifecycle.outbox is not None:  # lifecycle items asked for
                await send.put(lifecycle.drain())
            self._secrets.log(
                logger,
                logging.INFO,
                "connected to %s (resume after %r)",
                self._url_for_log,
                self._resume_id or None,
            )
            await self._pump(response, send, scope)
            return False
        finally:
            await response.aclose()

    async def _request_headers(self) -> tuple[dict[str, str], dict[str, str]]:
        # The protocol headers (sent on every redirect hop) and the
        # caller's with the token (sent to the first URL's origin only; a
        # name there replaces ours in any case). Built in a function of its
        # own so that the reader's suspended frame does not keep the dicts
        # alive for the life of the connection.
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        origin_only = dict(self._headers) if self._headers else {}
        if self._token is not None:
            origin_only["Authorization"] = "Bearer " + await resolve_token(self._token)
        if self._resume_id:
            value = resume_value(self._resume_id)
            if value is None:
                # No resume is possible: an error, not a stream that
                # silently starts over.
                raise ProtocolError(
                    f"the stream's last event ID {self._resume_id!r} "
                    "cannot be sent back in Last-Event-ID"
                )
            headers["Last-Event-ID"] = value
        return headers, origin_only

    async def _check(self, response: Exchange, secret: str | None) -> None:
        status = response.status
        if status == 204:
            return
        if status != 200:
            body = self._secrets.data(await response.read_bounded())
            error = status_error(
                status, body, response.url, not_found=self._not_found, secret=secret
            )
            if status in (408, 429) or status >= 500:
                raise _Retry(error, parse_retry_after(response.header(b"retry-after")))
            raise error
        if not _is_event_stream(response.content_type):
            # (Blanked before the error cuts it: no part of a secret at the cut.)
            raise NotAnEventStream(self._secrets.text(response.content_type))

    async def _pump(
        self, response: Exchange, send: Channel[_Item], scope: anyio.CancelScope
    ) -> None:
        # The hot loop: one socket read, one decoder feed, one channel hop.
        body = response.open_body(self._options.read_timeout, scope, bulk=self._bulk_body)
        comments = self._comments
        decoder = SSEDecoder(
            self._options.max_event_size, last_event_id=self._resume_id, comments=comments
        )
        feed = decoder.feed
        read = body.read
        lifecycle = self._lifecycle
        stats = lifecycle.stats
        clock = lifecycle.clock
        on_items = lifecycle.on_items  # None unless an observer wants batches
        first = self._filter_replays  # the next batch is the connection's first
        broken: ProtocolError | None = None
        try:
            while True:
                try:
                    payload = await read()
                except ProtocolError as exc:
                    # Broken HTTP framing: worth a new connection, once the
                    # payload that came intact before it is delivered (not
                    # for a gzip or deflate body: that payload is still coded).
                    broken = exc
                    payload = exc.take_payload() if isinstance(exc, FramingError) else b""
                    if type(body) is not StreamBody:
                        payload = b""
                if payload:
                    stats.bytes += len(payload)
                    stats.last_byte_at = clock()
                    try:
                        events: list[Any] = feed(payload)
                    except EventTooLarge as exc:
                        items: list[Any] = exc.items
                        if items:
                            stats.events += len(exc.events)
                            await send.put(_NewConnection(items) if first else items)
                            exc.events = []  # delivered: the error keeps none
                            exc.items = []
                        raise
                    if events:
                        stats.events += _count_events(events) if comments else len(events)
                        if on_items is not None:
                            on_items(events)
                        if first:
                            events = _NewConnection(events)
                            first = False
                        try:
                            await send.put(events)
                        except BaseException:
                            self._held = events  # (restart() cancelled the hand-over)
                            raise
                    if broken is None:
                        continue
                if broken is not None:
                    raise _Retry(broken)
                break
        finally:
            await body.aclose()
            self._resume_id = decoder.last_event_id
            if decoder.retry is not None:
                # Capped like Retry-After: a server asking for years is broken.
                self._retry_field = min(decoder.retry / 1000.0, MAX_RETRY_AFTER)


def _count_events(items: list[Any]) -> int:
    # With comments on, a batch holds comments too; stats count events only.
    return sum(1 for item in items if type(item) is ServerSentEvent)
