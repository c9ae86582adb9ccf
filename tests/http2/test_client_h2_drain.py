"""A server's GOAWAY while streams are held on the connection: a server
that goes away and then stops serving without closing the socket (hypercorn
0.18 on asyncio) is found by a PING within seconds of the GOAWAY, and the
held stream resumes on a new connection, losing and repeating nothing."""

from __future__ import annotations

import anyio
import pytest
from client_h2_support import CHURN, LIVE, client_h2_conns, hypercorn_chat, poll
from conftest import Certs

from expys_stream._http._h2conn import DRAIN_PING_INTERVAL, PING_INTERVAL

pytestmark = pytest.mark.anyio


async def test_a_held_stream_leaves_a_server_gone_quiet_after_its_goaway(certs: Certs) -> None:
    # hypercorn says GOAWAY after 3 requests on a connection.
    async with hypercorn_chat(certs, keep_alive_max_requests=3) as chat:
        hub = chat.hub
        async with chat.client() as client, client.open_message_stream(LIVE) as live:
            hub.publish(LIVE)
            with anyio.fail_after(10):
                first = await anext(aiter(live))
            assert first.id == "1"
            [conn] = client_h2_conns(client)
            # Short streams on the same connection until hypercorn's GOAWAY.
            for count in range(2, 10):
                if conn.goaway_last_stream_id is not None:
                    break
                async with client.open_message_stream(CHURN):
                    await poll(lambda n=count: len(hub.requests) >= n or conn.state != "ready")
            await poll(lambda: conn.goaway_last_stream_id is not None)
            hub.publish(LIVE)
            # Well before the keepalive PING of a working connection (20 s):
            # only the draining connection's early PING can bring it.
            assert DRAIN_PING_INTERVAL < PING_INTERVAL
            with anyio.fail_after(PING_INTERVAL - 5):
                second = await anext(aiter(live))
            assert second.id == "2"
            live_requests = [last for conversation, last, _ in hub.requests if conversation == LIVE]
            if live.reconnects:  # it moved to a new connection, resuming after "1"
                # (hypercorn on asyncio needed our PING to give up on it; on
                # trio it closes the connection itself)
                assert live_requests == [None, "1"]
                assert conn.state == "closed"
            else:  # the server went on serving the stream it held
                assert live_requests == [None]
        assert hub.server_errors == []
