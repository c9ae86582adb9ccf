"""The client-layer conformance vectors (web-platform-tests), served on the wire.

Each vector lists the connections a browser's EventSource makes and what it
must see on each. A scripted server answers them in order; the client must
deliver the expected events, send the expected request headers, and stop or
reconnect as the vector says. Where docs/protocol.md decides differently from a
browser, docs/protocol.md wins and the mapping is written here and in
docs/conformance.md:

* 204: a browser fails the connection; we end the stream normally. Either
  way: no events, no reconnect.
* 503: a browser fails the connection; docs/protocol.md retries 5xx. With
  ``max_retries=0`` the stream gives up at once, as the browser does.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from client_support import Scripted, http_response, running

from expys_stream import (
    HTTPStatusError,
    NotAnEventStream,
    NotFoundError,
    RetryLimitExceeded,
    ServerError,
    open_event_stream,
)

pytestmark = pytest.mark.anyio

# The vectors are kept in the repository, with their source and licence.
_VECTOR_FILE = Path(__file__).resolve().parents[1] / "conformance" / "wpt-vectors.json"


def _vectors() -> list[dict[str, Any]]:
    with open(_VECTOR_FILE, encoding="utf-8") as file:
        return [v for v in json.load(file) if v["layer"] == "client"]


VECTORS = _vectors()


def test_all_client_vectors_are_loaded() -> None:
    assert len(VECTORS) == 20


def _response(connection: dict[str, Any]) -> bytes:
    body = base64.b64decode(connection.get("body_b64", ""))
    headers = {}
    if "redirect_to" in connection:
        headers["Location"] = "/" + connection["redirect_to"]
    return http_response(
        connection["status"], body, content_type=connection.get("content_type"), headers=headers
    )


def _expected_error(vector: dict[str, Any]) -> type[BaseException] | None:
    last = vector["connections"][-1]
    if last.get("outcome") != "fail-connection":
        return None
    status = last["status"]
    if status == 200:
        return NotAnEventStream
    if status == 204:
        return None  # docs/protocol.md: the stream ends normally
    if status == 404:
        return NotFoundError
    if status >= 500:
        return RetryLimitExceeded
    return HTTPStatusError


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
async def test_client_vector(vector: dict[str, Any]) -> None:
    connections = vector["connections"]
    responses = [_response(c) for c in connections]
    if connections[-1].get("outcome") != "fail-connection":
        responses.append(http_response(204))  # lets the stream end after the script
    scripted = Scripted(responses)
    expected_events = [
        (e["type"], e["data"], e["id"]) for c in connections for e in c.get("expected", [])
    ]
    error = _expected_error(vector)
    got: list[tuple[str, str, str]] = []
    async with (
        running(scripted),
        open_event_stream(
            scripted.url + "/stream",
            backoff_base=0.01,
            backoff_cap=0.02,
            max_retries=0 if error is RetryLimitExceeded else None,
        ) as stream,
    ):
        with anyio.fail_after(10):
            if error is None:
                got = [(e.event, e.data, e.id) async for e in stream]
            else:
                with pytest.raises(error) as info:
                    async for e in stream:
                        got.append((e.event, e.data, e.id))
                if error is RetryLimitExceeded:
                    assert isinstance(info.value.last_error, ServerError)
    assert got == expected_events
    # Requests: as many as the script (no reconnect after a failure), with
    # the headers the vector checks.
    assert len(scripted.heads) == len(responses)
    for index, connection in enumerate(connections):
        for name, value in connection.get("request_headers", {}).items():
            assert scripted.header(index, name.encode()) == value.encode()
        if "request_last_event_id_b64" in connection:
            wanted = base64.b64decode(connection["request_last_event_id_b64"])
            assert scripted.header(index, b"last-event-id") == wanted
