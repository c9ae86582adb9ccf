"""Content codings of a stream: identity asked for, gzip and deflate undone,
anything else refused; on the bulk body path and the fallback, both backends."""

from __future__ import annotations

import contextlib
import gc
import json
import tracemalloc
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import pytest
from client_support import Scripted, http_response, running

from expys_stream import (
    Client,
    EventTooLarge,
    PermissionDeniedError,
    ProtocolError,
    RetryLimitExceeded,
    ServerSentEvent,
    open_event_stream,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[True, False], ids=["bulk", "fallback"])
def bulk(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def events(*ids: str) -> list[bytes]:
    return [f"id: {i}\ndata: event {i}\n\n".encode() for i in ids]


def compressor(coding: str) -> Any:
    wbits = {"gzip": 31, "deflate": 15, "raw deflate": -15}[coding]
    return zlib.compressobj(wbits=wbits)


def compressed(coding: str, parts: list[bytes], *, finish: bool = True) -> list[bytes]:
    """Each part compressed and flushed (as a streaming server does), in order."""
    c = compressor(coding)
    out = [c.compress(part) + c.flush(zlib.Z_SYNC_FLUSH) for part in parts]
    if finish:
        out.append(c.flush())
    return out


def coded_response(coding: str, body: bytes, *, length: bool = True) -> bytes:
    name = "deflate" if "deflate" in coding else coding
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: {name}\r\n"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


@contextlib.contextmanager
def httpcore_generators_left_open(bulk: bool) -> Iterator[None]:
    """On the fallback path, a body left before its end leaves httpcore's
    nested body generators to the garbage collector, and trio warns about
    each (httpcore closes the connection itself, in ``response.aclose()``).
    That warning, and only it, is ignored here; collected before leaving."""
    with warnings.catch_warnings():
        if not bulk:
            warnings.filterwarnings(
                "ignore", "Async generator 'httpcore[.]", category=ResourceWarning
            )
        yield
        gc.collect()


async def read_all(url: str, bulk: bool, **kwargs: Any) -> tuple[list[ServerSentEvent], Any]:
    stream = open_event_stream(url, backoff_base=0.01, backoff_cap=0.02, **kwargs)
    stream._bulk_body = bulk
    got: list[ServerSentEvent] = []
    async with stream:
        with anyio.fail_after(20):
            async for event in stream:
                got.append(event)
    return got, stream


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw deflate"])
async def test_a_compressed_stream_is_decoded(coding: str, bulk: bool) -> None:
    body = b"".join(compressed(coding, events("1", "2", "3")))
    origin = Scripted([coded_response(coding, body), http_response(204)])
    async with running(origin):
        got, _ = await read_all(origin.url + "/s", bulk)
    assert [(e.id, e.data) for e in got] == [(i, f"event {i}") for i in "123"]
    assert origin.header(0, b"accept-encoding") == b"identity"


async def test_identity_named_as_such_streams_as_it_is(bulk: bool) -> None:
    origin = Scripted([coded_response("identity", b"".join(events("1"))), http_response(204)])
    async with running(origin):
        got, _ = await read_all(origin.url + "/s", bulk)
    assert [e.id for e in got] == ["1"]


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_a_compressed_stream_split_across_reads_and_chunks(coding: str, bulk: bool) -> None:
    # Event 2's compressed bytes are cut in two: the second half is sent
    # only once the client has delivered event 1, so the cut falls between
    # two socket reads. The body is chunked, in 5-byte chunks.
    first, second, end = compressed(coding, events("1", "2"))
    cut = len(second) // 2
    halves = [first + second[:cut], second[cut:] + end]
    got_first = anyio.Event()

    def chunked(data: bytes) -> bytes:
        return b"".join(
            b"%x\r\n%s\r\n" % (len(data[i : i + 5]), data[i : i + 5])
            for i in range(0, len(data), 5)
        )

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await client.receive()
            await client.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                + f"Content-Encoding: {coding}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                + chunked(halves[0])
            )
            await got_first.wait()
            await client.send(chunked(halves[1]) + b"0\r\n\r\n")
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                await client.receive()  # (until the client closes)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        stream = open_event_stream(f"http://127.0.0.1:{port}/s")
        stream._bulk_body = bulk
        async with stream:
            with anyio.fail_after(10):
                one = await stream.__anext__()
                got_first.set()
                two = await stream.__anext__()
        group.cancel_scope.cancel()
    assert [(one.id, one.data), (two.id, two.data)] == [("1", "event 1"), ("2", "event 2")]


async def test_a_gzip_stream_dropped_mid_event_resumes(bulk: bool) -> None:
    # The first connection ends inside event 2 (no gzip trailer either); the
    # reconnect resumes after event 1 and gets event 2 whole.
    full = events("1", "2")
    partial = compressed("gzip", [full[0], full[1][:9]], finish=False)
    origin = Scripted(
        [
            coded_response("gzip", b"".join(partial), length=False),
            coded_response("gzip", b"".join(compressed("gzip", events("2")))),
            http_response(204),
        ]
    )
    async with running(origin):
        got, stream = await read_all(origin.url + "/s", bulk)
    assert [(e.id, e.data) for e in got] == [("1", "event 1"), ("2", "event 2")]
    assert origin.header(1, b"last-event-id") == b"1"
    assert stream.reconnects == 2


async def test_a_decompression_bomb_ends_with_event_too_large(bulk: bool) -> None:
    # 64 MiB of one line, in about 64 KiB of gzip: the decoder's limit (here
    # 1 MiB) stops it, and memory never holds more than a few pieces.
    c = zlib.compressobj(wbits=31)
    block = b"a" * (1 << 20)
    bomb = c.compress(b"data: ") + b"".join(c.compress(block) for _ in range(64)) + c.flush()
    assert len(bomb) < 200_000
    origin = Scripted([coded_response("gzip", bomb)])
    async with running(origin):
        tracemalloc.start()
        try:
            with httpcore_generators_left_open(bulk), pytest.raises(EventTooLarge):
                await read_all(origin.url + "/s", bulk, max_event_size=1 << 20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 << 20, peak
    assert len(origin.heads) == 1  # final, not retried


@pytest.mark.parametrize(
    "coding", ["br", "zstd", "compress", "gzip, br", "gzip, gzip", "x-made-up"]
)
async def test_a_coding_the_client_cannot_decode_is_refused_at_once(
    coding: str, bulk: bool
) -> None:
    response = http_response(200, b"\x8b\x00garbage", headers={"Content-Encoding": coding})
    origin = Scripted([response, response])
    async with running(origin):
        with pytest.raises(ProtocolError, match="decodes only gzip and deflate") as info:
            await read_all(origin.url + "/s", bulk)
    assert repr(coding.split(", ")[0]) in str(info.value) or coding in str(info.value)
    assert len(origin.heads) == 1  # no retry


async def test_a_corrupt_gzip_body_is_a_broken_connection(bulk: bool) -> None:
    body = b"".join(compressed("gzip", events("1")))
    corrupt = body[:10] + bytes(b ^ 0x55 for b in body[10:])
    origin = Scripted([coded_response("gzip", corrupt), coded_response("gzip", corrupt)])
    async with running(origin):
        with httpcore_generators_left_open(bulk), pytest.raises(RetryLimitExceeded) as info:
            await read_all(origin.url + "/s", bulk, max_retries=1)
    assert isinstance(info.value.last_error, ProtocolError)
    assert "gzip coding of the stream is corrupt" in str(info.value.last_error)
    assert len(origin.heads) == 2


# -- one-shot requests (list, send) and error bodies -------------------------


def json_response(status: int, document: object, coding: str | None) -> bytes:
    body = json.dumps(document).encode()
    headers = {}
    if coding is not None:
        body = b"".join(compressed(coding, [body]))
        headers["Content-Encoding"] = "deflate" if "deflate" in coding else coding
    return http_response(status, body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw deflate"])
async def test_a_compressed_page_is_decoded(coding: str) -> None:
    message = {
        "id": "m1",
        "conversationID": "c",
        "authorID": "a",
        "createdAt": "2026-11-27T10:15:02Z",
    }
    origin = Scripted([json_response(200, {"messages": [message], "hasMore": False}, coding)])
    async with running(origin), Client(token="tok-1", base_url=origin.url) as client:
        page = await client.list_messages("c")
    assert [m.id for m in page.messages] == ["m1"]


async def test_a_page_in_a_coding_the_client_cannot_decode_is_refused() -> None:
    page = http_response(
        200, b"\x1b\x00", content_type="application/json", headers={"Content-Encoding": "br"}
    )
    origin = Scripted([page, page])
    async with running(origin), Client(token="tok-1", base_url=origin.url) as client:
        with pytest.raises(ProtocolError, match="'br'"):
            await client.list_messages("c")
    assert len(origin.heads) == 1


async def test_a_compressed_error_body_still_gives_its_details() -> None:
    error = {"error": {"code": "forbidden", "message": "not a member"}}
    origin = Scripted([json_response(403, error, "gzip")])
    async with running(origin), Client(token="tok-1", base_url=origin.url) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.list_messages("c")
    assert (info.value.code, info.value.server_message) == ("forbidden", "not a member")


async def test_an_error_body_in_an_unknown_coding_keeps_its_status() -> None:
    response = http_response(
        403, b"\x1b\x00", content_type="application/json", headers={"Content-Encoding": "zstd"}
    )
    origin = Scripted([response])
    async with running(origin), Client(token="tok-1", base_url=origin.url) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.list_messages("c")
    assert info.value.code is None
