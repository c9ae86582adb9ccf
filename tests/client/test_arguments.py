"""Arguments no request can carry are refused when given, before any I/O."""

from __future__ import annotations

from typing import Any

import httpcore
import pytest

from expys_stream import Client, open_event_stream, open_message_stream

pytestmark = pytest.mark.anyio

NOWHERE = "http://127.0.0.1:9"  # nothing listens: any I/O would fail differently


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"pool": "x"}, TypeError, "pool must be an httpcore.AsyncConnectionPool"),
        ({"pool": 0}, TypeError, "pool must be"),
        ({"pool": httpcore.ConnectionPool()}, TypeError, "(an async one)"),
        ({"ssl_context": "x"}, TypeError, "ssl_context must be an ssl.SSLContext"),
        ({"connect_timeout": 10**400}, ValueError, "connect_timeout must be a positive number"),
        ({"read_timeout": True}, ValueError, "read_timeout must be a positive number"),
        ({"backoff_base": 10**400, "backoff_cap": 10**400}, ValueError, "base must be"),
        ({"reset_after": float("nan")}, ValueError, "reset_after must be"),
        ({"user_agent": None}, TypeError, "user_agent must be a str"),
        ({"user_agent": b"ua"}, TypeError, "user_agent must be a str"),
        ({"user_agent": "ua\r\nX-Evil: 1"}, ValueError, "user_agent: the value of User-Agent"),
        ({"last_event_id": "a\x0bb"}, ValueError, "cannot go in a Last-Event-ID header"),
        ({"last_event_id": "a\ud800"}, ValueError, "cannot go in a Last-Event-ID header"),
    ],
)
def test_stream_options_are_checked_when_given(
    options: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        open_event_stream(NOWHERE + "/s", **options)
    if "last_event_id" not in options:
        with pytest.raises(error):
            Client(token="t", base_url=NOWHERE, **options)
    with pytest.raises(error):
        open_message_stream("c", token="t", base_url=NOWHERE, **options)


def test_infinite_timeouts_are_allowed() -> None:
    stream = open_event_stream(NOWHERE + "/s", read_timeout=float("inf"), backoff_cap=1e300)
    assert stream._options.read_timeout == float("inf")
    assert stream._options.backoff.cap == 1e300


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda c: c.list_messages("\ud800"), ValueError, "conversation_id is not valid Unicode"),
        (lambda c: c.list_messages("c", before="m\ud800"), ValueError, "before is not valid"),
        (lambda c: c.list_messages("c", before=""), TypeError, "before must be a non-empty str"),
        (lambda c: c.list_messages("c", before=123), TypeError, "before must be"),
        (lambda c: c.send_message("c", "hi\ud800"), ValueError, "body is not valid Unicode"),
        (lambda c: c.send_message("c", "hi", idempotency_key=""), TypeError, "idempotency_key"),
        (lambda c: c.send_message("c", "hi", idempotency_key=123), TypeError, "idempotency_key"),
        (
            lambda c: c.send_message("c", "hi", idempotency_key="a\r\nb"),
            ValueError,
            "idempotency_key: the value of Idempotency-Key",
        ),
        (lambda c: c.send_message("c", "hi", idempotency_key="k\ud800"), ValueError, "not valid"),
    ],
)
async def test_request_arguments_are_checked_before_any_io(
    call: Any, error: type[Exception], words: str
) -> None:
    async with Client(token="t", base_url=NOWHERE, request_retries=0) as client:
        with pytest.raises(error, match=words):
            await call(client)
