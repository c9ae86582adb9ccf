"""``bench_e2e.py --http2``: one stream over TLS, HTTP/2 against HTTP/1.1, in processes.

The server (``_tls_server.py --mode stream``) holds the corpus of
``bench_e2e.py`` (100,000 messages by default, a keepalive comment after every
50th): by default ``_h2_stream_server.py``, which sends each event and comment
in its own HTTP/2 DATA frame (a server that flushes once per event) or, over
HTTP/1.1, its own chunk; with ``--server hypercorn``, hypercorn, which gathers
events into frames of up to 16 KiB whenever the client reads more slowly than
the app writes. Each client runs in a fresh process (``_tls_clients.py
stream``), receives every message, decodes it fully, and is checked (count,
first and last id) as in ``bench_e2e.py``. Reported, never asserted: messages/s
and MB/s, the client's CPU seconds per 100 MB, ours-h2 over httpx-sse-h2
(target >= 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_e2e import Contender, Runs, load_average, print_profile, run_client, versions

HERE = Path(__file__).resolve().parent
TLS_CLIENT_SCRIPT = HERE / "_tls_clients.py"
TARGET_SPEEDUP = 2.0  # ours-h2 messages/s over httpx-sse-h2's, each backend
CPU_SHARE_WARNING = 0.9

LABELS = {
    "raw-h2": ("h2min counting DATA bytes, nothing decoded (the h2 ceiling)", ("h2",)),
    "floor-h2": ("h2min, split on blank lines, bytes.find, msgspec", ("h2",)),
    "ours-h2": ("Client(http2=True).open_message_stream", ("h2",)),
    "httpx-sse-h2": ("httpx AsyncClient(http2=True) + httpx-sse, json.loads", ("httpx_sse", "h2")),
    "ours-h1-tls": ("Client(ssl_context=...).open_message_stream, HTTP/1.1", ()),
    "httpx-sse-h1-tls": ("httpx AsyncClient + httpx-sse, HTTP/1.1, json.loads", ("httpx_sse",)),
}
CONTENDERS = tuple(
    Contender(name, backend, label, requires + (("trio",) * (backend == "trio")))
    for name, (label, requires) in LABELS.items()
    for backend in ("asyncio", "trio")
)
ALWAYS = ("floor-h2",)  # the time ratios are to it
REFERENCE = {"ours-h2": "httpx-sse-h2", "ours-h1-tls": "httpx-sse-h1-tls"}


def select(only: str | None) -> list[Contender]:
    if not only:
        return list(CONTENDERS)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    known = {c.name for c in CONTENDERS} | {c.key for c in CONTENDERS}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"unknown client(s): {', '.join(sorted(unknown))}; known: {known}")
    return [c for c in CONTENDERS if c.name in ALWAYS or c.name in wanted or c.key in wanted]


def _good(runs: dict[str, Runs], key: str) -> Runs | None:
    run = runs.get(key)
    return run if run is not None and run.times and run.problem is None else None


def table(runs: dict[str, Runs], messages: int, body_bytes: int) -> list[dict[str, Any]]:
    rows = []
    for key, run in runs.items():
        c = run.contender
        row: dict[str, Any] = {"client": c.name, "backend": c.backend, "label": c.label}
        if _good(runs, key) is None:
            row["problem"] = run.problem or "no run"
            rows.append(row)
            continue
        floor = _good(runs, f"floor-h2/{c.backend}")
        ref_name = REFERENCE.get(c.name, "httpx-sse-h2" if "h2" in c.name else "httpx-sse-h1-tls")
        ref = _good(runs, f"{ref_name}/{c.backend}")
        cpu = statistics.median(run.cpu)
        row.update(
            key=key,
            median_s=run.median,
            times_s=run.times,
            messages_per_s=messages / run.median,
            mb_per_s=body_bytes / run.median / 1e6,
            client_cpu_s=cpu,
            client_cpu_s_per_100mb=cpu / body_bytes * 1e8,
            time_vs_floor=run.median / floor.median if floor else None,
            reference=ref.contender.key if ref else None,
            speedup_vs_reference=ref.median / run.median if ref else None,
            cpu_vs_reference=statistics.median(ref.cpu) / cpu if ref else None,
            client_cpu_share=run.cpu_share,
            server_cpu_share=run.server_share,
        )
        rows.append(row)
    return rows


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'client':<17} {'backend':<8} {'msgs/s':>9} {'MB/s':>6} {'median s':>8} "
        f"{'/floor-h2':>9} {'vs httpx':>8} {'CPU s/100MB':>11} {'cli cpu':>7} {'srv cpu':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "problem" in row:
            print(f"{row['client']:<17} {row['backend']:<8} FAILED: {row['problem']}")
            continue
        print(
            f"{row['client']:<17} {row['backend']:<8} {row['messages_per_s']:>9,.0f} "
            f"{row['mb_per_s']:>6.1f} {row['median_s']:>8.3f} {_x(row['time_vs_floor']):>9} "
            f"{_x(row['speedup_vs_reference']):>8} {row['client_cpu_s_per_100mb']:>11.2f} "
            f"{row['client_cpu_share']:>6.0%} {row['server_cpu_share']:>6.0%}"
        )
    print()
    for row in rows:
        print(f"  {row['client'] + '/' + row['backend']:<26} {row['label']}")
    print(
        "\n  /floor-h2: median time over floor-h2's, same backend. vs httpx: the httpx-sse"
        "\n  row of the same protocol (h2 or h1-tls), its median time over this one's."
        "\n  CPU s/100MB: the client process's CPU seconds per 100 MB of body. cli cpu /"
        "\n  srv cpu: CPU time of the client / the server process over the client's wall time."
    )


def print_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {f"{r['client']}/{r['backend']}": r for r in rows if "problem" not in r}
    checks = []
    for backend in ("asyncio", "trio"):
        ours = by_key.get(f"ours-h2/{backend}")
        speedup = None if ours is None else ours["speedup_vs_reference"]
        cpu = None if ours is None else ours["cpu_vs_reference"]
        checks.append(
            {
                "what": f"ours-h2/{backend} messages/s over httpx-sse-h2/{backend}",
                "value": speedup,
                "target": f">= {TARGET_SPEEDUP:g}x",
                "met": None if speedup is None else speedup >= TARGET_SPEEDUP,
            }
        )
        checks.append(
            {
                "what": f"httpx-sse-h2/{backend} client CPU over ours-h2/{backend}'s",
                "value": cpu,
                "target": "(none)",
                "met": None,
            }
        )
    print("\nTargets (reported, not asserted):")
    for check in checks:
        met = {True: "met", False: "NOT met", None: "n/a"}[check["met"]]
        if check["target"] == "(none)":
            met = "" if check["value"] is not None else "n/a"
        print(f"  {check['what']:<52} {_x(check['value']):>7}   target {check['target']:<7} {met}")
    if not any(k.startswith("ours-h2/") for k in by_key):
        print("  (ours-h2 did not run: n/a above)")
    return checks


def run(args: argparse.Namespace) -> int:
    """The ``--http2`` variant of ``bench_e2e.main``, from its parsed arguments."""
    from _tls_clients import has_http2_option
    from _tls_server import TLSServerProcess

    runs: dict[str, Runs] = {}
    skipped = []
    for contender in select(args.only):
        missing = contender.missing()
        if missing:
            skipped.append(f"{contender.key}: {', '.join(missing)} not installed")
        elif contender.name == "ours-h2" and not has_http2_option():
            skipped.append(f"{contender.key}: this checkout's Client has no http2= option")
        else:
            runs[contender.key] = Runs(contender)

    started = time.monotonic()
    load_before = load_average()
    print(
        f"End-to-end streaming over TLS (HTTP/2 and HTTP/1.1): {args.messages:,} messages, "
        f"median of {args.repeat}; Python {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} CPUs; load average {load_before}"
    )
    found = versions()
    found.update(_more_versions())
    print("  " + ", ".join(f"{k} {v}" for k, v in found.items()))
    for note in skipped:
        print(f"  skipped {note}")
    t0 = time.monotonic()
    with TLSServerProcess("stream", args.messages, server=args.server) as server:
        shape = (
            "one DATA frame (or HTTP/1.1 chunk) per event"
            if args.server == "frames"
            else "hypercorn: an app send per event, frames of up to 16 KiB"
        )
        print(
            f"  server: {args.server} ({shape}), pid {server.process.pid}, port {server.port},"
            f" {server.blocks:,} events + comments, {server.body_bytes / 1e6:.1f} MB body,"
            f" ready in {time.monotonic() - t0:.1f} s\n"
        )
        extra = ["--stats-port", str(server.stats_port), "--certs", server.certs]
        for round_ in range(args.repeat):
            for key, entry in runs.items():
                if entry.problem is not None:
                    continue
                result, server_cpu = run_client(
                    entry.contender,
                    server,  # type: ignore[arg-type]
                    args.messages,
                    args.timeout,
                    script=TLS_CLIENT_SCRIPT,
                    extra=extra,
                )
                if not result.get("ok"):
                    entry.problem = str(result.get("problem"))
                    print(f"  [{round_ + 1}/{args.repeat}] {key}: FAILED: {entry.problem}")
                    continue
                entry.times.append(result["elapsed_s"])
                entry.cpu.append(result["cpu_s"])
                entry.server_cpu.append(server_cpu)
                print(
                    f"  [{round_ + 1}/{args.repeat}] {key:<26} {result['elapsed_s']:8.3f} s"
                    f"  {args.messages / result['elapsed_s']:>10,.0f} msgs/s",
                    flush=True,
                )
        print()
        rows = table(runs, args.messages, server.body_bytes)
        print_table(rows)
        checks = print_targets(rows)
        busy = [r for r in rows if "problem" not in r and r["client_cpu_share"] < CPU_SHARE_WARNING]
        load_after = load_average()
        print(f"\nLoad average before {load_before}, after {load_after}.")
        if busy:
            names = ", ".join(f"{r['client']}/{r['backend']}" for r in busy)
            print(
                f"Note: {names} used less than {CPU_SHARE_WARNING:.0%} of a CPU while running:"
                " they waited on something (the server, or other jobs on the machine)."
            )
        if args.profile:
            profile(args, server, extra)
        body_bytes, blocks = server.body_bytes, server.blocks

    elapsed = time.monotonic() - started
    print(f"\nTotal run time {elapsed:.0f} s.")
    if args.json:
        document = {
            "benchmark": "e2e-stream-http2",
            "server": args.server,
            "messages": args.messages,
            "repeat": args.repeat,
            "body_bytes": body_bytes,
            "events_and_comments": blocks,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "versions": found,
            "skipped": skipped,
            "results": rows,
            "targets": checks,
            "run_time_s": elapsed,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"Results written to {args.json}")
    failed = [r for r in rows if "problem" in r]
    if failed:
        print(f"{len(failed)} client(s) got wrong or missing messages (or failed).")
        return 1
    return 0


def profile(args: argparse.Namespace, server: Any, extra: list[str]) -> None:
    wanted = [c for c in CONTENDERS if c.key == args.profile]
    if not wanted:
        raise SystemExit(f"unknown --profile client {args.profile!r} (name/backend)")
    with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as handle:
        path = handle.name
    print(f"\nProfiling {args.profile} (one run under cProfile, slower than above):")
    result, _ = run_client(
        wanted[0],
        server,
        args.messages,
        args.timeout,
        path,
        script=TLS_CLIENT_SCRIPT,
        extra=extra,
    )
    if result.get("ok"):
        print(f"  {result['elapsed_s']:.3f} s under the profiler")
        print_profile(path, args.profile_top)
    else:
        print(f"  FAILED: {result.get('problem')}")
    os.unlink(path)


def _more_versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("h2", "hypercorn"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
