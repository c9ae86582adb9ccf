"""Only streams whose client is still connected count as open.

The race these tests pin down: a test closes its stream, opens a new one,
waits for one open stream and publishes. If the closed stream still
counted, ``wait_for_streams(1)`` could return before the new stream had
subscribed, the message went to the dead stream, and the new one waited
forever. The server now checks each counted stream's socket for the
client's end of the connection when it counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from concierge_client import RawStream, path_for
from conftest import DEMO

from expys_stream import open_message_stream
from expys_stream.testing import ConciergeServer, ConciergeThread

pytestmark = pytest.mark.anyio


async def test_a_closed_stream_does_not_count_for_the_next(
    server: ConciergeServer, alice: str
) -> None:
    server.add_member(DEMO, "usr_bob")
    options = {"token": alice, "base_url": server.base_url, "backoff_base": 0.01}
    with anyio.fail_after(10):
        for round_ in range(5):
            async with open_message_stream(DEMO, **options) as stream:
                await server.wait_for_streams(1)
                sent = await server.publish(DEMO, "usr_bob", f"round {round_}")
                received = await stream.__anext__()
                assert received.id == sent.id
            # Leaving the block closed the connection; the server must
            # not count that stream for the next round's wait.


@pytest.fixture(params=["asyncio", "trio"])
def threaded(request: pytest.FixtureRequest) -> Iterator[tuple[ConciergeThread, str]]:
    # What the ``concierge`` fixture gives: the server in its own thread
    # and loop (either backend), started outside the test's loop.
    # Its blocking methods are called here: from a trio test they could not
    # be (a blocking call in trio's thread), only the a-prefixed ones.
    with ConciergeThread(backend=request.param) as thread:
        thread.add_conversation(DEMO)
        thread.add_member(DEMO, "usr_bob")
        yield thread, thread.add_member(DEMO, "usr_alice")


async def test_the_same_with_the_server_in_a_thread(
    threaded: tuple[ConciergeThread, str],
) -> None:
    # Nothing orders the server thread's noticing the close before the
    # test's next wait.
    thread, token = threaded
    options = {"token": token, "base_url": thread.base_url, "backoff_base": 0.01}
    with anyio.fail_after(10):
        for round_ in range(5):
            async with open_message_stream(DEMO, **options) as stream:
                await thread.await_for_streams(1)
                sent = await thread.apublish(DEMO, "usr_bob", f"round {round_}")
                assert (await stream.__anext__()).id == sent.id


async def test_the_count_drops_as_soon_as_the_client_has_closed(
    server: ConciergeServer, alice: str
) -> None:
    headers = [("authorization", f"Bearer {alice}")]
    with anyio.fail_after(10):
        async with RawStream.open(server.port, path_for(DEMO, "stream"), headers) as raw:
            assert await raw.next_chunk() is not None
            await server.wait_for_streams(1)
            assert server.stream_count(DEMO) == 1
            assert server.open_streams == 1
        # The socket is closed; no await has let the server run since.
        assert server.stream_count(DEMO) == 0
        assert server.stream_count() == 0
        assert server.open_streams == 0
        await server.wait_for_stream_count(0)


async def test_a_trio_thread_server_refuses_to_start_inside_trio(anyio_backend: str) -> None:
    # Starting it would hang (trio refuses the blocking calls that enter
    # the server); it says why at once instead. From asyncio it starts.
    thread = ConciergeThread(backend="trio")
    if anyio_backend == "trio":
        with pytest.raises(RuntimeError, match="running trio loop"):
            thread.__enter__()
    else:
        with thread:
            assert thread.stream_count() == 0
