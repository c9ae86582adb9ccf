"""Loopback experiments behind docs/http2-design.md (not a benchmark of the library).

Questions they settle, on 127.0.0.1 only, against hypercorn over TLS (a
trustme CA) serving a small ASGI SSE app:

* ``settings``: what hypercorn announces in its first SETTINGS frame, and
  whether it answers a PING.
* ``reset``: whether hypercorn honours RST_STREAM(CANCEL) (the app sees
  ``http.disconnect``), and what happens after ``keep_alive_max_requests``
  streams on one connection.
* ``memory CLIENT``: resident memory per idle TLS stream, all streams from
  one process: ``h2min`` (a minimal h2 + anyio client: one reader task per
  connection, slotted stream objects, no task per stream), ``h2push``,
  ``h2pushtg`` and ``h2task`` (see ``hold_shaped``), ``httpx-h2`` (httpx +
  httpx-sse, http2=True, one AsyncClient per 100 streams) and ``httpx-h1``
  (httpx + httpx-sse, HTTP/1.1). Every stream has one consumer task (the
  user's ``async for``) in every client. ``memory-wide``: the server allows
  1,000 streams per connection. These are shapes, not the library.
* ``throughput CLIENT``: MB/s of one stream that carries N bytes of events.
* ``slow``: two streams of ``--bytes`` on one connection, one of them never
  acknowledged: does hypercorn stop only that stream?
* ``httpx-limit``: how many of ``--streams`` SSE streams one
  ``httpx.AsyncClient(http2=True)`` gets answered (server allows 1,000).

Run: ``python benchmarks/experiments/h2_loopback.py all`` (needs h2,
hypercorn, trustme, httpx[http2], httpx-sse).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

HERE = Path(__file__).resolve()
STATE = {"open": 0, "disconnects": 0, "served": 0}
EVENT = b"id: x\nevent: message\ndata: " + b"x" * 400 + b"\n\n"


# -- the server (a subprocess running hypercorn) ---------------------------------------


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/stats":
        body = json.dumps(STATE).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    STATE["served"] += 1
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path.startswith("/burst/"):
        total = int(path.rsplit("/", 1)[1])
        block = EVENT * 64
        sent = 0
        while sent < total:
            await send({"type": "http.response.body", "body": block, "more_body": True})
            sent += len(block)
        await send({"type": "http.response.body", "body": b""})
        return
    STATE["open"] += 1
    try:
        await send({"type": "http.response.body", "body": b"retry: 1000\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        STATE["disconnects"] += 1
    finally:
        STATE["open"] -= 1


def run_server(port: int, certdir: str, extra: dict[str, Any]) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = os.path.join(certdir, "server.pem")
    config.keyfile = os.path.join(certdir, "server.pem")
    config.keep_alive_timeout = 3600
    config.graceful_timeout = 0.5
    for key, value in extra.items():
        setattr(config, key, value)
    config.accesslog = None
    config.errorlog = "-"
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


class Server:
    def __init__(self, **extra: Any) -> None:
        import trustme

        self.dir = tempfile.mkdtemp(prefix="h2exp")
        ca = trustme.CA()
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
            os.path.join(self.dir, "server.pem")
        )
        ca.cert_pem.write_to_path(os.path.join(self.dir, "ca.pem"))
        with FreePort() as port:
            self.port = port
        self.extra = extra

    def __enter__(self) -> Server:
        command = [sys.executable, str(HERE), "server", str(self.port), self.dir]
        command.append(json.dumps(self.extra))
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                import socket

                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait(10)


class FreePort:  # a free port, closed before use
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def client_context(certdir: str, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=os.path.join(certdir, "ca.pem"))
    context.set_alpn_protocols(alpn)
    return context


# -- a minimal h2 client shaped like the design ----------------------------------------


class H2Stream:
    __slots__ = ("chunks", "ended", "status", "stream_id", "waiter")

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.chunks: list[bytes] = []
        self.waiter: anyio.Event | None = None
        self.status = 0
        self.ended = False

    def wake(self) -> None:
        if self.waiter is not None:
            self.waiter.set()
            self.waiter = None


class H2Conn:
    """One TLS connection, one reader task; streams get bytes pushed to them."""

    def __init__(self, sock: Any, window: int) -> None:
        self.sock = sock
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(16 * 2**20 - 65535)
        self.streams: dict[int, H2Stream] = {}
        self.lock = anyio.Lock()
        self.settings_events: list[Any] = []
        self.pings: list[Any] = []
        self.goaway: Any = None
        self.on_data: Any = None
        self.stalled: set[int] = set()

    async def flush(self) -> None:
        async with self.lock:
            data = self.h2.data_to_send()
            if data:
                await self.sock.send(data)

    async def read_loop(self) -> None:
        while True:
            try:
                data = await self.sock.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                data = b""
            if not data:
                for stream in self.streams.values():
                    stream.ended = True
                    stream.wake()
                return
            for event in self.h2.receive_data(data):
                self.dispatch(event)
            await self.flush()

    def dispatch(self, event: Any) -> None:
        stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.DataReceived):
            if stream is not None:
                stream.chunks.append(event.data)
                if self.on_data is not None:
                    self.on_data(stream)
                stream.wake()
            # Consumed at once here (the experiment's consumer never lags),
            # except on streams marked as stalled (the ``slow`` experiment).
            if stream is None or stream.stream_id not in self.stalled:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.ResponseReceived) and stream is not None:
            stream.status = int(dict(event.headers)[b":status"])
            stream.wake()
        elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
            if stream is not None:
                stream.ended = True
                stream.wake()
                del self.streams[event.stream_id]
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_events.append(event)
        elif isinstance(event, h2.events.PingAckReceived):
            self.pings.append(event)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event

    async def open(self, path: str, port: int) -> H2Stream:
        stream_id = self.h2.get_next_available_stream_id()
        stream = self.streams[stream_id] = H2Stream(stream_id)
        headers = [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", b"127.0.0.1:%d" % port),
            (b":path", path.encode()),
            (b"accept", b"text/event-stream"),
        ]
        self.h2.send_headers(stream_id, headers, end_stream=True)
        await self.flush()
        return stream

    async def reset(self, stream: H2Stream) -> None:
        self.streams.pop(stream.stream_id, None)
        self.h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
        await self.flush()


async def read_some(stream: H2Stream) -> bytes:
    while not stream.chunks:
        if stream.ended:
            return b""
        stream.waiter = anyio.Event()
        await stream.waiter.wait()
    chunks, stream.chunks = stream.chunks, []
    return b"".join(chunks)


async def connect_h2(port: int, certdir: str, window: int) -> H2Conn:
    sock = await anyio.connect_tcp(
        "127.0.0.1", port, tls=True, ssl_context=client_context(certdir, ["h2"])
    )
    assert sock.extra(anyio.streams.tls.TLSAttribute.alpn_protocol) == "h2"
    return H2Conn(sock, window)


async def stats(port: int, certdir: str) -> dict[str, int]:
    conn = await connect_h2(port, certdir, 65535)
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.read_loop)
        stream = await conn.open("/stats", port)
        body = b""
        while chunk := await read_some(stream):
            body += chunk
        tg.cancel_scope.cancel()
    await conn.sock.aclose()
    result: dict[str, int] = json.loads(body)
    return result


# -- experiments -------------------------------------------------------------------


async def exp_settings(server: Server) -> dict[str, Any]:
    conn = await connect_h2(server.port, server.dir, 65535)
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.read_loop)
        with anyio.fail_after(5):
            while not conn.settings_events:
                await anyio.sleep(0.01)
            conn.h2.ping(b"expys_01")
            await conn.flush()
            while not conn.pings:
                await anyio.sleep(0.01)
        changed = conn.settings_events[0].changed_settings
        tg.cancel_scope.cancel()
    await conn.sock.aclose()
    return {
        "settings": {str(code): setting.new_value for code, setting in changed.items()},
        "ping_acked": conn.pings[0].ping_data == b"expys_01",
    }


async def exp_reset(server: Server, cycles: int) -> dict[str, Any]:
    conn = await connect_h2(server.port, server.dir, 65535)
    before = await stats(server.port, server.dir)
    goaway_at = None
    stuck_at = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.read_loop)
        for index in range(cycles):
            if conn.goaway is not None:
                goaway_at = index
                break
            try:
                stream = await conn.open("/idle", server.port)
            except h2.exceptions.ProtocolError:
                goaway_at = index
                break
            with anyio.move_on_after(5) as stuck:
                while stream.status == 0 and not stream.ended:
                    stream.waiter = anyio.Event()
                    await stream.waiter.wait()
                await read_some(stream)  # the retry line
            if stuck.cancel_called:
                stuck_at = (index, stream.stream_id, conn.h2.open_outbound_streams)
                break
            await conn.reset(stream)
        await anyio.sleep(0.5)
        tg.cancel_scope.cancel()
    after = await stats(server.port, server.dir)
    return {
        "cycles_done": goaway_at if goaway_at is not None else cycles,
        "goaway_after_streams": goaway_at,
        "goaway": None
        if conn.goaway is None
        else {
            "error_code": int(conn.goaway.error_code),
            "last_stream_id": conn.goaway.last_stream_id,
        },
        "stuck_at": stuck_at,
        "app_disconnects_seen": after["disconnects"] - before["disconnects"],
        "app_streams_still_open": after["open"],
    }


async def hold_h2min(server: Server, streams: int, per_conn: int, ready: anyio.Event) -> None:
    conns: list[H2Conn] = []
    async with anyio.create_task_group() as tg:
        opened = 0
        waiting = [0]

        async def consume(stream: H2Stream) -> None:
            await read_some(stream)  # the retry line
            waiting[0] += 1
            await read_some(stream)  # never comes

        while opened < streams:
            conn = await connect_h2(server.port, server.dir, 65535)
            conns.append(conn)
            tg.start_soon(conn.read_loop)
            for _ in range(min(per_conn, streams - opened)):
                stream = await conn.open("/idle", server.port)
                tg.start_soon(consume, stream)
                opened += 1
        while waiting[0] < streams:
            await anyio.sleep(0.05)
        ready.set()
        await anyio.sleep_forever()


async def hold_shaped(
    server: Server, streams: int, ready: anyio.Event, *, with_task: bool, with_group: bool = False
) -> None:
    """``h2task``: each stream as today's _StreamCore holds it (a task group
    entered in the consumer's task, a reader task, a Channel, an SSEDecoder,
    a cancel scope). ``h2push``: no task per stream: the connection's reader
    feeds the stream's decoder and puts the events in its Channel, and the
    consumer waits on the Channel. ``h2pushtg``: h2push, with an entered
    task group per stream that holds no task while the stream is idle."""
    from expys_stream._channel import Channel
    from expys_stream.sse import SSEDecoder

    waiting = [0]

    class Shaped:
        __slots__ = ("__weakref__", "channel", "decoder", "h2stream", "scope")

    async def reader(item: Shaped) -> None:
        with anyio.CancelScope() as scope:
            item.scope = scope
            while chunk := await read_some(item.h2stream):
                events = item.decoder.feed(chunk)
                await item.channel.put(events)

    async def consume(conn: H2Conn) -> None:
        item = Shaped()
        item.channel = Channel(2)
        item.decoder = SSEDecoder()
        item.h2stream = await conn.open("/idle", server.port)
        if with_task:
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader, item, name="expys_stream reader")
                await item.channel.take()
                waiting[0] += 1
                await item.channel.take()
        elif with_group:  # an entered task group with no task in it while idle
            push[item.h2stream] = item
            on_data(item.h2stream)
            async with anyio.create_task_group() as group:
                item.scope = group.cancel_scope
                await item.channel.take()
                waiting[0] += 1
                await item.channel.take()
        else:
            push[item.h2stream] = item
            item.scope = anyio.CancelScope()
            on_data(item.h2stream)  # what came before it was registered
            await item.channel.take()
            waiting[0] += 1
            await item.channel.take()

    push: dict[Any, Any] = {}

    def on_data(stream: H2Stream) -> None:
        item = push.get(stream)
        if item is not None and stream.chunks:
            chunks, stream.chunks = stream.chunks, []
            item.channel._buffer.append(item.decoder.feed(b"".join(chunks)))
            waiter, item.channel._take_waiter = item.channel._take_waiter, None
            if waiter is not None:
                waiter.set()

    async with anyio.create_task_group() as tg:
        conns = []
        for index in range(streams):
            if index % 100 == 0:
                conn = await connect_h2(server.port, server.dir, 65535)
                if not with_task:
                    conn.on_data = on_data
                conns.append(conn)
                tg.start_soon(conn.read_loop)
            tg.start_soon(consume, conn)
        while waiting[0] < streams:
            await anyio.sleep(0.05)
        ready.set()
        await anyio.sleep_forever()


async def hold_httpx(server: Server, streams: int, http2: bool, ready: anyio.Event) -> None:
    # httpcore caps an HTTP/2 connection at 100 streams (its own
    # MAX_CONCURRENT_STREAMS) and never opens a second one for the same
    # origin: stream 101 waits forever. So http2 gets one AsyncClient per
    # 100 streams; HTTP/1.1 one AsyncClient for all.
    import httpx
    import httpx_sse

    context = client_context(server.dir, ["h2", "http/1.1"] if http2 else ["http/1.1"])
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    per_client = 100 if http2 else streams
    waiting = [0]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(verify=context, http2=http2, limits=limits, timeout=None)
            )
            for _ in range(-(-streams // per_client))
        ]

        async def consume(client: Any) -> None:
            url = f"https://127.0.0.1:{server.port}/idle"
            async with httpx_sse.aconnect_sse(client, "GET", url) as source:
                waiting[0] += 1
                async for _ in source.aiter_sse():
                    pass

        async with anyio.create_task_group() as tg:
            for index in range(streams):
                tg.start_soon(consume, clients[index // per_client])
            while waiting[0] < streams:
                await anyio.sleep(0.05)
            ready.set()
            await anyio.sleep_forever()


async def exp_httpx_limit(server: Server, streams: int) -> dict[str, Any]:
    """One httpx.AsyncClient(http2=True), ``streams`` SSE streams at once."""
    import httpx
    import httpx_sse

    context = client_context(server.dir, ["h2", "http/1.1"])
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    answered = [0]
    async with httpx.AsyncClient(verify=context, http2=True, limits=limits, timeout=None) as c:

        async def one() -> None:
            url = f"https://127.0.0.1:{server.port}/idle"
            async with httpx_sse.aconnect_sse(c, "GET", url):
                answered[0] += 1
                await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            for _ in range(streams):
                tg.start_soon(one)
            await anyio.sleep(5)
            connections = len(c._transport._pool.connections)  # type: ignore[attr-defined]
            tg.cancel_scope.cancel()
    return {"streams": streams, "answered_after_5_s": answered[0], "connections": connections}


async def exp_slow(server: Server, total: int) -> dict[str, Any]:
    """Two /burst streams on one connection; A's data is never acknowledged."""
    conn = await connect_h2(server.port, server.dir, 65535)
    received = {"A": 0, "B": 0}
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.read_loop)
        a = await conn.open(f"/burst/{total}", server.port)
        conn.stalled.add(a.stream_id)
        b = await conn.open(f"/burst/{total}", server.port)

        async def drain(name: str, stream: H2Stream) -> None:
            while chunk := await read_some(stream):
                received[name] += len(chunk)

        tg.start_soon(drain, "A", a)
        with anyio.fail_after(60):
            await drain("B", b)
        await anyio.sleep(0.5)
        a_at_end_of_b = received["A"]
        tg.cancel_scope.cancel()
    await conn.sock.aclose()
    return {
        "burst_bytes": total,
        "b_received": received["B"],
        "a_received_unacknowledged": a_at_end_of_b,
        "stream_window": 65535,
    }


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def exp_memory(
    server: Server, client: str, streams: int, trace: bool, per_conn: int
) -> dict[str, Any]:
    async def hold(n: int, ready: anyio.Event) -> None:
        if client == "h2min":
            await hold_h2min(server, n, per_conn, ready)
        elif client in ("h2task", "h2push", "h2pushtg"):
            await hold_shaped(
                server, n, ready, with_task=client == "h2task", with_group=client == "h2pushtg"
            )
        else:
            await hold_httpx(server, n, client == "httpx-h2", ready)

    # Warm-up: one stream, closed, so imports and first-use caches are paid.
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(hold, 1, ready)
        await ready.wait()
        tg.cancel_scope.cancel()
    await anyio.sleep(0.5)
    if trace:
        tracemalloc.start()
    base = rss_kib()
    heap0 = tracemalloc.get_traced_memory()[0] if trace else 0
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(hold, streams, ready)
        await ready.wait()
        opened_s = time.monotonic() - started
        await anyio.sleep(1.0)
        after = rss_kib()
        heap = tracemalloc.get_traced_memory()[0] - heap0 if trace else 0
        tg.cancel_scope.cancel()
    return {
        "client": client,
        "streams": streams,
        "server_max_concurrent_streams": server.extra.get("h2_max_concurrent_streams", 100),
        "kib_per_stream": round((after - base) / streams, 1),
        "heap_kib_per_stream": round(heap / 1024 / streams, 1) if trace else None,
        "open_s": round(opened_s, 2),
    }


async def exp_throughput(server: Server, client: str, total: int) -> dict[str, Any]:
    path = f"/burst/{total}"
    started = time.monotonic()
    cpu = time.process_time()
    received = 0
    if client == "h2min":
        conn = await connect_h2(server.port, server.dir, 1 << 20)
        async with anyio.create_task_group() as tg:
            tg.start_soon(conn.read_loop)
            from expys_stream.sse import SSEDecoder

            decoder = SSEDecoder()
            stream = await conn.open(path, server.port)
            while chunk := await read_some(stream):
                received += len(chunk)
                decoder.feed(chunk)  # the SSE parse, as httpx-sse does its own
            tg.cancel_scope.cancel()
        await conn.sock.aclose()
    else:
        import httpx
        import httpx_sse

        context = client_context(server.dir, ["h2", "http/1.1"])
        async with httpx.AsyncClient(verify=context, http2=True, timeout=None) as c:
            url = f"https://127.0.0.1:{server.port}{path}"
            async with httpx_sse.aconnect_sse(c, "GET", url) as source:
                async for sse in source.aiter_sse():
                    received += len(sse.data) + 27
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu
    return {
        "client": client,
        "bytes": received,
        "mb_per_s": round(received / elapsed / 1e6, 1),
        "client_cpu_s_per_100mb": round(cpu / received * 1e8, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what")
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--cycles", type=int, default=1100)
    parser.add_argument("--bytes", type=int, default=50_000_000)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    if args.what == "server":
        port, certdir, extra = args.rest
        run_server(int(port), certdir, json.loads(extra))
        return
    wide = args.what in ("memory-wide", "httpx-limit")
    extra = {"h2_max_concurrent_streams": max(1000, args.streams)} if wide else {}
    with Server(**extra) as server:
        if args.what == "settings":
            result = anyio.run(exp_settings, server, backend=args.backend)
        elif args.what == "reset":
            result = anyio.run(exp_reset, server, args.cycles, backend=args.backend)
        elif args.what in ("memory", "memory-wide"):
            per_conn = 1000 if args.what == "memory-wide" else 100
            result = anyio.run(
                exp_memory,
                server,
                args.rest[0],
                args.streams,
                args.trace,
                per_conn,
                backend=args.backend,
            )
            result["backend"] = args.backend
        elif args.what == "httpx-limit":
            result = anyio.run(exp_httpx_limit, server, args.streams, backend=args.backend)
        elif args.what == "slow":
            result = anyio.run(exp_slow, server, args.bytes, backend=args.backend)
        elif args.what == "throughput":
            result = anyio.run(
                exp_throughput, server, args.rest[0], args.bytes, backend=args.backend
            )
        else:
            raise SystemExit(f"unknown experiment {args.what}")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
