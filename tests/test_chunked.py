"""The bulk HTTP body readers that feed the SSE decoder on streams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expys_stream import ProtocolError
from expys_stream._http._chunked import ChunkedReader, LengthReader, UntilCloseReader


def encode_chunked(parts: list[bytes], *, extension: bytes = b"", trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in parts if p)
    return body + b"0\r\n" + trailer + b"\r\n"


def feed_in_pieces(reader: ChunkedReader, data: bytes, cuts: list[int]) -> bytes:
    out = []
    start = 0
    for cut in sorted(set(cuts)):
        out.append(reader.feed(data[start:cut]))
        start = cut
    out.append(reader.feed(data[start:]))
    return b"".join(out)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=8000), max_size=30),
    extension=st.sampled_from([b"", b";name=value", b" ; a=1;b", b';q="x;y"']),
    trailer=st.sampled_from([b"", b"Expires: never\r\n", b"A: 1\r\nB: 2\r\n"]),
)
def test_any_split_gives_the_payload_back(
    parts: list[bytes], cuts: list[int], extension: bytes, trailer: bytes
) -> None:
    wire = encode_chunked(parts, extension=extension, trailer=trailer)
    reader = ChunkedReader()
    assert feed_in_pieces(reader, wire, [c % (len(wire) + 1) for c in cuts]) == b"".join(parts)
    assert reader.done


def test_bytes_after_the_last_chunk_are_not_payload() -> None:
    reader = ChunkedReader()
    assert reader.feed(b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n") == b"abc"
    assert reader.done
    assert reader.feed(b"more") == b""


def test_uppercase_hex_and_leading_zeros() -> None:
    assert ChunkedReader().feed(b"00A\r\n0123456789\r\n0\r\n\r\n") == b"0123456789"


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\nabc\r\n",  # not hex
        b"-3\r\nabc\r\n",  # signed
        b"3_0\r\nabc\r\n",  # underscores, which int() would accept
        b"3\r\nabcXY",  # the chunk does not end with CRLF
        b"12345678901234567\r\n",  # absurdly many digits
    ],
)
def test_malformed_framing_raises_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkedReader().feed(wire)


def test_a_size_line_that_never_ends_is_bounded() -> None:
    reader = ChunkedReader()
    for _ in range(8):
        assert reader.feed(b"1" * 1000) == b""
    with pytest.raises(ProtocolError, match="too long"):
        reader.feed(b"1" * 1000)


def test_length_reader_stops_at_the_length() -> None:
    reader = LengthReader(5)
    assert reader.feed(b"abc") == b"abc"
    assert not reader.done
    assert reader.feed(b"defgh") == b"de"
    assert reader.done
    assert reader.feed(b"x") == b""
    assert LengthReader(0).done


def test_until_close_passes_everything() -> None:
    reader = UntilCloseReader()
    assert reader.feed(b"abc") == b"abc"
    assert not reader.done
