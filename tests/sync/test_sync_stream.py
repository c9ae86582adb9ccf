"""The sync streams deliver what the async ones do: in order, once, across drops."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sync_support import CONVERSATION, Baseline, take, wait_until

from expys_stream import Message, MessageDecodeError, ServerSentEvent, StreamClosed
from expys_stream.sync import Client, open_event_stream, open_message_stream
from expys_stream.testing import ConciergeThread


def publish(server: ConciergeThread, count: int, start: int = 0) -> list[Message]:
    return [server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(start, start + count)]


def test_live_messages_arrive_in_order_with_their_ids(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        assert stream.last_event_id is None
        server.wait_for_streams(1)
        sent = publish(server, 5)
        got = take(stream, 5)
        assert got == sent
        assert stream.last_event_id == sent[-1].id
        assert stream.reconnects == 0
    baseline.check()


def test_last_event_id_follows_each_message_within_a_batch(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    # 50 messages published before the stream resumes: they arrive in a
    # few large batches, and the id must still be that of the message just
    # returned, not of the batch's last.
    sent = publish(server, 50)
    with open_message_stream(CONVERSATION, token=token, last_event_id=sent[0].id, **fast) as stream:
        for expected in sent[1:]:
            message = next(stream)
            assert message == expected
            assert stream.last_event_id == expected.id


def test_history_then_live_without_gap(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    old = publish(server, 4)
    with open_message_stream(CONVERSATION, token=token, history=3, **fast) as stream:
        assert take(stream, 3) == old[1:]
        assert stream.last_event_id == old[-1].id
        server.wait_for_streams(1)
        new = publish(server, 2, start=4)
        assert take(stream, 2) == new
        assert stream.last_event_id == new[-1].id


@pytest.mark.parametrize(
    "arm",
    [
        lambda faults: faults.drop_after_events(3),
        lambda faults: faults.drop_at_byte(700),
        lambda faults: faults.drop_after_events(2, reset=True),
    ],
    ids=["after-3-events", "mid-event", "reset"],
)
def test_exactly_once_across_a_dropped_connection(
    server: ConciergeThread, token: str, fast: dict[str, Any], arm: Any
) -> None:
    arm(server.faults)
    sent = publish(server, 4)
    with open_message_stream(CONVERSATION, token=token, last_event_id=sent[0].id, **fast) as stream:
        # The first connection replays from sent[0] and dies part way.
        assert take(stream, 3) == sent[1:]
        wait_until(lambda: server.stream_count(CONVERSATION) == 1)
        more = publish(server, 6, start=4)
        assert take(stream, 6) == more
        assert stream.reconnects >= 1
    assert [m.id for m in sent[1:] + more] == [m.id for m in server.messages(CONVERSATION)[1:]]


def test_a_drop_of_live_streams_is_resumed_without_duplicates(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        server.wait_for_streams(1)
        first = publish(server, 3)
        assert take(stream, 3) == first
        server.drop_streams()
        second = publish(server, 3, start=3)  # stored while no stream is open
        assert take(stream, 3) == second
        server.wait_for_streams(1)
        third = publish(server, 2, start=6)
        assert take(stream, 2) == third
        assert stream.reconnects == 1


def test_an_invalid_message_raises_at_its_place(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    sent = publish(server, 2)
    server.faults.invalid_message('{"id": "msg_x"}')  # sent first, before the replay
    with open_message_stream(CONVERSATION, token=token, last_event_id="msg_none", **fast) as stream:
        with pytest.raises(MessageDecodeError):
            next(stream)
        server.wait_for_streams(1)
        later = publish(server, 1, start=2)
        assert take(stream, 1) == later
    assert sent


def test_on_invalid_skip_drops_only_the_invalid_message(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    sent = publish(server, 3)
    server.faults.invalid_message('{"id": "msg_x"}')
    with open_message_stream(
        CONVERSATION, token=token, last_event_id=sent[0].id, on_invalid="skip", **fast
    ) as stream:
        assert take(stream, 2) == sent[1:]


def test_client_streams_share_the_client(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    with Client(token=token, **fast) as client:
        assert client.base_url == server.base_url
        sent = client.send_message(CONVERSATION, "hello", idempotency_key="k1")
        again = client.send_message(CONVERSATION, "hello", idempotency_key="k1")
        assert again == sent
        assert client.list_messages(CONVERSATION, limit=5).messages == [sent]
        with client.open_message_stream(CONVERSATION, history=1) as stream:
            assert next(stream) == sent
        with client.open_message_stream(CONVERSATION, last_event_id=sent.id) as stream:
            server.wait_for_streams(1)
            newer = publish(server, 2)
            assert take(stream, 2) == newer
    baseline.check()


def test_closing_the_client_ends_its_open_stream(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    client = Client(token=token, **fast)
    with client.open_message_stream(CONVERSATION) as stream:
        server.wait_for_streams(1)
        sent = publish(server, 1)
        assert take(stream, 1) == sent
        client.close()
        with pytest.raises(StreamClosed, match="client was closed"):
            next(stream)
    with pytest.raises(StreamClosed):
        client.list_messages(CONVERSATION)
    with pytest.raises(StreamClosed):
        client.open_message_stream(CONVERSATION)
    client.close()  # idempotent
    baseline.check()


def test_a_stream_is_used_only_inside_its_block(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    stream = open_message_stream(CONVERSATION, token=token, **fast)
    with pytest.raises(StreamClosed, match="inside `with`"):
        next(stream)
    with stream:
        pass
    with pytest.raises(StreamClosed, match="inside `with`"):
        next(stream)
    with pytest.raises(StreamClosed, match="only once"), stream:
        pass


def test_close_from_another_thread_ends_the_iteration(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        server.wait_for_streams(1)
        closer = threading.Thread(target=lambda: (wait_until(waiting), stream.close()))

        def waiting() -> bool:
            # The iterating thread is parked on the loop: its take task waits.
            return stream._astream._channel.statistics().tasks_waiting_receive == 1

        closer.start()
        assert list(stream) == []  # ends (StopIteration), no error
        closer.join()
        assert list(stream) == []  # stays ended after close()
    with pytest.raises(StreamClosed):
        next(stream)
    baseline.check()


def test_event_stream_delivers_every_event_type(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    options = {k: v for k, v in fast.items() if k != "base_url"}
    with open_event_stream(url, token=token, **options) as stream:
        server.wait_for_streams(1)
        server.publish_event(CONVERSATION, "typing", '{"userID": "usr_bob"}', id="t1")
        sent = server.publish(CONVERSATION, "usr_bob", "hi")
        events = take(stream, 2)
        assert all(isinstance(e, ServerSentEvent) for e in events)
        assert [(e.event, e.id) for e in events] == [("typing", "t1"), ("message", sent.id)]
        assert stream.last_event_id == sent.id
    baseline.check()


def test_many_open_and_break_cycles_leave_nothing_behind(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    sent = publish(server, 2)
    for _ in range(30):
        with open_message_stream(CONVERSATION, token=token, history=2, **fast) as stream:
            assert take(stream, 1) == sent[:1]
        baseline.check()
