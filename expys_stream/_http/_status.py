"""What a final error status means: the typed error, with the server's words."""

from __future__ import annotations

import json

from .._errors import (
    AuthenticationError,
    HTTPStatusError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
)
from .._text import printable
from ._urls import _redact

__all__ = ["status_error"]


def status_error(
    status: int,
    body: bytes,
    url: str,
    *,
    not_found: type[NotFoundError] = NotFoundError,
    secret: str | None = None,
) -> HTTPStatusError:
    """The error for a final error status, with the server's code and message.

    ``secret`` (the token the request carried) is blanked out of them, in
    case the server echoes it.
    """
    code, message = _error_details(body, secret)
    cls: type[HTTPStatusError]
    if status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = not_found
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    else:
        cls = HTTPStatusError
    return cls(status, code=code, server_message=message, url=_redact(url))


def _error_details(body: bytes, secret: str | None = None) -> tuple[str | None, str | None]:
    # docs/protocol.md: {"error": {"code": "...", "message": "..."}}. Anything else
    # (HTML from a proxy, truncated JSON) yields no details, not an error.
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    # The token is blanked out before the text is cut, so that no part of
    # it survives at the cut.
    return (
        _shown(code, 100, secret) if isinstance(code, str) else None,
        _shown(message, 500, secret) if isinstance(message, str) else None,
    )


def _shown(text: str, limit: int, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[token]")
    return printable(text[:limit])
