"""What the concierge writes on the wire: JSON bodies and SSE event bytes.

Every message is encoded once, when it is stored: its JSON (with the wire
names of docs/protocol.md and a ``createdAt`` of millisecond precision ending in
``Z``) and its complete ``event: message`` block are kept beside it, so that
a replay or a fan-out to a thousand streams writes the same bytes object
again and again instead of encoding per subscriber.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from expys_stream._models import Message
from expys_stream.sse import encode_comment, encode_event

__all__ = [
    "KEEPALIVE",
    "error_body",
    "error_code",
    "format_timestamp",
    "message_event",
    "message_json",
    "page_body",
    "retry_line",
]

#: The comment written to an idle stream, with a blank line after it as in
#: docs/protocol.md (the blank line dispatches nothing: there is no data).
KEEPALIVE = encode_comment("keepalive") + b"\n"

_encode = msgspec.json.encode

# The ``code`` of an error body for each status this server answers (or a
# fault makes it answer); any other status gets ``http_<status>``.
_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


def format_timestamp(moment: datetime) -> str:
    """``2026-11-27T10:15:02.123Z``: UTC, milliseconds, a ``Z``.

    msgspec would write six fractional digits; docs/protocol.md shows three.
    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def message_json(message: Message) -> bytes:
    """The message as the service writes it, wire names in docs/protocol.md order."""
    return _encode(
        {
            "id": message.id,
            "conversationID": message.conversation_id,
            "authorID": message.author_id,
            "body": message.body,
            "createdAt": format_timestamp(message.created_at),
        }
    )


def message_event(message: Message) -> bytes:
    """The complete ``id`` / ``event: message`` / ``data`` block of a message."""
    return encode_event(message_json(message), event="message", id=message.id)


def retry_line(retry_ms: int) -> bytes:
    """The ``retry: N`` block that opens every stream."""
    return f"retry: {retry_ms}\n\n".encode("ascii")


def page_body(messages: list[Message], has_more: bool) -> bytes:
    """The JSON body of a backlog page (``messages`` oldest first)."""
    parts = b",".join(message_json(message) for message in messages)
    return b'{"messages":[' + parts + b'],"hasMore":' + (b"true" if has_more else b"false") + b"}"


def error_code(status: int) -> str:
    """The ``code`` this server uses in an error body for ``status``."""
    return _CODES.get(status, f"http_{status}")


def error_body(status: int, message: str, *, code: str | None = None) -> bytes:
    """``{"error": {"code": ..., "message": ...}}`` for ``status``."""
    return _encode({"error": {"code": code or error_code(status), "message": message}})
