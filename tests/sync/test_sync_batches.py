"""One hop per batch: what a batch carries, and how far the pump runs ahead."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sync_support import CONVERSATION, take, wait_until

from expys_stream import MessageDecodeError
from expys_stream.sse import encode_event
from expys_stream.sync import open_message_stream
from expys_stream.testing import ConciergeThread


def message_event(number: int, body: str) -> bytes:
    data = {
        "id": f"msg_raw{number}",
        "conversationID": CONVERSATION,
        "authorID": "usr_bob",
        "body": body,
        "createdAt": "2026-11-27T10:15:02.123Z",
    }
    return encode_event(json.dumps(data), event="message", id=f"msg_raw{number}")


def one_write(*events: bytes) -> bytes:
    # Written at once: the stream reads it in one socket read, one batch.
    return b"".join(events)


@pytest.mark.parametrize("on_invalid", ["raise", "skip"])
def test_an_invalid_message_inside_a_batch_keeps_its_place(
    server: ConciergeThread, token: str, fast: dict[str, Any], on_invalid: Any
) -> None:
    data = one_write(
        message_event(1, "before"),
        encode_event('{"id": "msg_bad"}', event="message", id="msg_bad"),
        encode_event("typing", event="typing"),
        message_event(2, "after"),
    )
    with open_message_stream(CONVERSATION, token=token, on_invalid=on_invalid, **fast) as stream:
        server.wait_for_streams(1)
        server.send_raw(CONVERSATION, data)
        assert next(stream).body == "before"
        assert stream.last_event_id == "msg_raw1"
        if on_invalid == "raise":
            with pytest.raises(MessageDecodeError) as raised:
                next(stream)
            assert raised.value.event_id == "msg_bad"
        after = next(stream)
        assert after.body == "after"
        assert stream.last_event_id == "msg_raw2"


def test_a_reader_that_stops_reading_stops_the_pump_and_the_socket(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    count = 3000
    with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        server.wait_for_streams(1)
        sent = [server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(count)]
        channel = stream._astream._channel
        # Nobody iterates: the pump has put one batch in the hand-off and
        # waits for a credit; the async stream's channel is full and its
        # reader waits on it (so it does not read the socket).
        wait_until(lambda: stream._handoff.qsize() == 1 and stream._wake is not None)
        wait_until(lambda: channel.statistics().tasks_waiting_send == 1)
        stats = channel.statistics()
        assert stats.current_buffer_used == stats.max_buffer_size
        assert stream._credits == 0
        got = take(stream, count)
        assert [m.id for m in got] == [m.id for m in sent]


def test_a_socket_read_of_messages_crosses_threads_in_one_hop(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    data = one_write(*(message_event(i, f"m{i}") for i in range(5)))
    with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        server.wait_for_streams(1)
        server.send_raw(CONVERSATION, data)
        assert next(stream).body == "m0"
        # The other four came with it: handed out without another hop.
        assert [m.body for m in stream._items] == [f"m{i}" for i in range(5)]
        assert [m.body for m in take(stream, 4)] == ["m1", "m2", "m3", "m4"]
        assert [stream.last_event_id] == ["msg_raw4"]
