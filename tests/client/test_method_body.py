"""Any method, any body: ``open_event_stream(url, method=, body=, json=)``.

Against a scripted raw server that reads each request's body too, so the
tests see exactly what went on the wire: the method, the Content-Type, the
Content-Length and the bytes, on the first connection, on a reconnect and
after each kind of redirect. Then ``send_message``'s redirects, the sync
twin, and the inputs refused before any I/O.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import msgspec
import pytest
from client_support import Scripted, http_response, running

from expys_stream import Client, RedirectError, open_event_stream
from expys_stream import sync as expys_sync
from expys_stream._request_body import GET, StreamRequest, is_token, stream_request

pytestmark = pytest.mark.anyio

EVENTS = b"id: 1\ndata: one\n\nid: 2\ndata: two\n\n"
QUERY = {"query": "weather", "limit": 3, "tags": ["a", "é"]}


class BodyScripted(Scripted):
    """A Scripted that also reads each request's Content-Length body."""

    def __init__(self, responses: list[Any]) -> None:
        super().__init__(responses)
        self.bodies: list[bytes] = []

    async def handle(self, client: Any) -> None:
        async with client:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += await client.receive()
                head, _, body = data.partition(b"\r\n\r\n")
                self.heads.append(head + b"\r\n\r\n")
                length = self.header(len(self.heads) - 1, b"content-length")
                while len(body) < int(length or 0):
                    body += await client.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            self.bodies.append(body)
            if not self.responses:
                return
            entry = self.responses.pop(0)
            try:
                await client.send(entry(head) if callable(entry) else entry)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    def request_line(self, index: int) -> bytes:
        return self.heads[index].split(b"\r\n", 1)[0]


def until_close(payload: bytes) -> bytes:
    """A 200 event stream without Content-Length: the body ends at the close."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    return head + payload


async def read_all(url: str, **kwargs: Any) -> list[tuple[str | None, str]]:
    """Every event until the server answers 204, as (id, data)."""
    async with open_event_stream(
        url, backoff_base=0.001, backoff_cap=0.002, max_retries=3, **kwargs
    ) as stream:
        with anyio.fail_after(10):
            return [(event.id, event.data) async for event in stream]


# -- the request on the wire --------------------------------------------------


async def test_a_post_with_bytes_sends_them_with_their_length() -> None:
    server = BodyScripted([http_response(200, EVENTS), http_response(204)])
    async with running(server):
        got = await read_all(server.url + "/feed", method="POST", body=b"\x00raw\xff")
    assert got == [("1", "one"), ("2", "two")]
    assert server.request_line(0) == b"POST /feed HTTP/1.1"
    assert server.bodies[0] == b"\x00raw\xff"
    assert server.header(0, b"content-length") == b"5"
    assert server.header(0, b"content-type") == b"application/octet-stream"
    assert server.header(0, b"accept") == b"text/event-stream"


async def test_the_callers_content_type_names_a_bytes_body() -> None:
    server = BodyScripted([http_response(204)])
    async with running(server):
        await read_all(
            server.url + "/feed",
            method="PUT",
            body=bytearray(b"a,b\n"),
            headers={"content-type": "text/csv"},
        )
    assert server.request_line(0) == b"PUT /feed HTTP/1.1"
    assert server.bodies[0] == b"a,b\n"
    # Once, in the caller's case: our protocol copy is the same field.
    assert server.heads[0].lower().count(b"content-type:") == 1
    assert server.header(0, b"content-type") == b"text/csv"


async def test_json_goes_as_utf8_json_with_its_content_type() -> None:
    server = BodyScripted([http_response(200, EVENTS), http_response(204)])
    async with running(server):
        got = await read_all(server.url + "/q", method="post", json=QUERY)
    assert len(got) == 2
    assert server.request_line(0) == b"POST /q HTTP/1.1"  # (sent in upper case)
    assert server.header(0, b"content-type") == b"application/json"
    assert json.loads(server.bodies[0]) == QUERY
    assert server.header(0, b"content-length") == str(len(server.bodies[0])).encode()


async def test_report_works_and_a_bodiless_post_says_content_length_0() -> None:
    xml = b'<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"/>'
    server = BodyScripted([http_response(200, EVENTS), http_response(204), http_response(204)])
    async with running(server):
        got = await read_all(
            server.url + "/dav",
            method="REPORT",
            body=xml,
            headers={"Content-Type": "application/xml"},
        )
        assert got == [("1", "one"), ("2", "two")]
        await read_all(server.url + "/subscribe", method="POST")
    assert server.request_line(0) == b"REPORT /dav HTTP/1.1"
    assert server.bodies[0] == xml
    assert server.header(0, b"content-type") == b"application/xml"
    assert server.request_line(2) == b"POST /subscribe HTTP/1.1"
    assert server.header(2, b"content-length") == b"0"
    assert server.header(2, b"content-type") is None


async def test_a_drop_mid_event_resends_the_same_request_with_last_event_id() -> None:
    server = BodyScripted(
        [
            until_close(b"id: 1\ndata: one\n\nid: 2\ndata: tw"),  # cut inside event 2
            until_close(b"id: 2\ndata: two\n\nid: 3\ndata: three\n\n"),
            http_response(204),
        ]
    )
    async with running(server):
        got = await read_all(server.url + "/q", method="POST", json=QUERY)
    assert got == [("1", "one"), ("2", "two"), ("3", "three")]  # each once
    assert len(server.heads) == 3
    assert server.request_line(1) == server.request_line(0) == b"POST /q HTTP/1.1"
    assert server.bodies[0] == server.bodies[1] == server.bodies[2] == msgspec.json.encode(QUERY)
    for index in range(3):
        assert server.header(index, b"content-type") == b"application/json"
    assert server.header(0, b"last-event-id") is None
    assert server.header(1, b"last-event-id") == b"1"
    assert server.header(2, b"last-event-id") == b"3"


# -- redirects -----------------------------------------------------------------


def redirect(status: int, location: str = "/moved") -> bytes:
    return http_response(status, headers={"Location": location})


@pytest.mark.parametrize("method", ["POST", "PUT", "REPORT"])
async def test_a_303_turns_the_request_into_a_get_without_the_body(method: str) -> None:
    server = BodyScripted([redirect(303), http_response(200, EVENTS), http_response(204)])
    async with running(server):
        got = await read_all(
            server.url + "/q",
            method=method,
            body=b"{}",
            headers={"Content-Type": "application/json", "X-Key": "k"},
        )
    assert len(got) == 2
    assert server.request_line(0) == method.encode() + b" /q HTTP/1.1"
    assert server.request_line(1) == b"GET /moved HTTP/1.1"
    assert server.bodies[1] == b""
    for name in (b"content-type", b"content-length"):
        assert server.header(1, name) is None, name
    assert server.header(1, b"x-key") == b"k"  # (the caller's other headers stay)
    # Every reconnect starts again from the original request.
    assert server.request_line(2) == method.encode() + b" /q HTTP/1.1"
    assert server.bodies[2] == b"{}"


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("method", ["POST", "PUT", "REPORT"])
async def test_307_and_308_keep_the_method_and_the_body(status: int, method: str) -> None:
    target = BodyScripted([http_response(200, EVENTS)])
    origin = BodyScripted([])
    async with running(target), running(origin):
        there = f"http://127.0.0.1:{target.port}/there"
        origin.responses = [redirect(status, there), http_response(204)]
        got = await read_all(
            origin.url + "/q", method=method, json=QUERY, headers={"X-Api-Key": "SECRET"}
        )
    assert len(got) == 2
    assert target.request_line(0) == method.encode() + b" /there HTTP/1.1"
    assert target.bodies[0] == origin.bodies[0] == msgspec.json.encode(QUERY)
    # The body's type follows it to another origin; the caller's key does not.
    assert target.header(0, b"content-type") == b"application/json"
    assert target.header(0, b"x-api-key") is None


@pytest.mark.parametrize("status", [301, 302])
async def test_301_and_302_turn_a_post_into_a_get_and_keep_other_methods(status: int) -> None:
    server = BodyScripted(
        [redirect(status), http_response(204), redirect(status), http_response(204)]
    )
    async with running(server):
        await read_all(server.url + "/q", method="POST", body=b"x")
        await read_all(server.url + "/q", method="PUT", body=b"y")
    assert server.request_line(1) == b"GET /moved HTTP/1.1"  # as Fetch (browsers) do
    assert server.bodies[1] == b""
    assert server.header(1, b"content-type") is None
    assert server.request_line(3) == b"PUT /moved HTTP/1.1"
    assert server.bodies[3] == b"y"
    assert server.header(3, b"content-type") == b"application/octet-stream"


MESSAGE = {
    "id": "msg_1",
    "conversationID": "c",
    "authorID": "usr_alice",
    "createdAt": "2026-01-01T00:00:00Z",
    "body": "hi",
}


def message_json() -> bytes:
    return http_response(201, json.dumps(MESSAGE).encode(), content_type="application/json")


async def test_a_send_followed_by_303_fetches_the_result_with_a_get() -> None:
    server = BodyScripted([redirect(303, "/v1/conversations/c/messages/msg_1"), message_json()])
    async with running(server), Client(token="tok-123456789", base_url=server.url) as client:
        with anyio.fail_after(10):
            message = await client.send_message("c", "hi")
    assert message.id == "msg_1"
    assert server.request_line(0) == b"POST /v1/conversations/c/messages HTTP/1.1"
    assert json.loads(server.bodies[0]) == {"body": "hi"}
    assert server.request_line(1) == b"GET /v1/conversations/c/messages/msg_1 HTTP/1.1"
    assert server.bodies[1] == b""
    assert server.header(1, b"content-type") is None


@pytest.mark.parametrize("status", [301, 302])
async def test_a_send_is_not_turned_into_a_get_by_301_or_302(status: int) -> None:
    server = BodyScripted([redirect(status), message_json()])
    async with running(server), Client(token="tok-123456789", base_url=server.url) as client:
        with pytest.raises(RedirectError, match=f"POST got a {status} redirect"):
            with anyio.fail_after(10):
                await client.send_message("c", "hi")
    assert len(server.heads) == 1  # not followed, not retried


async def test_a_send_followed_by_307_is_the_same_post_with_the_same_key() -> None:
    server = BodyScripted([redirect(307, "/v2/messages"), message_json()])
    async with running(server), Client(token="tok-123456789", base_url=server.url) as client:
        with anyio.fail_after(10):
            await client.send_message("c", "hi", idempotency_key="key-1")
    assert server.request_line(1) == b"POST /v2/messages HTTP/1.1"
    assert server.bodies[1] == server.bodies[0]
    assert server.header(1, b"idempotency-key") == b"key-1"
    assert server.header(1, b"content-type") == b"application/json"


# -- the sync twin -------------------------------------------------------------


async def test_the_sync_twin_sends_the_same_request() -> None:
    server = BodyScripted([http_response(200, EVENTS), http_response(204)])

    def consume() -> list[str]:
        with expys_sync.open_event_stream(
            server.url + "/q", method="POST", json=QUERY, backoff_base=0.001, max_retries=3
        ) as stream:
            return [event.data for event in stream]

    async with running(server):
        with anyio.fail_after(20):
            got = await anyio.to_thread.run_sync(consume)
    assert got == ["one", "two"]
    assert server.request_line(0) == b"POST /q HTTP/1.1"
    assert json.loads(server.bodies[0]) == QUERY
    assert server.header(0, b"content-type") == b"application/json"


# -- refused before any I/O ----------------------------------------------------


class Unencodable:
    pass


circular: dict[str, Any] = {}
circular["self"] = circular

BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"method": "POST", "body": b"x", "json": {}}, ValueError, "either body= or json="),
    ({"body": b"x"}, ValueError, "GET cannot carry a body"),
    ({"method": "GET", "json": {"a": 1}}, ValueError, "GET cannot carry a body"),
    ({"method": "PO ST", "body": b"x"}, ValueError, "not an HTTP method"),
    ({"method": "", "body": b"x"}, ValueError, "not an HTTP method"),
    ({"method": "POST\r\nX: y"}, ValueError, "not an HTTP method"),
    ({"method": "M" * 65}, ValueError, "of 65 characters"),
    ({"method": "HEAD"}, ValueError, "no content"),
    ({"method": "connect"}, ValueError, "tunnel"),
    ({"method": "TRACE"}, ValueError, "echoes"),
    ({"method": b"POST"}, TypeError, "method must be a str"),
    ({"method": "POST", "body": "text"}, TypeError, "not str: encode it"),
    ({"method": "POST", "body": 12}, TypeError, "body must be bytes, not int"),
    ({"method": "POST", "json": Unencodable()}, TypeError, "cannot be encoded as JSON"),
    ({"method": "POST", "json": {(1, 2): 3}}, TypeError, "cannot be encoded as JSON"),
    ({"method": "POST", "json": circular}, ValueError, "cannot be encoded as JSON"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD)
async def test_bad_inputs_are_refused_before_any_io(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    server = BodyScripted([http_response(204)])
    async with running(server):
        with pytest.raises(error, match=match):
            open_event_stream(server.url + "/q", **kwargs)
        with pytest.raises(error, match=match):
            expys_sync.open_event_stream(server.url + "/q", **kwargs)
    assert server.heads == []


def test_the_request_record() -> None:
    assert stream_request("GET", None, None, None) is GET
    assert stream_request("Patch", b"", None, None) == StreamRequest(
        "PATCH", b"", "application/octet-stream"
    )
    assert stream_request(
        "POST", None, {"a": 1}, {"CONTENT-TYPE": "application/merge-patch+json"}
    ) == (StreamRequest("POST", b'{"a":1}', "application/merge-patch+json"))
    assert stream_request("DELETE", None, None, None) == StreamRequest("DELETE", b"", None)
    assert is_token("M-SEARCH")
    assert not is_token("A/B")
