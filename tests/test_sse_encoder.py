"""encode_event and encode_comment: the exact output, every documented error,
and that the decoder reads back what was written."""

from __future__ import annotations

from typing import Any

import pytest

from expys_stream.sse import MAX_RETRY, ServerSentEvent, SSEDecoder, encode_comment, encode_event


def decode(stream: bytes, **kwargs: str) -> list[ServerSentEvent]:
    return SSEDecoder(**kwargs).feed(stream)  # type: ignore[arg-type]


# --- Output ---------------------------------------------------------------------


def test_data_only() -> None:
    assert encode_event("hello") == b"data: hello\n\n"


def test_all_fields() -> None:
    # id, event, retry, data: the order of docs/protocol.md's example.
    expected = b"id: 1\nevent: t\nretry: 5\ndata: x\n\n"
    assert encode_event("x", event="t", id="1", retry=5) == expected


def test_chat_event_has_the_common_shape() -> None:
    # The shape that decoders (ours included) take a shortcut for.
    assert encode_event("x", event="t", id="1") == b"id: 1\nevent: t\ndata: x\n\n"


def test_bytes_data_is_written_as_is() -> None:
    assert encode_event("\u20ac".encode()) == b"data: \xe2\x82\xac\n\n"


def test_empty_data_is_one_empty_data_line() -> None:
    # An event needs a data line to be dispatched at all, even an empty one.
    assert encode_event("") == b"data: \n\n"
    (event,) = decode(encode_event(""))
    assert event.data == ""


def test_empty_id_clears() -> None:
    assert encode_event("x", id="") == b"id\ndata: x\n\n"
    (event,) = decode(encode_event("x", id=""), last_event_id="old")
    assert event.id == ""


def test_empty_event_type_decodes_as_message() -> None:
    (event,) = decode(encode_event("x", event=""))
    assert event.event == "message"


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        ("a\nb", [b"a", b"b"]),
        ("a\r\nb", [b"a", b"b"]),
        ("a\rb", [b"a", b"b"]),
        ("a\r\n\r\nb", [b"a", b"", b"b"]),
        ("a\n", [b"a", b""]),
        ("\n", [b"", b""]),
        ("\r\r\n", [b"", b"", b""]),
    ],
)
def test_multiline_data_split_on_crlf_cr_lf(data: str, lines: list[bytes]) -> None:
    expected = b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
    assert encode_event(data) == expected
    (event,) = decode(expected)
    assert event.data == "\n".join(line.decode() for line in lines)


def test_other_line_breaks_are_not_split() -> None:
    # str.splitlines would split on all of these; SSE lines end at CR/LF only.
    data = "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i"
    assert encode_event(data) == b"data: " + data.encode() + b"\n\n"
    (event,) = decode(encode_event(data))
    assert event.data == data


def test_leading_spaces_survive() -> None:
    # The encoder writes "field: value", so a value's own leading space is
    # the second one, which the decoder keeps.
    (event,) = decode(encode_event(" x", event=" t", id=" i"))
    assert (event.data, event.event, event.id) == (" x", " t", " i")


def test_nul_in_data_and_event_round_trips() -> None:
    (event,) = decode(encode_event("a\x00b", event="t\x00"))
    assert (event.data, event.event) == ("a\x00b", "t\x00")


def test_retry_bounds_are_accepted() -> None:
    assert encode_event("x", retry=0) == b"retry: 0\ndata: x\n\n"
    decoder = SSEDecoder()
    (event,) = decoder.feed(encode_event("x", retry=MAX_RETRY))
    assert event.retry == decoder.retry == MAX_RETRY


def test_output_is_bytes() -> None:
    assert type(encode_event("x")) is bytes
    assert type(encode_comment("x")) is bytes


# --- Comments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", b":\n"),
        ("keepalive", b": keepalive\n"),
        ("a\nb", b": a\n: b\n"),
        ("a\r\n\rb", b": a\n:\n: b\n"),
        (" x", b":  x\n"),
    ],
)
def test_comment(text: str, expected: bytes) -> None:
    assert encode_comment(text) == expected


def test_comment_default_is_bare_colon() -> None:
    assert encode_comment() == b":\n"


def test_comments_decode_to_nothing() -> None:
    tricky = "data: x\n\nid: 9\r\nevent: t\rretry: 1\n"
    decoder = SSEDecoder()
    events = decoder.feed(encode_comment(tricky) + encode_event("real"))
    assert [(e.event, e.data, e.id) for e in events] == [("message", "real", "")]
    assert decoder.retry is None
    assert decoder.last_event_id == ""


# --- Errors ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\x00b", "\r\n"])
def test_id_with_cr_lf_or_nul_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_event("x", id=bad)


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "\r\n"])
def test_event_with_cr_or_lf_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_event("x", event=bad)


@pytest.mark.parametrize("bad", [b"\xff", b"a\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"])
def test_bytes_data_must_be_utf8(bad: bytes) -> None:
    with pytest.raises(ValueError):
        encode_event(bad)


@pytest.mark.parametrize("retry", [-1, MAX_RETRY + 1, -(2**70)])
def test_retry_out_of_range_is_rejected(retry: int) -> None:
    with pytest.raises(ValueError):
        encode_event("x", retry=retry)


@pytest.mark.parametrize("field", ["data", "event", "id"])
def test_lone_surrogates_cannot_be_encoded(field: str) -> None:
    kwargs = {"data": "x", field: "a\ud800"}
    with pytest.raises(ValueError):
        encode_event(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [None, 1, 1.5, ["x"], bytearray(b"x")])
def test_data_of_wrong_type(data: object) -> None:
    with pytest.raises(TypeError):
        encode_event(data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": b"t"},
        {"event": 1},
        {"id": b"1"},
        {"id": 1},
        {"retry": "5"},
        {"retry": 5.0},
        {"retry": True},
    ],
)
def test_fields_of_wrong_type(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        encode_event("x", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [None, b"x", 1])
def test_comment_of_wrong_type(text: object) -> None:
    with pytest.raises(TypeError):
        encode_comment(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_event("\ud800"),
        lambda: encode_event("x", id="\udfff"),
        lambda: encode_event("x", event="t\ud800"),
        lambda: encode_comment("\ud800"),
    ],
)
def test_a_lone_surrogate_is_a_plain_value_error(call: Any) -> None:
    # UTF-8 cannot hold one; the error says so instead of the codec's.
    with pytest.raises(ValueError, match="not valid Unicode") as info:
        call()
    assert type(info.value) is ValueError
