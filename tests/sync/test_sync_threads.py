"""Several threads at once, worker threads of event loops, and the loop-thread error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import anyio.to_thread
import pytest
from sync_support import CONVERSATION, Baseline, portal_threads, take, wait_until

from expys_stream import Message
from expys_stream.sync import Client, open_event_stream, open_message_stream
from expys_stream.testing import ConciergeThread, serve_concierge

THREADS = 6
PER_THREAD = 20


def test_threads_each_with_their_own_streams(
    server: ConciergeThread, fast: dict[str, Any], baseline: Baseline
) -> None:
    conversations = [f"cnv_t{i}" for i in range(THREADS)]
    tokens = {}
    for conversation in conversations:
        server.add_conversation(conversation)
        tokens[conversation] = server.add_member(conversation, "usr_alice")
    ready = threading.Barrier(THREADS + 1, timeout=20)

    def consume(conversation: str) -> list[Message]:
        with open_message_stream(conversation, token=tokens[conversation], **fast) as stream:
            server.wait_for_streams(1, conversation)
            ready.wait()
            return take(stream, PER_THREAD)

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(consume, c) for c in conversations]
        ready.wait()
        sent = {
            c: [server.publish(c, "usr_bob", f"{c} {i}") for i in range(PER_THREAD)]
            for c in conversations
        }
        got = {c: f.result(timeout=30) for c, f in zip(conversations, futures, strict=True)}
    assert got == sent
    assert len({t.ident for t in portal_threads()}) == 0  # the last close stopped it
    baseline.check()


def test_one_client_shared_by_threads(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    with Client(token=token, **fast) as client:

        def send(i: int) -> Message:
            return client.send_message(CONVERSATION, f"from thread {i}")

        with ThreadPoolExecutor(4) as pool:
            sent = list(pool.map(send, range(12)))
        stored = client.list_messages(CONVERSATION, limit=20).messages
        assert sorted(m.id for m in sent) == [m.id for m in stored]
        # Exactly one loop thread serves every thread's calls.
        assert len(portal_threads()) == 1
    baseline.check()


@pytest.mark.anyio
async def test_from_a_worker_thread_of_a_running_event_loop(anyio_backend: str) -> None:
    # The concierge runs on the host loop itself: the loop must keep running
    # while a worker thread blocks in the sync client.
    async with serve_concierge(retry_ms=1) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")

        def consume() -> list[Message]:
            with open_message_stream(CONVERSATION, token=token, base_url=server.base_url) as s:
                return take(s, 3)

        def backlog() -> list[Message]:
            with Client(token=token, base_url=server.base_url) as client:
                return list(client.list_messages(CONVERSATION).messages)

        got: list[list[Message]] = []

        async def run() -> None:
            got.append(await anyio.to_thread.run_sync(consume))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                group.start_soon(run)
                await server.wait_for_streams(1)
                sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(3)]
            assert got == [sent]
            assert await anyio.to_thread.run_sync(backlog) == sent
    assert portal_threads() == []


@pytest.mark.anyio
async def test_on_an_event_loop_thread_it_refuses_clearly(
    anyio_backend: str, server: ConciergeThread, token: str
) -> None:
    stream = open_message_stream(CONVERSATION, token=token, base_url=server.base_url)
    with pytest.raises(RuntimeError, match=f"runs an {anyio_backend} event loop"):
        stream.__enter__()
    events = open_event_stream(f"{server.base_url}/v1/conversations/{CONVERSATION}/stream")
    with pytest.raises(RuntimeError, match="use the async API"):
        events.__enter__()
    client = Client(token=token, base_url=server.base_url)
    with pytest.raises(RuntimeError, match="event loop"):
        client.list_messages(CONVERSATION)
    with pytest.raises(RuntimeError, match="event loop"):
        client.send_message(CONVERSATION, "x")
    with pytest.raises(RuntimeError, match="event loop"):
        client.open_message_stream(CONVERSATION)
    client.close()  # never used: nothing to wait for, so allowed
    assert portal_threads() == []
    assert server.requests == []


def test_a_token_provider_may_use_the_sync_client_itself(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    # The provider runs in a worker thread, not on the loop: a blocking call
    # (here, through the sync client) neither deadlocks nor stalls the loop.
    with Client(token=token, **fast) as helper:

        def provider() -> str:
            helper.list_messages(CONVERSATION, limit=1)
            return token

        with open_message_stream(CONVERSATION, token=provider, **fast) as stream:
            server.wait_for_streams(1)
            sent = server.publish(CONVERSATION, "usr_bob", "hi")
            assert next(stream) == sent
    # The provider's worker thread is told to stop when the loop ends and
    # exits a moment later (anyio does not join it).
    wait_until(lambda: set(threading.enumerate()) <= baseline.threads)
    baseline.check()
