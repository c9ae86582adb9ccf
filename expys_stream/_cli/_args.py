"""The ``expys-stream`` argument parser and its value checks."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import TypeVar

from .. import __version__
from ._logs import LEVELS
from ._status import DEFAULT_FIRST_CONNECT_RETRIES

__all__ = ["parser"]

_N = TypeVar("_N", int, float)

_DESCRIPTION = "Live chat messages of an expys conversation over Server-Sent Events."
_EPILOG = """\
environment:
  EXPYS_MEMBER_TOKEN     the member token (--token)
  EXPYS_BASE_URL         the service's base URL (--base-url)
  EXPYS_CONVERSATION_ID  the conversation of tail and send
  EXPYS_LOG              the library's log level: debug, info, warning, error, off
  NO_COLOR               no colour on a terminal

exit status: 0 done, 1 failed (network, server, gave up), 2 usage error,
3 authentication or permission refused, 130 interrupted (Ctrl-C)
"""
_TAIL_EPILOG = f"""\
State lines (connecting, connected, reconnecting) go to stderr; with --json
they are JSON records of kind "status" on stdout, among the messages;
--quiet hides them. A stream that has never connected gives up after
{DEFAULT_FIRST_CONNECT_RETRIES} retries (exit 1), or after --max-retries N; once connected it
retries for as long as it runs, or N consecutive times with --max-retries N.
"""
_SEND_EPILOG = """\
With one argument, it is the TEXT and the conversation is
$EXPYS_CONVERSATION_ID; with two, the first is the conversation. A TEXT of
"-" reads the text from stdin (UTF-8, one trailing newline dropped).
examples:
  expys-stream send "Hello!"
  expys-stream send cnv_123 "Hello!"
  echo "Hello!" | expys-stream send -
"""


def parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    top = argparse.ArgumentParser(
        prog="expys-stream",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"expys-stream {__version__}")
    _add_logging(top, suppress=False)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tail = _command(commands, "tail", "print the recent backlog, then live messages", _TAIL_EPILOG)
    tail.add_argument(
        "conversation",
        nargs="?",
        metavar="CONVERSATION_ID",
        default=os.environ.get("EXPYS_CONVERSATION_ID"),
        help="the conversation (default: $EXPYS_CONVERSATION_ID)",
    )
    _add_connection(tail)
    tail.add_argument(
        "--history",
        type=_ranged(0, 100),
        default=20,
        metavar="N",
        help="backlog messages to print first, 0 to 100 (default 20)",
    )
    tail.add_argument(
        "--count", type=_ranged(0), default=None, metavar="N", help="stop after N live messages"
    )
    tail.add_argument(
        "--max-retries",
        type=_ranged(0),
        default=None,
        metavar="N",
        help="give up after N consecutive failed attempts (default: "
        f"{DEFAULT_FIRST_CONNECT_RETRIES} before the first connection, then never)",
    )
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("-q", "--quiet", action="store_true", help="no connection state lines")

    send = _command(commands, "send", "send a message", _SEND_EPILOG)
    send.usage = "expys-stream send [options] [CONVERSATION_ID] TEXT"
    send.add_argument("first", nargs="?", metavar="CONVERSATION_ID", help=argparse.SUPPRESS)
    send.add_argument(
        "second",
        nargs="?",
        metavar="TEXT",
        help="[CONVERSATION_ID] TEXT: the text, or - to read it from stdin; the "
        "conversation, when left out, is $EXPYS_CONVERSATION_ID",
    )
    _add_connection(send)
    send.add_argument("-q", "--quiet", action="store_true", help="no retry lines")

    serve = _command(commands, "serve", "run the embedded concierge for development")
    serve.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765; 0: any)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--conversation", default="cnv_demo", help="conversation to create")
    serve.add_argument(
        "--chat-interval",
        type=_seconds(allow_zero=True),
        default=0.0,
        metavar="SECONDS",
        help="publish a message every SECONDS (default 0: off)",
    )

    demo = _command(commands, "demo", "the whole story, offline, in about ten seconds")
    demo.add_argument("--json", action="store_true", help="one JSON object per line")
    demo.add_argument(
        "--speed", type=_seconds(), default=1.0, help="run faster (>1) or slower (<1)"
    )
    demo.add_argument("-q", "--quiet", action="store_true", help="no connection state lines")
    return top


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    sub = commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_logging(sub, suppress=True)
    return sub


def _add_connection(sub: argparse.ArgumentParser) -> None:
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


def _add_logging(sub: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On the top parser and on each command, so that `expys-stream -v tail`
    # and `expys-stream tail -v` both work: a command's copy only sets what
    # it was given (SUPPRESS), the top parser sets the defaults.
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = sub.add_argument_group("logging")
    levels = group.add_mutually_exclusive_group()
    levels.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="show the library's log: -v info, -vv debug",
    )
    levels.add_argument(
        "--log-level",
        choices=list(LEVELS),
        default=default(None),
        help="the library's log level (default: $EXPYS_LOG, else warning)",
    )
    group.add_argument(
        "--log-timestamps",
        action="store_true",
        default=default(False),
        help="start log and state lines with the UTC time",
    )


def _ranged(low: int, high: int | None = None) -> Callable[[str], int]:
    def check(text: str) -> int:
        value = _number(int, text, "a whole number")
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, not {value}")
        return value

    return check


def _seconds(*, allow_zero: bool = False) -> Callable[[str], float]:
    def check(text: str) -> float:
        value = _number(float, text, "a number")
        if not (value >= 0 if allow_zero else value > 0) or not value < math.inf:
            low = ">= 0" if allow_zero else "> 0"
            raise argparse.ArgumentTypeError(f"must be a finite number {low}, not {text}")
        return value

    return check


def _port(text: str) -> int:
    port = _number(int, text, "a port number")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, not {port}")
    return port


def _number(kind: Callable[[str], _N], text: str, what: str) -> _N:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
