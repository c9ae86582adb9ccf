"""Client(http2=True) against the embedded concierge: how the protocol is
chosen, the stream limit, one-shot requests on the shared connection,
GOAWAY, the errors of misuse, and the blocking API."""

from __future__ import annotations

import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from client_h2_support import AUTHOR, LIVE, concierge_h2, poll
from conftest import Certs

from expys_stream import Client, sync
from expys_stream.testing import ConciergeServer, serve_concierge

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


async def _each_gets_one(
    client: Client, server: ConciergeServer, stack: AsyncExitStack, streams: int, text: str
) -> None:
    """Open ``streams`` streams on LIVE (kept open by ``stack``), publish one
    message, and check that every stream gets it."""
    opened = [
        await stack.enter_async_context(client.open_message_stream(LIVE)) for _ in range(streams)
    ]
    await server.wait_for_streams(streams, LIVE)
    sent = await server.publish(LIVE, AUTHOR, text)
    for stream in opened:
        async for message in stream:
            assert message == sent
            break


async def test_alpn_h2_carries_many_streams_on_one_connection(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        server = env.server
        with anyio.fail_after(20):
            async with env.client() as client, AsyncExitStack() as stack:
                await _each_gets_one(client, server, stack, 3, "hello")
                [info] = server.connections()
                assert (info.protocol, info.tls, info.streams_open) == ("h2", True, 3)
        assert {r.http_version for r in server.requests} == {"HTTP/2"}


@pytest.mark.parametrize("tls", [True, False], ids=["alpn", "preface"])
async def test_a_server_without_http2_gets_http11(certs: Certs, tls: bool) -> None:
    from client_h2_support import server_context

    context = server_context(certs) if tls else None
    async with serve_concierge(ssl_context=context, http2=False, retry_ms=1) as server:
        server.add_conversation(LIVE)
        token = server.add_member(LIVE, "usr_alice")
        with anyio.fail_after(20):
            async with Client(
                token=token,
                base_url=server.base_url,
                http2=True,
                ssl_context=certs.client_context() if tls else None,
            ) as client:
                sent = await client.send_message(LIVE, "over HTTP/1.1")
                async with client.open_message_stream(LIVE, history=1) as stream:
                    async for message in stream:
                        assert message == sent
                        break
        # (Over cleartext, the HTTP/1.1 server also saw the HTTP/2 preface,
        # "PRI * HTTP/2.0", as a request it refused.)
        requests = [r for r in server.requests if r.method != "PRI"]
        assert [r.method for r in requests] == ["POST", "GET"]
        assert {r.http_version for r in requests} == {"HTTP/1.1"}


async def test_prior_knowledge_over_http() -> None:
    async with serve_concierge(retry_ms=1) as server:
        server.add_conversation(LIVE)
        token = server.add_member(LIVE, "usr_alice")
        with anyio.fail_after(20):
            async with Client(token=token, base_url=server.base_url, http2=True) as client:
                sent = await client.send_message(LIVE, "cleartext")
                async with client.open_message_stream(LIVE, history=1) as stream:
                    async for message in stream:
                        assert message == sent
                        break
                [info] = server.connections()
                assert (info.protocol, info.tls) == ("h2", False)
                # Every request the server saw came on this one connection:
                # the POST, the history GET and the stream's GET (3 streams).
                # The message came from the history, so the block may be left
                # (and the stream reset) before the server's handler records
                # the stream's GET: 2 or 3 recorded requests.
                assert info.streams_total == 3
                assert len(server.requests) in (2, 3)
        assert {r.http_version for r in server.requests} == {"HTTP/2"}


async def test_the_stream_limit_opens_a_second_connection(certs: Certs) -> None:
    async with concierge_h2(certs, h2_max_concurrent_streams=3) as env:
        server = env.server
        with anyio.fail_after(20):
            async with env.client() as client, AsyncExitStack() as stack:
                await _each_gets_one(client, server, stack, 5, "to all five")
                assert sorted(info.streams_open for info in env.h2_connections()) == [2, 3]


async def test_one_shot_requests_share_the_streams_connection(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        server = env.server
        with anyio.fail_after(20):
            async with env.client() as client, client.open_message_stream(LIVE) as stream:
                await server.wait_for_streams(1, LIVE)
                sent = await client.send_message(LIVE, "one-shot")
                page = await client.list_messages(LIVE, limit=5)
                assert sent in page.messages
                async for message in stream:
                    assert message == sent
                    break
                [info] = server.connections()
                assert (info.streams_total, info.streams_open) == (3, 1)


async def test_a_goaway_mid_stream_loses_and_repeats_nothing(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        server = env.server
        with anyio.fail_after(30):
            async with env.client() as client, client.open_message_stream(LIVE) as stream:
                await server.wait_for_streams(1, LIVE)
                before = [await server.publish(LIVE, AUTHOR, f"before {n}") for n in range(3)]
                got = []
                async for message in stream:
                    got.append(message)
                    if len(got) == 3:
                        break
                first = server.connections()[0].id
                await server.goaway()  # graceful: the open stream is still served
                after = [await server.publish(LIVE, AUTHOR, f"after {n}") for n in range(3)]
                await server.end_streams(LIVE)  # now it must move to a new connection
                await server.wait_for_streams(1, LIVE)
                more = [await server.publish(LIVE, AUTHOR, f"later {n}") for n in range(3)]
                async for message in stream:
                    got.append(message)
                    if len(got) == 9:
                        break
                assert got == before + after + more
                assert [info.id for info in server.connections()] != [first]
        resumed = [r for r in server.requests if "last-event-id" in r.headers]
        # It resumed after what it had (the end may overtake the last
        # messages in flight: then they come again from the server's log).
        assert resumed
        assert resumed[-1].headers["last-event-id"] in {m.id for m in after}


async def test_a_stream_on_a_client_not_entered_says_so(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        client = env.client()
        with pytest.raises(RuntimeError, match="async with Client"):
            async with client.open_message_stream(LIVE):
                pass
        with pytest.raises(RuntimeError, match="async with Client"):
            await client.list_messages(LIVE)
        assert env.server.requests == []


def test_http2_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="http2"):
        Client(token="t", http2="yes")  # type: ignore[arg-type]


def test_http2_without_h2_is_a_clear_import_error() -> None:
    code = (
        "import sys; sys.modules['h2'] = None\n"
        "from expys_stream import Client\n"
        "try:\n    Client(token='t', http2=True)\n"
        "except ImportError as exc:\n    print('ImportError:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "ImportError:" in done.stdout
    assert "pip install 'expys-stream[http2]'" in done.stdout


def test_the_blocking_api_streams_over_http2() -> None:
    from expys_stream.testing import ConciergeThread

    with ConciergeThread(retry_ms=1) as server:
        server.add_conversation(LIVE)
        token = server.add_member(LIVE, "usr_alice")
        with sync.Client(token=token, base_url=server.base_url, http2=True) as client:
            sent = client.send_message(LIVE, "blocking")
            with client.open_message_stream(LIVE, history=1) as stream:
                for message in stream:
                    assert message == sent
                    break
        with sync.open_message_stream(
            LIVE, token=token, base_url=server.base_url, http2=True, history=1
        ) as stream:
            for message in stream:
                assert message == sent
                break
        assert {r.http_version for r in server.requests} == {"HTTP/2"}
        anyio.run(poll, lambda: not server.connections())


async def test_closing_the_client_closes_its_connections(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        server = env.server
        with anyio.fail_after(20):
            async with (
                env.client() as client,
                client.open_message_stream(LIVE),
                client.open_message_stream(LIVE),
            ):
                await server.wait_for_streams(2, LIVE)
                assert len(server.connections()) == 1
            await poll(lambda: not server.connections())
