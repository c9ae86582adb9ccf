"""The HTTP edge of the package: the only code that imports httpcore or h11.

* ``_http11``: the transport (requests, timeouts, redirects followed) and
  the bulk reading of a stream's body;
* ``_chunked``: sans-IO readers for HTTP/1.1 body framing;
* ``_urls``: URLs and header fields as HTTP/1.1 carries them;
* ``_redirects``: where a redirect may go, and which headers go with it;
* ``_status``: what a final error status means;
* ``_errors_map``: the single translation of foreign exceptions.
"""

from __future__ import annotations

from ._errors_map import read_timeout_error
from ._http11 import Response, StreamBody, Transport
from ._redirects import MAX_REDIRECTS
from ._status import status_error
from ._urls import ascii_url, header_problem, origin_of

__all__ = [
    "MAX_REDIRECTS",
    "Response",
    "StreamBody",
    "Transport",
    "ascii_url",
    "header_problem",
    "origin_of",
    "read_timeout_error",
    "status_error",
]
