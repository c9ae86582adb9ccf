"""Re-exports of ``expys_stream._http``, where the transport now lives.

Kept while other branches still import from here; new code imports from
``expys_stream._http``.
"""

from __future__ import annotations

from ._http import (
    MAX_REDIRECTS,
    Exchange,
    Response,
    StreamBody,
    Transport,
    ascii_url,
    header_problem,
    origin_of,
    read_timeout_error,
    status_error,
)
from ._http._errors_map import _describe, _translated
from ._http._urls import _host_header, _redact

__all__ = [
    "MAX_REDIRECTS",
    "Exchange",
    "Response",
    "StreamBody",
    "Transport",
    "_describe",
    "_host_header",
    "_redact",
    "_translated",
    "ascii_url",
    "header_problem",
    "origin_of",
    "read_timeout_error",
    "status_error",
]
