"""Checks on what a caller passes before any I/O: the token, the URLs (a
stream's, the client's base URL, a conversation id as a path segment), the
headers; and the values the reader puts in its requests from them.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote, urlsplit

from ._backoff import is_seconds
from ._transport import _redact, ascii_url, header_problem
from .sse._event import _utf8

__all__ = [
    "ENVIRONMENTS",
    "TokenSource",
    "bearer",
    "check_token",
    "checked_headers",
    "checked_url",
    "head_timeout",
    "resolve_base_url",
    "resolve_token",
    "resume_value",
    "segment",
]

#: Base URLs of the concierge's environments.
ENVIRONMENTS = {
    "production": "https://api.expys.com",
    "sandbox": "https://sandbox.api.expys.com",
}

TokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]]
"""A member token, or a callable (sync or async) that returns a fresh one.

A callable is called before every connection and reconnection, so that an
expiring token can be refreshed; a sync one runs on the event loop.
"""


async def resolve_token(source: TokenSource) -> str:
    """The token to send now: the string, or what the provider returns."""
    if isinstance(source, str):
        token = source
    else:
        result = source()
        token = await result if inspect.isawaitable(result) else result
    if not isinstance(token, str) or not token:
        raise TypeError("the token provider must return a non-empty str")
    _check_token_text(token)
    return token


def check_token(source: object) -> None:
    """Check a token argument before any I/O: a str fit for a header, or a callable.

    Raises:
        TypeError: neither a non-empty str nor a callable.
        ValueError: a str that no Authorization header can carry.
    """
    if callable(source):
        return
    if not isinstance(source, str) or not source:
        raise TypeError("token must be a non-empty str or a callable returning one")
    _check_token_text(source)


def _check_token_text(token: str) -> None:
    if header_problem("Authorization", token) is not None:
        # (Never quoted: it is the credential.)
        raise ValueError(
            "a token must be text an HTTP header can carry: no CR, LF, NUL, vertical "
            "tab, form feed or lone surrogate, and no blank at either end"
        )


def bearer(headers: Mapping[str, str]) -> str | None:
    """The credential of the Authorization header (any case), if any."""
    for name, value in headers.items():
        if name.lower() == "authorization":
            return value.partition(" ")[2] or value
    return None


def checked_url(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError("url must be a str")
    try:
        return ascii_url(url)
    except ValueError as exc:
        # (Without userinfo, query or fragment, which may hold a key.)
        try:
            shown = repr(_redact(url))
        except ValueError:  # not even splittable
            shown = "(not shown)"
        raise ValueError(f"not an absolute http(s) URL: {shown}: {exc}") from None


# Headers that describe the connection or the body: HTTP/1.1 framing is
# ours to write, and a second Host would be a different request. The body's
# coding is ours too (identity; gzip and deflate are decoded if a server
# sends them anyway), and the resume point has its own argument.
_OWN_HEADERS = {
    "host": "",
    "content-length": "",
    "transfer-encoding": "",
    "connection": "",
    "accept-encoding": " (identity; gzip and deflate are decoded if sent anyway)",
    "last-event-id": ": pass last_event_id= instead",
}


def checked_headers(
    headers: Mapping[str, str] | None, *, token: object = None
) -> Mapping[str, str] | None:
    """The caller's headers, checked: names are case-insensitive, so one
    given twice in two cases is refused, as is one the client must write."""
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise TypeError("headers must be a mapping of str to str")
    seen: set[str] = set()
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise ValueError(f"headers: {problem}")
        key = name.lower()
        if key in _OWN_HEADERS:
            raise ValueError(f"headers: {name} is written by the client itself{_OWN_HEADERS[key]}")
        if key in seen:
            raise ValueError(f"headers: {name} is given twice (names are case-insensitive)")
        if key == "authorization" and token is not None:
            raise ValueError("headers: give either token= or an Authorization header, not both")
        seen.add(key)
    return headers


def head_timeout(
    head_timeout: float | None, connect_timeout: float | None, read_timeout: float | None
) -> float | None:
    """The deadline for a response head: the one given, or connect + read."""
    if head_timeout is not None:
        if not is_seconds(head_timeout) or not head_timeout > 0:
            raise ValueError(
                f"head_timeout must be a positive number or None, not {head_timeout!r}"
            )
        return float(head_timeout)
    parts = [t for t in (connect_timeout, read_timeout) if t is not None]
    return float(sum(parts)) if parts else None


def resume_value(event_id: str) -> str | None:
    """The Last-Event-ID value for a last event ID, or None if none can carry it.

    As Fetch does to every header value, spaces and tabs at either end are
    dropped (an ``id`` field may hold them). A vertical tab, a form feed or
    a lone surrogate inside it cannot go in an HTTP/1.1 header at all.
    """
    value = event_id.strip(" \t")
    return None if header_problem("Last-Event-ID", value) else value


def resolve_base_url(base_url: str | None, environment: str) -> str:
    """The base URL: the argument, else ``EXPYS_BASE_URL``, else the environment's.

    The URL comes back in ASCII, as it goes on the wire: a host name outside
    ASCII in its IDNA (punycode) form, other characters outside ASCII
    percent-encoded as UTF-8; without a trailing slash.

    Raises:
        ValueError: an unknown environment, or a base URL that is not an
            absolute http(s) URL, carries credentials, a query or a
            fragment, has a bad port, or a host name that IDNA cannot
            encode (an empty label, a label over 63 characters).
    """
    if base_url is None:
        base_url = os.environ.get("EXPYS_BASE_URL") or None
    if base_url is None:
        try:
            base_url = ENVIRONMENTS[environment]
        except KeyError:
            known = ", ".join(sorted(ENVIRONMENTS))
            raise ValueError(f"unknown environment {environment!r} (known: {known})") from None
    if not isinstance(base_url, str):
        raise TypeError("base_url must be a str")
    try:
        parts = urlsplit(base_url)
    except ValueError:  # (urllib's text would quote the netloc, password included)
        raise ValueError("base_url is not a URL (a bad IPv6 literal or netloc)") from None
    if parts.query or parts.fragment or parts.username or parts.password:
        # (Checked before any message quotes the URL: it may hold a password.)
        raise ValueError("base_url must not carry credentials, a query or a fragment")
    try:
        return ascii_url(base_url).rstrip("/")
    except ValueError as exc:
        raise ValueError(f"base_url {base_url!r} is not an absolute http(s) URL: {exc}") from None


def segment(conversation_id: str) -> str:
    # One path segment, whatever the id holds: "../admin" stays a segment.
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ValueError("conversation_id must be a non-empty str")
    if conversation_id in (".", ".."):
        # A dot segment: URL normalisation (RFC 3986, and WHATWG for %2e
        # too) removes it, so /v1/conversations/../stream means /v1/stream.
        raise ValueError(f"conversation_id cannot be {conversation_id!r} (a dot segment)")
    return quote(_utf8(conversation_id, "conversation_id"), safe="")
