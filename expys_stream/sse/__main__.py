"""``python -m expys_stream.sse``: decode an event stream from stdin.

Reads ``text/event-stream`` bytes from standard input (for example a saved
response, or ``curl -N`` output piped in) and prints each dispatched event
as one JSON object per line: ``{"event": ..., "data": ..., "id": ...}``,
plus ``"retry"`` when the event's block set one. Exits 0 at the end of the
input, or 1 with a message if an event outgrows ``--max-event-size``.
"""

from __future__ import annotations

import argparse
import json
import sys

from ._decoder import DEFAULT_MAX_EVENT_SIZE, SSEDecoder
from ._errors import EventTooLarge
from ._event import ServerSentEvent


def _print(event: ServerSentEvent) -> None:
    record: dict[str, object] = {"event": event.event, "data": event.data, "id": event.id}
    if event.retry is not None:
        record["retry"] = event.retry
    # ASCII only: the stream's text may hold terminal controls (C1, bidi).
    sys.stdout.write(json.dumps(record) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m expys_stream.sse",
        description="Decode a text/event-stream from stdin into JSON lines.",
    )
    parser.add_argument(
        "--max-event-size",
        type=int,
        default=DEFAULT_MAX_EVENT_SIZE,
        help="longest line or event data, in bytes (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.max_event_size < 1:
        parser.error("--max-event-size must be positive")
    decoder = SSEDecoder(args.max_event_size)
    stdin = sys.stdin.buffer
    try:
        while chunk := stdin.read1(65536):  # type: ignore[union-attr]
            for event in decoder.feed(chunk):
                _print(event)
    except EventTooLarge as exc:
        for event in exc.events:
            _print(event)
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
