"""One connection of a stream: the request, the response's check, the reads.

The reader (``_reader.py``) calls :meth:`_Connection._attempt` once per
attempt. :meth:`_Connection._pump` is the hot loop: one socket read, one
decoder feed, one hop to the consumer.
"""

from __future__ import annotations

import logging

import anyio

from ._backoff import MAX_RETRY_AFTER, parse_retry_after
from ._channel import Channel
from ._errors import NotAnEventStream, NotFoundError, ProtocolError, Secrets
from ._headers import TokenSource, bearer, resolve_token, resume_value
from ._http._chunked import FramingError
from ._http._http11 import StreamBody, open_body
from ._stream_parts import StreamOptions, _is_event_stream, _Item, _NewConnection, _Retry
from ._transport import Response, Transport, _redact, status_error
from .sse import EventTooLarge, SSEDecoder

__all__: list[str] = []

logger = logging.getLogger("expys_stream")


class _Connection:
    """The attempt's code, and the slots of every stream (``_StreamCore``)."""

    # Slotted: a process may hold thousands of idle streams (docs/performance.md).
    __slots__ = (
        "__weakref__",
        "_bulk_body",
        "_channel",
        "_filter_replays",
        "_headers",
        "_not_found",
        "_options",
        "_owns_transport",
        "_prelude",
        "_reader_scope",
        "_reconnects",
        "_resume_id",
        "_retry_floor",
        "_secrets",
        "_shut",
        "_state",
        "_stopped",
        "_task_group",
        "_token",
        "_transport",
        "_url",
    )

    _url: str
    _transport: Transport
    _headers: dict[str, str] | None
    _token: TokenSource | None
    _options: StreamOptions
    _not_found: type[NotFoundError]
    _bulk_body: bool
    _secrets: Secrets
    _resume_id: str
    _retry_floor: float
    _filter_replays: bool

    @property
    def _url_for_log(self) -> str:
        return _redact(self._url)

    async def _attempt(
        self, send: Channel[_Item], scope: anyio.CancelScope, connected_at: list[float]
    ) -> bool:
        """One connection; True when the server asked us to stop (204)."""
        headers, origin_only = await self._request_headers()
        # The credential sent, to blank it out of anything we emit.
        secret = bearer(origin_only)
        if secret:
            self._secrets = self._secrets.with_tokens(secret)
        response = await self._transport.open(
            "GET",
            self._url,
            headers,
            origin_only=origin_only,
            read_timeout=self._options.read_timeout,
        )
        del headers, origin_only  # (not kept alive by this frame while the stream is idle)
        try:
            await self._check(response, secret)
            if response.status == 204:
                return True
            connected_at.append(anyio.current_time())
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

    async def _check(self, response: Response, secret: str | None) -> None:
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
        self, response: Response, send: Channel[_Item], scope: anyio.CancelScope
    ) -> None:
        # The hot loop: one socket read, one decoder feed, one channel hop.
        body = open_body(response, self._options.read_timeout, scope, bulk=self._bulk_body)
        decoder = SSEDecoder(self._options.max_event_size, last_event_id=self._resume_id)
        feed = decoder.feed
        read = body.read
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
                    try:
                        events = feed(payload)
                    except EventTooLarge as exc:
                        if exc.events:
                            await send.put(_NewConnection(exc.events) if first else exc.events)
                            exc.events = []  # delivered: the error does not keep them
                        raise
                    if events:
                        if first:
                            events = _NewConnection(events)
                            first = False
                        await send.put(events)
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
                self._retry_floor = min(decoder.retry / 1000.0, MAX_RETRY_AFTER)
