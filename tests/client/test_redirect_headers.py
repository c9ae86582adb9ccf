"""Which headers follow a redirect: the policy on its own, then on the wire.

The token and every header the caller supplied go to the first URL's origin
only; the client's protocol headers (Accept, Cache-Control, Last-Event-ID,
User-Agent, Accept-Encoding) follow every hop.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from client_support import Scripted, http_response, running

from expys_stream import RedirectError, open_event_stream
from expys_stream._http._redirects import (
    GET_ON_SEE_OTHER,
    Hop,
    hop_headers,
    next_hop,
    same_origin,
)

CALLER = {"X-Api-Key": "key-SECRET", "Cookie": "session=SECRET", "X-Trace": "t1"}
ORIGIN_ONLY = [b"x-api-key", b"cookie", b"x-trace", b"authorization"]


# -- the policy, pure ---------------------------------------------------------


def test_on_the_origin_the_callers_headers_replace_ours_in_any_case() -> None:
    fields = hop_headers(
        {"Accept": "text/event-stream", "User-Agent": "ua"},
        {"accept": "text/html", "X-Api-Key": "k"},
        on_origin=True,
    )
    assert sorted(fields) == [
        (b"User-Agent", b"ua"),
        (b"X-Api-Key", b"k"),
        (b"accept", b"text/html"),
    ]


def test_off_the_origin_only_the_protocol_headers_go() -> None:
    fields = hop_headers(
        {"Accept": "text/event-stream", "Last-Event-ID": "e1"},
        {"accept": "text/html", "X-Api-Key": "k", "Authorization": "Bearer t"},
        on_origin=False,
    )
    assert fields == [(b"Accept", b"text/event-stream"), (b"Last-Event-ID", b"e1")]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/b", True),
        ("http://127.0.0.1:8001/a", False),  # another port
        ("http://localhost:8000/a", False),  # another host name for the same address
        ("https://127.0.0.1:8000/a", False),  # another scheme
        ("HTTP://127.0.0.1:8000/c", True),  # schemes and hosts compare in lower case
    ],
)
def test_an_origin_is_scheme_host_and_port(url: str, expected: bool) -> None:
    assert same_origin(url, "http://127.0.0.1:8000/a") is expected


def test_the_default_port_is_the_same_origin_as_none() -> None:
    assert same_origin("https://h/x", "https://h:443/y")
    assert same_origin("http://h:80/x", "http://h/y")


@pytest.mark.parametrize(
    ("location", "target"),
    [
        (b"//localhost:9/x", "http://localhost:9/x"),  # scheme-relative
        (b"/x?q", "http://127.0.0.1:8000/x?q"),
        (b"https://other/", "https://other/"),
    ],
)
def test_next_hop_resolves_the_location(location: bytes, target: str) -> None:
    assert next_hop("GET", 302, "http://127.0.0.1:8000/a", location).url == target


@pytest.mark.parametrize("status", [301, 302])
def test_only_a_see_other_may_turn_a_narrowed_post_into_a_get(status: int) -> None:
    # (send_message: a 301 or 302 followed as GET would not send the message.)
    with pytest.raises(RedirectError, match=f"POST got a {status} redirect"):
        next_hop("POST", status, "http://h/a", b"/b", get_on=GET_ON_SEE_OTHER)
    assert next_hop("POST", 303, "http://h/a", b"/b", get_on=GET_ON_SEE_OTHER) == Hop(
        "http://h/b", "GET", keep_body=False
    )
    assert next_hop("POST", 307, "http://h/a", b"/b") == Hop("http://h/b", "POST", keep_body=True)


# -- on the wire ----------------------------------------------------------------


async def stream_until_204(url: str, **kwargs: Any) -> list[Any]:
    async with open_event_stream(
        url, backoff_base=0.01, backoff_cap=0.02, max_retries=0, **kwargs
    ) as stream:
        with anyio.fail_after(10):
            return [event async for event in stream]


def assert_none_of_the_callers(scripted: Scripted, index: int) -> None:
    for name in ORIGIN_ONLY:
        assert scripted.header(index, name) is None, name
    assert b"SECRET" not in scripted.heads[index]
    assert b"tok-" not in scripted.heads[index]


def assert_protocol_headers(scripted: Scripted, index: int) -> None:
    assert scripted.header(index, b"accept") == b"text/event-stream"
    assert scripted.header(index, b"cache-control") == b"no-cache"
    assert scripted.header(index, b"last-event-id") == b"evt_7"
    assert scripted.header(index, b"accept-encoding") == b"identity"
    assert scripted.header(index, b"user-agent") is not None


@pytest.mark.anyio
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["other port", "localhost", "scheme-relative"])
async def test_a_redirect_off_the_origin_carries_none_of_the_callers_headers(
    status: int, where: str
) -> None:
    target = Scripted([http_response(204)])
    origin = Scripted([])
    async with running(target), running(origin):
        if where == "other port":
            location = f"http://127.0.0.1:{target.port}/elsewhere"
        elif where == "localhost":  # the same server, under another name
            location = f"http://localhost:{origin.port}/elsewhere"
        else:
            location = f"//127.0.0.1:{target.port}/elsewhere"
        origin.responses = [http_response(status, headers={"Location": location})]
        if where == "localhost":
            origin.responses.append(http_response(204))
        got = await stream_until_204(
            origin.url + "/stream", headers=CALLER, token="tok-SECRET", last_event_id="evt_7"
        )
    assert got == []
    # The first request carried everything...
    assert origin.header(0, b"x-api-key") == b"key-SECRET"
    assert origin.header(0, b"cookie") == b"session=SECRET"
    assert origin.header(0, b"authorization") == b"Bearer tok-SECRET"
    # ... the other origin none of the caller's, but every protocol header.
    other, index = (origin, 1) if where == "localhost" else (target, 0)
    assert other.heads[index].startswith(b"GET /elsewhere HTTP/1.1\r\n")
    assert_none_of_the_callers(other, index)
    assert_protocol_headers(other, index)


@pytest.mark.anyio
async def test_a_hop_back_to_the_origin_does_not_get_them_again() -> None:
    # A -> B -> A: the second request to A was chosen by B.
    b_server = Scripted([])
    a_server = Scripted([])
    async with running(a_server), running(b_server):
        a_server.responses = [
            http_response(302, headers={"Location": f"http://127.0.0.1:{b_server.port}/b"}),
            http_response(204),
        ]
        b_server.responses = [
            http_response(302, headers={"Location": f"http://127.0.0.1:{a_server.port}/back"})
        ]
        await stream_until_204(a_server.url + "/a", headers=CALLER, token="tok-SECRET")
    assert a_server.header(0, b"x-api-key") == b"key-SECRET"
    assert a_server.heads[1].startswith(b"GET /back ")
    assert_none_of_the_callers(a_server, 1)
    assert_none_of_the_callers(b_server, 0)


@pytest.mark.anyio
async def test_a_redirect_on_the_origin_keeps_the_callers_headers() -> None:
    origin = Scripted([http_response(307, headers={"Location": "/moved"}), http_response(204)])
    async with running(origin):
        await stream_until_204(origin.url + "/a", headers=CALLER, token="tok-SECRET")
    assert origin.heads[1].startswith(b"GET /moved ")
    assert origin.header(1, b"x-api-key") == b"key-SECRET"
    assert origin.header(1, b"cookie") == b"session=SECRET"
    assert origin.header(1, b"authorization") == b"Bearer tok-SECRET"


@pytest.mark.anyio
async def test_a_caller_header_that_replaced_ours_is_ours_again_off_the_origin() -> None:
    target = Scripted([http_response(204)])
    origin = Scripted([])
    async with running(target), running(origin):
        origin.responses = [
            http_response(302, headers={"Location": f"http://127.0.0.1:{target.port}/x"})
        ]
        await stream_until_204(origin.url + "/a", headers={"user-agent": "mine/1"})
    assert origin.header(0, b"user-agent") == b"mine/1"
    assert (
        target.header(
            0,
            b"user-agent",
        )
        == b"expys-stream/0.1"
    )
