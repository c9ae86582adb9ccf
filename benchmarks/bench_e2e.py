"""End-to-end streaming benchmark: a real server process, real client processes.

Run from the repository root::

    python benchmarks/bench_e2e.py [--messages N] [--repeat 3]
        [--only NAME[,NAME...]] [--json PATH] [--profile NAME]

A server process (``_e2e_server.py``) on 127.0.0.1 streams the 100,000
events of the benchmark corpus (plus a keepalive comment every 50 events),
each as its own HTTP chunk, from a body built once and written with
``sendall``. For every client, a fresh process (``_e2e_clients.py``)
connects, receives the messages, decodes every one, checks the count and
the first and last ids, and reports its time; the parent repeats that
``--repeat`` times, round-robin over the clients, and prints the medians:
messages per second, the time as a ratio to the floor client's on the same
backend, and the speed-up over httpx + httpx-sse on the same backend. The
raw row (a blocking socket that decodes nothing) is the server's own speed,
to show the server is not what limits the clients. The ``sync`` rows are
blocking clients: ours (``expys_stream.sync``, compared with our asyncio
client and with httpx-sse's sync client) and httpx-sse's
(``httpx.Client`` + ``httpx_sse.connect_sse``).

With ``--http2``, the stream goes over TLS instead, HTTP/2 and HTTP/1.1, from
``_h2_stream_server.py`` (one DATA frame per event) or hypercorn, and the
clients are those of ``_e2e_tls.py`` (ours-h2 against httpx-sse-h2).

Timings are reported, never asserted: the exit status is 0 whatever they
are, and 1 if a client got wrong or missing messages (or failed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _e2e_server import ServerProcess, raise_fd_limit

CLIENT_SCRIPT = Path(__file__).resolve().parent / "_e2e_clients.py"


@dataclass(frozen=True)
class Contender:
    name: str
    backend: str
    label: str
    requires: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.name}/{self.backend}"

    def missing(self) -> list[str]:
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


CONTENDERS = (
    Contender("raw", "sync", "raw socket, no decoding (the server's speed)"),
    Contender("floor", "asyncio", "floor: anyio socket, bytes ops, msgspec"),
    Contender("floor", "trio", "floor: anyio socket, bytes ops, msgspec", ("trio",)),
    Contender("ours", "asyncio", "expys_stream.open_message_stream"),
    Contender("ours", "trio", "expys_stream.open_message_stream", ("trio",)),
    Contender("ours", "sync", "expys_stream.sync.open_message_stream (blocking)"),
    Contender("httpx-sse", "asyncio", "httpx + httpx-sse, json.loads", ("httpx", "httpx_sse")),
    Contender("httpx-sse", "trio", "httpx + httpx-sse, json.loads", ("httpx", "httpx_sse", "trio")),
    Contender(
        "httpx-sse",
        "sync",
        "httpx.Client + httpx_sse.connect_sse, json.loads",
        ("httpx", "httpx_sse"),
    ),
    Contender("aiohttp", "asyncio", "aiohttp line reader, json.loads", ("aiohttp",)),
    Contender(
        "launchdarkly",
        "asyncio",
        "launchdarkly-eventsource AsyncSSEClient (aiohttp), json.loads",
        ("ld_eventsource", "aiohttp"),
    ),
)
# Always run: every time ratio is to the floor's.
ALWAYS = ("floor",)
TARGET_SPEEDUP = 3.0  # ours' messages/s over httpx + httpx-sse's, each backend
TARGET_FLOOR_RATIO = 2.0  # ours' time over the floor's, each backend
TARGET_SYNC_RATIO = 0.7  # ours/sync messages/s over ours/asyncio's
# Below this share of a CPU while a client runs, the client waited for
# something: the server, or other jobs on the machine.
CPU_SHARE_WARNING = 0.9
VERSIONED = (
    "expys-stream",
    "anyio",
    "trio",
    "httpcore",
    "h11",
    "msgspec",
    "httpx",
    "httpx-sse",
    "aiohttp",
    "launchdarkly-eventsource",
)


@dataclass
class Runs:
    contender: Contender
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    problem: str | None = None
    message_type: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_share(self) -> float:
        return sum(self.cpu) / sum(self.times)

    @property
    def server_share(self) -> float:
        return sum(self.server_cpu) / sum(self.times)


def run_client(
    contender: Contender,
    server: ServerProcess,
    messages: int,
    timeout: float,
    profile: str | None = None,
    script: Path = CLIENT_SCRIPT,
    extra: Sequence[str] = (),
) -> tuple[dict[str, Any], float]:
    """Run one client process (``script``, with ``extra`` arguments); its JSON
    result and the server's CPU seconds meanwhile."""
    command = [
        sys.executable,
        str(script),
        "stream",
        contender.name,
        "--backend",
        contender.backend,
        "--port",
        str(server.port),
        "--messages",
        str(messages),
        "--expect-bytes",
        str(server.body_bytes),
        "--timeout",
        str(timeout),
    ]
    command += extra
    if profile:
        command += ["--profile", profile]
    server_cpu = server.stats()["cpu_s"]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "problem": f"no answer within {timeout + 30:.0f} s"}, 0.0
    server_cpu = server.stats()["cpu_s"] - server_cpu
    # The server finishes its write in a thread; wait until it is done so
    # that the next client has the machine to itself.
    server.wait_for("active", 0, 30)
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr or done.stdout).strip()[-800:]
        result = {"ok": False, "problem": f"exit {done.returncode}, no result: {tail}"}
    if not result.get("ok") and done.stderr:
        print(done.stderr.strip()[-2000:], file=sys.stderr)
    return result, server_cpu


def select(only: str | None) -> list[Contender]:
    if not only:
        return list(CONTENDERS)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    known = {c.name for c in CONTENDERS} | {c.key for c in CONTENDERS}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"unknown client(s): {', '.join(sorted(unknown))}; known: {known}")
    return [c for c in CONTENDERS if c.name in ALWAYS or c.name in wanted or c.key in wanted]


def versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# --------------------------------------------------------------------------
# Reporting.


def reference(runs: dict[str, Runs], name: str, backend: str) -> Runs | None:
    """The ``name`` run on ``backend`` (or on asyncio for a sync/asyncio-only client)."""
    for key in (f"{name}/{backend}", f"{name}/asyncio"):
        found = runs.get(key)
        if found is not None and found.times and found.problem is None:
            return found
    return None


def table(runs: dict[str, Runs], messages: int, body_bytes: int) -> list[dict[str, Any]]:
    rows = []
    for key, run in runs.items():
        c = run.contender
        row: dict[str, Any] = {"client": c.name, "backend": c.backend, "label": c.label}
        if run.problem is not None or not run.times:
            row["problem"] = run.problem or "no run"
            rows.append(row)
            continue
        floor = reference(runs, "floor", c.backend)
        httpx_sse = reference(runs, "httpx-sse", c.backend)
        row.update(
            key=key,
            median_s=run.median,
            times_s=run.times,
            messages_per_s=messages / run.median,
            mb_per_s=body_bytes / run.median / 1e6,
            time_vs_floor=run.median / floor.median if floor else None,
            floor=floor.contender.key if floor else None,
            speedup_vs_httpx_sse=httpx_sse.median / run.median if httpx_sse else None,
            httpx_sse=httpx_sse.contender.key if httpx_sse else None,
            client_cpu_share=run.cpu_share,
            server_cpu_share=run.server_share,
            message_type=run.message_type,
        )
        rows.append(row)
    return rows


def as_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'client':<14} {'backend':<8} {'msgs/s':>10} {'MB/s':>8} {'median s':>9} "
        f"{'time/floor':>10} {'vs httpx-sse':>12} {'cli cpu':>8} {'srv cpu':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "problem" in row:
            print(f"{row['client']:<14} {row['backend']:<8} FAILED: {row['problem']}")
            continue
        print(
            f"{row['client']:<14} {row['backend']:<8} {row['messages_per_s']:>10,.0f} "
            f"{row['mb_per_s']:>8.1f} {row['median_s']:>9.3f} "
            f"{as_ratio(row['time_vs_floor']):>10} "
            f"{as_ratio(row['speedup_vs_httpx_sse']):>12} "
            f"{row['client_cpu_share']:>7.0%} {row['server_cpu_share']:>7.0%}"
        )
    print()
    for row in rows:
        print(f"  {row['client'] + '/' + row['backend']:<22} {row['label']}")
    print(
        "\n  time/floor: median time over the floor client's on the same backend (asyncio"
        "\n  for sync/asyncio-only clients); vs httpx-sse: httpx + httpx-sse's median time"
        "\n  over this one's, same backend. cli cpu / srv cpu: CPU time of the client"
        "\n  process / of the server process, as a share of the client's wall time."
    )


def print_server_speed(rows: list[dict[str, Any]]) -> None:
    good = [r for r in rows if "problem" not in r]
    raw = [r for r in good if r["client"] == "raw"]
    decoding = [r for r in good if r["client"] != "raw"]
    if raw and decoding:
        fastest = max(decoding, key=lambda r: r["messages_per_s"])
        server = raw[0]["messages_per_s"]
        print(
            f"\nThe server alone (raw row) delivers {server:,.0f} msgs/s"
            f" ({raw[0]['mb_per_s']:,.0f} MB/s): {server / fastest['messages_per_s']:.0f}x"
            f" the fastest decoding client ({fastest['client']}/{fastest['backend']})."
        )


NOT_RUN = "httpx-sse (not run)"


def print_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {f"{r['client']}/{r['backend']}": r for r in rows if "problem" not in r}
    checks = []
    for backend in ("asyncio", "trio"):
        ours = by_key.get(f"ours/{backend}")
        if ours is None:
            continue
        speedup = ours["speedup_vs_httpx_sse"]
        checks.append(
            {
                "what": f"ours/{backend} messages/s over {ours['httpx_sse'] or NOT_RUN}",
                "value": speedup,
                "target": f">= {TARGET_SPEEDUP:g}x",
                "met": None if speedup is None else speedup >= TARGET_SPEEDUP,
            }
        )
        ratio = ours["time_vs_floor"]
        checks.append(
            {
                "what": f"ours/{backend} time over {ours['floor'] or 'the floor (failed)'}",
                "value": ratio,
                "target": f"<= {TARGET_FLOOR_RATIO:g}x",
                "met": None if ratio is None else ratio <= TARGET_FLOOR_RATIO,
            }
        )
    ours_sync, ours_async = by_key.get("ours/sync"), by_key.get("ours/asyncio")
    if ours_sync is not None:
        speedup = ours_sync["speedup_vs_httpx_sse"]
        checks.append(
            {
                "what": f"ours/sync messages/s over {ours_sync['httpx_sse'] or NOT_RUN}",
                "value": speedup,
                "target": f">= {TARGET_SPEEDUP:g}x",
                "met": None if speedup is None else speedup >= TARGET_SPEEDUP,
            }
        )
        ratio = ours_sync["messages_per_s"] / ours_async["messages_per_s"] if ours_async else None
        checks.append(
            {
                "what": "ours/sync messages/s over ours/asyncio's",
                "value": ratio,
                "target": f">= {TARGET_SYNC_RATIO:g}x",
                "met": None if ratio is None else ratio >= TARGET_SYNC_RATIO,
            }
        )
    if checks:
        print("\nTargets (reported, not asserted):")
        for check in checks:
            met = {True: "met", False: "NOT met", None: "n/a"}[check["met"]]
            print(
                f"  {check['what']:<48} {as_ratio(check['value']):>7}"
                f"   target {check['target']:<8} {met}"
            )
    return checks


def print_profile(path: str, top: int) -> None:
    stats = pstats.Stats(path)
    stats.strip_dirs()
    for order in ("tottime", "cumulative"):
        print(f"\n--- top {top} by {order} ---")
        stats.sort_stats(order).print_stats(top)


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="End-to-end SSE streaming benchmark (server and clients in processes)."
    )
    parser.add_argument("--messages", type=int, default=100_000, help="messages per stream")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client (median)")
    parser.add_argument(
        "--only",
        help="comma-separated clients (name or name/backend); the floor always runs",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--profile",
        metavar="CLIENT",
        help="afterwards, run this client (e.g. ours/asyncio) once under cProfile",
    )
    parser.add_argument(
        "--profile-top", type=int, default=25, help="functions listed per profile order"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="per client run, seconds")
    parser.add_argument(
        "--http2",
        action="store_true",
        help="one HTTP/2 (and HTTP/1.1) stream over TLS instead: ours-h2 against httpx-sse-h2"
        " (see _e2e_tls.py)",
    )
    parser.add_argument(
        "--server",
        choices=("frames", "hypercorn"),
        default="frames",
        help="with --http2: frames, a DATA frame per event (_h2_stream_server.py), or"
        " hypercorn (which gathers events into 16 KiB frames when the client lags)",
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.repeat < 1:
        parser.error("--messages and --repeat must be >= 1")
    # A SIGTERM ends the run like Ctrl-C does: the server is killed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_fd_limit()
    if args.http2:
        from _e2e_tls import run

        return run(args)

    contenders = select(args.only)
    runs: dict[str, Runs] = {}
    skipped = []
    for contender in contenders:
        missing = contender.missing()
        if missing:
            skipped.append(f"{contender.key}: {', '.join(missing)} not installed")
        else:
            runs[contender.key] = Runs(contender)

    started = time.monotonic()
    load_before = load_average()
    print(
        f"End-to-end streaming: {args.messages:,} messages, median of {args.repeat}; "
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {load_before}"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    for note in skipped:
        print(f"  skipped {note}")
    if "launchdarkly/asyncio" in runs:
        print(
            "  launchdarkly: its async client (AsyncSSEClient, experimental in this version,"
            " aiohttp underneath) is used"
        )

    t0 = time.monotonic()
    with ServerProcess("stream", args.messages) as server:
        print(
            f"  server: pid {server.process.pid}, port {server.port}, "
            f"{server.blocks:,} chunks ({args.messages:,} events + comments), "
            f"{server.body_bytes / 1e6:.1f} MB body, built in {time.monotonic() - t0:.1f} s\n"
        )
        for round_ in range(args.repeat):
            for key, run in runs.items():
                if run.problem is not None:
                    continue
                result, server_cpu = run_client(run.contender, server, args.messages, args.timeout)
                if not result.get("ok"):
                    run.problem = str(result.get("problem"))
                    print(f"  [{round_ + 1}/{args.repeat}] {key}: FAILED: {run.problem}")
                    continue
                run.times.append(result["elapsed_s"])
                run.cpu.append(result["cpu_s"])
                run.server_cpu.append(server_cpu)
                run.message_type = result.get("message_type")
                print(
                    f"  [{round_ + 1}/{args.repeat}] {key:<22} {result['elapsed_s']:8.3f} s"
                    f"  {args.messages / result['elapsed_s']:>10,.0f} msgs/s",
                    flush=True,
                )
        print()
        rows = table(runs, args.messages, server.body_bytes)
        print_table(rows)
        print_server_speed(rows)
        checks = print_targets(rows)
        shares = [r for r in rows if "problem" not in r and r["client"] != "raw"]
        busy = [r for r in shares if r["client_cpu_share"] < CPU_SHARE_WARNING]
        load_after = load_average()
        print(f"\nLoad average before {load_before}, after {load_after}.")
        if busy:
            names = ", ".join(f"{r['client']}/{r['backend']}" for r in busy)
            print(
                f"Note: {names} used less than {CPU_SHARE_WARNING:.0%} of a CPU while running:"
                " they waited on something (other jobs on the machine?)."
            )

        profile_path = None
        if args.profile:
            wanted = [c for c in CONTENDERS if c.key == args.profile]
            if not wanted:
                raise SystemExit(f"unknown --profile client {args.profile!r} (name/backend)")
            with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as handle:
                profile_path = handle.name
            print(f"\nProfiling {args.profile} (one run under cProfile, slower than above):")
            result, _ = run_client(wanted[0], server, args.messages, args.timeout, profile_path)
            if result.get("ok"):
                print(f"  {result['elapsed_s']:.3f} s under the profiler")
                print_profile(profile_path, args.profile_top)
            else:
                print(f"  FAILED: {result.get('problem')}")
            os.unlink(profile_path)

    failed = [r for r in rows if "problem" in r]
    elapsed = time.monotonic() - started
    print(f"\nTotal run time {elapsed:.0f} s.")
    if args.json:
        document = {
            "benchmark": "e2e-stream",
            "messages": args.messages,
            "repeat": args.repeat,
            "body_bytes": server.body_bytes,
            "chunks": server.blocks,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "versions": versions(),
            "skipped": skipped,
            "results": rows,
            "targets": checks,
            "run_time_s": elapsed,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"Results written to {args.json}")
    if failed:
        print(f"{len(failed)} client(s) got wrong or missing messages (or failed).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
