"""The commands: ``tail``, ``send`` and ``serve`` (``demo`` is in ``_demo.py``)."""

from __future__ import annotations

import argparse
import os
import sys

import anyio

from .._client import Client
from .._options import ClientOptions
from .._text import printable
from ._output import Style, print_message
from ._status import DEFAULT_FIRST_CONNECT_RETRIES, ConnectionStatus

__all__ = ["UsageError", "send", "serve", "status_for", "tail"]

#: The most text ``send -`` reads from stdin, in bytes.
MAX_STDIN_TEXT = 1024 * 1024


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


def status_for(
    args: argparse.Namespace, *, first_connect_retries: int | None, enforce: bool = True
) -> ConnectionStatus:
    """The connection status reporter that the arguments ask for."""
    if args.quiet:
        mode = "quiet"
    elif getattr(args, "json", False):
        mode = "json"
    else:
        mode = "text"
    return ConnectionStatus(
        mode=mode,
        first_connect_retries=first_connect_retries,
        enforce=enforce,
        timestamps=args.log_timestamps,
    )


def _require(value: str | None, what: str, where: str) -> str:
    if not value:
        raise UsageError(f"no {what}: {where}")
    return value


def _token(args: argparse.Namespace) -> str:
    return _require(args.token, "member token", "pass --token or set EXPYS_MEMBER_TOKEN")


async def tail(args: argparse.Namespace, options: ClientOptions) -> int:
    """Print the backlog, then live messages until ``--count`` or Ctrl-C."""
    token = _token(args)
    conversation = _require(
        args.conversation, "conversation id", "pass CONVERSATION_ID or set EXPYS_CONVERSATION_ID"
    )
    style = Style(sys.stdout)
    # --max-retries goes to the library, which counts for the whole run;
    # without it, the command line's own limit applies before the first
    # connection, and none after.
    given = args.max_retries
    status = status_for(
        args,
        first_connect_retries=DEFAULT_FIRST_CONNECT_RETRIES if given is None else given,
        enforce=given is None,
    )
    settings: ClientOptions = {**options, "max_retries": args.max_retries}
    async with Client(token=token, base_url=args.base_url, **settings) as client:
        with anyio.CancelScope() as scope, status.watching(scope.cancel):
            resume = None
            if args.history:
                page = await client.list_messages(conversation, limit=args.history)
                for message in page.messages:
                    print_message(message, "history", as_json=args.json, style=style)
                resume = page.messages[-1].id if page.messages else None
            if args.count == 0:
                return 0
            status.connecting(client.base_url, conversation)
            shown = 0
            async with client.open_message_stream(conversation, last_event_id=resume) as stream:
                async for message in stream:
                    print_message(message, "live", as_json=args.json, style=style)
                    shown += 1
                    if shown == args.count:
                        break
    if status.gave_up is not None:
        raise status.gave_up
    return 0


async def send(args: argparse.Namespace, options: ClientOptions) -> int:
    """Send one message; print its id."""
    token = _token(args)
    if args.second is not None:
        conversation, text = args.first, args.second
    else:
        conversation, text = None, args.first
    if text is None:
        raise UsageError("nothing to send: give the TEXT (or - to read it from stdin)")
    conversation = conversation or _require(
        _env_conversation(),
        "conversation id",
        "pass CONVERSATION_ID before the TEXT or set EXPYS_CONVERSATION_ID",
    )
    if text == "-":
        text = _read_stdin()
    if not text:
        raise UsageError("nothing to send: the text is empty")
    status = status_for(args, first_connect_retries=None)
    with status.watching(lambda: None):
        async with Client(token=token, base_url=args.base_url, **options) as client:
            message = await client.send_message(conversation, text)
    sys.stdout.write(f"sent {printable(message.id)}\n")
    sys.stdout.flush()
    return 0


def _env_conversation() -> str | None:
    return os.environ.get("EXPYS_CONVERSATION_ID") or None


def _read_stdin() -> str:
    stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
    if stream is None:
        raise UsageError("cannot read the text: stdin is not a byte stream")
    data = stream.read(MAX_STDIN_TEXT + 1)
    if len(data) > MAX_STDIN_TEXT:
        raise UsageError(f"the text on stdin is longer than {MAX_STDIN_TEXT} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the text on stdin is not valid UTF-8") from None
    return text.removesuffix("\n").removesuffix("\r")


async def serve(args: argparse.Namespace) -> int:
    """Run the embedded concierge until Ctrl-C."""
    from ..testing import serve_concierge

    # The service's own retry floor (the test server's default is 10 ms).
    async with serve_concierge(port=args.port, host=args.host, retry_ms=1500) as server:
        conversation = server.add_conversation(args.conversation)
        token = server.add_member(conversation, "usr_you")
        server.add_member(conversation, "usr_concierge")
        sys.stdout.write(
            f"concierge listening on {server.base_url}\n"
            f"  export EXPYS_BASE_URL={server.base_url}\n"
            f"  export EXPYS_CONVERSATION_ID={conversation}\n"
            f"  export EXPYS_MEMBER_TOKEN={token}\n"
            "then run `expys-stream tail` (and `expys-stream send`) in another shell. "
            "Ctrl-C stops the server.\n"
        )
        sys.stdout.flush()
        count = 0
        while True:
            if args.chat_interval > 0:
                await anyio.sleep(args.chat_interval)
                count += 1
                await server.publish(conversation, "usr_concierge", f"ping {count}")
            else:
                await anyio.sleep_forever()
