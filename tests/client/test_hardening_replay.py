"""Replays are recognised by the message's own id, whatever its SSE id says."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from client_support import Scripted, http_response, running

from expys_stream import Client, open_message_stream
from expys_stream.sync import open_message_stream as sync_open_message_stream

pytestmark = pytest.mark.anyio


def chat(n: int, *, sse_id: bytes | None = None) -> bytes:
    """Message ``msg_{n}`` as an event whose SSE id line is ``sse_id`` (default: the id)."""
    data = (
        f'{{"id":"msg_{n}","conversationID":"c","authorID":"u","body":"b{n}",'
        f'"createdAt":"2026-11-27T10:15:0{n}.000Z"}}'
    ).encode("ascii")
    if sse_id is None:
        sse_id = f"msg_{n}".encode("ascii")
    return b"id: " + sse_id + b"\nevent: message\ndata: " + data + b"\n\n"


def replaying(numbers: range) -> Callable[[bytes], bytes]:
    """A response that replays, with well-formed ids, every message after Last-Event-ID."""

    def respond(head: bytes) -> bytes:
        after = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"last-event-id:"):
                after = int(line.split(b"_")[-1])
        return http_response(200, b"retry: 1\n\n" + b"".join(chat(n) for n in numbers if n > after))

    return respond


async def read_ids(stream: Any, count: int) -> list[tuple[str, str | None]]:
    """The next ``count`` messages' ids, each with stream.last_event_id just after it."""
    got = []
    with anyio.fail_after(10):
        async for message in stream:
            got.append((message.id, stream.last_event_id))
            if len(got) == count:
                break
    return got


@pytest.mark.parametrize("bad_id", [b"msg_\x002", b"\x00", b"msg_2\x00"])
async def test_a_nul_sse_id_causes_no_duplicate_after_a_drop(bad_id: bytes) -> None:
    # Message 2's SSE id holds NUL, so the standard ignores it and the event
    # keeps message 1's id. After the drop the client resumes after msg_1,
    # and the server replays message 2 (with a good id) and message 3.
    first = b"retry: 1\n\n" + chat(1) + chat(2, sse_id=bad_id)
    server = Scripted([http_response(200, first), replaying(range(1, 4))])
    async with (
        running(server),
        open_message_stream("c", token="t", base_url=server.url, backoff_base=0.01) as stream,
    ):
        got = await read_ids(stream, 3)
    assert got == [("msg_1", "msg_1"), ("msg_2", "msg_2"), ("msg_3", "msg_3")]
    assert server.header(1, b"last-event-id") == b"msg_1"
    assert stream.reconnects == 1


async def test_last_event_id_is_the_messages_own_id() -> None:
    # Every SSE id is malformed: the user still sees each message's id.
    body = b"retry: 1\n\n" + chat(1, sse_id=b"x\x00") + chat(2, sse_id=b"y\x00")
    server = Scripted([http_response(200, body)])
    async with (
        running(server),
        open_message_stream("c", token="t", base_url=server.url, backoff_base=0.01) as stream,
    ):
        assert stream.last_event_id is None
        got = await read_ids(stream, 2)
    assert got == [("msg_1", "msg_1"), ("msg_2", "msg_2")]


async def test_a_replay_with_other_sse_ids_is_still_skipped() -> None:
    # The second connection starts over, and its SSE ids differ from the
    # first's (a proxy rewrote them, say): the JSON ids tell the replays.
    first = b"retry: 1\n\n" + chat(1, sse_id=b"a") + chat(2, sse_id=b"b")
    second = b"retry: 1\n\n" + b"".join(chat(n, sse_id=b"z%d" % n) for n in (1, 2, 3))
    server = Scripted([http_response(200, first), http_response(200, second), http_response(204)])
    async with (
        running(server),
        open_message_stream("c", token="t", base_url=server.url, backoff_base=0.01) as stream,
    ):
        with anyio.fail_after(10):
            got = [message.id async for message in stream]
    assert got == ["msg_1", "msg_2", "msg_3"]
    assert server.header(1, b"last-event-id") == b"b"


async def test_history_then_a_replay_of_it_repeats_nothing() -> None:
    # The backlog gives msg_1 and msg_2; the stream ignores Last-Event-ID
    # and starts with msg_1: the history's ids are remembered too.
    page = (
        b'{"hasMore":false,"messages":['
        + b",".join(chat(n).split(b"data: ")[1].split(b"\n")[0] for n in (1, 2))
        + b"]}"
    )
    stream_body = b"retry: 1\n\n" + b"".join(chat(n) for n in (1, 2, 3))
    server = Scripted(
        [
            http_response(200, page, content_type="application/json"),
            http_response(200, stream_body),
            http_response(204),
        ]
    )
    async with (
        running(server),
        Client(token="t", base_url=server.url, backoff_base=0.01) as client,
        client.open_message_stream("c", history=2) as stream,
    ):
        with anyio.fail_after(10):
            got = [message.id async for message in stream]
    assert got == ["msg_1", "msg_2", "msg_3"]
    assert server.header(1, b"last-event-id") == b"msg_2"
    assert stream.last_event_id == "msg_3"


class ThreadedScript:
    """A raw HTTP server in a thread, answering connections from a script (for sync code)."""

    def __init__(self, responses: list[Any]) -> None:
        self.responses = list(responses)
        self.heads: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False

    def __enter__(self) -> ThreadedScript:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        # (A connection of our own wakes the accept, which closing would not.)
        socket.create_connection(self._listener.getsockname(), timeout=10).close()
        self._thread.join(timeout=10)
        self._listener.close()

    def _serve(self) -> None:
        while True:
            connection, _ = self._listener.accept()
            if self._stopping:
                connection.close()
                return
            with connection:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = connection.recv(65536)
                    if not data:
                        break
                    head += data
                self.heads.append(head)
                if self.responses:
                    entry = self.responses.pop(0)
                    connection.sendall(entry(head) if callable(entry) else entry)


def test_the_sync_client_skips_the_replay_of_a_nul_id_message_too() -> None:
    # expys_stream.sync takes whole batches (MessageStream._take_batch):
    # the same replay check and last_event_id rule apply there.
    first = b"retry: 1\n\n" + chat(1) + chat(2, sse_id=b"msg_\x002")
    got = []
    with (
        ThreadedScript([http_response(200, first), replaying(range(1, 4))]) as server,
        sync_open_message_stream("c", token="t", base_url=server.url, backoff_base=0.01) as stream,
    ):
        for message in stream:
            got.append((message.id, stream.last_event_id))
            if len(got) == 3:
                break
    assert got == [("msg_1", "msg_1"), ("msg_2", "msg_2"), ("msg_3", "msg_3")]
    assert b"last-event-id: msg_1" in server.heads[1].lower()
