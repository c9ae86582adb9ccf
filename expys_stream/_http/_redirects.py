"""Redirect policy: which statuses are followed, and where a hop may go."""

from __future__ import annotations

from urllib.parse import urljoin

from .._errors import RedirectError
from ._urls import _redact, ascii_url

__all__ = ["MAX_REDIRECTS"]

#: Redirect hops followed for one request (PROTOCOL.md: at most 5).
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that carry credentials: never sent to another origin.
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"cookie", b"proxy-authorization"})


def _redirect_target(url: str, location: bytes | None) -> str:
    if location is None or not location.strip():
        raise RedirectError(f"redirect from {_redact(url)} without a Location")
    try:
        return ascii_url(urljoin(url, location.decode("utf-8").strip()))
    except (UnicodeDecodeError, ValueError):
        raise RedirectError(f"redirect from {_redact(url)} to an invalid Location") from None
