"""The HTTP edges of the package: the only code that imports httpcore, h11 or h2.

* ``_base``: the small interface the edges implement (``Edge``,
  ``Exchange``, ``Body``);
* ``_router``: the transport (redirects followed, each hop given to an edge);
* ``_http11``: the HTTP/1.1 edge on httpcore, and the bulk reading of a
  stream's body;
* ``_http2`` (with ``_h2conn``, ``_h2stream``, ``_h2wire``, ``_tls``): the
  HTTP/2 edge on h2, loaded only with ``http2=True``;
* ``_chunked``: sans-IO readers for HTTP/1.1 body framing;
* ``_urls``: URLs and header fields as HTTP/1.1 carries them;
* ``_redirects``: where a redirect may go, and which headers go with it;
* ``_status``: what a final error status means;
* ``_errors_map``: the single translation of foreign exceptions.
"""

from __future__ import annotations

from ._base import Body, Exchange
from ._errors_map import read_timeout_error
from ._http11 import Response, StreamBody
from ._redirects import MAX_REDIRECTS
from ._router import Transport
from ._status import status_error
from ._urls import ascii_url, header_problem, origin_of

__all__ = [
    "MAX_REDIRECTS",
    "Body",
    "Exchange",
    "Response",
    "StreamBody",
    "Transport",
    "ascii_url",
    "header_problem",
    "origin_of",
    "read_timeout_error",
    "status_error",
]
