"""What the stream does next: pure decisions, no I/O, no clock, no sleeping.

The reader asks these functions and acts on the answer; the lifecycle
(``_lifecycle.py``) reports what it did. Every rule lives here once:

* :func:`decide` - what a response's status and content type mean: read the
  stream, stop (204), retry (with the server's ``Retry-After``), refresh the
  token once, or fail for good.
* :func:`classify` - whether an error that ended an attempt is worth
  another attempt.
* :func:`choose_delay` / :func:`retry_delay` - how long to wait before the
  next attempt, and why: our backoff, the server's ``retry:`` field or its
  ``Retry-After`` as a floor, that floor capped at ``max_server_delay``.
* :func:`reset_attempts` / :func:`gives_up` - the attempt counter and when to
  stop counting.
* :func:`redirect_rule` - the method and body of the request a redirect
  asks for (RFC 9110 section 15.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ._backoff import Backoff, is_seconds, parse_retry_after
from ._errors import (
    AuthenticationError,
    EventTooLarge,
    HTTPStatusError,
    NotAnEventStream,
    ProtocolError,
    RedirectError,
    TransportError,
)

__all__ = [
    "DEFAULT_MAX_SERVER_DELAY",
    "RETRY_STATUSES",
    "Action",
    "Decision",
    "Delay",
    "RedirectRule",
    "RetryReason",
    "choose_delay",
    "classify",
    "decide",
    "gives_up",
    "is_event_stream",
    "redirect_rule",
    "reset_attempts",
    "retry_delay",
]

DEFAULT_MAX_SERVER_DELAY = 300.0
"""The longest a server's ``retry:`` or ``Retry-After`` may make us wait, in
seconds (5 minutes): past it, the delay is this, reported as ``"capped"``."""

RetryReason = Literal["backoff", "retry_field", "retry_after", "capped"]
"""Why a retry waits as long as it does: our own jittered ``"backoff"``; the
stream's ``retry:`` field (``"retry_field"``) or the response's
``Retry-After`` (``"retry_after"``), when longer than the backoff; or a
server's delay cut down to ``max_server_delay`` (``"capped"``)."""

Action = Literal["stream", "stop", "retry", "refresh", "fail"]
"""What a response or an error leads to (see :func:`decide`)."""

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses after which a stream tries again (408, 429 and the 5xx that say
"later"); any other 5xx is retried too, see :func:`decide`."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of :func:`decide`.

    Attributes:
        action: ``"stream"`` (read the events), ``"stop"`` (204: the server
            asks the client not to reconnect), ``"retry"``, ``"refresh"``
            (401 with a token provider: fetch a fresh token and retry at
            once, one time) or ``"fail"`` (a final error).
        retry_after: the ``Retry-After`` delay in seconds, for a retry.
        not_an_event_stream: for ``"fail"`` on a 200: the content type was
            not ``text/event-stream``.
    """

    action: Action
    retry_after: float | None = None
    not_an_event_stream: bool = False


_STREAM = Decision("stream")
_STOP = Decision("stop")
_REFRESH = Decision("refresh")
_FAIL = Decision("fail")
_WRONG_TYPE = Decision("fail", not_an_event_stream=True)


def is_event_stream(content_type: str) -> bool:
    """Whether a Content-Type value is ``text/event-stream`` (any case, any parameters)."""
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def decide(
    status: int,
    content_type: str = "",
    *,
    retry_after: str | bytes | None = None,
    can_refresh: bool = False,
    now: float | None = None,
) -> Decision:
    """What to do with a response of ``status`` (after any redirect).

    * 200 with ``text/event-stream``: stream; with anything else: fail.
    * 204: stop; the standard's way for a server to end a stream for good.
    * 408, 429 and 5xx: retry, after at least the ``Retry-After`` delay
      (seconds or an HTTP date, relative to ``now``, a Unix time).
    * 401: refresh the token once when ``can_refresh`` (a token provider
      that has not just been refreshed), else fail.
    * Anything else (other 1xx-4xx, another 2xx, an unfollowed 3xx): fail.
    """
    if type(status) is not int or not 100 <= status <= 999:
        raise ValueError(f"status must be an int from 100 to 999, not {status!r}")
    if status == 200:
        return _STREAM if is_event_stream(content_type) else _WRONG_TYPE
    if status == 204:
        return _STOP
    if status in RETRY_STATUSES or status >= 500:
        return Decision("retry", retry_after=parse_retry_after(retry_after, now=now))
    if status == 401 and can_refresh:
        return _REFRESH
    return _FAIL


def classify(error: BaseException, *, can_refresh: bool = False) -> Action:
    """Whether the error that ended an attempt is worth another: ``"retry"``,
    ``"refresh"`` (a 401 and a token provider) or ``"fail"``.

    The network failing (:class:`TransportError`, a read timeout included)
    and HTTP framing breaking mid-stream (a :class:`ProtocolError` from the
    body) are retried; so are the statuses :func:`decide` retries. An event
    too large, a wrong content type, a redirect that cannot be followed, any
    other status and anything that is not ours are final.
    """
    if isinstance(error, TransportError):
        return "retry"
    if isinstance(error, EventTooLarge | NotAnEventStream | RedirectError):
        return "fail"
    if isinstance(error, ProtocolError):
        return "retry"
    if isinstance(error, AuthenticationError):
        return "refresh" if can_refresh else "fail"
    if isinstance(error, HTTPStatusError):
        status = error.status
        return "retry" if status in RETRY_STATUSES or status >= 500 else "fail"
    return "fail"


@dataclass(frozen=True, slots=True)
class Delay:
    """How long to wait before the next attempt, and why.

    Attributes:
        seconds: the delay.
        reason: which rule set it (see [`RetryReason`][expys_stream._policy.RetryReason]).
    """

    seconds: float
    reason: RetryReason


def choose_delay(
    jitter: float,
    *,
    retry_field: float | None = None,
    retry_after: float | None = None,
    max_server_delay: float = DEFAULT_MAX_SERVER_DELAY,
) -> Delay:
    """The delay before a retry, from our backoff's pick and the server's floors.

    ``jitter`` is what our backoff picked; ``retry_field`` the stream's
    latest ``retry:`` in seconds; ``retry_after`` the response's
    ``Retry-After`` in seconds. The server's longer request is a floor;
    when it is above ``max_server_delay``, that cap is the floor
    (``"capped"``). A tie goes to the server, ``Retry-After`` first.
    """
    if not is_seconds(jitter) or not 0 <= jitter < math.inf:
        raise ValueError(f"jitter must be a finite non-negative number, not {jitter!r}")
    if not is_seconds(max_server_delay) or max_server_delay < 0:
        raise ValueError(f"max_server_delay must be a number >= 0, not {max_server_delay!r}")
    server: float | None = None
    reason: RetryReason = "backoff"
    candidates: tuple[tuple[float | None, RetryReason], ...] = (
        (retry_after, "retry_after"),
        (retry_field, "retry_field"),
    )
    for floor, why in candidates:
        if floor is not None:
            if not is_seconds(floor) or floor < 0:
                raise ValueError(f"{why} must be None or a non-negative number, not {floor!r}")
            if server is None or floor > server:
                server, reason = float(floor), why
    if server is None or jitter > server:
        return Delay(float(jitter), "backoff")
    if server > max_server_delay:
        if jitter > max_server_delay:
            return Delay(float(jitter), "backoff")
        return Delay(float(max_server_delay), "capped")
    return Delay(server, reason)


def retry_delay(
    backoff: Backoff,
    attempt: int,
    *,
    retry_field: float | None = None,
    retry_after: float | None = None,
    max_server_delay: float = DEFAULT_MAX_SERVER_DELAY,
) -> Delay:
    """:func:`choose_delay` with the jitter drawn from ``backoff`` for
    ``attempt`` (0-based, as :meth:`Backoff.delay` counts)."""
    return choose_delay(
        backoff.delay(attempt),
        retry_field=retry_field,
        retry_after=retry_after,
        max_server_delay=max_server_delay,
    )


def reset_attempts(attempt: int, *, connected_for: float | None, reset_after: float) -> int:
    """The retry counter after an attempt ended: 0 when the attempt had a
    connection that stayed up for ``reset_after`` seconds, else unchanged.
    ``connected_for`` is None when the attempt never connected.

    The counter is how many retries this series has made so far; it picks
    the backoff's ceiling and is checked by :func:`gives_up`, then grows by
    one for the retry about to be made.
    """
    if type(attempt) is not int or attempt < 0:
        raise ValueError(f"attempt must be an int >= 0, not {attempt!r}")
    if connected_for is not None and connected_for >= reset_after:
        return 0
    return attempt


def gives_up(attempt: int, max_retries: int | None) -> bool:
    """Whether a series that has made ``attempt`` retries may make no more
    (``max_retries`` None: it never gives up)."""
    return max_retries is not None and attempt >= max_retries


@dataclass(frozen=True, slots=True)
class RedirectRule:
    """The request a redirect asks for (see :func:`redirect_rule`).

    Attributes:
        method: the method of the next request.
        keep_body: whether the body (and its Content-Type) goes with it.
    """

    method: str
    keep_body: bool


def redirect_rule(status: int, method: str) -> RedirectRule:
    """The method and body after a redirect, as RFC 9110 (15.4) and Fetch do it.

    * 307 and 308 keep the method and the body: they exist to say so.
    * 303 ("See Other") turns any method but HEAD into a GET without a body.
    * 301 and 302 turn a POST into a GET without a body (the historical
      behaviour RFC 9110 allows and Fetch requires); other methods are kept
      with their body.

    Raises:
        ValueError: ``status`` is not one of 301, 302, 303, 307 and 308.
    """
    method = method.upper()
    if status in (307, 308):
        return RedirectRule(method, True)
    if status == 303:
        return RedirectRule("HEAD", False) if method == "HEAD" else RedirectRule("GET", False)
    if status in (301, 302):
        return RedirectRule("GET", False) if method == "POST" else RedirectRule(method, True)
    raise ValueError(f"{status!r} is not a redirect status this client follows")
