"""hypercorn over TLS (HTTP/1.1 and HTTP/2) as the benchmarks' server process.

Run as a script, it serves a small ASGI app with hypercorn on 127.0.0.1: over
TLS (a trustme certificate, ALPN ``h2`` and ``http/1.1``) on one port, and in
cleartext on another port that only the benchmark itself uses, to poll
``GET /_stats`` without paying a TLS handshake. It prints one line once it
listens::

    PORT <tls port> STATS <cleartext port> BLOCKS <n> BYTES <n> CERTS <dir>

and serves until it is killed, its parent dies, or ``--max-seconds`` pass.
``<dir>/ca.pem`` is the CA a client must trust. Every stream request (any path
but ``/_stats``, with an ``Authorization: Bearer`` header, else 401) gets
``200`` and ``Content-Type: text/event-stream``, then, by mode:

``idle``
    one ``retry: 1000`` chunk (no event), then silence until the client goes
    away (the app waits for ``http.disconnect``).
``stream``
    the events and keepalive comments of ``_corpus.make_corpus(messages)``,
    each in its own ``http.response.body`` message (so in its own HTTP/2 DATA
    frame or HTTP/1.1 chunk: a server that flushes once per event), then the
    end of the body.

``/_stats`` answers JSON: ``idle`` (idle streams whose ``retry`` chunk has
been sent), ``served``, ``active`` (stream-mode bodies being written), the
process's CPU seconds and the body size. hypercorn's settings that matter:
``h2_max_concurrent_streams`` (``--max-streams``, 100 by default, like
hypercorn's), ``keep_alive_max_requests`` raised so that a warm-up stream
never brings a GOAWAY, a listen backlog of 4096. The process is independent
of ``expys_stream`` and is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
STATS_PATH = "/_stats"
RETRY = b"retry: 1000\n\n"
LISTEN_BACKLOG = 4096

STATE: dict[str, Any] = {"idle": 0, "served": 0, "active": 0}
BLOCKS: list[bytes] = []
STATE_BYTES = [0]


def corpus_blocks(messages: int) -> list[bytes]:
    """The stream mode's body: every event and comment of the corpus, one item each."""
    sys.path.insert(0, str(HERE))
    from _corpus import DEFAULT_SEED, make_corpus

    raw = make_corpus(messages, DEFAULT_SEED).raw
    blocks = raw.split(b"\n\n")
    if blocks.pop() != b"":
        raise AssertionError("the corpus does not end with a blank line")
    return [block + b"\n\n" for block in blocks]


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI app: ``/_stats``, or an idle or a streaming SSE response."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["path"] == STATS_PATH:
        times = os.times()
        stats = {**STATE, "cpu_s": times.user + times.system}
        stats["body_bytes"] = STATE_BYTES[0]
        await _answer(send, 200, json.dumps(stats).encode())
        return
    authorization = dict(scope["headers"]).get(b"authorization", b"")
    if not authorization.lower().startswith(b"bearer "):
        await _answer(send, 401, b'{"error":{"code":"unauthorized","message":"no token"}}')
        return
    STATE["served"] += 1
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if BLOCKS:
        STATE["active"] += 1
        try:
            for block in BLOCKS:
                await send({"type": "http.response.body", "body": block, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            STATE["active"] -= 1
        return
    await send({"type": "http.response.body", "body": RETRY, "more_body": True})
    STATE["idle"] += 1
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        STATE["idle"] -= 1


def write_certificates(directory: str) -> None:
    """A trustme CA (``ca.pem``) and a certificate for 127.0.0.1 (``server.pem``)."""
    import trustme

    ca = trustme.CA()
    ca.issue_cert(HOST).private_key_and_cert_chain_pem.write_to_path(
        os.path.join(directory, "server.pem")
    )
    ca.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))


def listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((HOST, 0))
    sock.listen(LISTEN_BACKLOG)
    return sock


def serve(mode: str, messages: int, max_streams: int, max_seconds: float, server: str) -> None:
    sys.path.insert(0, str(HERE))
    from _e2e_server import raise_fd_limit

    raise_fd_limit()
    if mode == "stream":
        BLOCKS.extend(corpus_blocks(messages))
        STATE_BYTES[0] = sum(map(len, BLOCKS))
    certs = tempfile.mkdtemp(prefix="expys-bench-tls-")
    try:
        write_certificates(certs)
        secure, plain = listener(), listener()
        print(
            f"PORT {secure.getsockname()[1]} STATS {plain.getsockname()[1]} "
            f"BLOCKS {len(BLOCKS)} BYTES {STATE_BYTES[0]} CERTS {certs}",
            flush=True,
        )
        parent = os.getppid()
        deadline = time.monotonic() + max_seconds
        if server == "frames":
            from _h2_stream_server import run

            stopping = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stopping.set())

            def wait() -> None:
                while time.monotonic() < deadline and os.getppid() == parent:
                    if stopping.wait(0.5):
                        return

            run(BLOCKS, messages, certs, secure, plain, wait)
        else:
            serve_hypercorn(certs, secure, plain, max_streams, lambda: deadline, parent)
    finally:
        shutil.rmtree(certs, ignore_errors=True)


def serve_hypercorn(
    certs: str,
    secure: socket.socket,
    plain: socket.socket,
    max_streams: int,
    deadline: Any,
    parent: int,
) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{secure.fileno()}"]
    config.insecure_bind = [f"fd://{plain.fileno()}"]
    config.certfile = config.keyfile = os.path.join(certs, "server.pem")
    config.backlog = LISTEN_BACKLOG
    config.h2_max_concurrent_streams = max_streams
    config.keep_alive_max_requests = 1_000_000
    config.keep_alive_timeout = 3600
    config.graceful_timeout = 0.5
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"

    async def stop() -> None:
        # SIGTERM (from TLSServerProcess.close) ends the serve call, so the
        # certificates' directory is removed on the way out.
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        while time.monotonic() < deadline() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.5)
                return

    asyncio.run(hypercorn_serve(app, config, shutdown_trigger=stop))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("idle", "stream"), default="idle")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--max-streams", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument(
        "--server",
        choices=("hypercorn", "frames"),
        default="hypercorn",
        help="frames: _h2_stream_server.py, one DATA frame per event (stream mode only)",
    )
    args = parser.parse_args(argv)
    if args.server == "frames" and args.mode != "stream":
        parser.error("--server frames serves the stream mode only")
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.mode, args.messages, args.max_streams, args.max_seconds, args.server)


# --------------------------------------------------------------------------
# For the benchmark scripts: the server as a child process.


class TLSServerProcess:
    """hypercorn as a child process; a context manager that kills it on exit.

    Offers what ``_e2e_server.ServerProcess`` offers (``port``, ``stats``,
    ``wait_for``, ``blocks``, ``body_bytes``), plus ``stats_port`` and
    ``certs`` (the directory holding ``ca.pem``).
    """

    def __init__(
        self,
        mode: str,
        messages: int = 0,
        max_streams: int = 100,
        server: str = "hypercorn",
        timeout: float = 120.0,
    ) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--mode", mode]
        command += ["--messages", str(messages), "--max-streams", str(max_streams)]
        command += ["--server", server]
        self.max_streams = max_streams
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            fields = self._first_line(timeout).split()
            if len(fields) != 10 or fields[0] != "PORT":
                raise RuntimeError(f"the TLS server said {' '.join(fields)!r}")
            self.port, self.stats_port = int(fields[1]), int(fields[3])
            self.blocks, self.body_bytes = int(fields[5]), int(fields[7])
            self.certs = fields[9]
            self.wait_for("served", 0, timeout)  # hypercorn answers: it is up
        except BaseException:
            self.close()
            raise

    def _first_line(self, timeout: float) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"the TLS server did not start within {timeout:.0f} s")
        line = stdout.readline().decode("ascii", "replace").strip()
        if not line:
            raise RuntimeError(f"the TLS server exited ({self.process.poll()})")
        return line

    @property
    def ca_file(self) -> str:
        return os.path.join(self.certs, "ca.pem")

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        connection = http.client.HTTPConnection(HOST, self.stats_port, timeout=timeout)
        try:
            connection.request("GET", STATS_PATH)
            stats: dict[str, Any] = json.loads(connection.getresponse().read())
            return stats
        finally:
            connection.close()

    def wait_for(self, key: str, value: int, timeout: float) -> bool:
        """Poll the stats until ``stats[key] == value``; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.stats()[key] == value:
                    return True
            except OSError:
                pass  # not listening yet
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

    def __enter__(self) -> TLSServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
