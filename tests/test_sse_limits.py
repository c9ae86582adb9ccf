"""The decoder's bounds: max_event_size, memory, and resources per chunk.

The limit rules are defined on the stream: a line (without its terminator)
longer than ``max_event_size`` bytes, or an event whose data lines joined
with LF grow past it, raises :class:`EventTooLarge`, with the events that
the failing call completed before that point on ``err.events``. The decoder
then stays failed. Memory is measured with ``tracemalloc``; chunks are made
before tracing starts, or freshly per call, so that the peak is what the
decoder holds.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from expys_stream.sse import (
    DEFAULT_MAX_EVENT_SIZE,
    EventTooLarge,
    ExpysError,
    ProtocolError,
    SSEDecoder,
)

KIB = 1024
MIB = 1024 * KIB


class Traced:
    """Traced memory above what it was when the fixture started, live."""

    def __init__(self) -> None:
        self._base = tracemalloc.get_traced_memory()[0]

    @property
    def current(self) -> int:
        return tracemalloc.get_traced_memory()[0] - self._base

    @property
    def peak(self) -> int:
        return tracemalloc.get_traced_memory()[1] - self._base

    def kept_by_codec(self) -> int:
        """Live bytes allocated in the codec or in this test file: what the
        decoder and the test hold, without what other threads of a long
        test run (a server's, a loop's) happen to allocate meanwhile."""
        codec = tracemalloc.Filter(True, "*expys_stream/sse/*")
        here = tracemalloc.Filter(True, __file__)
        snapshot = tracemalloc.take_snapshot().filter_traces([codec, here])
        return sum(stat.size for stat in snapshot.statistics("filename"))


@pytest.fixture
def traced() -> Iterator[Traced]:
    gc.collect()
    tracemalloc.start()
    try:
        yield Traced()
    finally:
        tracemalloc.stop()


def _raises_at(decoder: SSEDecoder, chunks: list[bytes]) -> tuple[int | None, list[str]]:
    """Index of the chunk that raised (None if none), and every event's data."""
    seen: list[str] = []
    for index, chunk in enumerate(chunks):
        try:
            seen.extend(e.data for e in decoder.feed(chunk))
        except EventTooLarge as exc:
            seen.extend(e.data for e in exc.events)
            return index, seen
    return None, seen


# --- Exact boundaries -----------------------------------------------------------


@pytest.mark.parametrize("terminator", [b"\n", b"\r", b"\r\n"])
def test_data_line_of_exactly_max_bytes_is_fine(terminator: bytes) -> None:
    line = b"data: " + b"x" * 58  # 64 bytes; the terminator does not count
    (event,) = SSEDecoder(64).feed(line + terminator * 2)
    assert event.data == "x" * 58


@pytest.mark.parametrize("line", [b"data: " + b"x" * 59, b":" + b"c" * 64, b"x" * 65])
def test_line_of_max_plus_one_bytes_raises(line: bytes) -> None:
    with pytest.raises(EventTooLarge) as info:
        SSEDecoder(64).feed(line + b"\n")
    assert info.value.limit == 64
    assert info.value.events == []


def test_comment_line_is_bounded_too() -> None:
    SSEDecoder(64).feed(b":" + b"c" * 63 + b"\n")  # exactly 64: fine
    with pytest.raises(EventTooLarge):
        SSEDecoder(64).feed(b":" + b"c" * 64 + b"\n")


def test_unterminated_line_is_bounded_without_a_line_end() -> None:
    decoder = SSEDecoder(64)
    assert decoder.feed(b"y" * 64) == []  # exactly the limit, still open
    with pytest.raises(EventTooLarge):
        decoder.feed(b"y")


@pytest.mark.parametrize("piece", [1, 3, 7, 64])
def test_line_in_pieces_raises_at_the_same_total(piece: int) -> None:
    line = b"data: " + b"z" * 200
    chunks = [line[i : i + piece] for i in range(0, len(line), piece)]
    index, _ = _raises_at(SSEDecoder(100), chunks)
    # The call that brings the line past 100 bytes raises, and none before.
    assert index == 100 // piece


@pytest.mark.parametrize("piece", [1, 5, 100])
def test_line_in_pieces_of_exactly_max_is_fine(piece: int) -> None:
    line = b"data: " + b"z" * 94  # 100 bytes
    chunks = [line[i : i + piece] for i in range(0, len(line), piece)] + [b"\n\n"]
    index, seen = _raises_at(SSEDecoder(100), chunks)
    assert index is None
    assert seen == ["z" * 94]


def test_line_limit_counts_the_whole_line_after_held_lines() -> None:
    # Complete lines of an unfinished event may wait for the next chunk; the
    # line that the next chunk completes is still measured whole (80 bytes).
    stream = b"data: a\n" + b"x" * 40 + b"y" * 40 + b"\n\n"
    for cut in range(len(stream) + 1):
        index, _ = _raises_at(SSEDecoder(64), [stream[:cut], stream[cut:]])
        assert index is not None, cut


def test_data_of_exactly_max_bytes_is_fine() -> None:
    # 30 + LF + 33 = 64 bytes of data.
    (event,) = SSEDecoder(64).feed(b"data: " + b"a" * 30 + b"\ndata: " + b"b" * 33 + b"\n\n")
    assert len(event.data_bytes) == 64


def test_data_of_max_plus_one_bytes_raises() -> None:
    with pytest.raises(EventTooLarge) as info:
        SSEDecoder(64).feed(b"data: " + b"a" * 30 + b"\ndata: " + b"b" * 34 + b"\n\n")
    assert info.value.events == []


def test_data_limit_counts_the_joining_line_feeds() -> None:
    # n empty data lines make n - 1 bytes of data (the LFs between them).
    (event,) = SSEDecoder(64).feed(b"data\n" * 65 + b"\n")
    assert event.data == "\n" * 64
    with pytest.raises(EventTooLarge):
        SSEDecoder(64).feed(b"data\n" * 66 + b"\n")


def test_data_limit_is_per_event() -> None:
    events = SSEDecoder(64).feed((b"data: " + b"a" * 40 + b"\n\n") * 10)
    assert len(events) == 10


def test_data_limit_in_any_chunking() -> None:
    stream = b"data: ok\n\n" + b"data: " + b"a" * 30 + b"\ndata: " + b"b" * 34 + b"\n\n"
    for cut in range(len(stream) + 1):
        decoder = SSEDecoder(64)
        index, seen = _raises_at(decoder, [stream[:cut], stream[cut:]])
        assert index is not None, cut
        assert seen == ["ok"], cut


# --- The error and the failed decoder --------------------------------------------


def test_error_carries_events_completed_earlier_in_the_same_chunk() -> None:
    decoder = SSEDecoder(64)
    assert [e.data for e in decoder.feed(b"data: before\n\n")] == ["before"]
    with pytest.raises(EventTooLarge) as info:
        decoder.feed(b"data: a\n\nid: 2\ndata: b\n\n" + b"x" * 65)
    assert [(e.data, e.id) for e in info.value.events] == [("a", ""), ("b", "2")]


def test_error_carries_events_before_a_data_overflow() -> None:
    with pytest.raises(EventTooLarge) as info:
        SSEDecoder(64).feed(b"data: a\n\n" + b"data: " + b"x" * 60 + b"\n" * 1 + b"data: y\n\n")
    assert [e.data for e in info.value.events] == ["a"]


@pytest.mark.parametrize("end", [b"\r", b"\n", b"\r\n"])
def test_error_carries_events_that_cr_ended_lines_completed_before_a_long_line(
    end: bytes,
) -> None:
    # CRs end lines inside what the decoder splits at LFs: the lines before
    # the long one still dispatch, whole or in any chunking.
    stream = b"data: a\r\rdata: b\r\r" + b"x" * 17 + end + b"data: c\n\n"
    for cut in range(len(stream) + 1):
        index, seen = _raises_at(SSEDecoder(16), [stream[:cut], stream[cut:]])
        assert index is not None, cut
        assert seen == ["a", "b"], cut


def test_error_is_a_protocol_error() -> None:
    with pytest.raises(EventTooLarge) as info:
        SSEDecoder(8).feed(b"x" * 9)
    assert isinstance(info.value, ProtocolError)
    assert isinstance(info.value, ExpysError)
    assert info.value.limit == 8


def test_failed_decoder_stays_failed() -> None:
    decoder = SSEDecoder(64)
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: a\n\n" + b"x" * 100)
    for chunk in [b"\n\n", b"data: c\n\n", b"x" * 1000]:
        with pytest.raises(EventTooLarge) as info:
            decoder.feed(chunk)
        assert info.value.events == []
        assert info.value.limit == 64


def test_default_limit_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_EVENT_SIZE == MIB
    decoder = SSEDecoder()
    decoder.feed(b"data: " + b"x" * (MIB - 6))
    with pytest.raises(EventTooLarge):
        decoder.feed(b"x")


# --- Memory ---------------------------------------------------------------------


def test_endless_line_fails_past_the_limit_and_holds_nothing(traced: Traced) -> None:
    chunk_size = 64 * KIB
    decoder = SSEDecoder(MIB)
    raised_at = []
    for index in range(24 * MIB // chunk_size):  # 24 MB, never a line end
        chunk = b"x" * chunk_size  # a fresh object per call, as from a socket
        try:
            decoder.feed(chunk)
        except EventTooLarge as exc:
            raised_at.append((index, exc.events))
        del chunk
    # 16 chunks are exactly 1 MiB, which is allowed; the 17th breaks it.
    assert raised_at == [(index, []) for index in range(16, 24 * MIB // chunk_size)]
    assert traced.peak < 2 * MIB + 4 * chunk_size


def test_endless_line_under_a_large_limit_holds_only_itself(traced: Traced) -> None:
    chunk_size = 64 * KIB
    fed = 8 * MIB
    decoder = SSEDecoder(64 * MIB)
    for _ in range(fed // chunk_size):
        assert decoder.feed(b"x" * chunk_size) == []
    assert traced.peak < fed + 4 * chunk_size + 64 * KIB
    assert traced.current >= fed  # it is held, not lost


def test_line_in_tiny_pieces_costs_its_bytes_not_an_object_each(traced: Traced) -> None:
    # A server may trickle a long line a byte or two at a time; the pieces
    # must not each keep a Python object (tens of bytes) alive.
    limit = 256 * KIB
    decoder = SSEDecoder(limit)
    for _ in range(limit // 2):
        assert decoder.feed(b"xy") == []
    assert traced.current >= limit  # it is held, not lost
    assert traced.peak < 2 * limit
    assert [e.data for e in decoder.feed(b"\n\ndata: after\n\n")] == ["after"]


def test_line_in_tiny_pieces_still_raises_past_the_limit() -> None:
    decoder = SSEDecoder(100)
    for _ in range(50):
        decoder.feed(b"ab")
    with pytest.raises(EventTooLarge):
        decoder.feed(b"c")


@pytest.mark.parametrize(
    ("limit", "chunks"),
    [
        (13, [b"data: 1234567\n", b"data: 123456\n"]),
        (13, [b"data: retry12\n", b"data: abcdef\n"]),
        (13, [b"data: abcd\rdata: ef\n", b"data: abcdef\n"]),
        (23, [b"data: a\n" * 9, b"data: abcdef\n"]),
        (20, [b"data: " + b"k" * 12 + b"\r\ndat", b"a: k", b"k" * 11, b"\r"]),
    ],
    ids=["plain", "after-retry", "after-lone-cr", "after-many-lines", "pending-cr"],
)
def test_data_overflow_raises_in_the_chunk_that_completes_its_line(
    limit: int, chunks: list[bytes]
) -> None:
    # The event's data is already under way when a chunk brings a data line
    # that takes it past the limit: that chunk raises, even though the line
    # would otherwise be held back for the next one.
    assert _raises_at(SSEDecoder(limit), chunks) == (len(chunks) - 1, [])


def _small_events(count: int) -> bytes:
    # Mostly the chat shape (the decoder's shortcut), with the other shapes
    # in between so that the general rules and the way back run too.
    chat = b'id: %d\nevent: message\ndata: {"n": %d}\n\n'
    others = [
        b"data: %d\n\n",
        b": keepalive\nid: %d\nevent: tick\ndata: x\n\n",
        b"data: %d\ndata: more\n\n",
        b"retry: %d\ndata: r\n\n",
    ]
    parts = [chat % (n, n) if n % 8 else others[(n // 8) % 4] % n for n in range(count)]
    return b"".join(parts)


def test_many_small_events_keep_memory_small() -> None:
    count = 200_000
    stream = _small_events(count)
    chunk_size = 16 * KIB
    decoder = SSEDecoder()
    received = 0
    last = None
    gc.collect()
    tracemalloc.start()
    try:
        for start in range(0, len(stream), chunk_size):
            events = decoder.feed(stream[start : start + chunk_size])
            received += len(events)
            if events:
                last = events[-1]
            del events
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == count
    assert last is not None
    assert (last.event, last.data, last.id) == ("message", '{"n": 199999}', "199999")
    assert decoder.retry == 199_992  # the last "retry" shape
    # One chunk's lines and events at a time, never the stream (~7 MB).
    assert len(stream) > 5 * MIB
    assert peak < MIB


def test_huge_multiline_event_under_the_limit(traced: Traced) -> None:
    line = b"data: " + b"d" * 94 + b"\n"  # 94 bytes of data per line
    lines = 20_000  # ~1.9 MB of data
    limit = 2 * MIB
    decoder = SSEDecoder(limit)
    for _ in range(lines // 100):
        assert decoder.feed(line * 100) == []
    (event,) = decoder.feed(b"\n")
    peak = traced.peak
    size = lines * 95 - 1
    assert len(event.data_bytes) == size
    assert event.data_bytes == b"\n".join([b"d" * 94] * lines)
    # The data lines (with their object overhead), bytes.join's buffer
    # table (80 bytes per line, a CPython detail) and the joined data; not
    # a copy per chunk.
    assert peak < 4 * size


def test_huge_multiline_event_over_the_limit_keeps_nothing(traced: Traced) -> None:
    line = b"data: " + b"d" * 94 + b"\n"
    decoder = SSEDecoder(MIB)
    errors = []
    for _ in range(200):  # ~2 MB of data, with no blank line
        try:
            decoder.feed(line * 100)
        except EventTooLarge as exc:
            errors.append(exc)
            break
    assert [exc.events for exc in errors] == [[]]
    del errors
    gc.collect()
    # Nothing of the event is kept after the raise...
    assert traced.kept_by_codec() < 64 * KIB
    assert traced.peak < 3 * MIB
    # ... and the decoder stays failed.
    with pytest.raises(EventTooLarge) as info:
        decoder.feed(b"\n")
    assert info.value.events == []


# --- Work per chunk ---------------------------------------------------------------

_SMALL_STACK = textwrap.dedent(
    """
    import sys, threading
    from expys_stream.sse import SSEDecoder

    # musl's default thread stack is 128 KiB and macOS gives secondary
    # threads 512 KiB; a worker thread decoding a large chunk must not need
    # more stack than that.
    threading.stack_size(256 * 1024)
    chunk = b"data: x\\n\\n" * int(sys.argv[1])
    counts = []
    worker = threading.Thread(target=lambda: counts.append(len(SSEDecoder().feed(chunk))))
    worker.start()
    worker.join()
    print(counts[0])
    """
)


def test_large_chunk_of_small_events_in_a_small_stack_thread() -> None:
    # 50 000 events in one 450 kB chunk (well under max_event_size per
    # line or event): the decoder's stack use must not grow with the
    # number of lines in a chunk.
    result = subprocess.run(
        [sys.executable, "-c", _SMALL_STACK, "50000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"crashed with {result.returncode}: {result.stderr[-500:]}"
    assert result.stdout.strip() == "50000"


def test_work_per_chunk_is_linear_in_its_lines() -> None:
    # The same stream in one chunk and in 20; quadratic work per chunk would
    # make the single chunk many times slower (best of two runs each).
    count = 12_000
    stream = b"data: x\n\n" * count
    pieces = [stream[i : i + len(stream) // 20] for i in range(0, len(stream), len(stream) // 20)]

    def best(chunks: list[bytes]) -> float:
        times = []
        for _ in range(2):
            decoder = SSEDecoder()
            start = time.perf_counter()
            received = sum(len(decoder.feed(chunk)) for chunk in chunks)
            times.append(time.perf_counter() - start)
            assert received == count
        return min(times)

    whole, split = best([stream]), best(pieces)
    assert whole < 4 * split + 0.05, (whole, split)
