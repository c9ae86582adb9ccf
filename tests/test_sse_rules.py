"""The WHATWG rules for interpreting an event stream, one case per rule.

Each case is read from the standard's text (HTML, "Server-sent events",
section "Interpreting an event stream"); the comment above it quotes or
paraphrases the sentence it checks. A case is a stream (in the chunks that
matter for the rule) and what it must leave behind: the dispatched events as
(type, data, id, retry), the decoder's ``last_event_id`` and ``retry``.

Every case runs four ways: in its own chunks, whole, one byte at a time, and
through the naive reference decoder (``naive_sse.py``), so that a case
which is wrong about the standard shows up as a disagreement too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from naive_sse import EventTuple, as_tuple
from naive_sse import decode as naive_decode

from expys_stream.sse import MAX_RETRY, SSEDecoder


def ev(data: str, event: str = "message", id: str = "", retry: int | None = None) -> EventTuple:
    return (event, data, id, retry)


@dataclass(frozen=True)
class Rule:
    chunks: tuple[bytes, ...]
    events: tuple[EventTuple, ...] = ()
    last_event_id: str = ""
    retry: int | None = None
    start_id: str = ""  # the decoder's last_event_id argument


def rule(
    name: str,
    *chunks: bytes,
    events: tuple[EventTuple, ...] = (),
    last_id: str = "",
    retry: int | None = None,
    start_id: str = "",
) -> object:
    return pytest.param(Rule(chunks, events, last_id, retry, start_id), id=name)


RULES = [
    # --- Decoding: "Streams must be decoded using the UTF-8 decode
    # algorithm", which replaces each invalid sequence with U+FFFD.
    rule("utf8-invalid-byte-in-data", b"data: a\xffb\n\n", events=(ev("a\ufffdb"),)),
    # A truncated sequence is one maximal subpart: one U+FFFD, not two.
    rule("utf8-truncated-sequence-in-data", b"data: \xe2\x82\n\n", events=(ev("\ufffd"),)),
    # The truncated sequence ends where the line does; the next line is intact.
    rule(
        "utf8-truncated-before-next-line",
        b"data: \xe2\x82\ndata: \xe2\x82\xac\n\n",
        events=(ev("\ufffd\n\u20ac"),),
    ),
    # Encoded surrogates are not UTF-8: every byte is an error of its own.
    rule("utf8-surrogate-in-data", b"data: \xed\xa0\x80\n\n", events=(ev("\ufffd" * 3),)),
    # Overlong forms are errors too.
    rule("utf8-overlong-in-data", b"data: \xc0\xaf\n\n", events=(ev("\ufffd\ufffd"),)),
    rule(
        "utf8-invalid-in-event-type",
        b"event: t\xff\ndata: x\n\n",
        events=(ev("x", event="t\ufffd"),),
    ),
    rule(
        "utf8-invalid-in-id",
        b"id: \xc3\ndata: x\n\n",
        events=(ev("x", id="\ufffd"),),
        last_id="\ufffd",
    ),
    # The field name is compared after decoding: "d\ufffdta" is no field.
    rule("utf8-invalid-in-field-name", b"d\xe1ta: x\n\n"),
    # A multi-byte character split across chunks is still one character.
    rule(
        "utf8-character-split-across-chunks",
        b"data: \xe2",
        b"\x82",
        b"\xac\n\n",
        events=(ev("\u20ac"),),
    ),
    # --- "One leading U+FEFF BYTE ORDER MARK character must be ignored if
    # any are present." One, and only at the start of the stream.
    rule("bom-at-start-dropped", b"\xef\xbb\xbfdata: x\n\n", events=(ev("x"),)),
    # A second BOM is part of the first line: its field is "\ufeffdata".
    rule(
        "bom-only-once",
        b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n",
        events=(ev("y"),),
    ),
    rule(
        "bom-not-at-start-kept",
        b"data: x\n\n\xef\xbb\xbfdata: y\n\n",
        events=(ev("x"),),
    ),
    rule(
        "bom-split-byte-by-byte",
        b"\xef",
        b"\xbb",
        b"\xbf",
        b"data: x\n\n",
        events=(ev("x"),),
    ),
    rule(
        "bom-split-with-empty-chunks",
        b"",
        b"\xef",
        b"",
        b"\xbb\xbf",
        b"",
        b"data: x\n\n",
        events=(ev("x"),),
    ),
    rule(
        "bom-alone-then-second-bom-kept",
        b"\xef\xbb\xbf",
        b"\xef\xbb\xbfdata: x\n\n",
    ),
    rule(
        "bom-second-split-across-chunks-kept",
        b"\xef\xbb",
        b"\xbf\xef",
        b"\xbb\xbfdata: x\n\ndata: y\n\n",
        events=(ev("y"),),
    ),
    # Two bytes of a BOM then something else: an invalid sequence, the line's
    # field name is "\ufffddata".
    rule("bom-partial-is-not-a-bom", b"\xef\xbb", b"data: x\n\ndata: y\n\n", events=(ev("y"),)),
    rule("bom-inside-data-kept", b"data: \xef\xbb\xbfx\n\n", events=(ev("\ufeffx"),)),
    # A stream that starts with a line end: the BOM question ends there.
    rule("bom-after-first-line-kept", b"\n\xef\xbb\xbfdata: x\n\n"),
    # --- "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a
    # single U+000A LINE FEED (LF) character not preceded by a U+000D
    # CARRIAGE RETURN (CR) character, and a single U+000D CARRIAGE RETURN (CR)
    # character not followed by a U+000A LINE FEED (LF) character being the
    # ways in which a line can end."
    rule("line-end-lf", b"data: x\n\n", events=(ev("x"),)),
    rule("line-end-crlf", b"data: x\r\n\r\n", events=(ev("x"),)),
    rule("line-end-cr", b"data: x\r\rdata: y\r\r", events=(ev("x"), ev("y"))),
    rule("line-end-mixed", b"data: a\rdata: b\r\ndata: c\n\n", events=(ev("a\nb\nc"),)),
    # LF then CR is two line ends (only CR then LF is a pair).
    rule("line-end-lf-cr-is-two", b"data: x\n\r", events=(ev("x"),)),
    # A CR at the end of one chunk and a LF at the start of the next are one
    # CRLF: if they counted as two, the blank line would dispatch "a" alone.
    rule("crlf-split-across-chunks", b"data: a\r", b"\ndata: b\r", b"\n\r\n", events=(ev("a\nb"),)),
    # An empty chunk between the CR and the LF changes nothing.
    rule(
        "crlf-split-with-empty-chunk",
        b"data: a\r",
        b"",
        b"\ndata: b\n\n",
        events=(ev("a\nb"),),
    ),
    # A CR at the end of a chunk followed by anything but LF ended its line.
    rule("cr-then-other-chunk", b"data: a\r", b"data: b\n\n", events=(ev("a\nb"),)),
    rule("cr-then-cr-chunk", b"data: a\r", b"\r", events=(ev("a"),)),
    rule("cr-then-crlf-chunk", b"data: a\r", b"\r\n", events=(ev("a"),)),
    # Only CR and LF end lines: VT, FF, the file/group/record separators,
    # NEL and U+2028/U+2029 (which str.splitlines splits on) are data.
    rule(
        "other-line-breaks-are-data",
        b"data: a\x0bb\x0cc\x1cd\x1de\x1ef\xc2\x85g\xe2\x80\xa8h\xe2\x80\xa9i\n\n",
        events=(ev("a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i"),),
    ),
    # --- "If the line starts with a U+003A COLON character (:) Ignore the line."
    rule("comment-ignored", b": hello\ndata: x\n\n", events=(ev("x"),)),
    rule("comment-does-not-split-data", b"data: a\n: c\ndata: b\n\n", events=(ev("a\nb"),)),
    rule("comment-bare-colon", b":\ndata: x\n:\n\n", events=(ev("x"),)),
    # A comment is not a blank line: nothing is dispatched by it.
    rule("comment-is-not-blank", b"data: x\n: c\n"),
    # --- "Otherwise, the string is not empty but does not contain a U+003A
    # COLON character (:): Process the field using ... the whole line as the
    # field name, and the empty string as the field value."
    rule("no-colon-data-is-empty-data", b"data\n\n", events=(ev(""),)),
    rule("no-colon-event-is-default-type", b"event\ndata: x\n\n", events=(ev("x"),)),
    rule("no-colon-id-clears", b"id\ndata: x\n\n", events=(ev("x"),), start_id="old"),
    # --- "Collect the characters on the line after the first U+003A COLON
    # character (:), and let value be that string. If value starts with a
    # U+0020 SPACE character, remove it from value."
    rule("one-space-stripped", b"data: x\n\n", events=(ev("x"),)),
    rule("no-space-needed", b"data:x\n\n", events=(ev("x"),)),
    rule("two-spaces-keep-one", b"data:  x\n\n", events=(ev(" x"),)),
    rule("tab-not-stripped", b"data:\tx\n\n", events=(ev("\tx"),)),
    rule("trailing-spaces-kept", b"data: x  \n\n", events=(ev("x  "),)),
    rule("only-first-colon-splits", b"data: a:b: c\n\n", events=(ev("a:b: c"),)),
    # The field name is everything before the first colon, space included.
    rule("space-before-colon-is-other-field", b"data : x\n\n"),
    rule("field-names-are-case-sensitive", b"Data: x\nDATA: y\n\n"),
    # --- "Otherwise: The field is ignored."
    rule("unknown-field-ignored", b"foo: bar\ndata: x\nbaz\n\n", events=(ev("x"),)),
    rule("unknown-field-alone-dispatches-nothing", b"foo: bar\n\n"),
    # --- data: "Append the field value to the data buffer, then append a
    # single U+000A LINE FEED (LF) character"; at dispatch "If the data
    # buffer's last character is a U+000A LINE FEED (LF) character, then
    # remove the last character".
    rule("data-lines-joined-with-lf", b"data: a\ndata: b\n\n", events=(ev("a\nb"),)),
    # The buffer is "\n": not empty, so an event with empty data.
    rule("data-empty-value-dispatches", b"data:\n\n", events=(ev(""),)),
    rule("data-space-only-value-dispatches", b"data: \n\n", events=(ev(""),)),
    # The buffer is "\n\n": one LF removed, one kept.
    rule("data-two-empty-lines", b"data\ndata\n\n", events=(ev("\n"),)),
    rule("data-empty-last-line", b"data: a\ndata:\n\n", events=(ev("a\n"),)),
    rule("data-nul-kept", b"data: a\x00b\n\n", events=(ev("a\x00b"),)),
    # "If the data buffer is an empty string, set the data buffer and the
    # event type buffer to the empty string and return."
    rule("blank-lines-alone-dispatch-nothing", b"\n\n\r\n\r"),
    rule("blank-without-data-resets-type", b"event: x\n\ndata: y\n\n", events=(ev("y"),)),
    # --- event: "Set the event type buffer to field value." It names only
    # the next dispatched event: dispatch sets the buffer back to "".
    rule(
        "event-type-applies-to-next-only",
        b"event: a\ndata: 1\n\ndata: 2\n\n",
        events=(ev("1", event="a"), ev("2")),
    ),
    # "If the event type buffer has a value other than the empty string";
    # an empty one leaves the default, "message".
    rule("event-empty-is-message", b"event:\ndata: x\n\n", events=(ev("x"),)),
    rule("event-last-field-wins", b"event: a\nevent: b\ndata: x\n\n", events=(ev("x", "b"),)),
    rule("event-after-data-counts", b"data: x\nevent: late\n\n", events=(ev("x", "late"),)),
    rule("event-two-spaces-keep-one", b"event:  a\ndata: x\n\n", events=(ev("x", " a"),)),
    rule("event-nul-kept", b"event: a\x00\ndata: x\n\n", events=(ev("x", "a\x00"),)),
    # --- id: "If the field value does not contain U+0000 NULL, then set the
    # last event ID buffer to the field value. Otherwise, ignore the field."
    # The buffer "does not get reset", so the ID persists across events.
    rule(
        "id-persists",
        b"id: 1\ndata: a\n\ndata: b\n\n",
        events=(ev("a", id="1"), ev("b", id="1")),
        last_id="1",
    ),
    rule(
        "id-empty-clears",
        b"id: 1\ndata: a\n\nid:\ndata: b\n\n",
        events=(ev("a", id="1"), ev("b")),
    ),
    rule(
        "id-with-nul-ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        events=(ev("a", id="1"), ev("b", id="1")),
        last_id="1",
    ),
    rule(
        "id-only-nul-ignored",
        b"id: \x00\ndata: x\n\n",
        events=(ev("x", id="k"),),
        last_id="k",
        start_id="k",
    ),
    rule("id-after-data-counts", b"data: x\nid: 3\n\n", events=(ev("x", id="3"),), last_id="3"),
    rule(
        "id-two-spaces-keep-one",
        b"id:  a b \ndata: x\n\n",
        events=(ev("x", id=" a b "),),
        last_id=" a b ",
    ),
    rule(
        "id-multibyte",
        b"id: \xc3\xbc\ndata: x\n\n",
        events=(ev("x", id="\u00fc"),),
        last_id="\u00fc",
    ),
    # Dispatch step 1, "Set the last event ID string of the event source to
    # the value of the last event ID buffer", comes before the check for an
    # empty data buffer: a block with only an id still sets it.
    rule("id-without-data-sets-last-id", b"id: 5\n\n", last_id="5"),
    rule(
        "id-without-data-then-event",
        b"id: 5\n\ndata: x\n\n",
        events=(ev("x", id="5"),),
        last_id="5",
    ),
    # ... but only at the blank line: a connection that drops in the middle
    # of an event must resume before that event, not after it.
    rule("id-not-applied-before-blank-line", b"data: a\n\nid: 7\ndata: b\n", events=(ev("a"),)),
    rule(
        "id-not-applied-unterminated",
        b"id: 1\ndata: a\n\nid: 7\n\nid: 8",
        events=(ev("a", id="1"),),
        last_id="7",
    ),
    # The decoder's last_event_id argument is where the buffer starts.
    rule(
        "start-id-carries-into-events",
        b"data: x\n\n",
        events=(ev("x", id="42"),),
        last_id="42",
        start_id="42",
    ),
    rule("start-id-cleared-by-empty-id", b"id\ndata: x\n\n", events=(ev("x"),), start_id="42"),
    rule(
        "start-id-kept-on-nul-id",
        b"id: a\x00\ndata: x\n\n",
        events=(ev("x", id="42"),),
        last_id="42",
        start_id="42",
    ),
    rule("start-id-kept-without-blank-line", b"id: 9\ndata: x\n", last_id="42", start_id="42"),
    # --- retry: "If the field value consists of only ASCII digits, then
    # interpret the field value as an integer in base ten, and set the event
    # stream's reconnection time to that integer. Otherwise, ignore the
    # field." It takes effect when the line is read; no dispatch needed.
    rule("retry-sets-reconnection-time", b"retry: 1000\n", retry=1000),
    rule("retry-without-space", b"retry:1000\n", retry=1000),
    rule("retry-leading-zeros", b"retry: 007\n", retry=7),
    rule("retry-zero", b"retry: 0\n", retry=0),
    rule("retry-empty-ignored", b"retry:\nretry\nretry: \n"),
    # One space is stripped; the second one is part of the value.
    rule("retry-two-spaces-ignored", b"retry:  1\n"),
    rule("retry-trailing-space-ignored", b"retry: 1 \n"),
    rule("retry-letters-ignored", b"retry: 1a\nretry: a1\n"),
    rule("retry-negative-ignored", b"retry: -1\n"),
    rule("retry-plus-ignored", b"retry: +1\n"),
    rule("retry-decimal-ignored", b"retry: 1.5\n"),
    rule("retry-underscore-ignored", b"retry: 1_000\n"),
    # Only ASCII digits: Arabic-Indic, superscript and fullwidth digits are not.
    rule(
        "retry-non-ascii-digits-ignored",
        "retry: \u0661\u0662\nretry: \u00b2\nretry: \uff11\n".encode(),
    ),
    rule("retry-invalid-keeps-previous", b"retry: 100\nretry: x\n", retry=100),
    rule("retry-last-valid-wins", b"retry: 100\nretry: 200\n", retry=200),
    rule("retry-alone-dispatches-nothing", b"retry: 5\n\n", retry=5),
    # The event's own retry is the one set inside its block.
    rule(
        "retry-belongs-to-its-block",
        b"retry: 5\ndata: x\n\ndata: y\n\n",
        events=(ev("x", retry=5), ev("y")),
        retry=5,
    ),
    rule(
        "retry-in-empty-block-not-on-next-event",
        b"retry: 5\n\ndata: y\n\n",
        events=(ev("y"),),
        retry=5,
    ),
    rule("retry-unterminated-not-read", b"retry: 10", retry=None),
    # Ours, not the standard's: absurd values clamp to MAX_RETRY.
    rule("retry-max", b"retry: %d\n" % MAX_RETRY, retry=MAX_RETRY),
    rule("retry-max-plus-one-clamps", b"retry: %d\n" % (MAX_RETRY + 1), retry=MAX_RETRY),
    rule("retry-twenty-digits-clamps", b"retry: " + b"9" * 20 + b"\n", retry=MAX_RETRY),
    rule("retry-thousands-of-digits-clamp", b"retry: " + b"7" * 5000 + b"\n", retry=MAX_RETRY),
    rule("retry-zeros-are-not-significant", b"retry: " + b"0" * 40 + b"5\n", retry=5),
    # --- "Once the end of the file is reached, any pending data must be
    # discarded. (If the file ends in the middle of an event, before the
    # final empty line, the incomplete event is not dispatched.)"
    rule("unterminated-event-not-dispatched", b"data: a\n\ndata: b", events=(ev("a"),)),
    rule("event-without-blank-line-not-dispatched", b"data: a\n\ndata: b\n", events=(ev("a"),)),
    rule(
        "fields-after-last-blank-line-not-dispatched",
        b"data: a\n\nevent: t\nid: 9\ndata: b\n",
        events=(ev("a"),),
    ),
    # --- The shape the decoder takes a shortcut for ("id: X", "event: T",
    # "data: D", blank) must follow the same rules in every chunking. An id
    # holding NUL is ignored even when the NUL arrived in an earlier chunk.
    rule(
        "chat-shape-repeated",
        b"id: 1\nevent: t\ndata: a\n\nid: 2\nevent: t\ndata: b\n\n",
        events=(ev("a", "t", "1"), ev("b", "t", "2")),
        last_id="2",
    ),
    rule(
        "chat-shape-nul-id-in-earlier-chunk",
        b"id: a\x00b\nevent: message\ndata: x",
        b"\n\n",
        events=(ev("x"),),
    ),
    rule(
        "chat-shape-nul-id-split-across-chunks",
        b"id: 1\nevent: message\ndata: x\n\nid: a\x00",
        b"b\nevent: message\ndata: y\n\n",
        events=(ev("x", id="1"), ev("y", id="1")),
        last_id="1",
    ),
    # --- Line ends, as the decoder splits them: every chunk is split at its
    # LFs; in a chunk that holds a CR, a run of chat-shaped events takes the
    # fast path only while its data and id lines end like its blank lines
    # and hold no other CR, and every other line is split again at its lone
    # CRs. Switching between line ends, inside a chunk or from one chunk to
    # the next, must not change a thing.
    rule(
        "crlf-chat-shape-repeated",
        b"id: 1\r\nevent: t\r\ndata: a\r\n\r\nid: 2\r\nevent: t\r\ndata: b\r\n\r\n",
        events=(ev("a", "t", "1"), ev("b", "t", "2")),
        last_id="2",
    ),
    rule(
        "crlf-event-line-first",
        b"event: message\r\nid: 7\r\ndata: a\r\n\r\n: keepalive\r\n\r\n",
        events=(ev("a", id="7"),),
        last_id="7",
    ),
    rule(
        "lf-chunk-then-crlf-chunk-inside-an-event",
        b"id: 1\nevent: message\n",
        b"data: x\r\n\r\nid: 2\r\nevent: message\r\ndata: y\r\n\r\n",
        events=(ev("x", id="1"), ev("y", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-chunk-then-lf-chunk-inside-an-event",
        b"id: 1\r\nevent: message\r\n",
        b"data: x\n\nid: 2\nevent: message\ndata: y\n\n",
        events=(ev("x", id="1"), ev("y", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-chunk-with-a-bare-lf-blank-line",
        b"id: 1\r\nevent: message\r\ndata: x\r\n\nid: 2\r\ndata: y\r\n\r\n",
        events=(ev("x", id="1"), ev("y", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-chunk-with-a-lone-cr-in-data",
        b"data: a\rb\r\n\r\nid: 1\r\nevent: message\r\ndata: c\r\n\r\n",
        events=(ev("a"), ev("c", id="1")),
        last_id="1",
    ),
    rule(
        "lf-chunk-with-a-lone-cr-in-id",
        b"id: a\rb\nevent: message\ndata: x\n\n",
        events=(ev("x", id="a"),),
        last_id="a",
    ),
    rule(
        "crlf-split-between-cr-and-lf-in-chat-shape",
        b"id: 1\r\nevent: message\r\ndata: x\r\n\r",
        b"\nid: 2\r\nevent: message\r\ndata: y\r",
        b"\n\r\n",
        events=(ev("x", id="1"), ev("y", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-custom-type-seen-then-cached",
        b"id: 1\r\nevent: typing\r\ndata: a\r\n\r\n"
        b"id: 2\r\nevent: typing\r\ndata: b\r\n\r\nid: 3\r\nevent: typing\r\ndata: c\r\n\r\n",
        events=(ev("a", "typing", "1"), ev("b", "typing", "2"), ev("c", "typing", "3")),
        last_id="3",
    ),
    rule(
        "lf-chat-shape-in-a-chunk-with-a-cr-elsewhere",
        b": a\rcomment\nid: 1\nevent: message\ndata: x\n\nid: 2\nevent: message\ndata: y\n\n",
        events=(ev("x", id="1"), ev("y", id="2")),
        last_id="2",
    ),
    rule(
        "lf-chat-shape-then-crlf-chat-shape-in-one-chunk",
        b"id: 1\nevent: message\ndata: x\n\nid: 2\r\nevent: message\r\ndata: y\r\n\r\n",
        events=(ev("x", id="1"), ev("y", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-chat-shape-with-a-lone-cr-in-data",
        b"id: 1\r\nevent: message\r\ndata: a\rdata: b\r\n\r\n"
        b"id: 2\r\nevent: message\r\ndata: c\r\n\r\n",
        events=(ev("a\nb", id="1"), ev("c", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-chat-shape-with-a-lone-cr-in-id",
        b"id: 1\r\nevent: message\r\ndata: a\r\n\r\n"
        b"id: 2\rid: 3\r\nevent: message\r\ndata: b\r\n\r\n",
        events=(ev("a", id="1"), ev("b", id="3")),
        last_id="3",
    ),
    rule(
        "crlf-chat-shape-with-a-lone-cr-ending-data",
        # "data: a" CR, then "" CRLF: a blank line that dispatches early.
        b"id: 1\r\nevent: message\r\ndata: a\r\r\n\r\nid: 2\r\nevent: message\r\ndata: b\r\n\r\n",
        events=(ev("a", id="1"), ev("b", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-chat-shape-with-an-lf-data-line",
        b"id: 1\r\nevent: message\r\ndata: ab\n\r\nid: 2\r\nevent: message\r\ndata: cd\r\n\r\n",
        events=(ev("ab", id="1"), ev("cd", id="2")),
        last_id="2",
    ),
    rule(
        "crlf-chat-shape-with-an-lf-id-line",
        b"id: 1\r\nevent: message\r\ndata: a\r\n\r\nid: 22\nevent: message\r\ndata: b\r\n\r\n",
        events=(ev("a", id="1"), ev("b", id="22")),
        last_id="22",
    ),
    rule(
        "lf-chat-shape-with-a-crlf-data-line",
        b"id: 1\nevent: message\ndata: ab\r\n\nid: 2\nevent: message\ndata: cd\n\n",
        events=(ev("ab", id="1"), ev("cd", id="2")),
        last_id="2",
    ),
    rule(
        "lf-chat-shape-with-a-lone-cr-in-id",
        b"id: 1\nevent: message\ndata: a\n\nid: 2\r3\nevent: message\ndata: b\n\n",
        events=(ev("a", id="1"), ev("b", id="2")),
        last_id="2",
    ),
    rule(
        "chat-run-with-an-id-line-without-the-space",
        b"id: 1\nevent: message\ndata: a\n\nid:2\nevent: message\ndata: b\n\n"
        b"id: 3\nevent: message\ndata: c\n\n",
        events=(ev("a", id="1"), ev("b", id="2"), ev("c", id="3")),
        last_id="3",
    ),
    rule(
        "chat-run-with-another-field-where-the-id-was",
        b"id: 1\nevent: message\ndata: a\n\nfoo: 2\nevent: message\ndata: b\n\n"
        b"retry: 7\nevent: message\ndata: c\n\nid: 4\nevent: message\ndata: d\n\n",
        events=(ev("a", id="1"), ev("b", id="1"), ev("c", id="1", retry=7), ev("d", id="4")),
        last_id="4",
        retry=7,
    ),
    rule(
        "chat-run-with-a-field-ending-in-id",
        b"id: 1\nevent: message\ndata: a\n\nxid: 2\nevent: message\ndata: b\n\n",
        events=(ev("a", id="1"), ev("b", id="1")),
        last_id="1",
    ),
    rule(
        "chat-run-with-a-data-line-without-the-space",
        b"id: 1\nevent: message\ndata: a\n\nid: 2\nevent: message\ndata:b\n\n"
        b"id: 3\nevent: message\ndata: c\n\n",
        events=(ev("a", id="1"), ev("b", id="2"), ev("c", id="3")),
        last_id="3",
    ),
    rule(
        "chat-run-with-another-field-where-the-data-was",
        b"id: 1\nevent: message\ndata: a\n\nid: 2\nevent: message\ndatum: b\n\n"
        b"id: 3\nevent: message\ndata: c\n\n",
        events=(ev("a", id="1"), ev("c", id="3")),
        last_id="3",
    ),
    rule(
        "lone-crs-in-an-unfinished-line",
        b"data: a\rdata: b\rdata: c",
        b"\n\n",
        events=(ev("a\nb\nc"),),
    ),
    rule(
        "lone-cr-blank-line-in-an-unfinished-line",
        b"data: a\r\rdata: b",
        b"\n\n",
        events=(ev("a"), ev("b")),
    ),
    rule(
        "crlf-empty-id-and-empty-data",
        b"id: \r\nevent: message\r\ndata: \r\n\r\n",
        events=(ev(""),),
        start_id="5",
    ),
]


def _run(rule: Rule, chunks: list[bytes] | tuple[bytes, ...]) -> tuple[object, ...]:
    decoder = SSEDecoder(last_event_id=rule.start_id)
    events = [as_tuple(event) for chunk in chunks for event in decoder.feed(chunk)]
    return (events, decoder.last_event_id, decoder.retry)


def _expected(rule: Rule) -> tuple[object, ...]:
    return (list(rule.events), rule.last_event_id, rule.retry)


@pytest.mark.parametrize("rule", RULES)
def test_rule_in_its_chunks(rule: Rule) -> None:
    assert _run(rule, rule.chunks) == _expected(rule)


@pytest.mark.parametrize("rule", RULES)
def test_rule_whole(rule: Rule) -> None:
    assert _run(rule, [b"".join(rule.chunks)]) == _expected(rule)


@pytest.mark.parametrize("rule", RULES)
def test_rule_one_byte_at_a_time(rule: Rule) -> None:
    stream = b"".join(rule.chunks)
    assert _run(rule, [stream[i : i + 1] for i in range(len(stream))]) == _expected(rule)


@pytest.mark.parametrize("rule", RULES)
def test_rule_naive_reference_agrees(rule: Rule) -> None:
    out = naive_decode(b"".join(rule.chunks), last_event_id=rule.start_id)
    assert (out.events, out.last_event_id, out.retry) == _expected(rule)


def test_rule_names_are_unique() -> None:
    names = [param.id for param in RULES]  # type: ignore[attr-defined]
    assert len(set(names)) == len(names) > 100


# --- When things happen, call by call -----------------------------------------


def test_event_returned_by_the_call_that_completes_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n") == []
    assert [e.data for e in decoder.feed(b"\n")] == ["x"]


def test_final_cr_dispatches_without_waiting_for_lf() -> None:
    # A CR may be the first half of a CRLF, but it ends the line either way;
    # the event must not wait for the next chunk.
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: x\r\r")] == ["x"]
    assert decoder.feed(b"\n") == []  # the LF of the CRLF: no second blank line
    assert [e.data for e in decoder.feed(b"data: y\n\n")] == ["y"]


def test_lone_cr_blank_line_in_the_last_line_dispatches_at_once() -> None:
    # The last complete line of a chunk may hold a blank line that a lone CR
    # makes: its event is complete, so the chunk returns it.
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\r\nevent: message\r\ndata: x\r\n\r\ndata: y\r\r\n")
    assert [e.data for e in events] == ["x", "y"]
    assert decoder.last_event_id == "1"
    assert [e.data for e in decoder.feed(b"data: z\r\rdata: w")] == ["z"]
    assert [e.data for e in decoder.feed(b"\n\n")] == ["w"]


def test_last_event_id_moves_only_at_blank_lines() -> None:
    decoder = SSEDecoder(last_event_id="0")
    decoder.feed(b"id: 1\ndata: a\n")
    assert decoder.last_event_id == "0"
    decoder.feed(b"\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"id: 2\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"\r")
    assert decoder.last_event_id == "2"


def test_retry_updates_when_its_line_is_read() -> None:
    decoder = SSEDecoder()
    assert decoder.retry is None
    decoder.feed(b"data: x\nretry: 10")
    assert decoder.retry is None  # the line is not finished yet
    decoder.feed(b"0\r")
    assert decoder.retry == 100  # read, with no blank line yet
    (event,) = decoder.feed(b"\n\n")  # the LF ends nothing new; the next one dispatches
    assert event.retry == 100
    assert decoder.retry == 100


def test_bytes_like_chunks() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(bytearray(b"data: a\n\n"))
    events += decoder.feed(memoryview(b"data: b\n\n"))
    assert [e.data for e in events] == ["a", "b"]


@pytest.mark.parametrize("chunk", [5, [100, 97], "data: x\n\n", None])
def test_what_is_not_a_buffer_is_not_a_chunk(chunk: object) -> None:
    # bytes(5) would be five NULs and bytes([100, 97]) b"da": neither is a chunk.
    decoder = SSEDecoder()
    with pytest.raises(TypeError):
        decoder.feed(chunk)  # type: ignore[arg-type]
    assert decoder.feed(b"data: ok\n\n")[0].data == "ok"


def test_feed_returns_a_list() -> None:
    decoder = SSEDecoder()
    assert type(decoder.feed(b"")) is list
    assert type(decoder.feed(b"data: x\n\n")) is list


@pytest.mark.parametrize("size", [0, -1, 1.5, "10", None, True])
def test_bad_max_event_size(size: object) -> None:
    with pytest.raises(ValueError):
        SSEDecoder(size)  # type: ignore[arg-type]


@pytest.mark.parametrize("start_id", ["a\x00b", "a\rb", "a\n", "\r", b"abc", 1])
def test_bad_last_event_id(start_id: object) -> None:
    with pytest.raises(ValueError):
        SSEDecoder(last_event_id=start_id)  # type: ignore[arg-type]


def test_constructor_values_are_readable() -> None:
    decoder = SSEDecoder(1234, last_event_id="\u00e9")
    assert decoder.max_event_size == 1234
    assert decoder.last_event_id == "\u00e9"
    assert decoder.retry is None
    assert SSEDecoder().max_event_size == 1024 * 1024
