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
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin

from .._errors import RedirectError
from ._urls import _redact, ascii_url, origin_of

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "hop_headers", "next_hop"]

#: Redirect hops followed for one request (docs/protocol.md: at most 5).
MAX_REDIRECTS = 5
#: The statuses that are redirects to follow.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def next_hop(method: str, status: int, url: str, location: bytes | None) -> str:
    """The URL a redirect ``status`` from ``url`` sends ``method`` to.

    GET follows every redirect status (as GET); any other method only 307
    and 308, which keep the method and the body.

    Raises:
        RedirectError: a method that may not follow this status, a missing
            Location, or one that is not an absolute http(s) URL once
            resolved against ``url``.
    """
    if method != "GET" and status not in (307, 308):
        raise RedirectError(f"{method} got a {status} redirect; not followed")
    if location is None or not location.strip():
        raise RedirectError(f"redirect from {_redact(url)} without a Location")
    try:
        return ascii_url(urljoin(url, location.decode("utf-8").strip()))
    except (UnicodeDecodeError, ValueError):
        raise RedirectError(f"redirect from {_redact(url)} to an invalid Location") from None


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
