"""Properties of the decoder, checked with Hypothesis.

* Chunking invariance: however a stream is cut, the decoder ends in the same
  place, and after every chunk it has delivered exactly what the bytes so
  far complete (no event late, none early).
* Differential: the decoder agrees with the naive reference decoder
  (``naive_sse.py``, written from the standard's prose) on SSE-ish byte
  soup and on streams of well-formed lines, where the chat shape
  ``id: X / event: T / data: D / blank`` (for which the decoder takes a
  shortcut, and holds lines back between chunks) repeats a lot.
* Round trip: what ``encode_event`` writes decodes to the same event.
* Robustness: with a small ``max_event_size``, any bytes in any chunks raise
  nothing but ``EventTooLarge``, and the events before the error are the
  same for every chunking.
"""

from __future__ import annotations

import fuzz_sse
import naive_sse
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive_sse import Outcome, run_decoder, split_at

from expys_stream.sse import MAX_RETRY, SSEDecoder, encode_comment, encode_event

PROPERTY = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

# --- Streams of lines -------------------------------------------------------------

_END = st.sampled_from([b"\n", b"\n", b"\n", b"\n", b"\r\n", b"\r"])
_IDS = st.one_of(
    st.integers(0, 10**6).map(lambda n: b"%d" % n),
    st.sampled_from(
        [b"", b" ", b"a b", b"x\x00y", b"\x00", b"\xff", b"\xc3\xa9", b"\xe2\x82", b"a\rb", b"c\r"]
    ),
)
_TYPES = st.sampled_from([b"message", b"message", b"update", b"t", b"", b" x", b"\xff", b"e\x00"])
_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_DATA = st.one_of(
    _TEXT.map(str.encode),
    st.sampled_from([b"", b" ", b'{"a": 1}', b"a:b", b"\xe2\x82", b"\x00", b"\xef\xbb\xbf"]),
    # A lone CR ends a line inside what looks like one: the shortcut must
    # notice it in any column, with LF or CRLF around it.
    st.sampled_from([b"a\rb", b"x\r", b"\r", b"\rdata: y", b"z\r\r"]),
)


@st.composite
def chat_runs(draw: st.DrawFn) -> bytes:
    """Several events of the chat shape, as a server writes them: id, event,
    data and a blank line (or event before id), mostly with the exact
    prefixes the decoder's shortcut looks for."""
    id_field = draw(st.sampled_from([b"id: ", b"id: ", b"id: ", b"id:", b"id:  "]))
    event_field = draw(st.sampled_from([b"event: ", b"event: ", b"event:", b"event"]))
    data_field = draw(st.sampled_from([b"data: ", b"data: ", b"data: ", b"data:"]))
    event_type = draw(_TYPES) if event_field != b"event" else b""
    type_first = draw(st.booleans())  # "event" before "id" is common too
    sequential = draw(st.booleans())
    first = draw(st.integers(0, 1000))
    out = []
    for n in range(draw(st.integers(1, 12))):
        event_id = b"%d" % (first + n) if sequential else draw(_IDS)
        ends = [draw(_END) for _ in range(4)] if draw(st.booleans()) else [draw(_END)] * 4
        # Now and then another line where the id line was, mid-run.
        field = id_field
        if not draw(st.integers(0, 7)):
            field = draw(st.sampled_from([b"id:", b"xid: ", b"idx: ", b"data: ", b"retry: "]))
        id_line = field + event_id + ends[0]
        type_line = event_field + event_type + ends[1]
        if type_first:
            id_line, type_line = type_line, id_line
        data_line = data_field
        if not draw(st.integers(0, 7)):
            data_line = draw(st.sampled_from([b"data:", b"datum: ", b"id: ", b": "]))
        out.append(id_line + type_line + data_line + draw(_DATA) + ends[2] + ends[3])
        if not draw(st.integers(0, 5)):
            # A keepalive between events: a comment and a blank line, which
            # the shortcut drops (unless a lone CR makes them something else).
            text = draw(st.sampled_from([b" keepalive", b"", b" x\ry", b"\r", b":"]))
            out.append(b":" + text + draw(_END) + draw(_END))
    return b"".join(out)


@st.composite
def other_blocks(draw: st.DrawFn) -> bytes:
    """Anything else a stream may hold between chat-shaped events."""
    end = draw(_END)
    kind = draw(st.integers(0, 9))
    if kind == 0:  # multi-line data
        lines = draw(st.lists(_DATA, min_size=2, max_size=4))
        return b"".join(b"data: " + line + end for line in lines) + end
    if kind == 1:  # no id
        return b"event: " + draw(_TYPES) + end + b"data: " + draw(_DATA) + end + end
    if kind == 2:  # id and data only
        return b"id: " + draw(_IDS) + end + b"data: " + draw(_DATA) + end + end
    if kind == 3:
        value = draw(st.one_of(st.integers(0, 10**22).map(b"%d".__mod__), _IDS))
        return b"retry: " + value + end
    if kind == 4:
        return b":" + draw(_DATA) + end
    if kind == 5:  # the chat shape with one line too many
        return b"id: 1" + end + b"event: t" + end + b": c" + end + b"data: d" + end + end
    if kind == 6:  # a chat shape whose event carries a retry
        return b"id: 2" + end + b"retry: 5" + end + b"event: t" + end + b"data: r" + end + end
    if kind == 7:
        name = draw(
            st.sampled_from([b"data", b"event", b"id", b"retry", b"foo", b"\xef\xbb\xbfdata"])
        )
        return name + end  # a field with no colon
    if kind == 8:
        return end  # a lone blank line
    return draw(st.sampled_from([b"data", b"id", b"event", b"x"])) + b": " + draw(_DATA) + end


def line_streams() -> st.SearchStrategy[bytes]:
    block = st.one_of(chat_runs(), chat_runs(), other_blocks())
    prefix = st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\xef\xbb"])
    tail = st.sampled_from([b"", b"", b"id: 9", b"data: unfinished", b"id: 7\nevent: t\ndata: y\n"])
    return st.tuples(prefix, st.lists(block, max_size=12).map(b"".join), tail).map(b"".join)


def any_streams() -> st.SearchStrategy[bytes]:
    return st.one_of(fuzz_sse.sse_streams(), line_streams(), st.binary(max_size=200))


@st.composite
def chunkings(draw: st.DrawFn, stream: bytes) -> list[bytes]:
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=16))
    return split_at(stream, cuts)


# --- Helpers ----------------------------------------------------------------------


def assert_stepwise(stream: bytes, chunks: list[bytes], limit: int | None = None) -> Outcome:
    """Feed ``chunks`` one at a time; after each, what was delivered must be
    what the reference decoder makes of the bytes so far."""
    decoder = SSEDecoder() if limit is None else SSEDecoder(limit)
    delivered: list[naive_sse.EventTuple] = []
    fed = b""
    for chunk in chunks:
        fed += chunk
        expected = naive_sse.decode(fed, max_event_size=limit)
        try:
            delivered.extend(map(naive_sse.as_tuple, decoder.feed(chunk)))
        except naive_sse.EventTooLarge as exc:
            delivered.extend(map(naive_sse.as_tuple, exc.events))
            assert expected.too_large, fed
            assert delivered == expected.events, fed
            return expected
        assert not expected.too_large, fed
        assert delivered == expected.events, fed
        assert decoder.last_event_id == expected.last_event_id, fed
        assert decoder.retry == expected.retry, fed
    assert fed == stream
    return naive_sse.decode(stream, max_event_size=limit)


# --- Chunking invariance and the reference decoder ----------------------------------


@PROPERTY
@given(st.data())
def test_chunking_does_not_matter(data: st.DataObject) -> None:
    stream = data.draw(any_streams())
    whole = run_decoder([stream])
    assert run_decoder(data.draw(chunkings(stream))).key() == whole.key()
    assert run_decoder([stream[i : i + 1] for i in range(len(stream))]).key() == whole.key()


@PROPERTY
@given(fuzz_sse.sse_streams())
def test_agrees_with_reference_on_byte_soup(stream: bytes) -> None:
    assert run_decoder([stream]).key() == naive_sse.decode(stream).key()


@PROPERTY
@given(line_streams())
def test_agrees_with_reference_on_line_streams(stream: bytes) -> None:
    assert run_decoder([stream]).key() == naive_sse.decode(stream).key()


@PROPERTY
@given(st.data())
def test_agrees_with_reference_after_every_chunk(data: st.DataObject) -> None:
    stream = data.draw(st.one_of(line_streams(), fuzz_sse.sse_streams()))
    assert_stepwise(stream, data.draw(chunkings(stream)))


@settings(PROPERTY, max_examples=60)
@given(line_streams(), st.integers(1, 40))
def test_agrees_with_reference_in_fixed_size_chunks(stream: bytes, size: int) -> None:
    # Same-size chunks put cuts at every phase of a repeated event shape.
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert_stepwise(stream, chunks)


@settings(PROPERTY, max_examples=40)
@given(chat_runs(), st.integers(2, 30), st.integers(1, 97))
def test_long_runs_of_chat_events(run: bytes, repeat: int, size: int) -> None:
    # Many identical chat events, cut at a fixed size: the shortcut, the
    # held-back lines and the way back to the general rules all take turns.
    stream = run * repeat + b": bye\n" + run
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert run_decoder(chunks).key() == naive_sse.decode(stream).key()


@pytest.mark.parametrize("end", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize(
    "keepalive",
    [
        b": keepalive\n\n",
        b":\r\n\r\n",
        b": a\rdata: b\n\n",  # a lone CR: a data line, not a comment
        b": a\n\r",  # the blank line ends with a lone CR
        b"id: 7\n: k\n\n",  # the blank line sets the last event ID
        b": a\n: b\n\n",
    ],
)
def test_keepalives_inside_runs(end: bytes, keepalive: bytes) -> None:
    # The shortcut drops a comment and a blank line that follow a blank
    # line; anything else must stop it and take the general rules. Fed
    # whole, more lines follow the first keepalives than the shortcut
    # shifts, so those end their runs instead.
    event = b"id: %d\nevent: message\ndata: {}\n\n"
    events = [(event % n).replace(b"\n", end) for n in range(600)]
    stream = b"".join(e + keepalive if n % 7 == 3 else e for n, e in enumerate(events))
    expected = naive_sse.decode(stream)
    assert len(expected.events) >= 600
    for size in (len(stream), 4096, 333):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert run_decoder(chunks).key() == expected.key()


@settings(PROPERTY, max_examples=100)
@given(st.data(), st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=6))
def test_start_id_agrees_with_reference(data: st.DataObject, start_id: str) -> None:
    stream = data.draw(line_streams())
    chunks = data.draw(chunkings(stream))
    expected = naive_sse.decode(stream, last_event_id=start_id)
    assert run_decoder(chunks, last_event_id=start_id).key() == expected.key()


# --- Round trip through the encoder -----------------------------------------------

_FIELD_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=10)
_ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)

_EVENTS = st.tuples(
    st.one_of(_ANY_TEXT, _ANY_TEXT.map(str.encode)),  # data, str or bytes
    st.none() | _FIELD_TEXT,  # event type
    st.none() | _FIELD_TEXT.map(lambda text: text.replace("\x00", "")),  # id
    st.none() | st.integers(0, MAX_RETRY),  # retry
)


@PROPERTY
@given(st.data(), st.lists(st.one_of(_EVENTS, _ANY_TEXT), max_size=8))
def test_encoded_events_decode_back(data: st.DataObject, items: list[object]) -> None:
    # items: events to encode, and comments (plain strings) between them.
    parts = []
    expected: list[naive_sse.EventTuple] = []
    current_id = ""
    last_retry = None
    for item in items:
        if isinstance(item, str):
            parts.append(encode_comment(item))
            continue
        payload, event_type, event_id, retry = item  # type: ignore[misc]
        parts.append(encode_event(payload, event=event_type, id=event_id, retry=retry))
        text = payload.decode() if isinstance(payload, bytes) else payload
        if event_id is not None:
            current_id = event_id
        if retry is not None:
            last_retry = retry
        normalised = text.replace("\r\n", "\n").replace("\r", "\n")
        expected.append((event_type or "message", normalised, current_id, retry))
    stream = b"".join(parts)
    out = run_decoder(data.draw(chunkings(stream)))
    assert out.key() == Outcome(expected, current_id, last_retry).key()


# --- Robustness under a small limit ---------------------------------------------------


@settings(PROPERTY, max_examples=200)
@given(st.data(), st.sampled_from([4, 8, 16, 64]))
def test_small_limit_only_raises_event_too_large(data: st.DataObject, limit: int) -> None:
    stream = data.draw(st.one_of(any_streams(), st.binary(min_size=50, max_size=400)))
    # run_decoder lets every exception but EventTooLarge escape.
    whole = run_decoder([stream], max_event_size=limit)
    chunked = run_decoder(data.draw(chunkings(stream)), max_event_size=limit)
    single = run_decoder([stream[i : i + 1] for i in range(len(stream))], max_event_size=limit)
    assert chunked.key() == whole.key()
    assert single.key() == whole.key()
    # And the stream-defined limit rules are those of the reference.
    assert whole.key() == naive_sse.decode(stream, max_event_size=limit).key()


@settings(PROPERTY, max_examples=100)
@given(st.data(), st.sampled_from([8, 16, 64]))
def test_small_limit_agrees_after_every_chunk(data: st.DataObject, limit: int) -> None:
    stream = data.draw(line_streams())
    assert_stepwise(stream, data.draw(chunkings(stream)), limit)


# --- The fuzz target --------------------------------------------------------------------


def test_fuzz_fallback_runs() -> None:
    assert fuzz_sse.fuzz_with_hypothesis(seconds=2.0, examples_per_round=25) > 0


def test_fuzz_target_lets_other_exceptions_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: SSEDecoder, data: bytes) -> list[object]:
        raise ValueError("not the documented error")

    monkeypatch.setattr(SSEDecoder, "feed", broken)
    with pytest.raises(ValueError):
        fuzz_sse.check(b"\x00\x01\x02\x03data: x\n\n")


def test_fuzz_plan_keeps_every_byte() -> None:
    limit, stream, chunks = fuzz_sse.plan(b"\x01\x05\x00\x10" + b"data: x\n\n" * 5)
    assert limit == 16
    assert stream == b"data: x\n\n" * 5
    assert b"".join(chunks) == stream
    assert [len(chunk) for chunk in chunks[:3]] == [6, 1, 17]
