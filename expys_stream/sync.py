"""A blocking API for synchronous programs, on the same engine as the async one.

For Django or Flask views, scripts, notebooks and worker processes:

    from expys_stream.sync import open_message_stream

    with open_message_stream("cnv_123", token=token) as stream:
        for message in stream:
            print(message.author_id, message.body)

[`Client`][expys_stream.sync.Client],
[`open_message_stream`][expys_stream.sync.open_message_stream] and
[`open_event_stream`][expys_stream.sync.open_event_stream] take the same
arguments (the options of [`ClientOptions`][expys_stream.ClientOptions] and
[`EventStreamOptions`][expys_stream.EventStreamOptions] included), raise the
same errors (from ``expys_stream``) and return the same
[`Message`][expys_stream.Message] and
[`ServerSentEvent`][expys_stream.ServerSentEvent] values as their async
twins; only ``with``/``for`` replace ``async with``/``async for`` and
``close()`` replaces ``aclose()``. Reconnect, resume and the status policy
are the async client's own: it runs on one event-loop thread per process,
started on first use and stopped when the last client or stream closes.
Calling this module from a thread that runs an event loop raises
``RuntimeError``. How it works, and its limits: docs/sync.md.
"""

from __future__ import annotations

from ._sync_client import Client, open_event_stream, open_message_stream
from ._sync_streams import EventStream, MessageStream

__all__ = ["Client", "EventStream", "MessageStream", "open_event_stream", "open_message_stream"]
