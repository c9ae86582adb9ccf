"""Messages on top of the generic SSE client: decode, skip, deduplicate.

A :class:`MessageStream` is an event stream whose consumer side turns each
``message`` event into a :class:`Message` with msgspec (straight from the
event's bytes), skips every other event type, and skips a replayed message
that was already delivered. Decoding happens as the user asks for the next
message, so an invalid message raises at its place in the stream, after
every message before it.

Replays are recognised by the message's own ``id`` (from its JSON), which
the decode yields anyway, not by the SSE ``id`` field: a server whose SSE id
is malformed (one holding NUL is ignored, so the event keeps the previous
id) must not cause a duplicate. The consumer remembers the ids of the last
:data:`REPLAY_WINDOW` messages it delivered (one ``deque.append`` per
message) and, on each connection's first batch, skips the leading run of
messages it already delivered.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal, Unpack

import anyio
import msgspec

from ._errors import MessageDecodeError
from ._models import Message, message_decoder
from ._stream_core import _StreamCore
from ._stream_parts import (
    REPLAY_WINDOW,
    StreamArgs,
    StreamItem,
    _Failure,
    _NewConnection,
    _Prelude,
)

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
        state: where the connection is (a [`StreamState`][expys_stream.StreamState]).
        stats: its counters (a [`StreamStats`][expys_stream.StreamStats]).

    With ``on_event``, the items that are not messages (events of another
    type, such as ``typing``; comments; the connection's events such as
    [`Retrying`][expys_stream.Retrying]) are passed to it, in stream order,
    from inside the ``async for``; the iterator still yields messages only.
    """

    __slots__ = (
        "_batch",
        "_index",
        "_is_history",
        "_last",
        "_on_event",
        "_recent",
        "_seen",
        "_skip_invalid",
    )

    def __init__(
        self,
        url: str,
        *,
        on_invalid: Literal["raise", "skip"] = "raise",
        on_event: Callable[[StreamItem], object] | None = None,
        **kwargs: Unpack[StreamArgs],
    ) -> None:
        if on_invalid not in ("raise", "skip"):
            raise ValueError("on_invalid must be 'raise' or 'skip'")
        if on_event is not None and not callable(on_event):
            raise TypeError("on_event must be a callable or None")
        if on_event is not None:  # it gets the connection's events too, and comments
            kwargs["queue_lifecycle"] = True
            kwargs["comments"] = True
        super().__init__(url, **kwargs)
        self._on_event = on_event
        self._filter_replays = True  # the reader marks each connection's first batch
        self._skip_invalid = on_invalid == "skip"
        self._batch: Sequence[Any] = ()
        self._index = 0
        self._is_history = False
        self._last: Message | None = None  # the last message returned
        # The ids of the last messages returned (made with the first batch),
        # and, while a new connection's first messages are checked for
        # replays, the set of them.
        self._recent: deque[str] | None = None
        self._seen: set[str] | None = None

    @property
    def last_event_id(self) -> str | None:
        """The id of the last message returned to you, or None.

        The message's own ``id`` (from its JSON), whatever the SSE ``id``
        field of its event held.
        """
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
                            reason = str(exc)
                        else:
                            self._index = index
                            if self._seen is not None and self._replayed(message):
                                continue
                            self._recent.append(message.id)  # type: ignore[union-attr]
                            self._last = message
                            return message
                        # (Outside the except: msgspec's error, which may quote
                        # the data, does not ride along as the context.)
                        self._index = index
                        self._invalid(event, reason)  # raises, or logs and skips
                    elif self._on_event is not None:
                        # Another type, a comment or a connection event: at
                        # its place in the stream, between the messages.
                        self._index = index
                        self._on_event(event)
                self._index = index
            elif index < len(batch):
                self._index = index + 1
                message = self._last = batch[index]
                self._recent.append(message.id)  # type: ignore[union-attr]
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
            elif type(item) is _NewConnection:
                self._batch, self._index, self._is_history = item, 0, False
                self._begin_replay_check()
            elif isinstance(item, _Prelude):
                self._batch, self._index, self._is_history = item.items, 0, True
                self._begin_replay_check()
            elif isinstance(item, _Failure):
                raise item.error

    def _begin_replay_check(self) -> None:
        # Once per connection (and for the history): the ids delivered so
        # far, for the first messages to come to be checked against.
        recent = self._recent
        if recent is None:
            self._recent = deque(maxlen=REPLAY_WINDOW)
        else:
            self._seen = set(recent) or None

    def _replayed(self, message: Message) -> bool:
        # A message already delivered, repeated at the start of a connection;
        # the first one not delivered ends the check.
        assert self._seen is not None
        if message.id in self._seen:
            self._secrets.log(logger, logging.DEBUG, "skipping replayed message %r", message.id)
            return True
        self._seen = None
        return False

    async def _take_batch(self) -> tuple[list[Message], list[Any]]:
        # The sync client's hop (docs/sync.md): the next message, waiting as
        # __anext__ does, then the rest of its batch without waiting, with
        # what _last was after each (for last_event_id): the message itself.
        # Their ids are remembered as in __anext__ (its return ended any
        # replay check). An invalid message ends the list; the next call
        # raises (or skips) it at its place.
        messages = [await self.__anext__()]
        recent = self._recent
        assert recent is not None  # (made with the batch __anext__ took)
        batch, index = self._batch, self._index
        if self._is_history:
            rest = list(batch[index:])
            messages += rest
            recent.extend(message.id for message in rest)
            index = len(batch)
        else:
            while index < len(batch):
                event = batch[index]
                if event._event == "message":
                    try:
                        message: Message = _decode(event._data_bytes)
                    except _DECODE_ERRORS:
                        break
                    recent.append(message.id)
                    messages.append(message)
                index += 1
        self._index = index
        self._last = messages[-1]
        return messages, list(messages)

    def _invalid(self, event: Any, reason: str) -> None:
        # The server's text is blanked of our secrets before it is cut, so
        # that no part of one survives at the cut.
        secrets = self._secrets
        error = MessageDecodeError(
            secrets.text(reason)[:200],
            event_id=secrets.text(event.id),
            excerpt=secrets.text(event.data)[:_EXCERPT],
        )
        if not self._skip_invalid:
            raise secrets.error(error)
        secrets.log(logger, logging.WARNING, "skipping an invalid message event: %s", error)


def _id_of(last: Any) -> str | None:
    # last_event_id from the last event (or history Message) returned.
    if last is None:
        return None
    if isinstance(last, Message):
        return last.id
    return str(last.id) or None


MessageStream.__module__ = "expys_stream"
