"""Memory per idle HTTP/2 stream and the time to open them (prints, asserts nothing).

    python tests/http2/measure_idle_streams.py [--streams 1000] [--backend trio]
        [--consumers] [--trace]

hypercorn runs in a subprocess over TLS (a trustme CA, ALPN h2) and allows
``--streams`` streams per connection, so that all of them share one
connection. The client opens them, waits for every head and first payload
(a comment), and then measures: the traced heap (tracemalloc) and VmRSS,
before and after, divided by the number of streams. With ``--consumers``,
each stream also has a task waiting in ``read()``, as a user's ``async
for`` would. ``--trace`` adds the traced heap (tracemalloc's own records
then inflate RSS and the times). Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b": hello\n\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


def serve(port: int, pem: str, streams: int) -> None:
    import functools

    import hypercorn.protocol.h2
    import priority
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    # hypercorn's priority tree takes at most 1,000 streams (the root
    # counts): lift that in this server process so 1,000 fit on one.
    tree = functools.partial(priority.PriorityTree, maximum_streams=streams + 10)
    hypercorn.protocol.h2.priority.PriorityTree = tree  # type: ignore[misc]

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = config.keyfile = pem
    config.h2_max_concurrent_streams = streams
    config.keep_alive_max_requests = streams * 10
    config.keep_alive_timeout = 3600
    config.accesslog = None
    config.loglevel = os.environ.get("H2_MEASURE_LOGLEVEL", "INFO")
    asyncio.run(hypercorn_serve(app, config))  # type: ignore[arg-type]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def consume(stream: Any) -> None:
    from expys_stream import ExpysError

    with contextlib.suppress(ExpysError):  # closed at the end of the measurement
        await stream.read()  # waits: nothing more comes


async def measure(
    url: str, ca_pem: str, streams: int, consumers: bool, trace: bool
) -> dict[str, float]:
    import ssl

    import anyio

    from expys_stream._http._h2dial import connect_h2

    context = ssl.create_default_context(cafile=ca_pem)
    async with anyio.create_task_group() as tg:
        # Warm up on a connection of its own: hypercorn's priority tree
        # refuses a 1,001st stream while a reset one is still in it.
        warm_conn = await connect_h2(tg, url, ssl_context=context)
        assert warm_conn is not None
        warm = await warm_conn.open_stream("GET", "/warm")
        await warm.head()
        await warm.read()
        await warm_conn.aclose()
        conn = await connect_h2(tg, url, ssl_context=context, max_streams=streams)
        assert conn is not None
        gc.collect()
        if trace:
            tracemalloc.start()
        heap0, rss0 = tracemalloc.get_traced_memory()[0], rss_kib()
        started = time.perf_counter()
        opened = [await conn.open_stream("GET", f"/s/{i}") for i in range(streams)]
        sent = time.perf_counter() - started
        for stream in opened:
            await stream.head()
            assert await stream.read() == b": hello\n\n"
        answered = time.perf_counter() - started
        if consumers:
            for stream in opened:
                tg.start_soon(consume, stream)
        await anyio.sleep(1)  # let the server and the allocator settle
        gc.collect()
        heap1, rss1 = tracemalloc.get_traced_memory()[0], rss_kib()
        tracemalloc.stop()
        assert len(conn.streams) == streams
        assert conn.open_streams == streams
        await conn.aclose()
        tg.cancel_scope.cancel()
    figures: dict[str, float] = {
        "streams": streams,
        "open_s": round(sent, 3),
        "answered_s": round(answered, 3),
        "heap_kib_per_stream": round((heap1 - heap0) / 1024 / streams, 2),
        "rss_kib_per_stream": round((rss1 - rss0) / streams, 2),
    }
    if not trace:
        del figures["heap_kib_per_stream"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--consumers", action="store_true")
    parser.add_argument("--trace", action="store_true", help="tracemalloc (inflates RSS and time)")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "PEM"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.streams)
        return
    import anyio
    import trustme

    folder = tempfile.mkdtemp(prefix="h2measure")
    ca = trustme.CA()
    pem, ca_pem = os.path.join(folder, "server.pem"), os.path.join(folder, "ca.pem")
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(pem)
    ca.cert_pem.write_to_path(ca_pem)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, str(HERE), "--streams", str(args.streams), "--serve", str(port), pem]
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        url = f"https://127.0.0.1:{port}/"
        result = anyio.run(
            measure, url, ca_pem, args.streams, args.consumers, args.trace, backend=args.backend
        )
        result.update(backend=args.backend, consumers=args.consumers)
        print(json.dumps(result))
    finally:
        print("server exit code:", server.poll(), file=sys.stderr)
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    main()
