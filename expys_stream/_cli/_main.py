"""Running the command line: parse, set up the log, run a command, and turn
what went wrong into one line on stderr and an exit status."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import anyio

from .._errors import AuthenticationError, ExpysError, PermissionDeniedError
from .._models import Message
from .._options import ClientOptions
from ._args import parser
from ._commands import UsageError, send, serve, status_for, tail
from ._logs import LevelError, level_from, library_log
from ._output import Style, print_message

__all__ = ["EXIT_AUTH", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_USAGE", "main", "run"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``sys.argv[1:]`` by default); returns the exit status."""
    return run(sys.argv[1:] if argv is None else argv)


def run(
    argv: Sequence[str], *, backend: str = "asyncio", options: ClientOptions | None = None
) -> int:
    """Run the command line on an anyio ``backend``; returns the exit status.

    ``options`` go to every ``Client`` the command makes (tests shorten the
    backoff with them).
    """
    arguments = list(argv)
    for argument in arguments:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            # (Bytes that are not UTF-8 reach Python as lone surrogates.)
            return _fail("an argument is not valid UTF-8", EXIT_USAGE)
    try:
        args = parser().parse_args(arguments)
    except SystemExit as exit_:  # --help, --version, or argparse's usage error
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        level = level_from(args.log_level, args.verbose, os.environ.get("EXPYS_LOG"))
    except LevelError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        with library_log(level, timestamps=args.log_timestamps):
            return anyio.run(_dispatch, args, options or {}, backend=backend)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (AuthenticationError, PermissionDeniedError) as exc:
        return _fail(f"not allowed: {exc}", EXIT_AUTH)
    except ExpysError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except BrokenPipeError:  # (an OSError: before the one below)
        return 0
    except UnicodeEncodeError as exc:  # (a ValueError: before the one below)
        return _fail(f"the output cannot show this text: {exc.reason}", EXIT_FAILURE)
    except (ValueError, TypeError) as exc:
        # An option the library refused (a token with a newline, a base URL
        # that is not one): a usage error, in one line.
        return _fail(str(exc), EXIT_USAGE)
    except OSError as exc:  # serve: the address cannot be bound or resolved
        return _fail(str(exc), EXIT_FAILURE)


def _fail(text: str, status: int) -> int:
    sys.stderr.write(f"expys-stream: {text}\n")
    sys.stderr.flush()
    return status


async def _dispatch(args: argparse.Namespace, options: ClientOptions) -> int:
    if args.command == "tail":
        return await tail(args, options)
    if args.command == "send":
        return await send(args, options)
    if args.command == "serve":
        return await serve(args)
    from .._demo import run_demo

    style = Style(sys.stdout)

    def show(message: Message, kind: str) -> None:
        print_message(message, kind, as_json=args.json, style=style)

    status = status_for(args, first_connect_retries=None)
    return await run_demo(
        show=show, watch=status.watching(lambda: None), speed=args.speed, as_json=args.json
    )
