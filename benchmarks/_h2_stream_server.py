"""A TLS stream server that writes one HTTP/2 DATA frame per event (for ``bench_e2e --http2``).

hypercorn (``_tls_server.py``) gathers what an app sends into DATA frames of up
to 16 KiB whenever the client reads more slowly than the app writes, so its
stream carries several events per frame. A server that flushes once per event
sends one frame per event, and each frame costs the client's HTTP/2 layer
something: this server does that, from a body built once at start.

It listens over TLS (ALPN ``h2`` and ``http/1.1``) and, for the benchmark's
polling, in cleartext (``GET /_stats``), one thread per connection (the
benchmark opens one stream at a time). Every ``GET`` with an
``Authorization: Bearer`` header (else 401) gets ``200 text/event-stream`` and
the corpus: over HTTP/2, each event and comment in its own DATA frame (h2's
``send_data``, within the client's flow-control windows), written to the
socket 64 KiB at a time; over HTTP/1.1, each in its own chunk (the body of
``_e2e_server.build_body``). Then the end of the stream. Started by
``_tls_server.py --mode stream --server frames``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _e2e_server import RESPONSE_HEAD, build_body

FLUSH_BYTES = 64 * 1024
IO_TIMEOUT = 30.0


class FrameServer:
    def __init__(self, blocks: list[bytes], chunked: bytes, certs: str) -> None:
        self.blocks = blocks
        self.chunked = chunked
        self.body_bytes = sum(map(len, blocks))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(os.path.join(certs, "server.pem"))
        self.context.set_alpn_protocols(["h2", "http/1.1"])
        self.lock = threading.Lock()
        self.served = 0
        self.active = 0

    def stats(self) -> dict[str, Any]:
        times = os.times()
        with self.lock:
            return {
                "idle": 0,
                "served": self.served,
                "active": self.active,
                "cpu_s": times.user + times.system,
                "body_bytes": self.body_bytes,
            }

    def serve_stats(self, listener: socket.socket) -> None:
        while True:
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(5.0)
                with contextlib.suppress(OSError):
                    head = b""
                    while b"\r\n\r\n" not in head and len(head) < 16384:
                        data = sock.recv(4096)
                        if not data:
                            break
                        head += data
                    body = json.dumps(self.stats()).encode()
                    sock.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                    )

    def serve_tls(self, listener: socket.socket) -> None:
        while True:
            sock, _ = listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.connection, args=(sock,), daemon=True).start()

    def connection(self, raw: socket.socket) -> None:
        raw.settimeout(IO_TIMEOUT)
        try:
            with self.context.wrap_socket(raw, server_side=True) as sock:
                with self.lock:
                    self.active += 1
                try:
                    if sock.selected_alpn_protocol() == "h2":
                        self.h2(sock)
                    else:
                        self.http11(sock)
                finally:
                    with self.lock:
                        self.active -= 1
        except (OSError, ValueError) as exc:
            print(f"h2 stream server: {type(exc).__name__}: {exc}", file=sys.stderr)

    def http11(self, sock: ssl.SSLSocket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                return
            head += data
        if b"\r\nauthorization: bearer " not in head.lower():
            sock.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
            return
        with self.lock:
            self.served += 1
        sock.sendall(RESPONSE_HEAD)
        sock.sendall(self.chunked)
        with contextlib.suppress(OSError):  # until the client hangs up
            while sock.recv(65536):
                pass

    def h2(self, sock: ssl.SSLSocket) -> None:
        import h2.config
        import h2.connection
        import h2.events

        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        ended = False

        def receive(block: bool) -> list[Any]:
            nonlocal ended
            events: list[Any] = []
            while block or sock.pending() or select.select([sock], [], [], 0)[0]:
                block = False
                data = sock.recv(65536)
                if not data:
                    ended = True
                    return events
                events += conn.receive_data(data)
                if any(isinstance(e, h2.events.ConnectionTerminated) for e in events):
                    ended = True
                    return events
            return events

        stream_id = 0
        authorized = False
        while not stream_id:
            for event in receive(True):
                if isinstance(event, h2.events.RequestReceived):
                    stream_id = event.stream_id
                    headers = dict(event.headers)
                    authorized = headers.get(b"authorization", b"").lower().startswith(b"bearer ")
            if ended:
                return
            sock.sendall(conn.data_to_send())
        if not authorized:
            conn.send_headers(stream_id, [(b":status", b"401")], end_stream=True)
            sock.sendall(conn.data_to_send())
            return
        with self.lock:
            self.served += 1
        conn.send_headers(
            stream_id, [(b":status", b"200"), (b"content-type", b"text/event-stream")]
        )
        pending = 0
        for block in self.blocks:
            while conn.local_flow_control_window(stream_id) < len(block):
                sock.sendall(conn.data_to_send())
                pending = 0
                receive(True)  # a WINDOW_UPDATE, or the end
                if ended:
                    return
            conn.send_data(stream_id, block)
            pending += len(block)
            if pending >= FLUSH_BYTES:
                receive(False)  # drain the client's acknowledgements
                if ended:
                    return
                sock.sendall(conn.data_to_send())
                pending = 0
        conn.send_data(stream_id, b"", end_stream=True)
        sock.sendall(conn.data_to_send())
        deadline = time.monotonic() + IO_TIMEOUT
        with contextlib.suppress(OSError):  # until the client hangs up or says GOAWAY
            while not ended and time.monotonic() < deadline:
                receive(True)
                sock.sendall(conn.data_to_send())


def run(
    blocks: list[bytes],
    messages: int,
    certs: str,
    secure: socket.socket,
    plain: socket.socket,
    stop: Any,
) -> None:
    """Serve until ``stop()`` returns (it blocks: the parent's death, SIGTERM, a deadline)."""
    chunked, _ = build_body(messages)
    server = FrameServer(blocks, chunked, certs)
    for target, sock in ((server.serve_tls, secure), (server.serve_stats, plain)):
        threading.Thread(target=target, args=(sock,), daemon=True).start()
    stop()
