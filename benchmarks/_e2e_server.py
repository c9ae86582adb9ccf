"""The server process of the end-to-end benchmarks, and helpers to run it.

Run as a script, it listens on 127.0.0.1 (port 0: the kernel picks one),
prints ``PORT <n>`` on stdout once it is ready, and serves until it is
killed, its parent dies, or ``--max-seconds`` pass::

    python benchmarks/_e2e_server.py --mode stream --messages 100000
    python benchmarks/_e2e_server.py --mode idle

It answers ``GET /v1/conversations/<id>/stream`` (with an ``Authorization:
Bearer`` header, else 401) with ``200``, ``Content-Type: text/event-stream``
and ``Transfer-Encoding: chunked``, and then, by mode:

``stream``
    the whole corpus of ``_corpus.make_corpus(messages)``, every event and
    every keepalive comment as its own HTTP chunk (``%x\\r\\n<event>\\r\\n``,
    as a server that flushes once per event writes them), then the last
    chunk; then it closes the connection. The body is built once, at
    start, and written with one ``sendall`` from a thread per connection,
    so the kernel takes it as fast as the client reads: the server spends
    next to no CPU on it.

``idle``
    one chunk holding ``retry: 1000\\n\\n`` (no event), then nothing but a
    ``: keepalive`` chunk every 15 s, until the client goes away. Every
    connection lives in one ``selectors`` loop, so thousands are cheap.

``GET /_stats`` answers a small JSON document: open idle streams, streams
served, the process's CPU time and the size of the stream body. The memory
benchmark polls it to know when all its streams are connected.

Everything here is standard library; ``make_corpus`` is imported only by the
server process.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
STREAM_PREFIX = "/v1/conversations/"
STATS_PATH = "/_stats"
KEEPALIVE_INTERVAL = 15.0
MAX_HEAD = 16 * 1024
LISTEN_BACKLOG = 4096
#: The file descriptors every benchmark process asks for.
FD_LIMIT = 65536

RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)
LAST_CHUNK = b"0\r\n\r\n"


def chunk(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk holding ``payload``."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


RETRY_CHUNK = chunk(b"retry: 1000\n\n")
KEEPALIVE_CHUNK = chunk(b": keepalive\n\n")


def raise_fd_limit(want: int = FD_LIMIT) -> int:
    """Raise this process's soft limit on open files towards ``want``; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def build_body(n_messages: int, seed: int | None = None) -> tuple[bytes, int]:
    """The chunked body of the stream mode, and how many SSE blocks it holds."""
    sys.path.insert(0, str(HERE))
    from _corpus import DEFAULT_SEED, make_corpus

    corpus = make_corpus(n_messages, DEFAULT_SEED if seed is None else seed)
    # Every event and comment of the LF corpus ends with a blank line, and
    # no data holds one (JSON escapes LF): splitting on it gives the blocks.
    blocks = corpus.raw.split(b"\n\n")
    if blocks.pop() != b"":
        raise AssertionError("the corpus does not end with a blank line")
    del corpus
    body = b"".join([b"%x\r\n%s\n\n\r\n" % (len(b) + 2, b) for b in blocks])
    return body + LAST_CHUNK, len(blocks)


# --------------------------------------------------------------------------
# The server.


class Server:
    def __init__(self, listener: socket.socket, mode: str, body: bytes) -> None:
        self.listener = listener
        self.mode = mode
        self.body = body
        self.selector = selectors.DefaultSelector()
        self.heads: dict[socket.socket, bytes] = {}
        self.idle: set[socket.socket] = set()
        self.served = 0
        self.lock = threading.Lock()
        self.active = 0  # stream-mode connections still being written

    def run(self, max_seconds: float) -> None:
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, self.accept)
        parent = os.getppid()
        deadline = time.monotonic() + max_seconds
        next_keepalive = time.monotonic() + KEEPALIVE_INTERVAL
        while True:
            for key, _mask in self.selector.select(timeout=0.5):
                callback: Callable[[socket.socket], None] = key.data
                callback(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            if now >= deadline or os.getppid() != parent:
                return
            if now >= next_keepalive:
                next_keepalive = now + KEEPALIVE_INTERVAL
                for sock in list(self.idle):
                    self.send_or_drop(sock, KEEPALIVE_CHUNK)

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: report, keep serving
                print(f"e2e server: accept failed: {exc}", file=sys.stderr)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.heads[sock] = b""
            self.selector.register(sock, selectors.EVENT_READ, self.read_head)

    def read_head(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.forget(sock)
            return
        head = self.heads[sock] + data
        if b"\r\n\r\n" not in head:
            if len(head) > MAX_HEAD:
                self.forget(sock)
            else:
                self.heads[sock] = head
            return
        del self.heads[sock]
        self.selector.unregister(sock)
        self.route(sock, head.split(b"\r\n\r\n", 1)[0])

    def route(self, sock: socket.socket, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        method, target = (parts[0], parts[1]) if len(parts) == 3 else ("", "")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method == "GET" and target == STATS_PATH:
            self.answer(sock, 200, json.dumps(self.stats()).encode(), "application/json")
        elif method != "GET" or not (
            target.startswith(STREAM_PREFIX) and target.endswith("/stream")
        ):
            self.answer(sock, 404, b'{"error":{"code":"not_found","message":"no such route"}}')
        elif not headers.get("authorization", "").lower().startswith("bearer "):
            self.answer(sock, 401, b'{"error":{"code":"unauthorized","message":"no token"}}')
        elif self.mode == "stream":
            with self.lock:
                self.served += 1
                self.active += 1
            sock.setblocking(True)
            threading.Thread(target=self.write_stream, args=(sock,), daemon=True).start()
        else:
            self.served += 1
            self.idle.add(sock)
            self.selector.register(sock, selectors.EVENT_READ, self.watch_idle)
            self.send_or_drop(sock, RESPONSE_HEAD + RETRY_CHUNK)

    def write_stream(self, sock: socket.socket) -> None:
        # One thread per stream connection (the benchmark opens one at a
        # time): a blocking sendall of the pre-built body, in the kernel.
        try:
            sock.sendall(RESPONSE_HEAD)
            sock.sendall(self.body)
            sock.shutdown(socket.SHUT_WR)
            # Wait for the client to hang up, so the close sends no RST.
            sock.settimeout(30.0)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            sock.close()
            with self.lock:
                self.active -= 1

    def watch_idle(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away (anything else it sends is ignored)
            self.forget(sock)

    def send_or_drop(self, sock: socket.socket, data: bytes) -> None:
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0  # a full buffer: a keepalive less does no harm
        except OSError:
            self.forget(sock)
            return
        if 0 < sent < len(data):  # never for these few bytes; be safe anyway
            self.forget(sock)

    def answer(
        self, sock: socket.socket, status: int, body: bytes, ctype: str = "application/json"
    ) -> None:
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        try:
            sock.setblocking(True)
            sock.settimeout(5.0)
            sock.sendall(head + body)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.close()

    def forget(self, sock: socket.socket) -> None:
        self.heads.pop(sock, None)
        self.idle.discard(sock)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        sock.close()

    def stats(self) -> dict[str, Any]:
        times = os.times()
        return {
            "mode": self.mode,
            "idle": len(self.idle),
            "served": self.served,
            "active": self.active,
            "cpu_s": times.user + times.system,
            "body_bytes": len(self.body),
        }


def serve(mode: str, messages: int, seed: int | None, max_seconds: float) -> None:
    raise_fd_limit()
    body = b""
    blocks = 0
    if mode == "stream":
        body, blocks = build_body(messages, seed)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(LISTEN_BACKLOG)
    port = listener.getsockname()[1]
    print(f"PORT {port} BLOCKS {blocks} BYTES {len(body)}", flush=True)
    Server(listener, mode, body).run(max_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("stream", "idle"), default="stream")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.mode, args.messages, args.seed, args.max_seconds)


# --------------------------------------------------------------------------
# For the benchmark scripts: start the server as a child process.


class ServerProcess:
    """The server as a child process; use as a context manager (kills it on exit)."""

    def __init__(
        self, mode: str, messages: int = 0, seed: int | None = None, timeout: float = 120.0
    ) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--mode", mode]
        command += ["--messages", str(messages)]
        if seed is not None:
            command += ["--seed", str(seed)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            line = self._first_line(timeout)
            fields = line.split()
            if len(fields) != 6 or fields[0] != "PORT":
                raise RuntimeError(f"the e2e server said {line!r}")
            self.port = int(fields[1])
            self.blocks = int(fields[3])
            self.body_bytes = int(fields[5])
        except BaseException:
            self.close()
            raise

    def _first_line(self, timeout: float) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"the e2e server did not start within {timeout:.0f} s")
        line = stdout.readline().decode("ascii", "replace").strip()
        if not line:
            raise RuntimeError(f"the e2e server exited ({self.process.poll()})")
        return line

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            connection.request("GET", STATS_PATH)
            response = connection.getresponse()
            stats: dict[str, Any] = json.loads(response.read())
            return stats
        finally:
            connection.close()

    def wait_for(self, key: str, value: int, timeout: float) -> bool:
        """Poll the stats until ``stats[key] == value``; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.stats()[key] == value:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
