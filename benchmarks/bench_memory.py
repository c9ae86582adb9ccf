"""Memory of idle streams: resident memory per open, silent SSE connection.

Run from the repository root::

    python benchmarks/bench_memory.py [--streams 1000] [--repeat 1]
        [--only NAME[,NAME...]] [--json PATH] [--tracemalloc NAME] [--diagnose]
        [--tls | --http2 [--max-streams 100]]

A server process (``_e2e_server.py --mode idle``) on 127.0.0.1 answers every
stream request with its headers and one ``retry: 1000`` chunk (no event),
then stays silent. For every contender, a fresh client process
(``_e2e_clients.py idle``) opens one stream and closes it (so lazy imports
and first-use caches are paid), reads its resident memory (VmRSS), opens
``--streams`` concurrent streams that each wait for an event that never
comes, waits until the server has answered all of them (it polls the
server's ``/_stats``) and a second more, and reads VmRSS again. The
difference, divided by the number of streams, is the memory one idle
stream costs.

Contenders: ours on asyncio and on trio (one ``Client``,
``client.open_message_stream`` per stream); ours with
``open_message_stream`` per stream (a private client and connection pool
each); httpx + httpx-sse on asyncio and trio (one ``httpx.AsyncClient`` without
a connection limit, ``aconnect_sse`` per stream); raw httpcore streaming
(one ``AsyncConnectionPool``, ``pool.stream`` per stream) and a floor (an
anyio socket per stream, the request written by hand, one task, no HTTP
library: the least an idle stream can cost in Python) for reference.

With ``--tls`` or ``--http2`` the server is hypercorn over TLS instead and
the contenders are the TLS and HTTP/2 ones of ``_memory_tls.py``.

``--diagnose`` says where each contender's memory went (medians, per
stream, with every stream open against the baseline): the process's
threads; pymalloc's arenas, the bytes its live blocks hold, and the bytes
it keeps free (free blocks in pools still in use, and emptied pools, which
stay resident in their arena): the high-water mark of a connect burst
shows up there; glibc's heap and the free memory it keeps (``mallinfo2``);
anonymous memory (``/proc/self/smaps_rollup``); KiB per stream again after
``malloc_trim(0)``; and, from one more run under tracemalloc, the traced
heap and its peak during the burst.

Exit status 0 whatever the numbers are, 1 if a contender failed to hold
its streams open.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _e2e_server import ServerProcess, raise_fd_limit

CLIENT_SCRIPT = Path(__file__).resolve().parent / "_e2e_clients.py"
TARGET_RATIO = 0.65  # ours' KiB per idle stream over httpx + httpx-sse's, at most


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
    Contender("ours", "asyncio", "one Client, client.open_message_stream each"),
    Contender("ours", "trio", "one Client, client.open_message_stream each", ("trio",)),
    Contender("ours-private", "asyncio", "open_message_stream each (own client and pool)"),
    Contender("httpx-sse", "asyncio", "one httpx.AsyncClient, aconnect_sse each", ("httpx_sse",)),
    Contender(
        "httpx-sse", "trio", "one httpx.AsyncClient, aconnect_sse each", ("httpx_sse", "trio")
    ),
    Contender("httpcore", "asyncio", "one httpcore pool, pool.stream each (reference)"),
    Contender("floor", "asyncio", "anyio socket each, request by hand (reference)"),
    Contender("floor", "trio", "anyio socket each, request by hand (reference)", ("trio",)),
)
VERSIONED = ("expys-stream", "anyio", "trio", "httpcore", "h11", "httpx", "httpx-sse")


@dataclass
class Runs:
    contender: Contender
    results: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.results)


def run_client(
    contender: Contender,
    server: ServerProcess,
    streams: int,
    settle: float,
    timeout: float,
    tracemalloc: bool = False,
    script: Path = CLIENT_SCRIPT,
    extra: Sequence[str] = (),
    drain_timeout: float = 30.0,
    diagnose: bool = False,
) -> dict[str, Any]:
    """Run one idle client process (``script``, with ``extra`` arguments); its JSON result."""
    if not server.wait_for("idle", 0, drain_timeout):
        return {"ok": False, "problem": "the previous client's streams are still open"}
    command = [
        sys.executable,
        str(script),
        "idle",
        contender.name,
        "--backend",
        contender.backend,
        "--port",
        str(server.port),
        "--streams",
        str(streams),
        "--settle",
        str(settle),
        "--timeout",
        str(timeout),
    ]
    command += extra
    if tracemalloc:
        command.append("--tracemalloc")
    if diagnose:
        command.append("--diagnose")
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout + 30
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "problem": f"no answer within {timeout + 30:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr or done.stdout).strip()[-800:]
        result = {"ok": False, "problem": f"exit {done.returncode}, no result: {tail}"}
    if not result.get("ok") and done.stderr:
        print(done.stderr.strip()[-2000:], file=sys.stderr)
    return result


def select(only: str | None) -> list[Contender]:
    if not only:
        return list(CONTENDERS)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    known = {c.name for c in CONTENDERS} | {c.key for c in CONTENDERS}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"unknown contender(s): {', '.join(sorted(unknown))}; known: {known}")
    return [c for c in CONTENDERS if c.name in wanted or c.key in wanted]


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


def _reference(runs: dict[str, Runs], name: str, backend: str) -> Runs | None:
    for key in (f"{name}/{backend}", f"{name}/asyncio"):
        ref = runs.get(key)
        if ref is not None and ref.results and ref.problem is None:
            return ref
    return None


def table(runs: dict[str, Runs]) -> list[dict[str, Any]]:
    rows = []
    for key, run in runs.items():
        c = run.contender
        row: dict[str, Any] = {"client": c.name, "backend": c.backend, "label": c.label}
        if run.problem is not None or not run.results:
            row["problem"] = run.problem or "no run"
            rows.append(row)
            continue
        reference = _reference(runs, "httpx-sse", c.backend)
        floor = _reference(runs, "floor", c.backend)
        per_stream = run.median("kib_per_stream")
        row.update(
            key=key,
            streams=run.results[0]["streams"],
            kib_per_stream=per_stream,
            kib_per_stream_runs=[r["kib_per_stream"] for r in run.results],
            rss_before_mib=run.median("rss_before_kib") / 1024,
            rss_after_mib=run.median("rss_after_kib") / 1024,
            drift_kib=max(abs(r["drift_kib"]) for r in run.results),
            open_s=run.median("open_s"),
            vs_httpx_sse=(
                per_stream / reference.median("kib_per_stream") if reference is not None else None
            ),
            httpx_sse=reference.contender.key if reference is not None else None,
            vs_floor=per_stream / floor.median("kib_per_stream") if floor is not None else None,
            floor=floor.contender.key if floor is not None else None,
        )
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'client':<14} {'backend':<8} {'streams':>7} {'RSS before':>11} {'RSS after':>10} "
        f"{'KiB/stream':>10} {'vs httpx-sse':>12} {'vs floor':>8} {'open s':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "problem" in row:
            print(f"{row['client']:<14} {row['backend']:<8} FAILED: {row['problem']}")
            continue
        ratio = "-" if row["vs_httpx_sse"] is None else f"{row['vs_httpx_sse']:.2f}x"
        to_floor = "-" if row["vs_floor"] is None else f"{row['vs_floor']:.2f}x"
        print(
            f"{row['client']:<14} {row['backend']:<8} {row['streams']:>7} "
            f"{row['rss_before_mib']:>7.1f} MiB {row['rss_after_mib']:>6.1f} MiB "
            f"{row['kib_per_stream']:>10.1f} {ratio:>12} {to_floor:>8} {row['open_s']:>7.2f}"
        )
    print()
    for row in rows:
        print(f"  {row['client'] + '/' + row['backend']:<22} {row['label']}")
    print(
        "\n  KiB/stream: (RSS with all streams open - RSS before) / streams. vs httpx-sse and"
        "\n  vs floor: over httpx + httpx-sse's / the floor's KiB/stream on the same backend."
        "\n  open s: time until the server had answered every stream."
    )


def print_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    for row in rows:
        if row["client"] != "ours" or "problem" in row:
            continue
        ratio = row["vs_httpx_sse"]
        reference = row["httpx_sse"] or "httpx-sse (not run)"
        limit = None if ratio is None else row["kib_per_stream"] / ratio * TARGET_RATIO
        checks.append(
            {
                "what": f"ours/{row['backend']} KiB per idle stream over {reference}",
                "value": ratio,
                "target": f"<= {TARGET_RATIO:g}x",
                "met": None if ratio is None else ratio <= TARGET_RATIO,
                "kib_per_stream": row["kib_per_stream"],
                "target_kib_per_stream": limit,
            }
        )
    if checks:
        print("\nTargets (reported, not asserted):")
        for check in checks:
            met = {True: "met", False: "NOT met", None: "n/a"}[check["met"]]
            value = "-" if check["value"] is None else f"{check['value']:.2f}x"
            print(f"  {check['what']:<58} {value:>6}   target {check['target']:<8} {met}")
            if check["target_kib_per_stream"] is not None:
                print(
                    f"    ({check['kib_per_stream']:.1f} KiB per stream;"
                    f" the target is {check['target_kib_per_stream']:.1f} KiB or less)"
                )
    return checks


# --diagnose: (label, key in the client's figures, divisor to KiB per stream or None)
DIAGNOSIS = (
    ("threads (after)", "threads", None),
    ("pymalloc arenas (+)", "arenas", None),
    ("pymalloc live blocks", "bytes_in_use", 1024),
    ("pymalloc free in used pools", "bytes_free_in_pools", 1024),
    ("pymalloc emptied pools", "bytes_in_unused_pools", 1024),
    ("glibc heap (brk + arenas)", "heap_kib", 1),
    ("glibc free, kept", "free_kib", 1),
    ("anonymous (smaps_rollup)", "anonymous_kib", 1),
)


def diagnosis_row(results: list[dict[str, Any]]) -> dict[str, float]:
    """The medians of a contender's --diagnose figures: KiB per stream, or counts."""
    row: dict[str, float] = {}
    for label, key, divisor in DIAGNOSIS:
        values = []
        for result in results:
            before, after = result.get("diagnose_before"), result.get("diagnose_after")
            if not before or not after or key not in after:
                continue
            if key == "threads":
                values.append(after[key])
            elif divisor is None:
                values.append(after[key] - before.get(key, 0))
            else:
                values.append((after[key] - before.get(key, 0)) / divisor / result["streams"])
        if values:
            row[label] = statistics.median(values)
    trimmed = [
        (r["diagnose_after"]["vmrss_after_trim_kib"] - r["rss_before_kib"]) / r["streams"]
        for r in results
        if "vmrss_after_trim_kib" in r.get("diagnose_after", {})
    ]
    if trimmed:
        row["KiB/stream after malloc_trim"] = statistics.median(trimmed)
    return row


def print_diagnosis(rows: dict[str, dict[str, float]]) -> None:
    keys = list(rows)
    labels = [label for label, _, _ in DIAGNOSIS] + [
        "KiB/stream after malloc_trim",
        "traced heap (tracemalloc)",
        "traced peak during the burst",
    ]
    width = max(12, *(len(k) for k in keys))
    print("\nWhere the memory is (--diagnose; medians; KiB per stream unless a count):")
    print(f"  {'':<30}" + "".join(f" {k:>{width}}" for k in keys))
    for label in labels:
        if not any(label in rows[k] for k in keys):
            continue
        cells = []
        for key in keys:
            value = rows[key].get(label)
            cells.append(f" {'-' if value is None else f'{value:.1f}':>{width}}")
        print(f"  {label:<30}" + "".join(cells))
    print(
        "  (pymalloc's free figures are memory it touched during the burst and keeps:"
        "\n  its high-water mark. The traced peak is the Python heap's, once all streams"
        "\n  were started, from one extra run under tracemalloc.)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Memory per idle SSE stream, in processes.")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent idle streams")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (median)")
    parser.add_argument("--only", help="comma-separated contenders (name or name/backend)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds to wait once all streams are answered"
    )
    parser.add_argument(
        "--tracemalloc",
        metavar="CLIENT",
        help="afterwards, run this contender (e.g. ours/asyncio) once more under tracemalloc"
        " and print its top allocation sites",
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="report where each contender's memory goes: threads, pymalloc's arenas and free"
        " pools, glibc's free memory, anonymous memory, RSS after malloc_trim, and (one more"
        " run each, under tracemalloc) the traced heap and its peak",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="per client run, seconds")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="HTTP/1.1 over TLS against hypercorn: ours, httpx-sse, a floor (_memory_tls.py)",
    )
    parser.add_argument(
        "--http2",
        action="store_true",
        help="HTTP/2 over TLS against hypercorn, with the --tls contenders as references",
    )
    parser.add_argument(
        "--max-streams",
        type=int,
        default=100,
        help="with --tls/--http2: hypercorn's concurrent streams per HTTP/2 connection",
    )
    args = parser.parse_args(argv)
    if args.streams < 1 or args.repeat < 1 or args.max_streams < 1:
        parser.error("--streams, --repeat and --max-streams must be >= 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_fd_limit()
    if args.tls or args.http2:
        from _memory_tls import run

        return run(args)

    runs: dict[str, Runs] = {}
    skipped = []
    for contender in select(args.only):
        missing = contender.missing()
        if missing:
            skipped.append(f"{contender.key}: {', '.join(missing)} not installed")
        else:
            runs[contender.key] = Runs(contender)

    started = time.monotonic()
    load_before = load_average()
    print(
        f"Idle streams: {args.streams:,} concurrent per contender, median of {args.repeat}; "
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {load_before}"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    for note in skipped:
        print(f"  skipped {note}")

    with ServerProcess("idle") as server:
        print(f"  server: pid {server.process.pid}, port {server.port}\n")
        for round_ in range(args.repeat):
            for key, run in runs.items():
                if run.problem is not None:
                    continue
                result = run_client(
                    run.contender,
                    server,
                    args.streams,
                    args.settle,
                    args.timeout,
                    diagnose=args.diagnose,
                )
                if not result.get("ok"):
                    run.problem = str(result.get("problem"))
                    print(f"  [{round_ + 1}/{args.repeat}] {key}: FAILED: {run.problem}")
                    continue
                run.results.append(result)
                print(
                    f"  [{round_ + 1}/{args.repeat}] {key:<22} "
                    f"{result['kib_per_stream']:6.1f} KiB/stream "
                    f"(RSS {result['rss_before_kib'] / 1024:.1f} -> "
                    f"{result['rss_after_kib'] / 1024:.1f} MiB, "
                    f"opened in {result['open_s']:.2f} s)",
                    flush=True,
                )
        print()
        rows = table(runs)
        print_table(rows)
        checks = print_targets(rows)
        load_after = load_average()
        print(f"\nLoad average before {load_before}, after {load_after}.")
        drifting = [
            r
            for r in rows
            if "problem" not in r
            and r["drift_kib"] > 0.02 * 1024 * (r["rss_after_mib"] - r["rss_before_mib"])
        ]
        for row in drifting:
            print(
                f"Note: {row['client']}/{row['backend']}'s RSS still moved by"
                f" {row['drift_kib']:,} KiB half a second after the settle time:"
                " try a longer --settle."
            )

        diagnosis: dict[str, dict[str, float]] = {}
        if args.diagnose:
            for key, run in runs.items():
                if run.problem is not None or not run.results:
                    continue
                diagnosis[key] = diagnosis_row(run.results)
                traced = run_client(
                    run.contender, server, args.streams, args.settle, args.timeout, True
                )
                if traced.get("ok"):
                    streams = traced["streams"]
                    diagnosis[key]["traced heap (tracemalloc)"] = traced["traced_kib"] / streams
                    diagnosis[key]["traced peak during the burst"] = (
                        traced["traced_peak_kib"] / streams
                    )
            print_diagnosis(diagnosis)

        if args.tracemalloc:
            wanted = [c for c in CONTENDERS if c.key == args.tracemalloc]
            if not wanted:
                raise SystemExit(f"unknown --tracemalloc contender {args.tracemalloc!r}")
            print(f"\nAllocation sites of {args.tracemalloc} (one more run, under tracemalloc):")
            result = run_client(
                wanted[0], server, args.streams, args.settle, args.timeout, tracemalloc=True
            )
            if result.get("ok"):
                for line in result.get("tracemalloc", []):
                    print(f"  {line}")
            else:
                print(f"  FAILED: {result.get('problem')}")

    failed = [r for r in rows if "problem" in r]
    elapsed = time.monotonic() - started
    print(f"\nTotal run time {elapsed:.0f} s.")
    if args.json:
        document = {
            "benchmark": "idle-memory",
            "streams": args.streams,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "versions": versions(),
            "skipped": skipped,
            "results": rows,
            "targets": checks,
            "diagnosis": diagnosis,
            "run_time_s": elapsed,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"Results written to {args.json}")
    if failed:
        print(f"{len(failed)} contender(s) failed.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
