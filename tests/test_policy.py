"""The pure decisions of _policy: statuses, errors, delays, attempts, redirects."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expys_stream import (
    AuthenticationError,
    ConnectError,
    EventTooLarge,
    ExpysError,
    HTTPStatusError,
    MessageDecodeError,
    NotAnEventStream,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ReadTimeout,
    RedirectError,
    RetryLimitExceeded,
    ServerError,
    StreamClosed,
    TransportError,
)
from expys_stream._backoff import Backoff
from expys_stream._policy import (
    DEFAULT_MAX_SERVER_DELAY,
    Decision,
    Delay,
    RedirectRule,
    choose_delay,
    classify,
    decide,
    gives_up,
    is_event_stream,
    redirect_rule,
    reset_attempts,
    retry_delay,
)

# --- decide -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "content_type", "expected"),
    [
        (200, "text/event-stream", Decision("stream")),
        (200, "text/event-stream; charset=utf-8", Decision("stream")),
        (200, " Text/Event-Stream ;x=1", Decision("stream")),
        (200, "application/json", Decision("fail", not_an_event_stream=True)),
        (200, "", Decision("fail", not_an_event_stream=True)),
        (200, "text/event-streams", Decision("fail", not_an_event_stream=True)),
        (204, "", Decision("stop")),
        (204, "text/event-stream", Decision("stop")),
        (201, "text/event-stream", Decision("fail")),
        (206, "text/event-stream", Decision("fail")),
        (304, "", Decision("fail")),
        (400, "", Decision("fail")),
        (401, "", Decision("fail")),
        (403, "", Decision("fail")),
        (404, "", Decision("fail")),
        (408, "", Decision("retry")),
        (429, "", Decision("retry")),
        (500, "", Decision("retry")),
        (501, "", Decision("retry")),
        (503, "", Decision("retry")),
        (599, "", Decision("retry")),
    ],
)
def test_decide_by_status(status: int, content_type: str, expected: Decision) -> None:
    assert decide(status, content_type) == expected


def test_decide_401_refreshes_only_when_it_can() -> None:
    assert decide(401, can_refresh=True) == Decision("refresh")
    assert decide(401, can_refresh=False) == Decision("fail")
    assert decide(403, can_refresh=True) == Decision("fail")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"120", 120.0),
        ("7", 7.0),
        (b"  3 ", 3.0),
        (b"soon", None),
        (b"-1", None),
        (None, None),
        (b"Thu, 01 Jan 1970 00:01:40 GMT", 60.0),  # now=40: 60 s ahead
        (b"Thu, 01 Jan 1970 00:00:10 GMT", 0.0),  # in the past
    ],
)
def test_decide_reads_retry_after(header: bytes | str | None, expected: float | None) -> None:
    for status in (429, 503, 408):
        assert decide(status, retry_after=header, now=40.0) == Decision("retry", expected)


def test_decide_ignores_retry_after_when_not_retrying() -> None:
    assert decide(404, retry_after=b"5") == Decision("fail")


@pytest.mark.parametrize("status", [99, 1000, -1, 200.0, "200", True])
def test_decide_rejects_what_is_not_a_status(status: object) -> None:
    with pytest.raises(ValueError, match="status"):
        decide(status)  # type: ignore[arg-type]


def test_is_event_stream() -> None:
    assert is_event_stream("text/event-stream")
    assert not is_event_stream("text/plain")


# --- classify -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TransportError("x"), "retry"),
        (ConnectError("x"), "retry"),
        (ReadTimeout("x"), "retry"),
        (ProtocolError("broken chunked framing"), "retry"),
        (EventTooLarge("big", limit=1), "fail"),
        (NotAnEventStream("text/html"), "fail"),
        (RedirectError("loop"), "fail"),
        (ServerError(503), "retry"),
        (RateLimitedError(429), "retry"),
        (HTTPStatusError(408), "retry"),
        (HTTPStatusError(500), "retry"),
        (HTTPStatusError(400), "fail"),
        (PermissionDeniedError(403), "fail"),
        (NotFoundError(404), "fail"),
        (AuthenticationError(401), "fail"),
        (MessageDecodeError("bad", event_id="", excerpt=""), "fail"),
        (RetryLimitExceeded(3, None), "fail"),
        (StreamClosed("closed"), "fail"),
        (ExpysError("other"), "fail"),
        (ValueError("not ours"), "fail"),
    ],
)
def test_classify(error: BaseException, expected: str) -> None:
    assert classify(error) == expected


def test_classify_401_refreshes_when_it_can() -> None:
    assert classify(AuthenticationError(401), can_refresh=True) == "refresh"
    assert classify(PermissionDeniedError(403), can_refresh=True) == "fail"


# --- delays -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jitter", "retry_field", "retry_after", "cap", "expected"),
    [
        (1.5, None, None, 300.0, Delay(1.5, "backoff")),
        (0.0, None, None, 300.0, Delay(0.0, "backoff")),
        (1.5, 3.0, None, 300.0, Delay(3.0, "retry_field")),
        (4.0, 3.0, None, 300.0, Delay(4.0, "backoff")),
        (1.5, None, 10.0, 300.0, Delay(10.0, "retry_after")),
        (1.5, 3.0, 10.0, 300.0, Delay(10.0, "retry_after")),
        (1.5, 20.0, 10.0, 300.0, Delay(20.0, "retry_field")),
        (1.5, 5.0, 5.0, 300.0, Delay(5.0, "retry_after")),  # a tie: Retry-After
        (5.0, 5.0, None, 300.0, Delay(5.0, "retry_field")),  # a tie: the server
        (1.5, None, 3600.0, 300.0, Delay(300.0, "capped")),
        (1.5, 86400.0, None, 300.0, Delay(300.0, "capped")),
        (1.5, None, 301.0, 300.0, Delay(300.0, "capped")),
        (1.5, None, 300.0, 300.0, Delay(300.0, "retry_after")),  # at the cap: not capped
        (9.0, None, 60.0, 5.0, Delay(9.0, "backoff")),  # the backoff above a low cap
        (1.0, 0.0, 0.0, 300.0, Delay(1.0, "backoff")),
    ],
)
def test_choose_delay(
    jitter: float,
    retry_field: float | None,
    retry_after: float | None,
    cap: float,
    expected: Delay,
) -> None:
    got = choose_delay(
        jitter, retry_field=retry_field, retry_after=retry_after, max_server_delay=cap
    )
    assert got == expected


@given(
    jitter=st.floats(0, 1e6),
    retry_field=st.none() | st.floats(0, 1e7),
    retry_after=st.none() | st.floats(0, 1e7),
    cap=st.floats(0, 1e6),
)
def test_choose_delay_properties(
    jitter: float, retry_field: float | None, retry_after: float | None, cap: float
) -> None:
    delay = choose_delay(
        jitter, retry_field=retry_field, retry_after=retry_after, max_server_delay=cap
    )
    assert delay.seconds >= jitter  # the backoff is never undercut
    server = max([v for v in (retry_field, retry_after) if v is not None], default=0.0)
    assert delay.seconds >= min(server, cap)  # nor the server, up to the cap
    assert delay.seconds <= max(jitter, cap)  # the server never makes it longer than the cap
    if delay.reason == "backoff":
        assert delay.seconds == jitter
    elif delay.reason == "capped":
        assert delay.seconds == cap < server
    else:
        assert delay.seconds == (retry_after if delay.reason == "retry_after" else retry_field)


def test_choose_delay_default_cap_is_five_minutes() -> None:
    assert DEFAULT_MAX_SERVER_DELAY == 300.0
    assert choose_delay(0.1, retry_after=1e9) == Delay(300.0, "capped")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"jitter": -1.0},
        {"jitter": float("nan")},
        {"jitter": float("inf")},
        {"jitter": True},
        {"jitter": 1.0, "retry_field": -1.0},
        {"jitter": 1.0, "retry_after": float("nan")},
        {"jitter": 1.0, "max_server_delay": -5.0},
        {"jitter": 1.0, "retry_after": "5"},
    ],
)
def test_choose_delay_rejects_bad_numbers(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        choose_delay(**kwargs)  # type: ignore[arg-type]


def test_retry_delay_draws_from_the_backoff() -> None:
    backoff = Backoff(base=0.5, cap=10.0, rng=random.Random(1))
    twin = Backoff(base=0.5, cap=10.0, rng=random.Random(1))
    for attempt in range(8):
        expected = twin.delay(attempt)
        assert retry_delay(backoff, attempt) == Delay(expected, "backoff")
    assert retry_delay(backoff, 0, retry_field=2.0) == Delay(2.0, "retry_field")
    assert retry_delay(backoff, 0, retry_after=900.0, max_server_delay=60.0) == Delay(
        60.0, "capped"
    )


# --- attempts -----------------------------------------------------------------------


def test_reset_attempts() -> None:
    assert reset_attempts(3, connected_for=None, reset_after=60.0) == 3
    assert reset_attempts(3, connected_for=59.9, reset_after=60.0) == 3
    assert reset_attempts(3, connected_for=60.0, reset_after=60.0) == 0
    assert reset_attempts(0, connected_for=1000.0, reset_after=60.0) == 0
    with pytest.raises(ValueError, match="attempt"):
        reset_attempts(-1, connected_for=None, reset_after=1.0)


def test_gives_up() -> None:
    assert not gives_up(10**6, None)
    assert gives_up(0, 0)
    assert not gives_up(2, 3)
    assert gives_up(3, 3)


# --- redirects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [
        (307, "POST", RedirectRule("POST", True)),
        (308, "POST", RedirectRule("POST", True)),
        (307, "REPORT", RedirectRule("REPORT", True)),
        (308, "GET", RedirectRule("GET", True)),
        (303, "POST", RedirectRule("GET", False)),
        (303, "REPORT", RedirectRule("GET", False)),
        (303, "GET", RedirectRule("GET", False)),
        (303, "HEAD", RedirectRule("HEAD", False)),
        (301, "POST", RedirectRule("GET", False)),
        (302, "POST", RedirectRule("GET", False)),
        (302, "post", RedirectRule("GET", False)),
        (301, "GET", RedirectRule("GET", True)),
        (302, "REPORT", RedirectRule("REPORT", True)),
    ],
)
def test_redirect_rule(status: int, method: str, expected: RedirectRule) -> None:
    assert redirect_rule(status, method) == expected


@pytest.mark.parametrize("status", [200, 300, 304, 305, 306, 309, 404])
def test_redirect_rule_rejects_other_statuses(status: int) -> None:
    with pytest.raises(ValueError, match="not a redirect"):
        redirect_rule(status, "GET")
