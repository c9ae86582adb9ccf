"""Request header names are case-insensitive: each goes out once, on the wire."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from client_support import Scripted, http_response, running

from expys_stream import Client, open_event_stream


def field_lines(head: bytes, name: bytes) -> list[bytes]:
    """Every value of header ``name`` (any case) in a request head."""
    values = []
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            values.append(value.strip())
    return values


async def one_request(headers: dict[str, str], **kwargs: Any) -> bytes:
    origin = Scripted([http_response(204)])
    async with (
        running(origin),
        open_event_stream(origin.url + "/s", headers=headers, **kwargs) as stream,
    ):
        with anyio.fail_after(10):
            assert [event async for event in stream] == []
    return origin.heads[0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("given", "name", "value"),
    [
        ({"accept": "text/html"}, b"accept", b"text/html"),
        ({"ACCEPT": "text/event-stream;q=1"}, b"accept", b"text/event-stream;q=1"),
        ({"cache-control": "max-age=0"}, b"cache-control", b"max-age=0"),
        ({"user-AGENT": "mine/2"}, b"user-agent", b"mine/2"),
    ],
)
async def test_a_header_in_another_case_replaces_ours(
    given: dict[str, str], name: bytes, value: bytes
) -> None:
    head = await one_request(given)
    assert field_lines(head, name) == [value]


@pytest.mark.anyio
async def test_without_a_token_the_callers_authorization_goes_once() -> None:
    head = await one_request({"authorization": "Bearer mine"})
    assert field_lines(head, b"authorization") == [b"Bearer mine"]


@pytest.mark.anyio
async def test_every_request_asks_for_identity_once() -> None:
    head = await one_request({"X-Trace": "1"}, token="t", last_event_id="e")
    for name in (b"accept-encoding", b"accept", b"cache-control", b"user-agent", b"host"):
        assert len(field_lines(head, name)) == 1, name
    assert field_lines(head, b"accept-encoding") == [b"identity"]
    assert field_lines(head, b"last-event-id") == [b"e"]
    assert field_lines(head, b"authorization") == [b"Bearer t"]


@pytest.mark.anyio
async def test_a_clients_request_sends_each_header_once() -> None:
    page = json.dumps({"messages": [], "hasMore": False}).encode()
    origin = Scripted([http_response(200, page, content_type="application/json")])
    async with running(origin), Client(token="tok", base_url=origin.url) as client:
        await client.list_messages("c")
    head = origin.heads[0]
    assert field_lines(head, b"accept") == [b"application/json"]
    assert field_lines(head, b"accept-encoding") == [b"identity"]
    assert field_lines(head, b"authorization") == [b"Bearer tok"]


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"Accept-Encoding": "gzip"}, "Accept-Encoding is written by the client itself"),
        ({"accept-encoding": "identity"}, "accept-encoding is written by the client itself"),
        ({"Last-Event-ID": "e1"}, "pass last_event_id= instead"),
        ({"X-Key": "a", "x-key": "b"}, "x-key is given twice"),
        ({"Accept": "a", "ACCEPT": "b"}, "ACCEPT is given twice"),
    ],
)
def test_headers_the_client_owns_or_given_twice_are_refused(
    headers: dict[str, str], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        open_event_stream("http://127.0.0.1:9/stream", headers=headers)


def test_a_token_and_an_authorization_header_are_refused_together() -> None:
    with pytest.raises(ValueError, match="either token= or an Authorization header"):
        open_event_stream("http://127.0.0.1:9/s", headers={"authorization": "x"}, token="t")
