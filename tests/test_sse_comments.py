"""Comments reported by the decoder: ``SSEDecoder(comments=True)``.

A table of streams with the items they must give (events as
``(type, data, id, retry)``, comments as ``Comment``), each fed whole, one
byte at a time, split in two at every position and at seeded random cuts.
Hypothesis then checks, on the streams of the other property tests, that
turning comments on changes no event, and that after every chunk the items
delivered are exactly what the naive reference decoder makes of the bytes
so far (so a comment is never held back for a later chunk).
"""

from __future__ import annotations

import pickle
import random

import naive_sse
import pytest
from hypothesis import given
from hypothesis import strategies as st
from naive_sse import run_decoder, split_at
from test_sse_properties import PROPERTY, any_streams, chunkings, line_streams

from expys_stream.sse import Comment, EventTooLarge, ServerSentEvent, SSEDecoder, encode_comment

Item = tuple[str, str, str, int | None] | Comment


def ev(data: str, event: str = "message", id: str = "", retry: int | None = None) -> Item:
    return (event, data, id, retry)


# (name, stream, items in order)
VECTORS: list[tuple[str, bytes, list[Item]]] = [
    ("bare colon", b":\n", [Comment("")]),
    ("colon space", b": \n", [Comment("")]),
    ("one space removed", b": x\n", [Comment("x")]),
    ("no space", b":x\n", [Comment("x")]),
    ("two spaces keep one", b":  x\n", [Comment(" x")]),
    ("colons inside", b":a:b: c\n", [Comment("a:b: c")]),
    ("double colon", b"::\n", [Comment(":")]),
    ("CRLF", b": x\r\n", [Comment("x")]),
    ("CR", b": x\r", [Comment("x")]),
    ("lone CR splits", b": a\rb\n", [Comment("a")]),
    ("CR before a comment", b"data: d\r:c\r\r", [Comment("c"), ev("d")]),
    ("utf-8", ": caf\xc3\xa9 \xe2\x9c\x93\n".encode("latin-1"), [Comment("café ✓")]),
    ("invalid utf-8", b": \xff\n", [Comment("\ufffd")]),
    ("after a BOM", b"\xef\xbb\xbf: hi\n", [Comment("hi")]),
    ("unfinished is not reported", b": never", []),
    ("before an event", b": k\ndata: x\n\n", [Comment("k"), ev("x")]),
    ("after an event", b"data: x\n\n: k\n\n", [ev("x"), Comment("k")]),
    (
        "between data lines of one event",
        b"data: a\n: mid\ndata: b\n\n",
        [Comment("mid"), ev("a\nb")],
    ),
    (
        "between id, event and data",
        b"id: 1\n: one\nevent: t\n: two\ndata: d\n\n",
        [Comment("one"), Comment("two"), ev("d", "t", "1")],
    ),
    (
        "keepalives between chat events",
        b"id: 1\nevent: message\ndata: a\n\n:\n\nid: 2\nevent: message\ndata: b\n\n: ka\n\n",
        [ev("a", id="1"), Comment(""), ev("b", id="2"), Comment("ka")],
    ),
    (
        "keepalives between chat events, CRLF",
        b"id: 1\r\nevent: message\r\ndata: a\r\n\r\n: ka\r\n\r\n"
        b"id: 2\r\nevent: message\r\ndata: b\r\n\r\n",
        [ev("a", id="1"), Comment("ka"), ev("b", id="2")],
    ),
    ("comment then retry", b": r\nretry: 5\n", [Comment("r")]),
    ("a comment does not dispatch", b"data: x\n: k\n", [Comment("k")]),
    ("only comments", b": a\n: b\n:c\n", [Comment("a"), Comment("b"), Comment("c")]),
]


def _chunkings(stream: bytes) -> list[list[bytes]]:
    out = [[stream], [stream[i : i + 1] for i in range(len(stream))]]
    out += [[stream[:i], stream[i:]] for i in range(1, len(stream))]
    rng = random.Random(len(stream))
    for _ in range(10):
        out.append(split_at(stream, [rng.randrange(len(stream) + 1) for _ in range(4)]))
    return out


def _items(decoder: SSEDecoder[ServerSentEvent | Comment], chunks: list[bytes]) -> list[Item]:
    out: list[Item] = []
    for chunk in chunks:
        for item in decoder.feed(chunk):
            out.append(item if isinstance(item, Comment) else naive_sse.as_tuple(item))
    return out


@pytest.mark.parametrize(
    ("stream", "expected"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_vector_every_chunking(stream: bytes, expected: list[Item]) -> None:
    for chunks in _chunkings(stream):
        assert _items(SSEDecoder(comments=True), chunks) == expected, chunks


@pytest.mark.parametrize(
    ("stream", "expected"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_vector_without_comments_gives_the_events_only(stream: bytes, expected: list[Item]) -> None:
    events = [item for item in expected if not isinstance(item, Comment)]
    for chunks in _chunkings(stream):
        decoder = SSEDecoder()
        got = [naive_sse.as_tuple(e) for chunk in chunks for e in decoder.feed(chunk)]
        assert got == events, chunks


@pytest.mark.parametrize(
    ("stream", "expected"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_vector_agrees_with_the_reference(stream: bytes, expected: list[Item]) -> None:
    reference = naive_sse.decode(stream, comments=True).items
    assert reference == [i.text if isinstance(i, Comment) else i for i in expected]


def _chat(n: int, *, crlf: bool, keepalive_every: int) -> tuple[bytes, list[Item]]:
    end = b"\r\n" if crlf else b"\n"
    parts: list[bytes] = []
    items: list[Item] = []
    for i in range(n):
        data = f'{{"id": {i}, "body": "message number {i}"}}'
        parts.append(
            b"id: %d%sevent: message%sdata: %s%s%s" % (i, end, end, data.encode(), end, end)
        )
        items.append(ev(data, id=str(i)))
        if i % keepalive_every == keepalive_every - 1:
            parts.append(b": keepalive " + b"%d" % i + end + end)
            items.append(Comment(f"keepalive {i}"))
    return b"".join(parts), items


@pytest.mark.parametrize("crlf", [False, True], ids=["LF", "CRLF"])
@pytest.mark.parametrize("size", [16384, 1000, 97])
def test_keepalives_in_long_chat_runs_are_reported_in_order(crlf: bool, size: int) -> None:
    # The shape the decoder's bulk path takes, where it drops keepalives
    # when comments are off.
    stream, expected = _chat(600, crlf=crlf, keepalive_every=7)
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert _items(SSEDecoder(comments=True), chunks) == expected
    plain = SSEDecoder()
    events = [naive_sse.as_tuple(e) for chunk in chunks for e in plain.feed(chunk)]
    assert events == [item for item in expected if not isinstance(item, Comment)]


def test_a_comment_is_reported_by_the_feed_that_completes_it() -> None:
    decoder = SSEDecoder(comments=True)
    assert decoder.feed(b"id: 1\nevent: message\ndata: a\n\n") == [
        ServerSentEvent(data="a", id="1")
    ]
    # An unfinished event's lines are held for the next chunk; a comment
    # among them is not.
    assert decoder.feed(b"id: 2\n: ping\n") == [Comment("ping")]
    assert decoder.feed(b": pong") == []
    assert decoder.feed(b"\ndata: b\n\n") == [Comment("pong"), ServerSentEvent(data="b", id="2")]


def test_encode_comment_round_trips() -> None:
    for text in ["", "x", " x", "keepalive", "a:b", "é ✓", "two\nlines"]:
        got = SSEDecoder(comments=True).feed(encode_comment(text))
        assert got == [Comment(line) for line in text.split("\n")]


def test_too_large_keeps_the_comments_before_it_in_items() -> None:
    decoder = SSEDecoder(16, comments=True)
    with pytest.raises(EventTooLarge) as caught:
        decoder.feed(b": a\ndata: x\n\n: b\ndata: " + b"y" * 40 + b"\n\n")
    assert caught.value.items == [Comment("a"), ServerSentEvent(data="x"), Comment("b")]
    assert caught.value.events == [ServerSentEvent(data="x")]
    plain = SSEDecoder(16)
    with pytest.raises(EventTooLarge) as caught:
        plain.feed(b": a\ndata: x\n\ndata: " + b"y" * 40 + b"\n\n")
    assert caught.value.items == caught.value.events == [ServerSentEvent(data="x")]


def test_the_comments_argument() -> None:
    assert SSEDecoder().comments is False
    assert SSEDecoder(comments=True).comments is True
    with pytest.raises(TypeError, match="comments must be a bool"):
        SSEDecoder(comments=1)  # type: ignore[call-overload]


# --- Comment, the value type -------------------------------------------------------


def test_comment_is_a_value() -> None:
    assert Comment("x") == Comment("x")
    assert Comment("x") != Comment("y")
    assert Comment() == Comment("")
    assert hash(Comment("x")) == hash(Comment("x"))
    assert Comment("x") != "x"
    assert Comment("x") != ServerSentEvent(data="x")
    assert repr(Comment("x")) == "Comment('x')"
    assert repr(Comment()) == "Comment()"
    assert pickle.loads(pickle.dumps(Comment("é"))) == Comment("é")
    assert Comment("x").text == "x"


def test_comment_is_immutable_and_slotted() -> None:
    comment = Comment("x")
    with pytest.raises(AttributeError):
        comment.text = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        comment.other = 1  # type: ignore[attr-defined]
    assert not hasattr(comment, "__dict__")


def test_comment_rejects_bad_text() -> None:
    with pytest.raises(TypeError):
        Comment(b"x")  # type: ignore[arg-type]
    for bad in ["a\nb", "a\rb"]:
        with pytest.raises(ValueError, match="CR or LF"):
            Comment(bad)


# --- Properties ---------------------------------------------------------------------


@PROPERTY
@given(st.data())
def test_comments_change_no_event(data: st.DataObject) -> None:
    stream = data.draw(any_streams())
    chunks = data.draw(chunkings(stream))
    on = run_decoder(chunks, comments=True, max_event_size=64)
    off = run_decoder(chunks, max_event_size=64)
    assert on.key() == off.key()
    assert [i for i in on.items if not isinstance(i, str)] == on.events


@PROPERTY
@given(st.data())
def test_comments_match_the_reference_after_every_chunk(data: st.DataObject) -> None:
    stream = data.draw(st.one_of(line_streams(), any_streams()))
    chunks = data.draw(chunkings(stream))
    decoder = SSEDecoder(comments=True)
    delivered: list[naive_sse.EventTuple | str] = []
    fed = b""
    for chunk in chunks:
        fed += chunk
        delivered.extend(map(naive_sse.as_item, decoder.feed(chunk)))
        assert delivered == naive_sse.decode(fed, comments=True).items, fed


@PROPERTY
@given(line_streams())
def test_comments_byte_by_byte_match_whole(stream: bytes) -> None:
    whole = run_decoder([stream], comments=True)
    single = run_decoder([stream[i : i + 1] for i in range(len(stream))], comments=True)
    assert single.items == whole.items == naive_sse.decode(stream, comments=True).items
