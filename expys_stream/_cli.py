"""The ``expys-stream`` command: tail, send, serve, demo.

Exit codes: 0 success, 1 any other failure, 2 a usage error (a missing
token or conversation), 3 an authentication failure, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO, TypeVar

import anyio

from ._client import Client
from ._errors import AuthenticationError, ExpysError, PermissionDeniedError
from ._models import Message
from ._text import json_printable, printable

__all__ = ["main"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_INTERRUPTED = 130

_N = TypeVar("_N", int, float)


class _Style:
    """ANSI colour on a terminal; none under NO_COLOR or when piped."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and not os.environ.get("NO_COLOR")

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


class _ReconnectReporter(logging.Handler):
    """Prints the client's reconnect log lines on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.style = _Style(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("reconnecting"):
            sys.stderr.write(self.style(f"~ {text}", "33") + "\n")
            sys.stderr.flush()


def _print_message(message: Message, kind: str, *, as_json: bool, style: _Style) -> None:
    if as_json:
        record = {
            "kind": kind,
            "id": message.id,
            "conversationID": message.conversation_id,
            "authorID": message.author_id,
            "body": message.body,
            "createdAt": message.created_at.isoformat().replace("+00:00", "Z"),
        }
        line = json_printable(json.dumps(record, ensure_ascii=False))
    else:
        # Other members' text: its controls escaped, so that it can neither
        # drive the terminal nor forge lines.
        author = printable(message.author_id)
        tag = style(f"[{kind} {author}]", "36" if kind == "history" else "32")
        body = printable(message.body) if message.body is not None else style("(no body)", "2")
        line = f"{tag} {body}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _require(value: str | None, what: str, flag: str, env: str) -> str:
    if not value:
        raise _UsageError(f"no {what}: pass {flag} or set {env}")
    return value


class _UsageError(Exception):
    pass


async def _tail(args: argparse.Namespace) -> int:
    token = _require(args.token, "member token", "--token", "EXPYS_MEMBER_TOKEN")
    conversation = _require(
        args.conversation, "conversation id", "CONVERSATION_ID", "EXPYS_CONVERSATION_ID"
    )
    style = _Style(sys.stdout)
    async with Client(token=token, base_url=args.base_url) as client:
        shown = 0
        if args.history:
            page = await client.list_messages(conversation, limit=args.history)
            for message in page.messages:
                _print_message(message, "history", as_json=args.json, style=style)
            resume = page.messages[-1].id if page.messages else None
        else:
            resume = None
        if args.count is not None and args.count <= 0:
            return 0
        async with client.open_message_stream(conversation, last_event_id=resume) as stream:
            async for message in stream:
                _print_message(message, "live", as_json=args.json, style=style)
                shown += 1
                if args.count is not None and shown >= args.count:
                    break
    return 0


async def _send(args: argparse.Namespace) -> int:
    token = _require(args.token, "member token", "--token", "EXPYS_MEMBER_TOKEN")
    async with Client(token=token, base_url=args.base_url) as client:
        message = await client.send_message(args.conversation, args.text)
    sys.stdout.write(f"sent {printable(message.id)}\n")
    return 0


async def _serve(args: argparse.Namespace) -> int:
    from .testing import serve_concierge

    # The service's own retry floor (the test server's default is 10 ms).
    async with serve_concierge(port=args.port, host=args.host, retry_ms=1500) as server:
        conversation = server.add_conversation(args.conversation)
        token = server.add_member(conversation, "usr_you")
        bot = server.add_member(conversation, "usr_concierge")
        del bot
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expys-stream",
        description="Live chat messages of an expys conversation over Server-Sent Events.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--token",
            default=os.environ.get("EXPYS_MEMBER_TOKEN"),
            help="member token (default: $EXPYS_MEMBER_TOKEN)",
        )
        sub.add_argument(
            "--base-url",
            default=os.environ.get("EXPYS_BASE_URL"),
            help="service base URL (default: $EXPYS_BASE_URL, else production)",
        )

    tail = commands.add_parser("tail", help="print the recent backlog, then live messages")
    tail.add_argument(
        "conversation",
        nargs="?",
        metavar="CONVERSATION_ID",
        default=os.environ.get("EXPYS_CONVERSATION_ID"),
        help="conversation (default: $EXPYS_CONVERSATION_ID)",
    )
    add_common(tail)
    tail.add_argument("--history", type=int, default=20, help="backlog messages (default 20)")
    tail.add_argument("--count", type=int, default=None, help="stop after N live messages")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")

    send = commands.add_parser("send", help="send a message")
    send.add_argument("conversation", metavar="CONVERSATION_ID")
    send.add_argument("text", metavar="TEXT")
    add_common(send)

    serve = commands.add_parser("serve", help="run the embedded concierge for development")
    serve.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765; 0: any)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--conversation", default="cnv_demo", help="conversation to create")
    serve.add_argument(
        "--chat-interval",
        type=float,
        default=0.0,
        help="publish a message every N seconds (default: off)",
    )

    demo = commands.add_parser("demo", help="the whole story, offline, in about ten seconds")
    demo.add_argument("--json", action="store_true", help="one JSON object per line")
    demo.add_argument("--speed", type=_positive, default=1.0, help="run faster (>1) or slower (<1)")
    return parser


def _port(text: str) -> int:
    port = _number(int, text, "a port number")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, not {port}")
    return port


def _positive(text: str) -> float:
    value = _number(float, text, "a number")
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text}")
    return value


def _number(kind: Callable[[str], _N], text: str, what: str) -> _N:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    for argument in arguments:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            # (Bytes that are not UTF-8 reach Python as lone surrogates.)
            sys.stderr.write("expys-stream: an argument is not valid UTF-8\n")
            return EXIT_USAGE
    args = _parser().parse_args(arguments)
    if getattr(args, "history", 0) is not None and not 0 <= getattr(args, "history", 0) <= 100:
        sys.stderr.write("expys-stream: --history must be from 0 to 100\n")
        return EXIT_USAGE
    reporter = _ReconnectReporter()
    package_logger = logging.getLogger("expys_stream")
    package_logger.addHandler(reporter)
    if package_logger.level == logging.NOTSET or package_logger.level > logging.INFO:
        package_logger.setLevel(logging.INFO)
    try:
        return anyio.run(_dispatch, args)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED
    except _UsageError as exc:
        sys.stderr.write(f"expys-stream: {exc}\n")
        return EXIT_USAGE
    except (AuthenticationError, PermissionDeniedError) as exc:
        sys.stderr.write(f"expys-stream: not allowed: {exc}\n")
        return EXIT_AUTH
    except ExpysError as exc:
        sys.stderr.write(f"expys-stream: {exc}\n")
        return EXIT_FAILURE
    except BrokenPipeError:  # (an OSError: before the one below)
        return 0
    except UnicodeEncodeError as exc:  # (a ValueError: before the one below)
        sys.stderr.write(f"expys-stream: the output cannot show this text: {exc.reason}\n")
        return EXIT_FAILURE
    except (ValueError, TypeError) as exc:
        # An option the library refused (a token with a newline, a base URL
        # that is not one): a usage error, in one line.
        sys.stderr.write(f"expys-stream: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:  # serve: the address cannot be bound or resolved
        sys.stderr.write(f"expys-stream: {exc}\n")
        return EXIT_FAILURE
    finally:
        package_logger.removeHandler(reporter)


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "tail":
        return await _tail(args)
    if args.command == "send":
        return await _send(args)
    if args.command == "serve":
        return await _serve(args)
    from ._demo import run_demo

    result: Any = await run_demo(speed=args.speed, as_json=args.json)
    return int(result)
