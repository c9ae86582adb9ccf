"""Redirect policy: which hops are followed, and which headers go with them.

Pure functions, no I/O; the transport asks them at every hop.

The request's headers come in two sets. *Protocol* headers are the
client's own (``Accept``, ``Cache-Control``, ``Last-Event-ID``,
``User-Agent``, ``Accept-Encoding``, and a POST's ``Content-Type`` and
``Idempotency-Key``): they follow every redirect, since a stream needs them
wherever it is served. *Origin-only* headers are the token's
``Authorization`` and every header the caller supplied: they may hold
credentials (``X-Api-Key``, a cookie), so they go only to the origin
(scheme, host, port) of the first URL, and once a hop has left that origin
they are not sent again for the rest of the chain (a later hop back was
chosen by the other origin). Where an origin-only header replaced a
protocol header of the same name (``accept``), the protocol value is sent
in its place off the origin.

Names compare case-insensitively everywhere: a header given in another
case replaces the one it matches instead of going out beside it.

The method and body of each hop follow ``_policy.redirect_rule``: a 303
(and a 301 or 302 after a POST) turns the request into a GET, and the body
goes with its Content-Type (and the other body header fields, from both
sets); 307 and 308 resend both as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from .._errors import RedirectError
from .._policy import redirect_rule
from ._urls import _redact, ascii_url, origin_of

__all__ = [
    "BODY_HEADERS",
    "GET_ON_ANY",
    "GET_ON_SEE_OTHER",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "Hop",
    "hop_headers",
    "next_hop",
    "without_body_headers",
]

#: Redirect hops followed for one request (docs/protocol.md: at most 5).
MAX_REDIRECTS = 5
#: The statuses that are redirects to follow.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


#: The statuses on which a request may turn into a GET without its body
#: (what :func:`~expys_stream._policy.redirect_rule` says for each).
GET_ON_ANY = frozenset({301, 302, 303})
#: Only "See Other" may turn it into a GET: for a request whose body is a
#: side effect (``send_message``), where a 301 or 302 followed as GET would
#: silently not send it, while a 303 points at the result.
GET_ON_SEE_OTHER = frozenset({303})

#: Header fields that describe a body: they go when the body goes (Fetch's
#: "request-body-header names").
BODY_HEADERS = frozenset(
    {"content-type", "content-encoding", "content-language", "content-location"}
)


@dataclass(frozen=True, slots=True)
class Hop:
    """The request a redirect asks for.

    Attributes:
        url: the absolute URL to send it to.
        method: its method.
        keep_body: whether the body and its header fields go with it.
    """

    url: str
    method: str
    keep_body: bool


def next_hop(
    method: str,
    status: int,
    url: str,
    location: bytes | None,
    *,
    get_on: frozenset[int] = GET_ON_ANY,
) -> Hop:
    """The request a redirect ``status`` from ``url`` asks ``method`` to send.

    The method and the body follow :func:`~expys_stream._policy.redirect_rule`
    (RFC 9110 15.4, as Fetch does it): 307 and 308 keep both; 303 turns the
    request into a GET without a body; 301 and 302 do the same to a POST
    only. A status that would change the method but is not in ``get_on`` is
    refused.

    Raises:
        RedirectError: a method that may not follow this status, a missing
            Location, or one that is not an absolute http(s) URL once
            resolved against ``url``.
    """
    rule = redirect_rule(status, method)
    if rule.method != method and status not in get_on:
        raise RedirectError(
            f"{method} got a {status} redirect; not followed (it would be sent as {rule.method})"
        )
    if location is None or not location.strip():
        raise RedirectError(f"redirect from {_redact(url)} without a Location")
    try:
        target = ascii_url(urljoin(url, location.decode("utf-8").strip()))
    except (UnicodeDecodeError, ValueError):
        raise RedirectError(f"redirect from {_redact(url)} to an invalid Location") from None
    return Hop(target, rule.method, rule.keep_body)


def without_body_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """``headers`` without the fields that describe a body (any case)."""
    if headers is None:
        return None
    return {name: value for name, value in headers.items() if name.lower() not in BODY_HEADERS}


def same_origin(url: str, first_url: str) -> bool:
    """Whether ``url`` has the origin (scheme, host, port) of ``first_url``."""
    return origin_of(url) == origin_of(first_url)


def hop_headers(
    protocol: Mapping[str, str],
    origin_only: Mapping[str, str] | None,
    *,
    on_origin: bool,
) -> list[tuple[bytes, bytes]]:
    """The header fields of one hop, each name once (case-insensitively).

    ``protocol`` headers always go; ``origin_only`` ones only when
    ``on_origin`` (the hop is still on the first URL's origin), and then
    replace a protocol header of the same name. Values are sent as UTF-8.
    """
    fields: dict[str, tuple[str, str]] = {}
    for name, value in protocol.items():
        fields[name.lower()] = (name, value)
    if on_origin and origin_only:
        for name, value in origin_only.items():
            fields[name.lower()] = (name, value)
    return [(name.encode("ascii"), value.encode("utf-8")) for name, value in fields.values()]
