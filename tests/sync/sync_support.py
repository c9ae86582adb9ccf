"""Helpers for the sync-client tests (imported as a top-level module)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from expys_stream._portal import THREAD_NAME

CONVERSATION = "cnv_sync"


def _tcp_inodes(port: int, *, local: bool) -> set[str]:
    """Inodes of this host's TCP sockets whose local (or remote) port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                rows = handle.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            address = fields[1] if local else fields[2]
            if int(address.rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _fd_targets() -> list[str]:
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:  # (the listing's own descriptor, already closed)
            continue
    return targets


def client_fds(port: int) -> int:
    """This process's descriptors, less the server side of ``port``'s sockets.

    The concierge runs in this process and closes its side of a connection
    when it notices the client went away, a moment later: not counting its
    sockets leaves exactly what the client side holds, so the count can be
    compared right after a stream is closed.
    """
    server = _tcp_inodes(port, local=True)
    return sum(
        1
        for target in _fd_targets()
        if not (target.startswith("socket:[") and target[8:-1] in server)
    )


def client_sockets(port: int) -> int:
    """How many of this process's descriptors are client sockets connected to ``port``."""
    remote = _tcp_inodes(port, local=False)
    return sum(
        1 for target in _fd_targets() if target.startswith("socket:[") and target[8:-1] in remote
    )


def portal_threads() -> list[threading.Thread]:
    """Our event-loop thread, if it is alive."""
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


class Baseline:
    """Threads and descriptors before a test's streams, to compare after them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.threads = set(threading.enumerate())
        self.fds = client_fds(port)

    def check(self) -> None:
        """Exactly the threads and client descriptors of before: none of ours left."""
        assert portal_threads() == []
        assert set(threading.enumerate()) <= self.threads
        assert client_sockets(self.port) == 0
        assert client_fds(self.port) == self.fds


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` (every 5 ms) until true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def take(stream: Iterable[Any], count: int) -> list[Any]:
    """The next ``count`` items of ``stream`` (stops pulling after the last)."""
    got = []
    for item in stream:
        got.append(item)
        if len(got) == count:
            break
    return got
