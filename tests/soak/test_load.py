"""Many streams through one Client, random drops: every message exactly once, in order.

The concierge drops whole conversations' streams (closed or reset) between
rounds of messages, and arms cuts at a random byte (inside an event) for
the next connections, so that reconnects happen while messages keep
coming. Each stream must end up with exactly the messages published to its
conversation after its starting point, in order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import anyio
import pytest

from expys_stream import Client, Message
from expys_stream.testing import serve_concierge

pytestmark = pytest.mark.anyio


@dataclass
class LoadResult:
    streams: int
    messages_each: int
    drops: int
    reconnects: int
    seconds: float


async def run_load(
    *, streams: int, conversations: int, rounds: int, per_round: int, drops: int, seed: int
) -> LoadResult:
    rng = random.Random(seed)
    async with serve_concierge(retry_ms=1) as server:
        names = [f"cnv_load_{i}" for i in range(conversations)]
        token = ""
        starts: dict[str, Message] = {}
        for name in names:
            server.add_conversation(name)
            token = server.add_member(name, "usr_load")  # (a token of the user: good for all)
            starts[name] = await server.publish(name, "usr_bot", "start")
        published: dict[str, list[str]] = {name: [] for name in names}
        received: list[list[str]] = [[] for _ in range(streams)]
        total = rounds * per_round
        reconnects = 0
        done = anyio.Event()
        began = anyio.current_time()

        async with Client(
            token=token, base_url=server.base_url, backoff_base=0.005, backoff_cap=0.05
        ) as client:

            async def consume(index: int) -> None:
                nonlocal reconnects
                name = names[index % conversations]
                stream = client.open_message_stream(name, last_event_id=starts[name].id)
                async with stream:
                    async for message in stream:
                        received[index].append(message.id)
                        if len(received[index]) == total:
                            break
                reconnects += stream.reconnects

            with anyio.fail_after(240):
                async with anyio.create_task_group() as group:
                    for index in range(streams):
                        group.start_soon(consume, index)
                    await server.wait_for_streams(streams)
                    drop_rounds = set(rng.sample(range(rounds), min(drops, rounds)))
                    for round_ in range(rounds):
                        for _ in range(per_round):
                            for name in names:
                                message = await server.publish(name, "usr_bot", f"r{round_}")
                                published[name].append(message.id)
                        if round_ in drop_rounds:
                            victim = rng.choice(names)
                            # The next connection of another conversation is
                            # cut inside its replay; this one drops now.
                            server.faults.drop_at_byte(
                                rng.randrange(1, 600), conversation_id=rng.choice(names)
                            )
                            await server.drop_streams(victim, reset=rng.random() < 0.5)
                done.set()
        seconds = anyio.current_time() - began
    for index, got in enumerate(received):
        assert got == published[names[index % conversations]], f"stream {index}"
    return LoadResult(streams, total, len(drop_rounds), reconnects, seconds)


async def test_twenty_streams_with_a_few_drops() -> None:
    result = await run_load(
        streams=20, conversations=4, rounds=6, per_round=2, drops=3, seed=20261206
    )
    assert result.reconnects >= 3  # each drop reconnected at least one stream


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [1, 2])
async def test_five_hundred_streams_with_random_drops(seed: int) -> None:
    result = await run_load(
        streams=500, conversations=50, rounds=30, per_round=2, drops=25, seed=seed
    )
    print(
        f"\nload: {result.streams} streams x {result.messages_each} messages, "
        f"{result.drops} drop rounds, {result.reconnects} reconnects, "
        f"{result.seconds:.1f} s"
    )
    assert result.reconnects >= result.drops
