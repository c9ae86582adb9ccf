"""The concierge in a process of its own, for the soak test (run by it, not by pytest).

    python soak_server.py MESSAGES SEED

Stores a ``start`` message and MESSAGES more in one conversation, arms a
drop for every connection to come (after 1 to 6 events, half of them a
reset, and a cut at a random byte, inside an event), prints
``BASE_URL TOKEN START_ID`` on one line, then serves until stdin closes. So
the client in the test process reconnects again and again, and its memory
and file descriptors are measured without the server's.
"""

from __future__ import annotations

import random
import sys

import anyio

from expys_stream.testing import serve_concierge

CONVERSATION = "cnv_soak"


async def main(messages: int, seed: int) -> None:
    rng = random.Random(seed)
    async with serve_concierge(retry_ms=1) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_soak")
        start = await server.publish(CONVERSATION, "usr_bot", "start")
        for index in range(messages):
            await server.publish(CONVERSATION, "usr_bot", f"m{index}")
        for _ in range(messages):  # more drops than connections can use
            server.faults.drop_after_events(rng.randint(1, 6), reset=rng.random() < 0.5)
            server.faults.drop_at_byte(rng.randrange(1, 3000), reset=rng.random() < 0.5)
        print(server.base_url, token, start.id, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]), int(sys.argv[2]))
