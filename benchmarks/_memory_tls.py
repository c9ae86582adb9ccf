"""``bench_memory.py --tls`` and ``--http2``: memory per idle stream over TLS and HTTP/2.

The server is hypercorn in its own process (``_tls_server.py --mode idle``):
every stream gets its headers and one ``retry: 1000`` chunk, then silence.
hypercorn allows ``--max-streams`` concurrent streams per HTTP/2 connection
(100 by default, as hypercorn does). Each contender runs in a fresh process
(``_tls_clients.py idle``) and is measured the way ``bench_memory.py``
measures the cleartext contenders: one stream opened and closed first, VmRSS
read, ``--streams`` concurrent streams opened (a consumer task each), VmRSS
read again once the server has sent every stream its first payload and
``--settle`` seconds have passed. ``--tls`` runs the HTTP/1.1-over-TLS
contenders; ``--http2`` runs the HTTP/2 ones and those (their references).
Targets are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench_memory import Contender, Runs, load_average, run_client, versions

HERE = Path(__file__).resolve().parent
TLS_CLIENT_SCRIPT = HERE / "_tls_clients.py"

H2 = ("ours-h2", "httpx-sse-h2", "floor-h2")
H1_TLS = ("ours-h1-tls", "httpx-sse-h1-tls", "floor-tls")
LABELS = {
    "ours-h2": ("one Client(http2=True), client.open_message_stream each", ("h2",)),
    "ours-h1-tls": ("one Client(ssl_context=...), HTTP/1.1 over TLS", ()),
    "httpx-sse-h2": (
        "httpx AsyncClient(http2=True) per 100 streams, aconnect_sse",
        ("httpx_sse", "h2"),
    ),
    "httpx-sse-h1-tls": (
        "one httpx.AsyncClient, HTTP/1.1 over TLS, aconnect_sse",
        ("httpx_sse",),
    ),
    "floor-tls": ("anyio TLS socket each, request by hand (reference)", ()),
    "floor-h2": ("h2min: h2 + anyio, one reader per connection (reference)", ("h2",)),
}
CONTENDERS = tuple(
    Contender(name, backend, LABELS[name][0], LABELS[name][1] + (("trio",) * (backend == "trio")))
    for name in H2 + H1_TLS
    for backend in ("asyncio", "trio")
)

TARGET_VS_H1_TLS = 0.3  # ours-h2 KiB per stream over httpx-sse-h1-tls's, at most
TARGET_VS_HTTPX_H2 = 0.8  # ours-h2 KiB per stream over httpx-sse-h2's, at most
BUDGET_KIB = 12.0  # docs/http2-design.md section 6: per idle HTTP/2 stream
TARGET_OPEN_S = 1.0  # 1,000 streams connected (first payload sent), at most
HTTPX_NOTE = (
    "httpx-sse-h2: one httpx.AsyncClient per 100 streams, because httpcore opens one HTTP/2"
    "\n  connection per origin and client and never a second one (a client's 101st stream"
    "\n  waits forever); its warm-up stream uses a client of its own."
)


def has_http2_option() -> bool:
    from _tls_clients import has_http2_option as check

    return check()


def select(only: str | None, http2: bool) -> list[Contender]:
    names = H2 + H1_TLS if http2 else H1_TLS
    chosen = [c for c in CONTENDERS if c.name in names]
    if not only:
        return chosen
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    known = {c.name for c in chosen} | {c.key for c in chosen}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"unknown contender(s): {', '.join(sorted(unknown))}; known: {known}")
    return [c for c in chosen if c.name in wanted or c.key in wanted]


def _ratio(runs: dict[str, Runs], key: str, ref: str) -> float | None:
    run, other = runs.get(key), runs.get(ref)
    if run is None or other is None or not run.results or not other.results:
        return None
    if run.problem is not None or other.problem is not None:
        return None
    return run.median("kib_per_stream") / other.median("kib_per_stream")


def table(runs: dict[str, Runs]) -> list[dict[str, Any]]:
    rows = []
    for key, run in runs.items():
        c = run.contender
        row: dict[str, Any] = {"client": c.name, "backend": c.backend, "label": c.label}
        if run.problem is not None or not run.results:
            row["problem"] = run.problem or "no run"
            rows.append(row)
            continue
        row.update(
            key=key,
            streams=run.results[0]["streams"],
            kib_per_stream=run.median("kib_per_stream"),
            kib_per_stream_runs=[r["kib_per_stream"] for r in run.results],
            rss_before_mib=run.median("rss_before_kib") / 1024,
            rss_after_mib=run.median("rss_after_kib") / 1024,
            drift_kib=max(abs(r["drift_kib"]) for r in run.results),
            open_s=run.median("open_s"),
            vs_httpx_sse_h1_tls=_ratio(runs, key, f"httpx-sse-h1-tls/{c.backend}"),
            vs_httpx_sse_h2=_ratio(runs, key, f"httpx-sse-h2/{c.backend}"),
        )
        rows.append(row)
    return rows


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(rows: list[dict[str, Any]], max_streams: int) -> None:
    header = (
        f"{'client':<17} {'backend':<8} {'streams':>7} {'RSS before':>11} {'RSS after':>10} "
        f"{'KiB/stream':>10} {'/h1-tls':>8} {'/httpx-h2':>9} {'open s':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "problem" in row:
            print(f"{row['client']:<17} {row['backend']:<8} FAILED: {row['problem']}")
            continue
        print(
            f"{row['client']:<17} {row['backend']:<8} {row['streams']:>7} "
            f"{row['rss_before_mib']:>7.1f} MiB {row['rss_after_mib']:>6.1f} MiB "
            f"{row['kib_per_stream']:>10.1f} {_x(row['vs_httpx_sse_h1_tls']):>8} "
            f"{_x(row['vs_httpx_sse_h2']):>9} {row['open_s']:>7.2f}"
        )
    print()
    for row in rows:
        print(f"  {row['client'] + '/' + row['backend']:<26} {row['label']}")
    print(
        "\n  KiB/stream: (RSS with all streams open - RSS before) / streams. /h1-tls and"
        "\n  /httpx-h2: over httpx-sse-h1-tls's and httpx-sse-h2's KiB/stream, same backend."
        "\n  open s: from the first open until the server had sent every stream its first"
        f"\n  payload. hypercorn allows {max_streams} streams per HTTP/2 connection."
    )
    if any(r["client"] == "httpx-sse-h2" for r in rows):
        print(f"  {HTTPX_NOTE}")


def _check(what: str, value: float | None, target: str, met: bool | None) -> dict[str, Any]:
    return {"what": what, "value": value, "target": target, "met": met}


def print_targets(rows: list[dict[str, Any]], streams: int) -> list[dict[str, Any]]:
    by_key = {f"{r['client']}/{r['backend']}": r for r in rows if "problem" not in r}
    checks = []
    for backend in ("asyncio", "trio"):
        ours = by_key.get(f"ours-h2/{backend}")
        h1 = by_key.get(f"httpx-sse-h1-tls/{backend}")
        hx = by_key.get(f"httpx-sse-h2/{backend}")
        kib = None if ours is None else ours["kib_per_stream"]
        for ref, limit, name in ((h1, TARGET_VS_H1_TLS, "h1-tls"), (hx, TARGET_VS_HTTPX_H2, "h2")):
            value = None if ours is None or ref is None else kib / ref["kib_per_stream"]
            check = _check(
                f"ours-h2/{backend} KiB/stream over httpx-sse-{name}/{backend}",
                value,
                f"<= {limit:g}x",
                None if value is None else value <= limit,
            )
            if ref is not None:
                check["target_kib_per_stream"] = ref["kib_per_stream"] * limit
            checks.append(check)
        checks.append(
            _check(
                f"ours-h2/{backend} KiB per idle HTTP/2 stream",
                kib,
                f"<= {BUDGET_KIB:g} KiB",
                None if kib is None else kib <= BUDGET_KIB,
            )
        )
        seconds = None if ours is None else ours["open_s"]
        checks.append(
            _check(
                f"ours-h2/{backend} {streams:,} streams connected, seconds",
                seconds,
                f"< {TARGET_OPEN_S:g} s" + ("" if streams == 1000 else " for 1,000"),
                None if seconds is None or streams != 1000 else seconds < TARGET_OPEN_S,
            )
        )
    print("\nTargets (reported, not asserted):")
    for check in checks:
        met = {True: "met", False: "NOT met", None: "n/a"}[check["met"]]
        value = check["value"]
        unit = "x" if "over" in check["what"] else ""
        shown = "-" if value is None else f"{value:.2f}{unit}"
        print(f"  {check['what']:<56} {shown:>7}   target {check['target']:<14} {met}")
        if check.get("target_kib_per_stream") is not None:
            limit = check["target_kib_per_stream"]
            print(f"    (the target is {limit:.1f} KiB per stream or less)")
    if not any(k.startswith("ours-h2/") for k in by_key):
        print("  (ours-h2 did not run: n/a above)")
    return checks


def run(args: argparse.Namespace) -> int:
    """The TLS / HTTP/2 variant of ``bench_memory.main``, from its parsed arguments."""
    from _tls_server import TLSServerProcess

    http2 = bool(args.http2)
    # 10,000 TLS handshakes on a small machine take a while: scale the limits.
    timeout = max(args.timeout, 0.05 * args.streams)
    runs: dict[str, Runs] = {}
    skipped = []
    for contender in select(args.only, http2):
        missing = contender.missing()
        if missing:
            skipped.append(f"{contender.key}: {', '.join(missing)} not installed")
        elif contender.name == "ours-h2" and not has_http2_option():
            skipped.append(f"{contender.key}: this checkout's Client has no http2= option")
        else:
            runs[contender.key] = Runs(contender)

    started = time.monotonic()
    load_before = load_average()
    kind = "HTTP/2 and HTTP/1.1 over TLS" if http2 else "HTTP/1.1 over TLS"
    print(
        f"Idle streams, {kind}: {args.streams:,} concurrent per contender, median of "
        f"{args.repeat}; Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {load_before}"
    )
    found = versions()
    found.update(_more_versions())
    print("  " + ", ".join(f"{k} {v}" for k, v in found.items()))
    for note in skipped:
        print(f"  skipped {note}")
    with TLSServerProcess("idle", max_streams=args.max_streams) as server:
        print(
            f"  server: hypercorn, pid {server.process.pid}, TLS port {server.port}, "
            f"{args.max_streams} streams per HTTP/2 connection\n"
        )
        extra = [
            "--stats-port",
            str(server.stats_port),
            "--certs",
            server.certs,
            "--per-connection",
            str(args.max_streams),
        ]
        for round_ in range(args.repeat):
            for key, entry in runs.items():
                if entry.problem is not None:
                    continue
                result = run_client(
                    entry.contender,
                    server,  # type: ignore[arg-type]
                    args.streams,
                    args.settle,
                    timeout,
                    script=TLS_CLIENT_SCRIPT,
                    extra=extra,
                    drain_timeout=max(30.0, timeout / 4),
                )
                if not result.get("ok"):
                    entry.problem = str(result.get("problem"))
                    print(f"  [{round_ + 1}/{args.repeat}] {key}: FAILED: {entry.problem}")
                    continue
                entry.results.append(result)
                print(
                    f"  [{round_ + 1}/{args.repeat}] {key:<26} "
                    f"{result['kib_per_stream']:6.1f} KiB/stream "
                    f"(RSS {result['rss_before_kib'] / 1024:.1f} -> "
                    f"{result['rss_after_kib'] / 1024:.1f} MiB, "
                    f"connected in {result['open_s']:.2f} s)",
                    flush=True,
                )
    print()
    rows = table(runs)
    print_table(rows, args.max_streams)
    checks = print_targets(rows, args.streams)
    load_after = load_average()
    elapsed = time.monotonic() - started
    print(f"\nLoad average before {load_before}, after {load_after}.")
    print(f"Total run time {elapsed:.0f} s.")
    if args.json:
        document = {
            "benchmark": "idle-memory-http2" if http2 else "idle-memory-tls",
            "streams": args.streams,
            "repeat": args.repeat,
            "server": "hypercorn",
            "server_max_concurrent_streams": args.max_streams,
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
        print(f"{len(failed)} contender(s) failed.")
        return 1
    return 0


def _more_versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("h2", "hypercorn"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
