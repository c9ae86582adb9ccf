"""The decoder benchmark's corpus, and that the decoders it times get it right.

The benchmark never times a decoder that gives wrong answers; these tests
check, on a small corpus, that the corpus is what it claims to be and that
our decoder and the floor return exactly the events it records.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _corpus import (
    KEEPALIVE,
    KEEPALIVE_EVERY,
    MAX_DATA_SIZE,
    MIN_DATA_SIZE,
    Corpus,
    chunked,
    make_corpus,
)
from bench_decoder import FloorDecoder

from expys_stream._models import Message, message_decoder
from expys_stream.sse import SSEDecoder

N = 2000
SEED = 1234


@pytest.fixture(scope="module")
def lf() -> Corpus:
    return make_corpus(N, seed=SEED)


@pytest.fixture(scope="module")
def crlf() -> Corpus:
    return make_corpus(N, seed=SEED, crlf=True)


def test_same_seed_same_corpus(lf: Corpus) -> None:
    again = make_corpus(N, seed=SEED)
    assert again.raw == lf.raw
    assert again.ids == lf.ids
    assert again.payloads == lf.payloads


def test_other_seed_other_corpus(lf: Corpus) -> None:
    other = make_corpus(N, seed=SEED + 1)
    assert other.raw != lf.raw
    assert other.ids == lf.ids  # ids are numbered, bodies are random


def test_counts_and_ids(lf: Corpus) -> None:
    assert lf.n_events == N == len(lf.ids) == len(lf.payloads)
    assert lf.ids == ["msg_%012d" % i for i in range(1, N + 1)]  # noqa: UP031
    assert lf.event_type == "message"


def test_every_payload_is_a_message_of_the_right_size(lf: Corpus) -> None:
    non_ascii = 0
    for mid, payload in zip(lf.ids, lf.payloads, strict=True):
        assert MIN_DATA_SIZE <= len(payload) <= MAX_DATA_SIZE
        assert b"\n" not in payload
        assert b"\r" not in payload
        message = message_decoder.decode(payload)
        assert isinstance(message, Message)
        assert message.id == mid
        assert message.body
        assert message.created_at.utcoffset() is not None
        assert message.created_at.utcoffset().total_seconds() == 0
        assert set(json.loads(payload)) == {"id", "conversationID", "authorID", "body", "createdAt"}
        non_ascii += not payload.isascii()
    # The bodies mix ASCII with non-ASCII text, raw UTF-8 (not \u escapes).
    assert non_ascii > N * 0.9
    text = b"".join(lf.payloads).decode("utf-8")
    for sample in ("é", "ü", "ñ", "日本語", "🎉"):
        assert sample in text


def test_sizes_spread_over_the_range(lf: Corpus) -> None:
    sizes = [len(p) for p in lf.payloads]
    assert min(sizes) < 280
    assert max(sizes) > 420


def test_layout_and_keepalives(lf: Corpus) -> None:
    blocks = lf.raw.split(b"\n\n")
    assert blocks.pop() == b""  # the stream ends with a blank line
    assert len(blocks) == N + N // KEEPALIVE_EVERY == N + lf.n_keepalives
    index = 0
    for position, block in enumerate(blocks, start=1):
        if position % (KEEPALIVE_EVERY + 1) == 0:
            assert block + b"\n\n" == KEEPALIVE
            continue
        mid, payload = lf.ids[index], lf.payloads[index]
        assert block == b"id: %s\nevent: message\ndata: %s" % (mid.encode(), payload)
        index += 1
    assert index == N
    assert lf.raw.count(KEEPALIVE) == N // KEEPALIVE_EVERY


def test_crlf_variant_is_the_same_events_with_crlf(lf: Corpus, crlf: Corpus) -> None:
    assert crlf.crlf
    assert not lf.crlf
    assert crlf.ids == lf.ids
    assert crlf.payloads == lf.payloads
    assert crlf.raw == lf.raw.replace(b"\n", b"\r\n")
    assert crlf.raw.count(b"\n") == crlf.raw.count(b"\r\n") == crlf.raw.count(b"\r")


def test_expected_events(lf: Corpus) -> None:
    expected = lf.expected_events()
    assert len(expected) == N
    assert expected[0] == ("message", lf.payloads[0].decode(), "msg_000000000001")
    assert all(not data.startswith(":") for _, data, _ in expected)


def test_chunked() -> None:
    raw = bytes(range(256)) * 10
    for size in (1, 7, 256, 1000, 5000):
        chunks = chunked(raw, size)
        assert b"".join(chunks) == raw
        assert all(len(c) == size for c in chunks[:-1])
        assert 0 < len(chunks[-1]) <= size
    assert chunked(b"", 16) == []
    with pytest.raises(ValueError, match="size"):
        chunked(raw, 0)


# Chunk sizes: the benchmark's, and small odd ones that split every kind of
# boundary (inside UTF-8 sequences, between CR and LF, inside "data: ").
SIZES = (1 << 14, 1 << 16, 997, 61)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", ["lf", "crlf"])
def test_our_decoder_returns_the_expected_events(
    variant: str, size: int, request: pytest.FixtureRequest
) -> None:
    corpus: Corpus = request.getfixturevalue(variant)
    decoder = SSEDecoder()
    got = [(ev.event, ev.data, ev.id) for c in chunked(corpus.raw, size) for ev in decoder.feed(c)]
    assert got == corpus.expected_events()


@pytest.mark.parametrize("size", SIZES)
def test_our_decoder_with_msgspec(lf: Corpus, size: int) -> None:
    decoder = SSEDecoder()
    got = [
        message_decoder.decode(ev.data_bytes)
        for c in chunked(lf.raw, size)
        for ev in decoder.feed(c)
    ]
    assert [m.id for m in got] == lf.ids
    assert got == [msgspec.json.decode(p, type=Message) for p in lf.payloads]


@pytest.mark.parametrize("size", SIZES)
def test_floor_returns_the_expected_data_on_lf(lf: Corpus, size: int) -> None:
    floor = FloorDecoder()
    got = [data for c in chunked(lf.raw, size) for data in floor.feed(c)]
    assert got == lf.payloads
