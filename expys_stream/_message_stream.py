"""Messages on top of the generic SSE client: decode, skip, deduplicate.

A :class:`MessageStream` is an event stream whose consumer side turns each
``message`` event into a :class:`Message` with msgspec (straight from the
event's bytes), skips every other event type, and skips a replayed message
that was already delivered. Decoding happens as the user asks for the next
message, so an invalid message raises at its place in the stream, after
every message before it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal, Unpack

import anyio
import msgspec

from ._errors import MessageDecodeError
from ._event_stream import StreamArgs, _Failure, _Prelude, _StreamCore
from ._models import Message, message_decoder

__all__ = ["MessageStream"]

logger = logging.getLogger("expys_stream")

_EXCERPT = 200
_decode = message_decoder.decode
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class MessageStream(_StreamCore):
    """A live stream of a conversation's new messages, as [`Message`][expys_stream.Message].

    Get one from [`open_message_stream`][expys_stream.open_message_stream] or
    [`Client.open_message_stream`][expys_stream.Client.open_message_stream] and use it with ``async
    with``, then ``async for``. Every message arrives once, in order, across reconnects.

    Attributes:
        last_event_id: the id of the last message you received (None before
            the first); persist it and pass it as ``last_event_id`` later to
            resume exactly after it.
        reconnects: how many times the stream reconnected.
    """

    __slots__ = ("_batch", "_index", "_is_history", "_last", "_skip_invalid")

    def __init__(
        self,
        url: str,
        *,
        on_invalid: Literal["raise", "skip"] = "raise",
        **kwargs: Unpack[StreamArgs],
    ) -> None:
        if on_invalid not in ("raise", "skip"):
            raise ValueError("on_invalid must be 'raise' or 'skip'")
        super().__init__(url, **kwargs)
        self._filter_replays = True  # the reader skips replayed messages
        self._skip_invalid = on_invalid == "skip"
        self._batch: Sequence[Any] = ()
        self._index = 0
        self._is_history = False
        self._last: Any = None  # the last event (or history Message) returned

    @property
    def last_event_id(self) -> str | None:
        """The id of the last message returned to you, or None."""
        return _id_of(self._last)

    async def __aenter__(self) -> MessageStream:
        await super().__aenter__()
        return self

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> Message:
        # The hot path: the next message event of the current batch, decoded
        # by msgspec straight from its bytes. Replays were dropped by the
        # reader; other event types are skipped here.
        while True:
            batch = self._batch
            index = self._index
            if not self._is_history:
                count = len(batch)
                while index < count:
                    event = batch[index]
                    index += 1
                    if event._event == "message":
                        try:
                            message: Message = _decode(event._data_bytes)
                        except _DECODE_ERRORS as exc:
                            self._index = index
                            self._invalid(event, exc)  # raises, or logs and skips
                            continue
                        self._index = index
                        self._last = event
                        return message
                self._index = index
            elif index < len(batch):
                self._index = index + 1
                message = self._last = batch[index]
                return message
            # The batch is used up: an idle stream does not keep it alive.
            self._batch = ()
            channel = self._open_channel()
            try:
                item = await channel.take()
            except (anyio.EndOfStream, anyio.ClosedResourceError) as exc:
                raise self._ended(exc) from None
            if type(item) is list:
                self._batch, self._index, self._is_history = item, 0, False
            elif isinstance(item, _Prelude):
                self._batch, self._index, self._is_history = item.items, 0, True
            elif isinstance(item, _Failure):
                raise item.error

    async def _take_batch(self) -> tuple[list[Message], list[Any]]:
        # The sync client's hop (docs/sync.md): the next message, waiting as
        # __anext__ does, then the rest of its batch without waiting, with
        # what _last was after each (for last_event_id). An invalid message
        # ends the list; the next call raises (or skips) it at its place.
        messages = [await self.__anext__()]
        lasts = [self._last]
        batch, index = self._batch, self._index
        if self._is_history:
            messages += batch[index:]
            lasts += batch[index:]
            index = len(batch)
        else:
            while index < len(batch):
                event = batch[index]
                if event._event == "message":
                    try:
                        messages.append(_decode(event._data_bytes))
                    except _DECODE_ERRORS:
                        break
                    lasts.append(event)
                index += 1
        self._index = index
        self._last = lasts[-1]
        return messages, lasts

    def _invalid(self, event: Any, exc: BaseException) -> None:
        excerpt = event.data[:_EXCERPT]
        error = MessageDecodeError(str(exc)[:200], event_id=event.id, excerpt=excerpt)
        if not self._skip_invalid:
            raise error from None
        logger.warning("skipping an invalid message event: %s", error)


def _id_of(last: Any) -> str | None:
    # last_event_id from the last event (or history Message) returned.
    if last is None:
        return None
    if isinstance(last, Message):
        return last.id
    return str(last.id) or None


MessageStream.__module__ = "expys_stream"
