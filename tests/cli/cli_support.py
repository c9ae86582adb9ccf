"""Running the command: as a subprocess, the way a user does, or in-process
(``expys_stream._cli.run``) on a chosen anyio backend."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

from expys_stream._cli import run as run_cli
from expys_stream._options import ClientOptions
from expys_stream.testing import ConciergeThread

#: Client options for in-process runs: retries come quickly.
FAST: ClientOptions = {"backoff_base": 0.001, "backoff_cap": 0.005}

CONVERSATION = "cnv_test"


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30, stdin: str | None = None
) -> Any:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EXPYS_")}
    full_env.update(env or {})
    full_env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "expys_stream", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EXPYS_")}
    full_env.update(env)
    full_env["NO_COLOR"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "expys_stream", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )


def wait_for_stream(server: ConciergeThread, deadline: float = 20) -> None:
    server.wait_for_streams(1, CONVERSATION, timeout=deadline)


class InProcess:
    """``run_cli(argv)`` in a thread of this process, so that a test can act
    on the server while the command tails (stdout and stderr are whatever
    ``sys.stdout`` / ``sys.stderr`` are: pytest's capture)."""

    def __init__(self, *argv: str, backend: str, options: ClientOptions | None = None) -> None:
        self.status: int | None = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self.status = run_cli(argv, backend=backend, options=options or FAST)
            except BaseException as exc:  # shown by join(), in the test's thread
                self._error = exc

        self._thread = threading.Thread(target=target, name="expys-stream cli", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 30) -> int:
        """Wait for the command to end; its exit status."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the command did not end within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self.status is not None
        return self.status
