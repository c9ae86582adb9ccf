"""A framing error delivers what came intact before it, then replaces the connection."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from client_support import Scripted, http_response, running
from test_hardening_replay import chat, replaying

from expys_stream import ProtocolError
from expys_stream._client import Client
from expys_stream._http._chunked import ChunkedReader, FramingError

pytestmark = pytest.mark.anyio


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def chunked_response(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head + body


BREAKAGES = {
    "bad-size": b"zz\r\n",
    "size-with-junk": b"1a; ext=\x01\x02\r\n" + b"x" * 40,
    "no-crlf-after-data": b"5\r\nabcdefgh\r\n",
    "endless-size-line": b"f" * 9000,
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-body", "httpcore-body"])
async def test_a_message_read_with_a_framing_error_is_delivered(breakage: str, bulk: bool) -> None:
    # One write: the retry line and message 1 in good chunks, then broken
    # framing. A fresh stream (no Last-Event-ID) would lose message 1 for
    # good if it were dropped with the connection.
    body = chunk(b"retry: 1\n\n") + chunk(chat(1)) + BREAKAGES[breakage]
    server = Scripted([chunked_response(body), replaying(range(1, 3))])
    async with running(server):
        client = Client(token="t", base_url=server.url, backoff_base=0.01)
        stream = client._stream("c", None, 0, "raise", owns=True)
        stream._bulk_body = bulk
        async with stream:
            got = []
            with anyio.fail_after(10):
                async for message in stream:
                    got.append(message.id)
                    if len(got) == 2:
                        break
    assert got == ["msg_1", "msg_2"]
    assert server.header(0, b"last-event-id") is None
    assert server.header(1, b"last-event-id") == b"msg_1"
    assert stream.reconnects == 1


async def test_the_error_is_logged_as_the_framing_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "expys_stream")
    body = chunk(b"retry: 1\n\n") + chunk(chat(1)) + BREAKAGES["bad-size"]
    server = Scripted([chunked_response(body), http_response(204)])
    async with running(server):
        client = Client(token="t", base_url=server.url, backoff_base=0.01)
        async with client._stream("c", None, 0, "raise", owns=True) as stream:
            with anyio.fail_after(10):
                got = [message.id async for message in stream]
    assert got == ["msg_1"]
    reconnects = [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]
    assert len(reconnects) == 1
    assert "malformed chunked body: bad chunk size" in reconnects[0]
    assert "(resume after 'msg_1')" in reconnects[0]


def error_of(reader: ChunkedReader, data: bytes) -> FramingError:
    with pytest.raises(FramingError) as info:
        reader.feed(data)
    return info.value


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_reader_hands_over_the_whole_chunks_before_the_error(breakage: str) -> None:
    error = error_of(ChunkedReader(), chunk(b"one") + chunk(b"two") + BREAKAGES[breakage])
    assert isinstance(error, ProtocolError)
    assert error.take_payload() == b"onetwo"
    assert error.take_payload() == b""  # handed over once, then forgotten
    # Raised outside any except block: no exception with the wire's bytes
    # rides along.
    assert error.__context__ is None
    assert error.__cause__ is None
    assert "zz" not in str(error)
    assert "ext" not in str(error)


def test_a_chunk_without_its_crlf_is_not_handed_over() -> None:
    reader = ChunkedReader()
    # The chunk "abcde" starts in this feed and lacks its CRLF.
    error = error_of(reader, chunk(b"ok") + b"5\r\nabcdeXY")
    assert error.take_payload() == b"ok"


def test_a_chunk_begun_in_an_earlier_feed_is_not_handed_over_when_broken() -> None:
    reader = ChunkedReader()
    assert reader.feed(chunk(b"ok") + b"5\r\nabc") == b"okabc"  # streamed as it comes
    error = error_of(reader, b"deXY")
    assert error.take_payload() == b""


def test_an_endless_trailer_line_hands_over_the_payload() -> None:
    error = error_of(ChunkedReader(), chunk(b"ok") + b"0\r\n" + b"t" * 9000)
    assert error.take_payload() == b"ok"


async def test_a_framing_error_chains_nothing_to_the_user(caplog: Any) -> None:
    # With max_retries=0 the framing error reaches the user as the cause of
    # RetryLimitExceeded: neither it nor anything under it holds the size line.
    secret_line = b"zz-the-servers-own-bytes\r\n"
    body = chunk(b"retry: 1\n\n") + secret_line
    server = Scripted([chunked_response(body)])
    async with running(server):
        client = Client(token="t", base_url=server.url, backoff_base=0.01, max_retries=0)
        async with client._stream("c", None, 0, "raise", owns=True) as stream:
            with pytest.raises(Exception) as info, anyio.fail_after(10):
                await stream.__anext__()
    chain = []
    error: BaseException | None = info.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert [type(e).__name__ for e in chain] == ["RetryLimitExceeded", "FramingError"]
    assert all("servers-own-bytes" not in repr(e) for e in chain)
