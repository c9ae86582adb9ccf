"""``expys-stream demo``: the whole story, offline, in about ten seconds.

Starts the embedded concierge on a free loopback port, seeds a backlog, and
tails the conversation (history, then live) while a scripted second member
chats. Midway the server cuts the connection in the middle of an event; the
tail reconnects with ``Last-Event-ID`` and resumes. The last line counts the
messages received, lost and repeated.

The command line hands in how to show a message and how to watch the
connection, so that this module needs nothing from ``expys_stream._cli``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import anyio

from ._client import Client
from ._models import Message
from .testing import serve_concierge

__all__ = ["run_demo"]

CONVERSATION = "cnv_demo"
YOU = "usr_you"
CONCIERGE = "usr_concierge"

BACKLOG = [
    (YOU, "Hi! I'd like to book a table for four tonight."),
    (CONCIERGE, "Of course. Any cuisine in mind?"),
    (YOU, "Something Japanese, near the river if possible."),
    (CONCIERGE, "Let me check what is free around 8 pm."),
    (YOU, "Great, thanks!"),
]

SCRIPT: list[tuple[str, str | None]] = [
    (CONCIERGE, "Good news: Kawa has a table at 20:00."),
    (CONCIERGE, "It's a 5-minute walk from the Pont Neuf."),
    (YOU, "Perfect. Do they have vegetarian options?"),
    (CONCIERGE, "Yes, a full vegetarian omakase."),
    (CONCIERGE, None),  # an attachment-only message: the menu as a PDF
    (CONCIERGE, "(that was the menu)"),
    (YOU, "Looks delicious. Please book it."),
    (CONCIERGE, "Booked: 4 people, 20:00, name 'You'."),
    (CONCIERGE, "Confirmation number: KW-2026-1129."),
    (YOU, "Thank you so much! 🙏"),
    (CONCIERGE, "Enjoy your evening ✨"),
    (CONCIERGE, "Anything else I can do for you?"),
]
DROP_AFTER = 5  # the server cuts the connection after this many live messages


def _say(text: str) -> None:
    sys.stderr.write(f"# {text}\n")
    sys.stderr.flush()


async def run_demo(
    *,
    show: Callable[[Message, str], None],
    watch: AbstractContextManager[object] | None = None,
    speed: float = 1.0,
    as_json: bool = False,
) -> int:
    """Run the demo; returns the exit status (0 when nothing was lost or repeated).

    Args:
        show: prints one message and its kind (``"history"`` or ``"live"``).
        watch: entered around the stream (the command line's connection
            state lines).
        speed: faster (>1) or slower (<1) than one message every 0.5 s.
        as_json: print the summary as a JSON record.
    """
    pause = 0.5 / max(speed, 0.01)
    async with serve_concierge(port=0, retry_ms=100) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, YOU)
        server.add_member(CONVERSATION, CONCIERGE)
        for author, body in BACKLOG:
            await server.publish(CONVERSATION, author, body)
        _say(f"embedded concierge on {server.base_url}, conversation {CONVERSATION}")

        received: list[Message] = []
        history = len(BACKLOG)
        expected = history + len(SCRIPT)

        async def chat() -> None:
            with anyio.fail_after(10):
                await server.wait_for_streams(1, CONVERSATION)
            for index, (author, body) in enumerate(SCRIPT):
                await anyio.sleep(pause)
                if index == DROP_AFTER:
                    _say("the server drops the connection in the middle of an event")
                    # Half an event on the wire, then the connection is cut:
                    # the client must discard the fragment and resume.
                    await server.send_raw(
                        CONVERSATION, b'id: msg_partial\nevent: message\ndata: {"id":"msg_'
                    )
                    await server.drop_streams(CONVERSATION)
                await server.publish(CONVERSATION, author, body)

        async with anyio.create_task_group() as tg:
            tg.start_soon(chat)
            watching = watch if watch is not None else nullcontext()
            async with Client(
                token=token, base_url=server.base_url, backoff_base=0.1, backoff_cap=0.5
            ) as client:
                stream = client.open_message_stream(CONVERSATION, history=history)
                with watching:
                    async with stream:
                        with anyio.fail_after(30):
                            async for message in stream:
                                kind = "history" if len(received) < history else "live"
                                show(message, kind)
                                received.append(message)
                                if len(received) == expected:
                                    break
                reconnects = stream.reconnects

        stored = [m.id for m in server.messages(CONVERSATION)]
        ids = [m.id for m in received]
        lost = len(set(stored) - set(ids))
        repeated = len(ids) - len(set(ids))
        in_order = ids == stored
    summary = {
        "received": len(ids),
        "history": history,
        "live": len(ids) - history,
        "lost": lost,
        "repeated": repeated,
        "in_order": in_order,
        "reconnects": reconnects,
    }
    if as_json:
        sys.stdout.write(json.dumps({"kind": "summary", **summary}) + "\n")
    else:
        sys.stdout.write(
            f"demo: {len(ids)} messages received ({history} history, {len(ids) - history} live), "
            f"{lost} lost, {repeated} repeated, {'in order' if in_order else 'OUT OF ORDER'}, "
            f"{reconnects} reconnect{'s' if reconnects != 1 else ''}\n"
        )
    sys.stdout.flush()
    return 0 if lost == 0 and repeated == 0 and in_order else 1
