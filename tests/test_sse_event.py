"""ServerSentEvent: an immutable, slotted value object."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from expys_stream.sse import ServerSentEvent, SSEDecoder


def decoded(stream: bytes) -> ServerSentEvent:
    (event,) = SSEDecoder().feed(stream)
    return event


FULL = ServerSentEvent(event="t", data="x", id="1", retry=5)

# The same event reached along different paths through the decoder: the
# chat-shaped shortcut, the general rules, and a chunk at a time.
SAME_EVENT_STREAMS = [
    b"id: 1\nevent: t\ndata: x\n\n",
    b"id:1\nevent:t\ndata:x\n\n",
    b"data: x\nevent: t\nid: 1\n\n",
    b": c\r\nid: 1\r\nevent: t\r\ndata: x\r\n\r\n",
]


# --- Construction ---------------------------------------------------------------


def test_defaults() -> None:
    event = ServerSentEvent()
    assert (event.event, event.data, event.data_bytes, event.id, event.retry) == (
        "message",
        "",
        b"",
        "",
        None,
    )


def test_fields() -> None:
    assert (FULL.event, FULL.data, FULL.id, FULL.retry) == ("t", "x", "1", 5)
    assert ServerSentEvent(data="\u00e9").data_bytes == b"\xc3\xa9"


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        ServerSentEvent("t")  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [{"event": 1}, {"data": b"x"}, {"id": None}, {"retry": "5"}, {"retry": 1.5}, {"retry": True}],
)
def test_wrong_types(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        ServerSentEvent(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("id_", ["a\rb", "a\n", "\r", "\r\n"])
def test_id_with_a_line_end_is_rejected(id_: str) -> None:
    # No stream can dispatch one: a line end ends the id field.
    with pytest.raises(ValueError, match="CR or LF"):
        ServerSentEvent(id=id_)


def test_negative_retry_is_rejected() -> None:
    with pytest.raises(ValueError, match="retry must not be negative"):
        ServerSentEvent(retry=-1)
    with pytest.raises(TypeError, match="retry must be an int or None"):
        ServerSentEvent(retry=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry must be an int or None"):
        ServerSentEvent(retry=True)


def test_module_is_public() -> None:
    assert ServerSentEvent.__module__ == "expys_stream.sse"


# --- Repr -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (ServerSentEvent(), "ServerSentEvent()"),
        (ServerSentEvent(event="message", data="", id=""), "ServerSentEvent()"),
        (ServerSentEvent(data="x"), "ServerSentEvent(data='x')"),
        (ServerSentEvent(id="7"), "ServerSentEvent(id='7')"),
        (ServerSentEvent(event="t"), "ServerSentEvent(event='t')"),
        (ServerSentEvent(retry=0), "ServerSentEvent(retry=0)"),
        (FULL, "ServerSentEvent(event='t', data='x', id='1', retry=5)"),
    ],
)
def test_repr_omits_defaults(event: ServerSentEvent, text: str) -> None:
    assert repr(event) == text


def test_repr_of_decoded_event() -> None:
    event = decoded(b"id: 1\nevent: t\ndata: a\xffb\n\n")
    assert repr(event) == "ServerSentEvent(event='t', data='a\ufffdb', id='1')"


# --- Immutability ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["event", "data", "data_bytes", "id", "retry", "other"])
def test_attributes_cannot_be_set_or_deleted(name: str) -> None:
    event = decoded(b"data: x\n\n")
    with pytest.raises(AttributeError):
        setattr(event, name, "y")
    with pytest.raises(AttributeError):
        delattr(event, name)
    assert (event.data, event.event) == ("x", "message")


def test_slotted() -> None:
    assert not hasattr(FULL, "__dict__")
    assert "__slots__" in ServerSentEvent.__dict__


# --- Equality and hashing ----------------------------------------------------------


@pytest.mark.parametrize("stream", SAME_EVENT_STREAMS)
def test_decoded_equals_constructed(stream: bytes) -> None:
    expected = ServerSentEvent(event="t", data="x", id="1")
    event = decoded(stream)
    assert event == expected
    assert hash(event) == hash(expected)
    assert len({event, expected}) == 1


def test_every_field_takes_part_in_equality() -> None:
    others = [
        ServerSentEvent(event="u", data="x", id="1", retry=5),
        ServerSentEvent(event="t", data="y", id="1", retry=5),
        ServerSentEvent(event="t", data="x", id="2", retry=5),
        ServerSentEvent(event="t", data="x", id="1", retry=6),
        ServerSentEvent(event="t", data="x", id="1"),
    ]
    for other in others:
        assert other != FULL
    assert len({FULL, *others}) == 6
    assert ServerSentEvent(event="t", data="x", id="1", retry=5) == FULL


def test_not_equal_to_other_types() -> None:
    assert FULL != ("t", "x", "1", 5)
    assert FULL != "x"
    assert FULL.__eq__(object()) is NotImplemented


# --- data and data_bytes -------------------------------------------------------------


def test_data_bytes_keep_invalid_utf8_and_data_replaces_it() -> None:
    event = decoded(b"data: a\xffb\xe2\x82\n\n")
    assert event.data_bytes == b"a\xffb\xe2\x82"
    assert event.data == "a\ufffdb\ufffd"


def test_data_is_decoded_once() -> None:
    event = decoded(b"data: \xc3\xa9t\xc3\xa9\n\n")
    assert event.data == "\u00e9t\u00e9"
    assert event.data is event.data


def test_multiline_data_bytes_are_joined_with_lf() -> None:
    event = decoded(b"data: a\r\ndata: b\rdata: c\n\n")
    assert event.data_bytes == b"a\nb\nc"


# --- id: kept raw, decoded when read ------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"id: 1\nevent: t\ndata: x\n\n", "1"),  # the chat-shaped shortcut
        (b"id:1\ndata: x\n\n", "1"),
        (b"id:  1\ndata: x\n\n", " 1"),
        (b"id: \xc3\xa9\ndata: x\n\n", "\u00e9"),
        (b"id: a\xffb\ndata: x\n\n", "a\ufffdb"),
        (b"id: \xe2\x82\nevent: t\ndata: x\n\n", "\ufffd"),
        (b"id\ndata: x\n\n", ""),
        (b"id: \ndata: x\n\n", ""),
        (b"data: x\n\n", ""),
    ],
)
def test_id_is_decoded_when_read(stream: bytes, expected: str) -> None:
    event = decoded(stream)
    assert event.id == expected
    assert event.id == expected  # reading it twice gives the same text
    assert pickle.loads(pickle.dumps(event)).id == expected


# --- Pickle and copy --------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(protocol: int) -> None:
    for event in [
        ServerSentEvent(),
        FULL,
        decoded(b"id: 1\nevent: t\ndata: x\n\n"),
        decoded(b"retry: 9\nid: \xff\ndata: a\xffb\n\n"),
    ]:
        copy_ = pickle.loads(pickle.dumps(event, protocol))
        assert type(copy_) is ServerSentEvent
        assert copy_ == event
        assert (copy_.event, copy_.data, copy_.data_bytes, copy_.id, copy_.retry) == (
            event.event,
            event.data,
            event.data_bytes,
            event.id,
            event.retry,
        )


def test_pickle_keeps_raw_data_bytes() -> None:
    event = pickle.loads(pickle.dumps(decoded(b"data: a\xffb\n\n")))
    assert event.data_bytes == b"a\xffb"


def test_copy_and_deepcopy() -> None:
    event = decoded(b"id: 1\nevent: t\ndata: x\n\n")
    assert copy.copy(event) == event
    assert copy.deepcopy(event) == event


def test_events_from_lf_and_crlf_streams_are_equal() -> None:
    # The decoder keeps a CRLF stream's ID lines raw; that must not show.
    lf = decoded(b"id: 1\nevent: t\ndata: x\n\n")
    crlf = decoded(b"id: 1\r\nevent: t\r\ndata: x\r\n\r\n")
    assert lf == crlf
    assert hash(lf) == hash(crlf)
    assert crlf.id == "1"
    assert repr(crlf) == repr(lf) == "ServerSentEvent(event='t', data='x', id='1')"


def test_id_key_is_the_same_for_lf_crlf_and_constructed_ids() -> None:
    # The client skips replayed events by comparing these keys.
    from expys_stream.sse._event import _id_key, _id_line

    lf = decoded(b"id: msg_1\ndata: x\n\n")
    crlf = decoded(b"id: msg_1\r\ndata: x\r\n\r\n")
    general = decoded(b"id:msg_1\r\ndata: x\r\n\n")  # a mix: the general path
    keys = {_id_key(e._id_line) for e in (lf, crlf, general)}
    assert keys == {_id_line("msg_1")}
    assert _id_key(decoded(b"id: msg_2\r\ndata: x\r\n\r\n")._id_line) != _id_line("msg_1")


def test_repr_is_the_same_for_lf_and_crlf_streams() -> None:
    # An empty ID is left out of the repr whatever line end its line had.
    lf = SSEDecoder().feed(b"id: \nevent: message\ndata: x\n\nid: 7\nevent: message\ndata: y\n\n")
    crlf = SSEDecoder().feed(
        b"id: \r\nevent: message\r\ndata: x\r\n\r\nid: 7\r\nevent: message\r\ndata: y\r\n\r\n"
    )
    assert list(map(repr, lf)) == list(map(repr, crlf))
    assert repr(crlf[0]) == "ServerSentEvent(data='x')"
    assert repr(crlf[1]) == "ServerSentEvent(data='y', id='7')"


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: ServerSentEvent(data="\ud800"), "data is not valid Unicode"),
        (lambda: ServerSentEvent(id="\ud800"), "id is not valid Unicode"),
        (lambda: SSEDecoder(last_event_id="\ud800"), "last_event_id is not valid Unicode"),
    ],
)
def test_a_lone_surrogate_is_a_plain_value_error(call: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        call()
    assert type(info.value) is ValueError
