"""The client processes of the TLS and HTTP/2 benchmarks (against ``_tls_server.py``).

``bench_memory.py --tls/--http2`` and ``bench_e2e.py --http2`` run this file
once per measurement, in a fresh interpreter, and read the one JSON line it
prints; the measuring itself is ``_e2e_clients.py``'s (``measure_idle``,
``run_stream``), with these clients added::

    python benchmarks/_tls_clients.py idle NAME --backend B --port P
        --stats-port S --certs DIR --streams N [--per-connection 100]
    python benchmarks/_tls_clients.py stream NAME --backend B --port P
        --stats-port S --certs DIR --messages N --expect-bytes N

``DIR/ca.pem`` is the server's CA. The idle clients (one consumer task per
stream in all of them, as the user's ``async for``):

``ours-h2``
    one ``Client(http2=True, ssl_context=...)``, entered; its streams share
    the HTTP/2 connections it opens as the server's stream limit requires.
``ours-h1-tls``
    one ``Client(ssl_context=...)``: HTTP/1.1 over TLS, a connection each.
``httpx-sse-h2``
    httpx + httpx-sse, ``AsyncClient(http2=True)``, one client per
    ``--per-connection`` streams (at most 100): httpcore opens one HTTP/2
    connection per origin and client and never a second one, so a client's
    101st stream would wait forever. The warm-up stream has a client of its
    own, closed after it.
``httpx-sse-h1-tls``
    one ``httpx.AsyncClient`` without a connection limit, HTTP/1.1 over TLS.
``floor-tls``
    a bare anyio TLS socket per stream, the request written by hand.
``floor-h2``
    the minimal h2 + anyio client of ``experiments/h2_loopback.py``
    (``h2min``): one reader task per connection, slotted stream objects, no
    task per stream but the consumer's, ``--per-connection`` streams per
    connection.

The stream clients (one stream of the corpus, every message decoded, as in
``_e2e_clients.py``): ``ours-h2``, ``httpx-sse-h2``, ``ours-h1-tls``,
``httpx-sse-h1-tls``, ``floor-h2`` (h2min, a split on blank lines,
``bytes.find``, msgspec) and ``raw-h2`` (h2min counting DATA bytes and
decoding nothing: the server's speed).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import signal
import ssl
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "experiments"))

import _e2e_clients as e2e
from _e2e_clients import (
    CONVERSATION,
    TOKEN,
    Config,
    IdleContender,
    Outcome,
    _unexpected,
    clock_start,
    clock_stop,
)
from _e2e_server import HOST, raise_fd_limit

HTTPX_H2_STREAMS = 100  # httpcore's own cap on the streams of one HTTP/2 connection


@dataclass
class TLSConfig(Config):
    certs: str = ""
    per_connection: int = 100

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(Path(self.certs) / "ca.pem"))
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        return context


def has_http2_option() -> bool:
    """Whether this checkout's ``Client`` takes ``http2=`` (the option is new)."""
    from expys_stream import Client, ClientOptions

    keys = set(getattr(ClientOptions, "__optional_keys__", ()))
    keys |= set(getattr(ClientOptions, "__required_keys__", ()))
    return "http2" in keys or "http2" in inspect.signature(Client).parameters


def _ours_client(cfg: TLSConfig, http2: bool, **options: Any) -> Any:
    from expys_stream import Client

    if http2 and not has_http2_option():
        raise RuntimeError("this checkout's Client has no http2 option yet")
    extra: dict[str, Any] = {"http2": True} if http2 else {}
    return Client(token=TOKEN, base_url=cfg.base_url, ssl_context=cfg.context(), **extra, **options)


def _headers(cfg: TLSConfig, path: str) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", f"{HOST}:{cfg.port}".encode()),
        (b":path", path.encode()),
        (b"accept", b"text/event-stream"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
    ]


async def h2min_open(conn: Any, cfg: TLSConfig, path: str) -> Any:
    """Open a stream on an ``h2_loopback.H2Conn`` (its own ``open`` sends no token)."""
    from h2_loopback import H2Stream

    stream_id = conn.h2.get_next_available_stream_id()
    stream = conn.streams[stream_id] = H2Stream(stream_id)
    conn.h2.send_headers(stream_id, _headers(cfg, path), end_stream=True)
    await conn.flush()
    return stream


class _Shared:
    """Connections (or clients) shared by ``per`` streams each, made by the first taker."""

    def __init__(self, per: int) -> None:
        import anyio

        self.per = per
        self.made: dict[Any, tuple[Any, list[Any]]] = {}
        self.event = anyio.Event

    def key(self, index: int) -> int:
        # The warm-up stream (0) and streams 1..per share the first one.
        return 0 if index == 0 else (index - 1) // self.per

    async def get(self, index: int, make: Any) -> Any:
        key = self.key(index)
        found = self.made.get(key)
        if found is None:
            ready = self.event()
            holder: list[Any] = []
            self.made[key] = (ready, holder)
            holder.append(await make())
            ready.set()
            return holder[0]
        await found[0].wait()
        return found[1][0]

    def values(self) -> list[Any]:
        return [holder[0] for _, holder in self.made.values() if holder]


# --------------------------------------------------------------------------
# Idle clients.


async def measure_idle(contender: IdleContender, settle: float) -> dict[str, Any]:
    """``_e2e_clients.measure_idle``, inside what the contender's ``around()`` enters.

    A task group or an entered ``Client(http2=True)`` must be entered and
    exited in the same scope around the whole measurement (its teardown
    runs in a shielded cancel scope of its own, which must not exit them).
    """
    around = getattr(contender, "around", None)
    if around is None:
        return await e2e.measure_idle(contender, settle)
    async with around() as entered:
        contender.entered = entered  # type: ignore[attr-defined]
        try:
            return await e2e.measure_idle(contender, settle)
        finally:
            if hasattr(entered, "cancel_scope"):
                entered.cancel_scope.cancel()


class IdleOursH2(IdleContender):
    cfg: TLSConfig

    def around(self) -> Any:
        return _ours_client(self.cfg, True, read_timeout=60.0, connect_timeout=30.0)

    async def setup(self) -> None:
        self.client = self.entered

    async def hold(self, index: int) -> None:
        async with self.client.open_message_stream(f"conv_{index}") as stream:
            async for message in stream:
                raise _unexpected(message)


class IdleOursH1TLS(IdleContender):
    cfg: TLSConfig

    async def setup(self) -> None:
        self.client = _ours_client(self.cfg, False, read_timeout=60.0, connect_timeout=30.0)

    async def hold(self, index: int) -> None:
        async with self.client.open_message_stream(f"conv_{index}") as stream:
            async for message in stream:
                raise _unexpected(message)

    async def teardown(self) -> None:
        await self.client.aclose()


class IdleHttpxSSETLS(IdleContender):
    cfg: TLSConfig
    http2 = False

    async def setup(self) -> None:
        import httpx
        from httpx_sse import aconnect_sse

        self.connect = aconnect_sse
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        self.shared = _Shared(min(HTTPX_H2_STREAMS, self.cfg.per_connection))
        self.one: Any = None

        def make() -> Any:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            timeout = httpx.Timeout(60.0, connect=30.0)
            return httpx.AsyncClient(
                verify=self.cfg.context(), http2=self.http2, limits=limits, timeout=timeout
            )

        self.make = make
        if not self.http2:
            self.one = make()

    async def client_for(self, index: int) -> Any:
        if not self.http2:
            return self.one

        async def make() -> Any:
            return self.make()

        return await self.shared.get(index, make)

    async def hold(self, index: int) -> None:
        import anyio

        if self.http2 and index == 0:  # the warm-up stream: a client of its own
            client = self.make()
        else:
            client = await self.client_for(index)
        url = self.cfg.url(f"conv_{index}")
        try:
            async with self.connect(client, "GET", url, headers=dict(self.headers)) as source:
                async for sse in source.aiter_sse():
                    if sse.data:
                        raise _unexpected(sse)
        finally:
            if client is not self.one and index == 0 and self.http2:
                with anyio.CancelScope(shield=True):
                    await client.aclose()

    async def teardown(self) -> None:
        clients = [self.one] if self.one is not None else self.shared.values()
        for client in clients:
            await client.aclose()


class IdleHttpxSSEH2(IdleHttpxSSETLS):
    http2 = True


class IdleFloorTLS(IdleContender):
    """A bare anyio TLS socket per stream, the request written by hand."""

    cfg: TLSConfig

    async def setup(self) -> None:
        self.context = self.cfg.context(["http/1.1"])

    async def hold(self, index: int) -> None:
        import anyio

        request = (
            f"GET {self.cfg.path(f'conv_{index}')} HTTP/1.1\r\nHost: {HOST}:{self.cfg.port}\r\n"
            f"Accept: text/event-stream\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        ).encode("ascii")
        sock = await anyio.connect_tcp(
            HOST, self.cfg.port, tls=True, ssl_context=self.context, tls_standard_compatible=False
        )
        async with sock:
            await sock.send(request)
            while True:
                data = await sock.receive(e2e.READ_SIZE)
                if b"data:" in data:
                    raise _unexpected(data)


class IdleFloorH2(IdleContender):
    """The experiment's h2min: one reader task per connection, no task per stream."""

    cfg: TLSConfig

    def around(self) -> Any:
        import anyio

        return anyio.create_task_group()

    async def setup(self) -> None:
        self.group = self.entered
        self.shared = _Shared(self.cfg.per_connection)

    async def connect(self) -> Any:
        from h2_loopback import connect_h2

        conn = await connect_h2(self.cfg.port, self.cfg.certs, 65535)
        self.group.start_soon(conn.read_loop)
        return conn

    async def hold(self, index: int) -> None:
        import anyio
        from h2_loopback import read_some

        conn = await self.shared.get(index, self.connect)
        stream = await h2min_open(conn, self.cfg, self.cfg.path(f"conv_{index}"))
        try:
            while data := await read_some(stream):
                if b"data:" in data:
                    raise _unexpected(data)
            raise RuntimeError(f"stream {stream.stream_id} ended")
        finally:
            with anyio.CancelScope(shield=True):
                await conn.reset(stream)

    async def teardown(self) -> None:
        # The readers end with the group; the sockets close with the process.
        self.group.cancel_scope.cancel()


IDLE_CLIENTS: dict[str, type[IdleContender]] = {
    "ours-h2": IdleOursH2,
    "ours-h1-tls": IdleOursH1TLS,
    "httpx-sse-h2": IdleHttpxSSEH2,
    "httpx-sse-h1-tls": IdleHttpxSSETLS,
    "floor-tls": IdleFloorTLS,
    "floor-h2": IdleFloorH2,
}


# --------------------------------------------------------------------------
# Stream clients: one stream of the corpus, every message decoded.


async def _count_messages(stream: Any, target: int, started: Any) -> Outcome:
    n = 0
    first = last = None
    async for message in stream:
        n += 1
        if first is None:
            first = message
        last = message
        if n >= target:
            break
    elapsed, cpu = clock_stop(started)
    return Outcome(n, first, last, elapsed, cpu)


async def stream_ours(cfg: TLSConfig, http2: bool) -> Outcome:
    from expys_stream import ExpysError

    # The client is made inside the clock, as open_message_stream makes one
    # in _e2e_clients' ours; max_retries=0: an early end fails.
    started = clock_start()
    try:
        async with (
            _ours_client(cfg, http2, max_retries=0, read_timeout=30.0) as client,
            client.open_message_stream(CONVERSATION) as stream,
        ):
            return await _count_messages(stream, cfg.messages, started)
    except ExpysError as exc:
        raise RuntimeError(f"ours: {exc}") from exc


async def stream_ours_h2(cfg: TLSConfig) -> Outcome:
    return await stream_ours(cfg, True)


async def stream_ours_h1_tls(cfg: TLSConfig) -> Outcome:
    return await stream_ours(cfg, False)


async def stream_httpx_sse(cfg: TLSConfig, http2: bool) -> Outcome:
    import httpx
    from httpx_sse import aconnect_sse

    loads = json.loads
    target = cfg.messages
    n = 0
    first = last = None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # The client (and its SSL context) is made before the clock starts.
    async with httpx.AsyncClient(
        verify=cfg.context(), http2=http2, timeout=httpx.Timeout(30.0)
    ) as client:
        started = clock_start()
        async with aconnect_sse(client, "GET", cfg.url(), headers=headers) as source:
            version = source.response.http_version
            if version != ("HTTP/2" if http2 else "HTTP/1.1"):
                raise RuntimeError(f"httpx spoke {version}")
            async for sse in source.aiter_sse():
                if sse.event != "message" or not sse.data:
                    continue  # (comments, and httpx-sse's empty event after them)
                message = loads(sse.data)
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
            elapsed, cpu = clock_stop(started)
    return Outcome(n, first, last, elapsed, cpu)


async def stream_httpx_sse_h2(cfg: TLSConfig) -> Outcome:
    return await stream_httpx_sse(cfg, True)


async def stream_httpx_sse_h1_tls(cfg: TLSConfig) -> Outcome:
    return await stream_httpx_sse(cfg, False)


async def stream_h2min(cfg: TLSConfig, decode: bool) -> Outcome:
    import anyio
    from h2_loopback import connect_h2, read_some

    from expys_stream._models import message_decoder

    decoder = message_decoder.decode
    target = cfg.messages
    n = total = 0
    first = last = None
    started = clock_start()
    conn = await connect_h2(cfg.port, cfg.certs, 1 << 20)
    async with anyio.create_task_group() as group:
        group.start_soon(conn.read_loop)
        stream = await h2min_open(conn, cfg, cfg.path())
        pending = b""
        while n < target and (data := await read_some(stream)):
            total += len(data)
            if not decode:
                continue
            blocks = (pending + data).split(b"\n\n")
            pending = blocks.pop()
            for block in blocks:
                i = block.find(b"\ndata: ")
                if i < 0:  # a comment
                    continue
                message = decoder(block[i + 7 :])
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
        elapsed, cpu = clock_stop(started)
        group.cancel_scope.cancel()
    with contextlib.suppress(anyio.BrokenResourceError):  # the server may close first
        await conn.sock.aclose()
    if not decode:  # the raw row decodes nothing: it checks the byte count
        ok = total == cfg.expect_bytes
        n = target if ok else 0
        first = {"id": "msg_%012d" % 1} if ok else None  # noqa: UP031
        last = {"id": "msg_%012d" % target} if ok else None  # noqa: UP031
    return Outcome(n, first, last, elapsed, cpu)


async def stream_floor_h2(cfg: TLSConfig) -> Outcome:
    return await stream_h2min(cfg, True)


async def stream_raw_h2(cfg: TLSConfig) -> Outcome:
    return await stream_h2min(cfg, False)


ASYNC = ("asyncio", "trio")
STREAM_CLIENTS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "ours-h2": (stream_ours_h2, ASYNC),
    "ours-h1-tls": (stream_ours_h1_tls, ASYNC),
    "httpx-sse-h2": (stream_httpx_sse_h2, ASYNC),
    "httpx-sse-h1-tls": (stream_httpx_sse_h1_tls, ASYNC),
    "floor-h2": (stream_floor_h2, ASYNC),
    "raw-h2": (stream_raw_h2, ASYNC),
}


def run_idle(name: str, cfg: TLSConfig, settle: float) -> dict[str, Any]:
    import anyio

    contender = IDLE_CLIENTS[name](cfg)
    result: dict[str, Any] = anyio.run(measure_idle, contender, settle, backend=cfg.backend)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One TLS/HTTP/2 benchmark client.")
    parser.add_argument("kind", choices=("stream", "idle"))
    parser.add_argument("name")
    parser.add_argument("--backend", default="asyncio", choices=ASYNC)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats-port", type=int, required=True)
    parser.add_argument("--certs", required=True, help="the directory holding ca.pem")
    parser.add_argument("--per-connection", type=int, default=100)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--expect-bytes", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--profile", metavar="PATH", help="run under cProfile, dump stats here")
    args = parser.parse_args(argv)
    signal.alarm(int(args.timeout) + 15)  # a watchdog: never outlive the timeout
    raise_fd_limit()
    cfg = TLSConfig(
        port=args.port,
        backend=args.backend,
        messages=args.messages,
        streams=args.streams,
        expect_bytes=args.expect_bytes,
        timeout=args.timeout,
        stats_port=args.stats_port,
        certs=args.certs,
        per_connection=args.per_connection,
    )
    e2e.STREAM_CLIENTS.update(STREAM_CLIENTS)
    result: dict[str, Any]
    try:
        if args.kind == "stream":
            if args.name not in STREAM_CLIENTS:
                raise SystemExit(f"unknown stream client {args.name!r}")
            if args.profile:
                import cProfile

                e2e.PROFILER = cProfile.Profile()
            result = e2e.run_stream(args.name, cfg)
            if e2e.PROFILER is not None:
                e2e.PROFILER.dump_stats(args.profile)
        else:
            if args.name not in IDLE_CLIENTS:
                raise SystemExit(f"unknown idle client {args.name!r}")
            if args.tracemalloc:
                import tracemalloc

                e2e.TRACER = tracemalloc
            result = run_idle(args.name, cfg, args.settle)
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "problem": f"{type(exc).__name__}: {str(exc)[:300]}"}
    result.update(kind=args.kind, client=args.name, backend=args.backend, config=asdict(cfg))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
