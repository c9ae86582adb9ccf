"""What the command line prints: messages (text or JSON lines), in colour
on a terminal."""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

from .._models import Message
from .._text import json_printable, printable

__all__ = ["Style", "print_message", "write_json"]


class Style:
    """ANSI colour on a terminal; none under NO_COLOR or when piped."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and not os.environ.get("NO_COLOR")

    def __call__(self, text: str, code: str) -> str:
        """``text`` in the SGR colour ``code`` (as is when colour is off)."""
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def write_json(record: dict[str, object]) -> None:
    """One JSON object on one line of stdout, controls escaped."""
    sys.stdout.write(json_printable(json.dumps(record, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def print_message(message: Message, kind: str, *, as_json: bool, style: Style) -> None:
    """One message on one line of stdout: ``[kind author] body``, or JSON."""
    if as_json:
        write_json(
            {
                "kind": kind,
                "id": message.id,
                "conversationID": message.conversation_id,
                "authorID": message.author_id,
                "body": message.body,
                "createdAt": message.created_at.isoformat().replace("+00:00", "Z"),
            }
        )
        return
    # Other members' text: its controls escaped, so that it can neither
    # drive the terminal nor forge lines.
    author = printable(message.author_id)
    tag = style(f"[{kind} {author}]", "36" if kind == "history" else "32")
    body = printable(message.body) if message.body is not None else style("(no body)", "2")
    sys.stdout.write(f"{tag} {body}\n")
    sys.stdout.flush()
