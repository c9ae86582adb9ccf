"""Each fault of ``server.faults``, observed on the wire."""

from __future__ import annotations

from typing import Any

import anyio
import httpcore
import pytest
from concierge_client import BROKEN, Api, RawStream, path_for
from conftest import DEMO

from expys_stream._models import Message, message_decoder
from expys_stream.sse import EventTooLarge
from expys_stream.testing import ConciergeServer, Faults, serve_concierge

pytestmark = pytest.mark.anyio

RETRY = b"retry: 10\n\n"


async def backlog(server: ConciergeServer, n: int) -> list[Message]:
    return [await server.publish(DEMO, "usr_bob", f"m{i}") for i in range(n)]


async def full_body(api: Api, token: str, last_event_id: str, events: int) -> bytes:
    """The body a stream starts with when no fault applies."""
    async with api.stream(DEMO, token, last_event_id=last_event_id) as stream:
        with anyio.fail_after(5):
            await stream.read_events(events)
        return bytes(stream.raw)


async def assert_healthy(server: ConciergeServer, api: Api, token: str) -> None:
    """The fault was consumed: the next stream is a normal one."""
    async with api.stream(DEMO, token) as stream:
        assert stream.status == 200
        await server.wait_for_streams(1)
        message = await server.publish(DEMO, "usr_bob", "healthy")
        with anyio.fail_after(5):
            event = await stream.next_event()
        assert message_decoder.decode(event.data_bytes) == message
        assert stream.raw.startswith(RETRY)


# -- aborted streams -------------------------------------------------------------


async def test_drop_after_events(server: ConciergeServer, api: Api, alice: str) -> None:
    old = await backlog(server, 4)
    expected = await full_body(api, alice, old[0].id, 2)
    server.faults.drop_after_events(2)
    async with api.stream(DEMO, alice, last_event_id=old[0].id) as stream:
        with anyio.fail_after(5), pytest.raises(BROKEN):
            await stream.read_to_end()
        assert bytes(stream.raw) == expected
        assert [e.id for e in stream.pending] == [old[1].id, old[2].id]
    await assert_healthy(server, api, alice)


async def test_drop_after_live_events(server: ConciergeServer, api: Api, alice: str) -> None:
    server.faults.drop_after_events(1)
    async with api.stream(DEMO, alice) as stream:
        await server.wait_for_streams(1)
        first = await server.publish(DEMO, "usr_bob", "first")
        with anyio.fail_after(5), pytest.raises(BROKEN):
            await stream.read_to_end()
        assert [e.id for e in stream.pending] == [first.id]


async def test_drop_after_zero_events(server: ConciergeServer, api: Api, alice: str) -> None:
    old = await backlog(server, 2)
    server.faults.drop_after_events(0)
    async with api.stream(DEMO, alice, last_event_id=old[0].id) as stream:
        with anyio.fail_after(5), pytest.raises(BROKEN):
            await stream.read_to_end()
        assert bytes(stream.raw) == RETRY


@pytest.mark.parametrize("into_second_event", [0, 1, 10, -1])
async def test_drop_at_byte(
    server: ConciergeServer, api: Api, alice: str, into_second_event: int
) -> None:
    old = await backlog(server, 3)
    expected = await full_body(api, alice, old[0].id, 2)
    second_starts = expected.index(b"event: message", len(RETRY) + 1)
    offset = second_starts + into_second_event if into_second_event >= 0 else len(expected)
    server.faults.drop_at_byte(offset)
    async with api.stream(DEMO, alice, last_event_id=old[0].id) as stream:
        with anyio.fail_after(5), pytest.raises(BROKEN):
            await stream.read_to_end()
        assert bytes(stream.raw) == expected[:offset]
    await assert_healthy(server, api, alice)


async def test_drop_at_byte_zero_and_inside_retry(server: ConciergeServer, alice: str) -> None:
    headers = [("authorization", f"Bearer {alice}")]
    for offset, body in [(0, b""), (4, b"retr")]:
        server.faults.drop_at_byte(offset)
        async with RawStream.open(server.port, path_for(DEMO, "stream"), headers) as raw:
            assert raw.response is not None
            assert raw.response.status_code == 200
            with anyio.fail_after(5):
                chunks, complete = await raw.read_all()
            assert not complete
            assert b"".join(chunks) == body


# -- stalls and trickles -----------------------------------------------------------


async def test_stall(pool: httpcore.AsyncConnectionPool) -> None:
    async with serve_concierge(keepalive_interval=0.02) as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        server.faults.stall(0.3)
        async with Api(pool, server.base_url).stream(DEMO, token) as stream:
            with anyio.fail_after(5):
                await stream.read_until_raw(RETRY)
                assert bytes(stream.raw) == RETRY  # headers and retry line first
                started = anyio.current_time()
                message = await server.publish(DEMO, "usr_bob", "after the stall")
                event = await stream.next_event()
            waited = anyio.current_time() - started
        assert waited >= 0.25  # nothing, not even a keepalive, while stalled
        assert stream.raw[len(RETRY) :].startswith(b"id: msg_000000000001\nevent: message\n")
        assert message_decoder.decode(event.data_bytes) == message


async def test_trickle(server: ConciergeServer, alice: str) -> None:
    server.faults.trickle()
    headers = [("authorization", f"Bearer {alice}")]
    async with RawStream.open(server.port, path_for(DEMO, "stream"), headers) as raw:
        with anyio.fail_after(5):
            chunks = [await raw.next_chunk() for _ in range(len(RETRY))]
            assert chunks == [bytes([b]) for b in RETRY]
            message = await server.publish(DEMO, "usr_bob", "slowly")
            event = b""
            while not event.endswith(b"\n\n"):
                chunk = await raw.next_chunk()
                assert chunk is not None
                assert len(chunk) == 1
                event += chunk
        assert message.id.encode() in event


async def test_trickle_combines_with_drop_at_byte(server: ConciergeServer, alice: str) -> None:
    server.faults.trickle()
    server.faults.drop_at_byte(5)
    headers = [("authorization", f"Bearer {alice}")]
    async with RawStream.open(server.port, path_for(DEMO, "stream"), headers) as raw:
        with anyio.fail_after(5):
            chunks, complete = await raw.read_all()
        assert not complete
        assert chunks == [b"r", b"e", b"t", b"r", b"y"]
    assert server.faults.pending == 0


# -- replaced responses ---------------------------------------------------------------


async def test_fail_next_on_stream(server: ConciergeServer, api: Api, alice: str) -> None:
    server.faults.fail_next(2, 503, retry_after=3)
    for _ in range(2):
        reply = await api.request("GET", api.url(DEMO, "stream"), token=alice)
        assert reply.status == 503
        assert reply.headers["retry-after"] == "3"
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["error"]["code"] == "unavailable"
    await assert_healthy(server, api, alice)


async def test_fail_next_before_authentication(server: ConciergeServer, api: Api) -> None:
    server.faults.fail_next(1, 429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    reply = await api.request("GET", api.url(DEMO, "stream"))
    assert reply.status == 429
    assert reply.headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert reply.json()["error"]["code"] == "rate_limited"
    assert (await api.request("GET", api.url(DEMO, "stream"))).status == 401


@pytest.mark.parametrize("endpoint", ["list", "send", None])
async def test_fail_next_endpoints(
    server: ConciergeServer, api: Api, alice: str, endpoint: str | None
) -> None:
    server.faults.fail_next(
        1, 500, endpoint=endpoint, body=b"<html>oops</html>", content_type="text/html"
    )  # type: ignore[arg-type]
    if endpoint == "send":
        assert (await api.list(DEMO, alice)).status == 200  # not this one
        reply = await api.send(DEMO, alice, "x")
    else:
        reply = await api.list(DEMO, alice)
    assert reply.status == 500
    assert reply.body == b"<html>oops</html>"
    assert reply.headers["content-type"] == "text/html"
    assert "retry-after" not in reply.headers
    assert server.messages(DEMO) == []
    assert server.faults.pending == 0


async def test_fault_conversation_filter(server: ConciergeServer, api: Api, alice: str) -> None:
    server.add_conversation("cnv_other")
    other = server.add_member("cnv_other", "usr_alice")
    server.faults.fail_next(1, 502, endpoint=None, conversation_id="cnv_other")
    server.faults.drop_after_events(0, conversation_id="cnv_other")
    assert (await api.list(DEMO, alice)).status == 200
    await assert_healthy(server, api, alice)
    assert server.faults.pending == 2
    assert (await api.list("cnv_other", other)).status == 502
    async with api.stream("cnv_other", other) as stream:
        with anyio.fail_after(5), pytest.raises(BROKEN):
            await stream.read_to_end()
    assert server.faults.pending == 0


async def test_wrong_content_type(server: ConciergeServer, api: Api, alice: str) -> None:
    server.faults.wrong_content_type()
    server.faults.wrong_content_type("text/plain", body=b"hello")
    first = await api.request("GET", api.url(DEMO, "stream"), token=alice)
    assert first.status == 200
    assert first.headers["content-type"] == "application/json"
    assert 0 < len(first.body) < 100
    second = await api.request("GET", api.url(DEMO, "stream"), token=alice)
    assert (second.status, second.headers["content-type"], second.body) == (
        200,
        "text/plain",
        b"hello",
    )
    await assert_healthy(server, api, alice)


async def test_no_content(server: ConciergeServer, api: Api, alice: str) -> None:
    server.faults.no_content()
    reply = await api.request("GET", api.url(DEMO, "stream"), token=alice)
    assert reply.status == 204
    assert reply.body == b""
    assert "content-length" not in reply.headers
    await assert_healthy(server, api, alice)


@pytest.mark.parametrize(
    ("location", "status"),
    [
        ("/v1/conversations/cnv_elsewhere/stream", 307),
        ("http://other.invalid:8080/v1/conversations/cnv_demo/stream", 301),
        ("http://[not a url", 308),
        (None, 302),
    ],
)
async def test_redirect(
    server: ConciergeServer, api: Api, alice: str, location: str | None, status: int
) -> None:
    server.faults.redirect(location, status)
    reply = await api.request("GET", api.url(DEMO, "stream"), token=alice)
    assert reply.status == status
    assert reply.headers.get("location") == location
    await assert_healthy(server, api, alice)


# -- malformed events -------------------------------------------------------------------


async def test_invalid_utf8(server: ConciergeServer, api: Api, alice: str) -> None:
    server.faults.invalid_utf8()
    async with api.stream(DEMO, alice) as stream:
        with anyio.fail_after(5):
            bad = await stream.next_event()
            assert bad.event == "message"
            assert bad.id == ""
            with pytest.raises(UnicodeDecodeError):
                bad.data_bytes.decode("utf-8")
            message = await server.publish(DEMO, "usr_bob", "fine")
            good = await stream.next_event()
        assert message_decoder.decode(good.data_bytes) == message


async def test_oversized_event(server: ConciergeServer, api: Api, alice: str) -> None:
    size = 2 * 1024 * 1024
    server.faults.oversized_event(size)
    async with api.stream(DEMO, alice, max_event_size=size + 100) as stream:
        with anyio.fail_after(5):
            event = await stream.next_event()
        assert event.event == "message"
        assert event.data_bytes == b"x" * size
    server.faults.oversized_event(size)
    async with api.stream(DEMO, alice) as stream:  # the default 1 MiB limit
        with anyio.fail_after(5), pytest.raises(EventTooLarge):
            await stream.next_event()


@pytest.mark.parametrize("data", ['{"id":"msg_x","authorID":"usr_bob"}', b"not json"])
async def test_invalid_message(
    server: ConciergeServer, api: Api, alice: str, data: str | bytes
) -> None:
    server.faults.invalid_message(data)
    server.faults.invalid_message("{}", id="msg_custom")
    for expected_id, expected_data in (("msg_invalid", data), ("msg_custom", "{}")):
        async with api.stream(DEMO, alice) as stream:
            with anyio.fail_after(5):
                event = await stream.next_event()
            assert event.event == "message"
            assert event.id == expected_id
            raw = expected_data if isinstance(expected_data, bytes) else expected_data.encode()
            assert event.data_bytes == raw
    await assert_healthy(server, api, alice)


async def test_first_events_come_in_arming_order_before_replay(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    old = await backlog(server, 2)
    server.faults.invalid_message("{}")
    server.faults.invalid_utf8()
    async with api.stream(DEMO, alice, last_event_id=old[0].id) as stream:
        with anyio.fail_after(5):
            events = await stream.read_events(3)
    assert [e.id for e in events] == ["msg_invalid", "msg_invalid", old[1].id]
    assert events[0].data == "{}"
    assert b"\xff" in events[1].data_bytes


# -- the Faults object -------------------------------------------------------------------


def test_pending_and_clear() -> None:
    faults = Faults()
    faults.stall(1)
    faults.fail_next(3, 503)
    faults.no_content()
    assert faults.pending == 3
    assert "pending=3" in repr(faults)
    faults.clear()
    assert faults.pending == 0


@pytest.mark.parametrize(
    "arm",
    [
        lambda f: f.fail_next(0, 503),
        lambda f: f.fail_next(1, 200),
        lambda f: f.fail_next(1, 600),
        lambda f: f.fail_next(1, 503, retry_after=-1),
        lambda f: f.fail_next(1, 503, retry_after="1\r\nX-Evil: 1"),
        lambda f: f.fail_next(1, 503, endpoint="nope"),
        lambda f: f.redirect("/x", 200),
        lambda f: f.redirect("/x\n"),
        lambda f: f.drop_after_events(-1),
        lambda f: f.drop_at_byte(-1),
        lambda f: f.stall(-1),
        lambda f: f.oversized_event(-1),
        lambda f: f.invalid_message(b"\xff"),
    ],
)
def test_bad_arguments_raise(arm: object) -> None:
    faults = Faults()
    with pytest.raises(ValueError):
        arm(faults)  # type: ignore[operator]
    assert faults.pending == 0


# -- resets ------------------------------------------------------------------------


async def read_until_closed(
    port: int, token: str, last_event_id: str
) -> tuple[bytes, BaseException | None]:
    """GET the demo stream on a bare socket; everything received, and how it ended
    (None for an orderly close, else the OS error under anyio's)."""
    request = (
        f"GET {path_for(DEMO, 'stream')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nLast-Event-ID: {last_event_id}\r\n\r\n"
    )
    received = bytearray()
    async with await anyio.connect_tcp("127.0.0.1", port) as sock:
        await sock.send(request.encode())
        with anyio.fail_after(5):
            try:
                while True:
                    received += await sock.receive()
            except anyio.EndOfStream:
                return bytes(received), None
            except anyio.BrokenResourceError as exc:
                cause: BaseException | None = exc
                while cause is not None and not isinstance(cause, OSError):
                    cause = cause.__cause__ or cause.__context__
                return bytes(received), cause


@pytest.mark.parametrize("arm", ["after_events", "at_byte"])
async def test_drop_with_reset_resets_the_connection(
    server: ConciergeServer, alice: str, arm: str
) -> None:
    old = await backlog(server, 3)
    if arm == "after_events":
        server.faults.drop_after_events(2, reset=True)
    else:
        server.faults.drop_at_byte(len(RETRY) + 5, reset=True)
    received, error = await read_until_closed(server.port, alice, old[0].id)
    assert isinstance(error, ConnectionResetError)
    # Whatever arrived before the reset is the start of a stream response.
    assert not received or received.startswith(b"HTTP/1.1 200 ")
    assert b"0\r\n\r\n" not in received  # never the chunked terminator


async def test_drop_without_reset_closes_in_order(server: ConciergeServer, alice: str) -> None:
    old = await backlog(server, 3)
    server.faults.drop_after_events(2)
    received, error = await read_until_closed(server.port, alice, old[0].id)
    assert error is None
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b"event: message\n") == 2
    assert not received.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_reset_must_be_a_bool(bad: object) -> None:
    faults = Faults()
    with pytest.raises(TypeError, match="reset must be a bool"):
        faults.drop_after_events(1, reset=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reset must be a bool"):
        faults.drop_at_byte(1, reset=bad)  # type: ignore[arg-type]
    assert faults.pending == 0


@pytest.mark.parametrize(
    ("arm", "reset"),
    [
        # Both drops armed: the one that fires first decides how it ends.
        (lambda f: (f.drop_after_events(2, reset=True), f.drop_at_byte(10**6)), True),
        (lambda f: (f.drop_at_byte(10**6), f.drop_after_events(2, reset=True)), True),
        (lambda f: (f.drop_at_byte(len(RETRY) + 5, reset=True), f.drop_after_events(2)), True),
        (lambda f: (f.drop_after_events(2, reset=True), f.drop_at_byte(len(RETRY) + 5)), False),
    ],
)
async def test_combined_drops_keep_their_own_reset(
    server: ConciergeServer, alice: str, arm: Any, reset: bool
) -> None:
    old = await backlog(server, 3)
    arm(server.faults)
    _, error = await read_until_closed(server.port, alice, old[0].id)
    if reset:
        assert isinstance(error, ConnectionResetError)
    else:
        assert error is None


def test_a_conversation_filter_must_be_a_str() -> None:
    faults = Faults()
    with pytest.raises(TypeError, match="conversation_id must be a str or None"):
        faults.fail_next(1, 500, conversation_id=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="conversation_id must be a str or None"):
        faults.drop_after_events(1, conversation_id=b"cnv")  # type: ignore[arg-type]
    assert faults.pending == 0


@pytest.mark.parametrize("reset", [True, False])
async def test_drop_streams_can_reset(server: ConciergeServer, alice: str, reset: bool) -> None:
    old = await backlog(server, 2)
    ended: list[BaseException | None] = []

    async def read() -> None:
        ended.append((await read_until_closed(server.port, alice, old[0].id))[1])

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        await server.wait_for_streams(1)
        await server.drop_streams(reset=reset)
    if reset:
        assert isinstance(ended[0], ConnectionResetError)
    else:
        assert ended == [None]
    with pytest.raises(TypeError, match="reset must be a bool"):
        await server.drop_streams(reset=1)  # type: ignore[arg-type]
