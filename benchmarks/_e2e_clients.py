"""The client processes of the end-to-end benchmarks.

``bench_e2e.py`` and ``bench_memory.py`` run this file once per measurement,
in a fresh interpreter, and read the one JSON line it prints::

    python benchmarks/_e2e_clients.py stream NAME --backend B --port P --messages N
    python benchmarks/_e2e_clients.py idle NAME --backend B --port P --streams N

``stream``: connect to the stream server, receive ``N`` chat messages,
decode every one fully (into ``Message`` with msgspec, or into a dict with
``json.loads``), skip every other event and comment, and report the time
from before the connection to the ``N``-th message, the process's CPU time
over the same span, the count, and the first and last message ids (read
from the decoded messages).

``idle``: against the idle server, open ``N`` concurrent streams that wait
for an event that never comes, and report the process's resident memory
(VmRSS) before and once the server has answered all of them.

The stream clients, ``NAME`` (backends):

``raw`` (sync)
    the server's own speed: a blocking socket that reads the response into
    a buffer until the server closes, and decodes nothing.
``floor`` (asyncio, trio)
    anyio socket, the request written by hand, 64 KiB reads, chunked framing
    undone with ``bytes`` operations, a split on blank lines, ``data: ``
    found with ``bytes.find`` and decoded by the same msgspec decoder as
    ours. It knows this stream's shape (no CR, data on the block's last
    line) and no SSE rule: a yardstick, not a client.
``ours`` (asyncio, trio, sync)
    ``expys_stream.open_message_stream``; on ``sync``,
    ``expys_stream.sync.open_message_stream`` (the same engine on its
    event-loop thread, a batch of messages per hop to the caller's thread).
``httpx-sse`` (asyncio, trio, sync)
    ``httpx.AsyncClient`` + ``httpx_sse.aconnect_sse(...).aiter_sse()``,
    ``json.loads(sse.data)``; on ``sync``, ``httpx.Client`` +
    ``httpx_sse.connect_sse(...).iter_sse()``.
``aiohttp`` (asyncio)
    ``aiohttp.ClientSession``; the response's line reader
    (``async for line in response.content``) with the SSE fields parsed by
    hand, ``json.loads`` of the data.
``launchdarkly`` (asyncio)
    launchdarkly-eventsource's ``AsyncSSEClient`` (aiohttp underneath),
    ``json.loads(event.data)``.

The idle clients: ``floor`` (an anyio socket per stream, the request written
by hand, one task: the least a stream can cost), ``ours`` (one ``Client``,
``client.open_message_stream`` per stream), ``ours-private``
(``open_message_stream`` per stream: a private client and pool each),
``httpx-sse`` (one ``httpx.AsyncClient``, ``aconnect_sse`` per stream) and
``httpcore`` (one ``httpcore.AsyncConnectionPool``, ``pool.stream`` per
stream, reading raw chunks), each on asyncio or trio.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import signal
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _e2e_server import HOST, RESPONSE_HEAD, raise_fd_limit

TOKEN = "bench-token"
CONVERSATION = "conv_bench"
READ_SIZE = 64 * 1024
clock = time.perf_counter


def cpu_time() -> float:
    # The whole process (every thread), user and system.
    return time.process_time()


# Set by --profile: profiles the timed part of a stream client only.
PROFILER: Any = None
# Set by --tracemalloc: the idle clients trace the allocations of their streams.
TRACER: Any = None
# Set by --diagnose: the idle clients report where their resident memory is.
DIAGNOSE = False
# Set while a client's clock runs: the modules imported meanwhile are reported.
MODULES_AT_START: set[str] = set()


def clock_start() -> tuple[float, float]:
    """Start a client's clock (and the profiler, if any)."""
    MODULES_AT_START.update(sys.modules)
    if PROFILER is not None:
        PROFILER.enable()
    return clock(), cpu_time()


def clock_stop(started: tuple[float, float]) -> tuple[float, float]:
    """Stop the clock: the elapsed and CPU seconds since ``clock_start``."""
    elapsed, cpu = clock() - started[0], cpu_time() - started[1]
    if PROFILER is not None:
        PROFILER.disable()
    return elapsed, cpu


@dataclass
class Config:
    port: int
    backend: str
    messages: int = 100_000
    streams: int = 1000
    expect_bytes: int = 0
    timeout: float = 120.0
    stats_port: int = 0  # where the server answers /_stats over HTTP, if not ``port``

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def path(self, conversation: str = CONVERSATION) -> str:
        return f"/v1/conversations/{conversation}/stream"

    def url(self, conversation: str = CONVERSATION) -> str:
        return self.base_url + self.path(conversation)


@dataclass
class Outcome:
    """What a stream client got, and how long it took."""

    count: int
    first: Any  # the first decoded message (a Message or a dict)
    last: Any
    elapsed: float
    cpu: float


def message_id(message: Any) -> str | None:
    if message is None:
        return None
    if isinstance(message, dict):
        value = message.get("id")
        return value if isinstance(value, str) else None
    return getattr(message, "id", None)


# --------------------------------------------------------------------------
# Stream clients. Every loop does the same per message: count it, keep the
# first and the last, stop at the N-th.


def stream_raw(cfg: Config) -> Outcome:
    request = (
        f"GET {cfg.path()} HTTP/1.1\r\nHost: {HOST}:{cfg.port}\r\n"
        f"Accept: text/event-stream\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    ).encode("ascii")
    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)
    total = 0
    tail = b""
    started = clock_start()
    with socket.create_connection((HOST, cfg.port), timeout=cfg.timeout) as sock:
        sock.sendall(request)
        while size := sock.recv_into(buffer):
            total += size
            tail = (tail + bytes(view[max(0, size - 16) : size]))[-16:]
    elapsed, cpu = clock_stop(started)
    # The raw client decodes nothing: it counts the body's bytes instead.
    ok = tail.endswith(b"\r\n0\r\n\r\n") and (
        not cfg.expect_bytes or total == cfg.expect_bytes + len(RESPONSE_HEAD)
    )
    count = cfg.messages if ok else 0
    first = {"id": "msg_%012d" % 1} if ok else None  # noqa: UP031
    last = {"id": "msg_%012d" % cfg.messages} if ok else None  # noqa: UP031
    return Outcome(count, first, last, elapsed, cpu)


async def stream_floor(cfg: Config) -> Outcome:
    import anyio

    from expys_stream._models import message_decoder

    decode = message_decoder.decode
    request = (
        f"GET {cfg.path()} HTTP/1.1\r\nHost: {HOST}:{cfg.port}\r\n"
        f"Accept: text/event-stream\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    ).encode("ascii")
    target = cfg.messages
    n = 0
    first = last = None
    started = clock_start()
    async with await anyio.connect_tcp(HOST, cfg.port) as sock:
        await sock.send(request)
        head = b""
        while b"\r\n\r\n" not in head:
            head += await sock.receive(READ_SIZE)
        head, _, data = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 ") or b"chunked" not in head.lower():
            raise RuntimeError(f"unexpected response head {head[:200]!r}")
        framing = b""  # an unfinished chunk (size line and payload)
        pending = b""  # an unfinished SSE block
        while n < target:
            if not data:
                try:
                    data = await sock.receive(READ_SIZE)
                except anyio.EndOfStream:
                    break
            buf = framing + data if framing else data
            data = b""
            # Undo the chunked framing: whole chunks only, the rest waits.
            parts = []
            pos = 0
            end = len(buf)
            find = buf.find
            while True:
                eol = find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(buf[pos:eol], 16)
                stop = eol + 2 + size
                if stop + 2 > end or not size:
                    break
                parts.append(buf[eol + 2 : stop])
                pos = stop + 2
            framing = buf[pos:]
            # Split on blank lines; the last piece is unfinished.
            blocks = (pending + b"".join(parts)).split(b"\n\n")
            pending = blocks.pop()
            for block in blocks:
                i = block.find(b"\ndata: ")
                if i < 0:  # a comment
                    continue
                message = decode(block[i + 7 :])
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
        elapsed, cpu = clock_stop(started)
    return Outcome(n, first, last, elapsed, cpu)


async def stream_ours(cfg: Config) -> Outcome:
    from expys_stream import ExpysError, open_message_stream

    target = cfg.messages
    n = 0
    first = last = None
    started = clock_start()
    # max_retries=0: a stream that ends early fails instead of reconnecting.
    try:
        async with open_message_stream(
            CONVERSATION, token=TOKEN, base_url=cfg.base_url, max_retries=0, read_timeout=30.0
        ) as stream:
            async for message in stream:
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
            elapsed, cpu = clock_stop(started)
    except ExpysError as exc:
        raise RuntimeError(f"after {n} messages: {exc}") from exc
    return Outcome(n, first, last, elapsed, cpu)


def stream_ours_sync(cfg: Config) -> Outcome:
    from expys_stream import ExpysError
    from expys_stream.sync import open_message_stream

    target = cfg.messages
    n = 0
    first = last = None
    started = clock_start()
    # (The event-loop thread starts on entry: inside the clock, as it would
    # for a program's first stream.)
    try:
        with open_message_stream(
            CONVERSATION, token=TOKEN, base_url=cfg.base_url, max_retries=0, read_timeout=30.0
        ) as stream:
            for message in stream:
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
            elapsed, cpu = clock_stop(started)
    except ExpysError as exc:
        raise RuntimeError(f"after {n} messages: {exc}") from exc
    return Outcome(n, first, last, elapsed, cpu)


def stream_httpx_sse_sync(cfg: Config) -> Outcome:
    import httpx
    from httpx_sse import connect_sse

    loads = json.loads
    target = cfg.messages
    n = 0
    first = last = None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=httpx.Timeout(30.0)) as client:
        started = clock_start()
        with connect_sse(client, "GET", cfg.url(), headers=headers) as source:
            for sse in source.iter_sse():
                if sse.event != "message" or not sse.data:
                    continue
                message = loads(sse.data)
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
            elapsed, cpu = clock_stop(started)
    return Outcome(n, first, last, elapsed, cpu)


async def stream_httpx_sse(cfg: Config) -> Outcome:
    import httpx
    from httpx_sse import aconnect_sse

    loads = json.loads
    target = cfg.messages
    n = 0
    first = last = None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # The client (and its SSL context) is made before the clock starts.
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        started = clock_start()
        async with aconnect_sse(client, "GET", cfg.url(), headers=headers) as source:
            async for sse in source.aiter_sse():
                # httpx-sse also dispatches an event with empty data for the
                # blank line after a comment once the stream has an id.
                if sse.event != "message" or not sse.data:
                    continue
                message = loads(sse.data)
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
            elapsed, cpu = clock_stop(started)
    return Outcome(n, first, last, elapsed, cpu)


async def stream_aiohttp(cfg: Config) -> Outcome:
    import aiohttp

    loads = json.loads
    target = cfg.messages
    n = 0
    first = last = None
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = clock_start()
        async with session.get(cfg.url(), headers=headers) as response:
            if response.status != 200 or response.content_type != "text/event-stream":
                raise RuntimeError(f"unexpected response {response.status}")
            event = b""
            data: list[bytes] = []
            # The line reader: StreamReader.readline, one line per step.
            async for raw_line in response.content:
                line = raw_line.rstrip(b"\r\n")
                if line:
                    if line[0] == 58:  # b":", a comment
                        continue
                    name, _, value = line.partition(b":")
                    if value[:1] == b" ":
                        value = value[1:]
                    if name == b"data":
                        data.append(value)
                    elif name == b"event":
                        event = value
                    continue  # (id and retry are not needed here)
                if data and event in (b"message", b""):
                    message = loads(b"\n".join(data))
                    n += 1
                    if first is None:
                        first = message
                    last = message
                    if n >= target:
                        break
                event = b""
                data = []
            elapsed, cpu = clock_stop(started)
    return Outcome(n, first, last, elapsed, cpu)


async def stream_launchdarkly(cfg: Config) -> Outcome:
    import aiohttp
    from ld_eventsource import AsyncSSEClient
    from ld_eventsource.config import ErrorStrategy
    from ld_eventsource.config.async_connect_strategy import AsyncConnectStrategy

    loads = json.loads
    target = cfg.messages
    n = 0
    first = last = None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        connect = AsyncConnectStrategy.http(cfg.url(), headers=headers, session=session)
        client = AsyncSSEClient(connect, error_strategy=ErrorStrategy.always_fail())
        async with client:
            started = clock_start()
            async for event in client.events:  # Event items only, no comments
                if event.event != "message" or not event.data:
                    continue
                message = loads(event.data)
                n += 1
                if first is None:
                    first = message
                last = message
                if n >= target:
                    break
            elapsed, cpu = clock_stop(started)
    return Outcome(n, first, last, elapsed, cpu)


StreamClient = Callable[[Config], Any]
STREAM_CLIENTS: dict[str, tuple[StreamClient, tuple[str, ...]]] = {
    "raw": (stream_raw, ("sync",)),
    "floor": (stream_floor, ("asyncio", "trio")),
    "ours": (stream_ours, ("asyncio", "trio", "sync")),
    "httpx-sse": (stream_httpx_sse, ("asyncio", "trio", "sync")),
    "aiohttp": (stream_aiohttp, ("asyncio",)),
    "launchdarkly": (stream_launchdarkly, ("asyncio",)),
}


# The blocking versions of clients that also run on an event loop.
SYNC_TWINS: dict[str, StreamClient] = {
    "ours": stream_ours_sync,
    "httpx-sse": stream_httpx_sse_sync,
}


def run_stream(name: str, cfg: Config) -> dict[str, Any]:
    function, backends = STREAM_CLIENTS[name]
    if cfg.backend not in backends:
        raise SystemExit(f"{name} runs on {', '.join(backends)}, not {cfg.backend}")
    outcome: Outcome
    if cfg.backend == "sync":
        outcome = SYNC_TWINS.get(name, function)(cfg)
    else:
        outcome = run_async(function, cfg)
    want_first, want_last = "msg_%012d" % 1, "msg_%012d" % cfg.messages  # noqa: UP031
    first, last = message_id(outcome.first), message_id(outcome.last)
    problems = []
    if outcome.count != cfg.messages:
        problems.append(f"{outcome.count} messages instead of {cfg.messages}")
    if first != want_first:
        problems.append(f"first id {first!r} instead of {want_first!r}")
    if last != want_last:
        problems.append(f"last id {last!r} instead of {want_last!r}")
    return {
        "ok": not problems,
        "problem": "; ".join(problems) or None,
        "count": outcome.count,
        "first_id": first,
        "last_id": last,
        "elapsed_s": outcome.elapsed,
        "cpu_s": outcome.cpu,
        "message_type": type(outcome.last).__name__,
        "imported_while_timed": sorted(set(sys.modules) - MODULES_AT_START),
    }


def run_async(function: Callable[[Config], Awaitable[Any]], cfg: Config) -> Any:
    import anyio

    return anyio.run(function, cfg, backend=cfg.backend)


# --------------------------------------------------------------------------
# Idle clients: N concurrent streams that never receive an event.


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _pymalloc_stats() -> dict[str, Any]:
    """pymalloc's arena and pool counts, from ``sys._debugmallocstats()`` (it writes to fd 2)."""
    import os
    import tempfile

    with tempfile.TemporaryFile("w+b") as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode("ascii", "replace")
    wanted = {
        "# arenas allocated current": "arenas",
        "# arenas highwater mark": "arenas_highwater",
        "# bytes in allocated blocks": "bytes_in_use",
        "# bytes in available blocks": "bytes_free_in_pools",
    }
    found: dict[str, Any] = {}
    free_by_size: dict[int, int] = {}
    for line in text.splitlines():
        columns = line.split()
        if len(columns) == 5 and all(c.isdigit() for c in columns):
            # class, size, pools, blocks in use, blocks free: bytes free in used pools
            free_by_size[int(columns[1])] = int(columns[1]) * int(columns[4])
            found.setdefault("pools_by_size", {})[int(columns[1])] = int(columns[2])
            continue
        name, _, value = line.partition("=")
        if name.strip() in wanted:
            found[wanted[name.strip()]] = int(value.strip().replace(",", ""))
        elif "unused pools *" in line:  # touched, free, kept in their arena
            found["unused_pools"] = int(line.split()[0])
            found["bytes_in_unused_pools"] = int(value.strip().replace(",", ""))
    found["free_by_size"] = free_by_size
    return found


def _glibc() -> Any:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _mallinfo(libc: Any) -> dict[str, int]:
    """glibc's view: bytes from the system (brk and mmap), in use, and free but kept."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    if libc is None or not hasattr(libc, "mallinfo2"):
        return {}
    libc.mallinfo2.restype = Mallinfo2
    info = libc.mallinfo2()
    return {
        "heap_kib": info.arena // 1024,  # main and thread arenas, from brk / mmap
        "mmap_kib": info.hblkhd // 1024,  # large blocks mmapped one by one
        "in_use_kib": info.uordblks // 1024,
        "free_kib": info.fordblks // 1024,  # free, kept by glibc
    }


def _smaps_rollup() -> dict[str, int]:
    fields = ("Rss", "Anonymous", "Private_Dirty", "Shared_Clean", "Private_Clean")
    found = {}
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                name, _, value = line.partition(":")
                if name in fields:
                    found[name.lower() + "_kib"] = int(value.split()[0])
    except OSError:
        pass
    return found


def _anonymous_mappings() -> dict[str, int]:
    """Anonymous mappings by kind: the brk heap, 1 MiB (pymalloc arena) and other."""
    counts = {"heap_rss_kib": 0, "arena_1mib_maps": 0, "arena_1mib_rss_kib": 0}
    counts.update(other_anon_maps=0, other_anon_rss_kib=0)
    try:
        with open("/proc/self/smaps", encoding="ascii", errors="replace") as smaps:
            current: tuple[int, str] | None = None
            for line in smaps:
                head = line.split()
                if head and "-" in head[0] and not head[0].endswith(":"):
                    start, _, end = head[0].partition("-")
                    size = int(end, 16) - int(start, 16)
                    path = head[5] if len(head) > 5 else ""
                    current = (size, path)
                elif head and head[0] == "Rss:" and current is not None:
                    size, path = current
                    rss = int(head[1])
                    if path == "[heap]":
                        counts["heap_rss_kib"] += rss
                    elif not path and size == 1024 * 1024:
                        counts["arena_1mib_maps"] += 1
                        counts["arena_1mib_rss_kib"] += rss
                    elif not path:
                        counts["other_anon_maps"] += 1
                        counts["other_anon_rss_kib"] += rss
    except OSError:
        pass
    return counts


def diagnose(before: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where the resident memory is: threads, pymalloc, glibc, mappings; then malloc_trim.

    With ``before`` (the same figures at the baseline), also the differences.
    """
    import os

    libc = _glibc()
    figures: dict[str, Any] = {"threads": len(os.listdir("/proc/self/task"))}
    figures.update(_pymalloc_stats())
    figures.update(_mallinfo(libc))
    figures.update(_smaps_rollup())
    figures.update(_anonymous_mappings())
    figures["vmrss_kib"] = rss_kib()
    if libc is not None and before is not None:
        libc.malloc_trim(0)  # hand glibc's free memory back, then read VmRSS again
        figures["vmrss_after_trim_kib"] = rss_kib()
        figures["free_after_trim_kib"] = _mallinfo(libc).get("free_kib", 0)
    return figures


async def server_stats(port: int) -> dict[str, Any]:
    import anyio

    async with await anyio.connect_tcp(HOST, port) as sock:
        await sock.send(b"GET /_stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                data += await sock.receive()
    stats: dict[str, Any] = json.loads(data.partition(b"\r\n\r\n")[2])
    return stats


async def wait_idle(port: int, count: int, within: float) -> None:
    """Wait until the server holds exactly ``count`` idle streams (``within`` seconds)."""
    import anyio

    seen = None
    with anyio.move_on_after(within):
        while True:
            seen = (await server_stats(port))["idle"]
            if seen == count:
                return
            await anyio.sleep(0.05)
    raise TimeoutError(f"the server holds {seen} idle streams, not {count}, after {within} s")


class IdleContender:
    """Opens streams one way; ``hold`` opens one and waits on it forever."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    async def setup(self) -> None:
        pass

    async def hold(self, index: int) -> None:
        raise NotImplementedError

    async def teardown(self) -> None:
        pass


def _unexpected(what: object) -> RuntimeError:
    return RuntimeError(f"an idle stream delivered {what!r}")


class IdleOurs(IdleContender):
    async def setup(self) -> None:
        from expys_stream import Client

        self.client = Client(token=TOKEN, base_url=self.cfg.base_url, read_timeout=60.0)

    async def hold(self, index: int) -> None:
        async with self.client.open_message_stream(f"conv_{index}") as stream:
            async for message in stream:
                raise _unexpected(message)

    async def teardown(self) -> None:
        await self.client.aclose()


class IdleOursPrivate(IdleContender):
    async def setup(self) -> None:
        from expys_stream import open_message_stream

        self.open = open_message_stream

    async def hold(self, index: int) -> None:
        stream = self.open(
            f"conv_{index}", token=TOKEN, base_url=self.cfg.base_url, read_timeout=60.0
        )
        async with stream:
            async for message in stream:
                raise _unexpected(message)


class IdleHttpxSSE(IdleContender):
    async def setup(self) -> None:
        import httpx
        from httpx_sse import aconnect_sse

        self.connect = aconnect_sse
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        timeout = httpx.Timeout(60.0, connect=30.0)
        self.client = httpx.AsyncClient(limits=limits, timeout=timeout)
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    async def hold(self, index: int) -> None:
        url = self.cfg.url(f"conv_{index}")
        async with self.connect(self.client, "GET", url, headers=dict(self.headers)) as source:
            async for sse in source.aiter_sse():
                if sse.data:  # (the retry line alone dispatches an empty event)
                    raise _unexpected(sse)

    async def teardown(self) -> None:
        await self.client.aclose()


class IdleHttpcore(IdleContender):
    async def setup(self) -> None:
        import httpcore

        self.pool = httpcore.AsyncConnectionPool(max_connections=None)
        self.headers = [
            (b"Host", f"{HOST}:{self.cfg.port}".encode()),
            (b"Accept", b"text/event-stream"),
            (b"Authorization", f"Bearer {TOKEN}".encode()),
        ]
        self.timeout = {"connect": 30.0, "read": 60.0, "write": 30.0, "pool": 30.0}

    async def hold(self, index: int) -> None:
        url = self.cfg.url(f"conv_{index}")
        extensions = {"timeout": self.timeout}
        async with self.pool.stream(
            "GET", url, headers=self.headers, extensions=extensions
        ) as response:
            async for chunk in response.aiter_stream():
                if b"data:" in chunk:
                    raise _unexpected(chunk)

    async def teardown(self) -> None:
        await self.pool.aclose()


class IdleFloor(IdleContender):
    """An anyio socket per stream, the request written by hand: the least a stream can cost."""

    async def setup(self) -> None:
        import anyio

        self.connect = anyio.connect_tcp

    async def hold(self, index: int) -> None:
        request = (
            f"GET {self.cfg.path(f'conv_{index}')} HTTP/1.1\r\nHost: {HOST}:{self.cfg.port}\r\n"
            f"Accept: text/event-stream\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        ).encode("ascii")
        async with await self.connect(HOST, self.cfg.port) as sock:
            await sock.send(request)
            while True:
                data = await sock.receive(READ_SIZE)
                if b"data:" in data:
                    raise _unexpected(data)


IDLE_CLIENTS: dict[str, type[IdleContender]] = {
    "floor": IdleFloor,
    "ours": IdleOurs,
    "ours-private": IdleOursPrivate,
    "httpx-sse": IdleHttpxSSE,
    "httpcore": IdleHttpcore,
}


async def measure_idle(contender: IdleContender, settle: float) -> dict[str, Any]:
    import anyio

    cfg = contender.cfg
    await contender.setup()
    try:
        # One stream first, opened and closed, so that lazy imports and
        # first-use caches are paid before the baseline is read.
        async with anyio.create_task_group() as group:
            group.start_soon(contender.hold, 0)
            await wait_idle(cfg.stats_port or cfg.port, 1, cfg.timeout / 4)
            group.cancel_scope.cancel()
        await wait_idle(cfg.stats_port or cfg.port, 0, cfg.timeout / 4)
        gc.collect()
        await anyio.sleep(0.2)
        if DIAGNOSE:  # (before the baseline: its own imports are paid there)
            baseline_figures = diagnose()
        before = rss_kib()
        if TRACER is not None:
            TRACER.start(1)
            baseline = TRACER.take_snapshot()
        start = clock()
        async with anyio.create_task_group() as group:
            for index in range(1, cfg.streams + 1):
                group.start_soon(contender.hold, index)
            await wait_idle(cfg.stats_port or cfg.port, cfg.streams, cfg.timeout / 2)
            opened = clock() - start
            # The server has answered all of them; let every client task
            # read its response before memory is read, then read it twice
            # to see that it no longer moves.
            await anyio.sleep(settle)
            gc.collect()
            settled = rss_kib()
            await anyio.sleep(0.5)
            gc.collect()
            after = rss_kib()
            if TRACER is not None:
                snapshot = TRACER.take_snapshot()
                traced, peak = TRACER.get_traced_memory()
            if DIAGNOSE:
                figures = diagnose(baseline_figures)
            group.cancel_scope.cancel()
    finally:
        with anyio.move_on_after(10, shield=True):
            await contender.teardown()
    result = {
        "ok": True,
        "problem": None,
        "streams": cfg.streams,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_stream": (after - before) / cfg.streams,
        "drift_kib": after - settled,
        "open_s": opened,
    }
    if TRACER is not None:
        result["tracemalloc"] = top_allocations(snapshot, baseline, cfg.streams)
        result["traced_kib"] = traced // 1024
        result["traced_peak_kib"] = peak // 1024
    if DIAGNOSE:
        result["diagnose_before"] = baseline_figures
        result["diagnose_after"] = figures
    return result


def top_allocations(snapshot: Any, baseline: Any, streams: int, top: int = 15) -> list[str]:
    """Where the Python heap grew while the streams were open: by file, then by line."""
    snapshot = snapshot.filter_traces([TRACER.Filter(False, TRACER.__file__)])
    per_line = snapshot.compare_to(baseline, "lineno")
    total = sum(diff.size_diff for diff in per_line)
    lines = [f"traced Python heap growth: {total / 1024 / streams:.1f} KiB per stream"]
    lines.append("by file (the line that allocated):")
    for diff in snapshot.compare_to(baseline, "filename")[:top]:
        where = "/".join(Path(diff.traceback[0].filename).parts[-3:])
        lines.append(
            f"  {diff.size_diff / 1024 / streams:6.2f} KiB {diff.count_diff / streams:6.1f}"
            f" blocks  {where}"
        )
    lines.append("by line:")
    for diff in per_line[:top]:
        frame = diff.traceback[0]
        where = "/".join(Path(frame.filename).parts[-2:])
        lines.append(
            f"  {diff.size_diff / 1024 / streams:6.2f} KiB {diff.count_diff / streams:6.1f}"
            f" blocks  {where}:{frame.lineno}"
        )
    return lines


def run_idle(name: str, cfg: Config, settle: float) -> dict[str, Any]:
    import anyio

    contender = IDLE_CLIENTS[name](cfg)
    result: dict[str, Any] = anyio.run(measure_idle, contender, settle, backend=cfg.backend)
    return result


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global PROFILER, TRACER, DIAGNOSE
    parser = argparse.ArgumentParser(description="One e2e benchmark client (see the docstring).")
    parser.add_argument("kind", choices=("stream", "idle"))
    parser.add_argument("name")
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio", "sync"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--expect-bytes", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--profile", metavar="PATH", help="run under cProfile, dump stats here")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="idle: report the top allocation sites"
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="idle: report threads, pymalloc arenas, glibc's free memory, mappings, malloc_trim",
    )
    args = parser.parse_args(argv)
    DIAGNOSE = args.diagnose
    # A watchdog: whatever happens, this process does not outlive its timeout.
    signal.alarm(int(args.timeout) + 15)
    raise_fd_limit()
    cfg = Config(
        port=args.port,
        backend=args.backend,
        messages=args.messages,
        streams=args.streams,
        expect_bytes=args.expect_bytes,
        timeout=args.timeout,
    )
    result: dict[str, Any]
    try:
        if args.kind == "stream":
            if args.name not in STREAM_CLIENTS:
                raise SystemExit(f"unknown stream client {args.name!r}")
            if args.profile:
                import cProfile

                PROFILER = cProfile.Profile()
            result = run_stream(args.name, cfg)
            if PROFILER is not None:
                PROFILER.dump_stats(args.profile)
        else:
            if args.name not in IDLE_CLIENTS:
                raise SystemExit(f"unknown idle client {args.name!r}")
            if args.tracemalloc:
                import tracemalloc

                TRACER = tracemalloc
            result = run_idle(args.name, cfg, args.settle)
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "problem": f"{type(exc).__name__}: {str(exc)[:300]}"}
    result.update(kind=args.kind, client=args.name, backend=args.backend, config=asdict(cfg))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
