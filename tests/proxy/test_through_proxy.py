"""Requests and streams through a real HTTP proxy on 127.0.0.1: forward and CONNECT."""

from __future__ import annotations

import ssl
from typing import Any

import anyio
import pytest
from conftest import CONVERSATION
from proxy_servers import ForwardProxy

from expys_stream import Client, open_event_stream, open_message_stream
from expys_stream._proxy import ProxySettings, parse_proxy_url
from expys_stream._transport import StreamBody, Transport
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def first_messages(stream: Any, count: int) -> list[Any]:
    got: list[Any] = []
    with anyio.fail_after(10):
        async for message in stream:
            got.append(message)
            if len(got) == count:
                break
    return got


async def test_list_send_and_stream_through_a_forward_proxy(
    server: ConciergeServer, fast: dict[str, Any]
) -> None:
    token = server.add_member(CONVERSATION, "usr_alice")
    async with ForwardProxy() as proxy:
        async with Client(token=token, base_url=server.base_url, proxy=proxy.url, **fast) as client:
            sent = await client.send_message(CONVERSATION, "through the proxy")
            page = await client.list_messages(CONVERSATION)
            async with client.open_message_stream(CONVERSATION, history=1) as stream:
                got = await first_messages(stream, 1)
    assert [m.body for m in page.messages] == ["through the proxy"]
    assert got == [sent]
    # Every request went through the proxy, in absolute form.
    targets = [(seen.method, seen.target.split("?")[0]) for seen in proxy.seen]
    base = f"{server.base_url}/v1/conversations/{CONVERSATION}"
    assert targets == [
        ("POST", f"{base}/messages"),
        ("GET", f"{base}/messages"),
        ("GET", f"{base}/messages"),
        ("GET", f"{base}/stream"),
    ]
    assert [r.method for r in server.requests] == ["POST", "GET", "GET", "GET"]
