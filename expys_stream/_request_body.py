"""The request an event stream sends: its method, its body, the body's type.

``open_event_stream(url, method="POST", json={...})`` streams the answer to
a request with content, as many APIs do (a query, a subscription filter, a
prompt). This module checks the three arguments once, before any I/O, and
turns them into a :class:`StreamRequest`, which the stream sends again,
unchanged, on every reconnect (with ``Last-Event-ID``, as a GET would).

The decisions (docs/conformance.md, "Other methods and bodies"):

* The method is any RFC 9110 token (``POST``, ``PUT``, ``REPORT``,
  ``QUERY``...), sent in upper case, as requests, httpx and aiohttp send
  it. ``HEAD`` (its response has no content: no stream), ``CONNECT`` (a
  tunnel, not a request) and ``TRACE`` (an echo, which may carry no body)
  are refused.
* A GET carries no body: RFC 9110 (9.3.1) gives content in a GET no
  defined semantics, and some servers and proxies drop it or reject the
  request. A GET with ``body=`` or ``json=`` is a ``ValueError``.
* ``body=`` is bytes (a ``bytearray`` or ``memoryview`` is copied to
  bytes); text must be encoded by the caller, who knows its charset.
  ``json=`` is any value msgspec can encode (dicts, lists, str, numbers,
  bools, dataclasses, msgspec Structs...), sent as UTF-8 JSON; ``json=None``
  means no JSON body (as in requests and httpx). Both at once is a
  ``ValueError``.
* The Content-Type is the caller's own ``Content-Type`` header when there is
  one (``application/merge-patch+json``), else ``application/json`` for
  ``json=`` and ``application/octet-stream`` for ``body=`` (the type a
  recipient must assume for content without one, RFC 9110 8.3). It is sent
  as one of the client's protocol headers, so it goes with the body through
  a redirect that keeps the body, to any origin, and is dropped with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

__all__ = ["GET", "StreamRequest", "is_token", "stream_request"]

# RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
# "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

#: Methods that cannot carry an event stream, and why.
_REFUSED = {
    "HEAD": "a HEAD response has no content, so no stream",
    "CONNECT": "CONNECT opens a tunnel; it is not a request for a stream",
    "TRACE": "TRACE echoes the request and may carry no body; it is not a request for a stream",
}

#: The longest method name accepted (no registered method comes near it).
MAX_METHOD = 64


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """What a stream sends on every connection besides its headers.

    Attributes:
        method: the request method, in upper case.
        body: the request content (``b""`` for none).
        content_type: the body's Content-Type, or None when there is no
            body.
    """

    method: str
    body: bytes
    content_type: str | None


#: The request of a plain SSE stream (and of every message stream).
GET = StreamRequest("GET", b"", None)


def is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 9110 token (a method, a field name)."""
    return bool(text) and all(c in _TCHARS for c in text)


def stream_request(
    method: object,
    body: object,
    json: object,
    headers: Mapping[str, str] | None,
) -> StreamRequest:
    """The checked request of ``open_event_stream(method=, body=, json=, headers=)``.

    ``headers`` are the caller's (already checked); only a ``Content-Type``
    among them (any case) is looked at.

    Raises:
        TypeError: ``method`` is not a str, ``body`` is not bytes-like, or
            ``json`` holds a value JSON cannot encode (an ``object()``, a
            dict with tuple keys).
        ValueError: a method that is not a token or cannot carry a stream,
            ``body`` and ``json`` together, a body with GET, or a JSON
            value nested too deep (a dict that holds itself).
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    if len(method) > MAX_METHOD or not is_token(method):
        shown = repr(method) if len(method) <= MAX_METHOD else f"of {len(method)} characters"
        raise ValueError(f"method {shown} is not an HTTP method (an RFC 9110 token)")
    method = method.upper()
    if method in _REFUSED:
        raise ValueError(f"method {method}: {_REFUSED[method]}")
    if body is not None and json is not None:
        raise ValueError("give either body= or json=, not both")
    content = _content(body, json)
    if content is None:
        if method == "GET" and body is None and json is None:
            return GET
        return StreamRequest(method, b"", None)
    if method == "GET":
        raise ValueError(
            "a GET cannot carry a body (RFC 9110 9.3.1: content in a GET has no "
            "defined semantics); pass method='POST' or another method"
        )
    given = _given_content_type(headers)
    if given is not None:
        # The caller's header goes out (to the origin) as it is; ours
        # carries the same value on any hop that keeps the body.
        return StreamRequest(method, content, given)
    default = "application/json" if json is not None else "application/octet-stream"
    return StreamRequest(method, content, default)


def _content(body: object, json: object) -> bytes | None:
    if json is not None:
        return _encode_json(json)
    if body is None:
        return None
    if isinstance(body, str):
        raise TypeError("body must be bytes, not str: encode it (body=text.encode()) or use json=")
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    raise TypeError(f"body must be bytes, not {type(body).__name__}")


def _encode_json(value: object) -> bytes:
    try:
        return msgspec.json.encode(value)
    except TypeError as exc:  # a type JSON has no form for
        reason = str(exc)
    except (OverflowError, ValueError, RecursionError) as exc:  # a value out of range
        raise ValueError(f"json= cannot be encoded as JSON: {_short(exc)}") from None
    raise TypeError(f"json= cannot be encoded as JSON: {reason[:200]}")


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:200]


def _given_content_type(headers: Mapping[str, str] | None) -> str | None:
    if headers:
        for name, value in headers.items():
            if name.lower() == "content-type":
                return value
    return None
