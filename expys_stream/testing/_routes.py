"""Parsing the parts of a request: path, query, credentials, send body.

Pure functions, no I/O. Each parser returns the value or raises
:class:`BadRequest` with the ``message`` of the 400 (or 401) to answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote_to_bytes

import msgspec

__all__ = [
    "METHODS",
    "BadRequest",
    "ListQuery",
    "Route",
    "bearer_token",
    "idempotency_key",
    "match_route",
    "parse_list_query",
    "parse_send_body",
]

_ROOT = "/v1/conversations/"

#: The methods each resource allows (its ``Allow`` header).
METHODS: dict[str, tuple[str, ...]] = {
    "messages": ("GET", "HEAD", "POST"),
    "stream": ("GET", "HEAD"),
}

# RFC 6750: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_LIMIT = re.compile(r"[0-9]{1,4}")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as an idempotency key

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class BadRequest(Exception):
    """The request is not acceptable; ``str(exc)`` is the message for the client."""


@dataclass(frozen=True, slots=True)
class Route:
    """A matched path: the decoded conversation id and the resource."""

    conversation_id: str
    resource: Literal["messages", "stream"]


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int
    before: str | None


def match_route(path: str, prefix: str = "") -> Route | None:
    """Match ``{prefix}/v1/conversations/{id}/(messages|stream)``.

    The id is exactly one path segment, percent-decoded as UTF-8, so
    ``%2F``, spaces and any Unicode are plain characters of the id; an
    unencoded ``/`` makes a different (unknown) path. None if no match.

    A dot segment (``.`` or ``..``, also as ``%2e``) is no id: URL
    normalisation would remove it (``/v1/conversations/../stream`` is
    ``/v1/stream``), so a proxy in front would route such a path elsewhere
    and so must this server: it matches nothing.
    """
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    if not rest.startswith(_ROOT):
        return None
    segment, _, resource = rest[len(_ROOT) :].partition("/")
    if not segment or resource not in ("messages", "stream"):
        return None
    try:
        conversation_id = unquote_to_bytes(segment).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if conversation_id in (".", ".."):
        return None
    return Route(conversation_id, "messages" if resource == "messages" else "stream")


def parse_list_query(query: str) -> ListQuery:
    """``limit`` (1..100, default 20) and ``before``; other parameters are ignored."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, max_num_fields=100):
        if name in params:
            raise BadRequest(f"the {name!r} parameter is repeated")
        params[name] = value
    limit = DEFAULT_LIMIT
    if "limit" in params:
        raw = params["limit"]
        if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
            raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw)
    before = params.get("before")
    if before == "":
        raise BadRequest("before must be a message id")
    return ListQuery(limit, before)


class _SendBody(msgspec.Struct, forbid_unknown_fields=False):
    body: str | None = None


_send_decoder = msgspec.json.Decoder(_SendBody)


def parse_send_body(raw: bytes) -> str | None:
    """The ``body`` of ``{"body": "text"}``: a string, or None (null or absent)."""
    try:
        return _send_decoder.decode(raw).body
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadRequest(
            f"the body must be a JSON object with a string or null 'body': {exc}"
        ) from None


def bearer_token(authorization: str | None, count: int) -> str:
    """The token of ``Authorization: Bearer <token>``.

    ``count`` is how many ``Authorization`` fields the request had. Raises
    :class:`BadRequest` (answered with 401) when it is missing, repeated or
    malformed; the message never includes the value.
    """
    if authorization is None:
        raise BadRequest("missing bearer token")
    if count != 1:
        raise BadRequest("more than one Authorization header")
    scheme, _, token = authorization.strip(" \t").partition(" ")
    token = token.lstrip(" ")
    if scheme.lower() != "bearer" or not _TOKEN68.fullmatch(token):
        raise BadRequest("malformed Authorization header: expected 'Bearer <token>'")
    return token


def idempotency_key(value: str | None, count: int) -> str | None:
    """The ``Idempotency-Key``, if any: 1 to 255 visible ASCII characters, once."""
    if value is None:
        return None
    if count != 1:
        raise BadRequest("more than one Idempotency-Key header")
    if not _KEY.fullmatch(value):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return value
