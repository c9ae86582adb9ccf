"""How the embedded concierge fans one message out to many streams.

Starts ``expys-stream serve`` (the embedded concierge) in its own process,
opens N concurrent SSE streams to it from this process (bare anyio sockets,
so the clients cost little), then sends messages over HTTP and times how
long each takes to reach every stream. Loopback only; bounded in time.

    python benchmarks/bench_fanout.py --streams 1000 --messages 5 [--json PATH]

Prints the time to open the streams and, per message, the time until the
last stream had it (and with ``--json``, writes them as JSON for
``benchmarks/plot.py``). Exits 1 if a stream missed a message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.abc


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _start_server() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "expys_stream", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=_raise_fd_limit,
    )
    assert process.stdout is not None
    process.stdout.readline()
    settings = {}
    for _ in range(3):
        key, _, value = process.stdout.readline().strip().removeprefix("export ").partition("=")
        settings[key] = value
    return process, settings


_MARK = b"event: message"


async def _stream(
    host: str, port: int, path: str, token: str, want: int, got: list[int], opened: list[int]
) -> None:
    async with await anyio.connect_tcp(host, port) as sock:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        )
        await sock.send(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:  # the headers come once the stream is subscribed
            head += await sock.receive()
        opened[0] += 1
        tail = head.partition(b"\r\n\r\n")[2]
        seen = tail.count(_MARK)
        while seen < want:
            data = tail + await sock.receive()
            found = data.count(_MARK)  # a tail shorter than the mark holds none
            seen += found
            got[0] += found
            tail = data[-(len(_MARK) - 1) :]


async def _send(base: str, conversation: str, token: str, text: str) -> None:
    import httpcore

    async with httpcore.AsyncConnectionPool() as pool:
        response = await pool.request(
            "POST",
            f"{base}/v1/conversations/{conversation}/messages",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            content=json.dumps({"body": text}).encode(),
        )
        assert response.status == 201, response.status


async def _run(args: argparse.Namespace, settings: dict[str, str]) -> int:
    base = settings["EXPYS_BASE_URL"]
    conversation = settings["EXPYS_CONVERSATION_ID"]
    token = settings["EXPYS_MEMBER_TOKEN"]
    host, port = base.removeprefix("http://").split(":")
    path = f"/v1/conversations/{conversation}/stream"
    got, opened = [0], [0]
    results: list[float] = []
    with anyio.fail_after(args.timeout):
        async with anyio.create_task_group() as tg:
            started = time.perf_counter()
            for _ in range(args.streams):
                tg.start_soon(_stream, host, int(port), path, token, args.messages, got, opened)
            while opened[0] < args.streams:
                await anyio.sleep(0.01)
            open_seconds = time.perf_counter() - started
            print(f"opened {args.streams} streams in {open_seconds:.2f} s")
            for index in range(args.messages):
                sent_at = time.perf_counter()
                await _send(base, conversation, token, f"fan-out {index}")
                while got[0] < args.streams * (index + 1):
                    await anyio.sleep(0.001)
                results.append(time.perf_counter() - sent_at)
                print(
                    f"message {index + 1}: reached all {args.streams} streams in "
                    f"{results[-1] * 1000:.0f} ms"
                )
    print(
        f"median fan-out to {args.streams} streams: {statistics.median(results) * 1000:.0f} ms "
        f"({args.streams / statistics.median(results):,.0f} deliveries/s)"
    )
    complete = got[0] == args.streams * args.messages
    if args.json is not None:
        document = {
            "benchmark": "fanout",
            "streams": args.streams,
            "messages": args.messages,
            "open_seconds": open_seconds,
            "fanout_seconds": results,
            "median_seconds": statistics.median(results),
            "deliveries_per_second": args.streams / statistics.median(results),
            "complete": complete,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0 if complete else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write JSON here")
    args = parser.parse_args()
    _raise_fd_limit()
    process, settings = _start_server()
    try:
        return anyio.run(_run, args, settings)
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
