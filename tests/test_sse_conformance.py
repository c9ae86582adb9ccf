"""Conformance vectors from three independent suites, run as a data table.

The vectors (web-platform-tests, eventsource-parser, LaunchDarkly's contract
tests) are data from outside the project, kept in ``tests/conformance/``
with their sources and licences (see the README there). Every
``decoder`` vector is fed whole, one byte at a time, at its own chunking,
split in two at every position and at a few seeded random cuts: the events
(type, data, id) and the final reconnection time must match, whatever the
chunking. The naive reference decoder of the property tests is held to
the same table. ``client`` vectors need HTTP and reconnection, so they wait for
the client's tests; here they are only counted, so that none gets lost.

A missing file is a collection error, never a silent pass.
"""

from __future__ import annotations

import base64
import json
import random
import re
import zlib
from pathlib import Path
from typing import Any

import naive_sse
import pytest

from expys_stream.sse import SSEDecoder

VECTOR_DIR = Path(__file__).resolve().parent / "conformance"
_FILES = ("wpt-vectors.json", "eventsource-parser-vectors.json", "ld-contract-vectors.json")

# What the files held when this table was written: (decoder vectors, client
# vectors) per file. A change to the files has to be acknowledged here.
_COUNTS = {
    "wpt-vectors.json": (42, 20),
    "eventsource-parser-vectors.json": (57, 0),
    "ld-contract-vectors.json": (56, 0),
}

# Inputs up to this size are split in two at every position; longer ones
# at every line end (and its neighbours) and at a stride.
_EVERY_POSITION_MAX = 600


def _load(name: str) -> list[dict[str, Any]]:
    vectors = json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(vectors, list)
    return vectors


ALL_VECTORS = [vector for name in _FILES for vector in _load(name)]
DECODER_VECTORS = [v for v in ALL_VECTORS if v["layer"] == "decoder"]
CLIENT_VECTORS = [v for v in ALL_VECTORS if v["layer"] == "client"]
# The ones whose original test fed them in chunks of its own.
CHUNKED_VECTORS = [v for v in DECODER_VECTORS if "chunks_b64" in v]

decoder_vectors = pytest.mark.parametrize(
    "vector", DECODER_VECTORS, ids=[v["name"] for v in DECODER_VECTORS]
)


def _input(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["input_b64"], validate=True)


def _expected(vector: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["type"], e["data"], e["id"]) for e in vector["expected"]]


def _check(vector: dict[str, Any], chunks: list[bytes]) -> None:
    assert b"".join(chunks) == _input(vector)  # the harness lost nothing
    decoder = SSEDecoder()
    got = []
    for chunk in chunks:
        got.extend((e.event, e.data, e.id) for e in decoder.feed(chunk))
    assert got == _expected(vector)
    if "expected_retry" in vector:
        assert decoder.retry == vector["expected_retry"]


def _two_way_cuts(data: bytes) -> list[int]:
    if len(data) <= _EVERY_POSITION_MAX:
        return list(range(len(data) + 1))
    cuts = set(range(0, len(data) + 1, 97))
    for match in re.finditer(rb"[\r\n]", data):
        cuts.update((match.start() - 1, match.start(), match.end(), match.end() + 1))
    cuts.add(len(data))
    return sorted(cut for cut in cuts if 0 <= cut <= len(data))


# --- The table itself ---------------------------------------------------------


def test_every_decoder_vector_is_loaded() -> None:
    # Count the vectors in the raw text as well, so that a loader which
    # dropped some (or all) could not make the table pass vacuously.
    for name, (decoders, clients) in _COUNTS.items():
        text = (VECTOR_DIR / name).read_text(encoding="utf-8")
        assert len(re.findall(r'"layer"\s*:\s*"decoder"', text)) == decoders
        assert len(re.findall(r'"layer"\s*:\s*"client"', text)) == clients
    assert len(DECODER_VECTORS) == sum(d for d, _ in _COUNTS.values()) == 155
    assert len(ALL_VECTORS) == len(DECODER_VECTORS) + len(CLIENT_VECTORS)
    assert len(CHUNKED_VECTORS) == 78


def test_vector_names_are_unique() -> None:
    names = [v["name"] for v in ALL_VECTORS]
    assert len(set(names)) == len(names)


def test_client_vectors_are_counted_for_later() -> None:
    # Run by the client's tests (HTTP status, content type, reconnection);
    # counted here so that none is silently lost before then.
    assert len(CLIENT_VECTORS) == sum(c for _, c in _COUNTS.values()) == 20
    for vector in CLIENT_VECTORS:
        assert vector["connections"], vector["name"]
        for connection in vector["connections"]:
            assert {"status", "expected"} <= connection.keys(), vector["name"]


@decoder_vectors
def test_vector_is_well_formed(vector: dict[str, Any]) -> None:
    assert {"name", "source", "input_b64", "expected"} <= vector.keys()
    for event in vector["expected"]:
        assert set(event) == {"type", "data", "id"}
    if "chunks_b64" in vector:
        chunks = [base64.b64decode(c, validate=True) for c in vector["chunks_b64"]]
        assert b"".join(chunks) == _input(vector)


@decoder_vectors
def test_whole(vector: dict[str, Any]) -> None:
    _check(vector, [_input(vector)])


@decoder_vectors
def test_one_byte_at_a_time(vector: dict[str, Any]) -> None:
    data = _input(vector)
    chunks = [data[i : i + 1] for i in range(len(data))]
    _check(vector, chunks)
    # Empty chunks between the bytes change nothing either.
    _check(vector, [piece for chunk in chunks for piece in (b"", chunk)])


@pytest.mark.parametrize("vector", CHUNKED_VECTORS, ids=[v["name"] for v in CHUNKED_VECTORS])
def test_own_chunks(vector: dict[str, Any]) -> None:
    _check(vector, [base64.b64decode(c) for c in vector["chunks_b64"]])


@decoder_vectors
def test_split_in_two_everywhere(vector: dict[str, Any]) -> None:
    data = _input(vector)
    for cut in _two_way_cuts(data):
        _check(vector, [data[:cut], data[cut:]])


@decoder_vectors
def test_reference_decoder_agrees(vector: dict[str, Any]) -> None:
    # The naive decoder that the property tests trust, checked against data
    # from outside the project.
    out = naive_sse.decode(_input(vector))
    assert [event[:3] for event in out.events] == _expected(vector)
    if "expected_retry" in vector:
        assert out.retry == vector["expected_retry"]


@decoder_vectors
def test_random_splits(vector: dict[str, Any]) -> None:
    data = _input(vector)
    rng = random.Random(zlib.crc32(vector["name"].encode()))
    for _ in range(8):
        chunks = []
        start = 0
        while start < len(data):
            size = rng.choice((1, 2, 3, 5, 8, 13, 64, 500))
            chunks.append(data[start : start + size])
            start += size
        _check(vector, chunks)
