"""Draw one PNG per benchmark from the JSON the benchmarks write.

    python benchmarks/plot.py [--results benchmarks/results] [--out docs/img]

Reads ``decoder.json`` (``bench_decoder.py --json``), ``e2e.json``
(``bench_e2e.py --json``), ``memory.json`` (``bench_memory.py --json``) and
``fanout.json`` (``bench_fanout.py --json``) from ``--results`` and writes
``decoder.png``, ``e2e.png``, ``memory.png`` and ``fanout.png`` to ``--out``.
A missing or failed result is skipped with a note; ``nox -s bench`` runs the
benchmarks and then this script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # after choosing the backend
from matplotlib.axes import Axes

OURS = "#1f6fd1"
FLOOR = "#9fb7d3"
PEER = "#8c8c8c"
DPI = 110


def _colour(name: str) -> str:
    if name.startswith("ours"):
        return OURS
    if name.startswith("floor") or name == "raw":
        return FLOOR
    return PEER


def _bars(
    ax: Axes,
    labels: list[str],
    values: list[float],
    names: list[str],
    fmt: str,
    label_from: float = 0.0,
) -> None:
    """Horizontal bars, first label at the top, each with its value written at its end.

    A value label starts at ``label_from`` at the least (right of a marker line).
    """
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, values, color=[_colour(n) for n in names], height=0.65)
    ax.set_yticks(positions, labels)
    top = max(values) if values else 1.0
    for position, value in zip(positions, values, strict=True):
        x = max(value, label_from) + top * 0.01
        ax.text(x, position, fmt.format(value), va="center", fontsize=9)
    ax.set_xlim(0, top * 1.18)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _kib(size: int) -> str:
    return f"{size // 1024} KiB"


def plot_decoder(data: dict[str, Any], out: Path) -> None:
    results = [r for r in data["results"] if r["group"] == "events only"]
    chunks = sorted({r["chunk"] for r in results})
    fig, axes = plt.subplots(len(chunks), 1, figsize=(8, 3.9 * len(chunks)), squeeze=False)
    order = ["floor", "ours", "launchdarkly-eventsource", "httpx-sse", "sseclient-py"]
    for ax, chunk in zip(axes[:, 0], chunks, strict=True):
        labels, values, names = [], [], []
        for name in order:
            for corpus in ("LF", "CRLF"):
                row = next(
                    (
                        r
                        for r in results
                        if r["decoder"] == name and r["corpus"] == corpus and r["chunk"] == chunk
                    ),
                    None,
                )
                if row is not None and row["ratio_to_baseline"] is not None:
                    labels.append(f"{name}, {corpus}")
                    values.append(row["ratio_to_baseline"])
                    names.append(name)
        _bars(ax, labels, values, names, "{:.2f}x", label_from=1.0)
        ax.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_title(f"{_kib(chunk)} chunks", fontsize=10)
        ax.set_xlabel("time as a multiple of the floor's (LF), lower is better")
    fig.suptitle(
        f"SSE decoder, {data['events']:,} chat events, median of {data['repeat']} "
        f"(Python {data['python']})",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def plot_e2e(data: dict[str, Any], out: Path) -> None:
    rows = [r for r in data["results"] if "problem" not in r and r["client"] != "raw"]
    rows.sort(key=lambda r: -r["messages_per_s"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    _bars(
        ax,
        [f"{r['client']}, {r['backend']}" for r in rows],
        [r["messages_per_s"] / 1000 for r in rows],
        [r["client"] for r in rows],
        "{:,.1f}k",
    )
    ax.set_xlabel("thousands of messages per second, decoded into objects; higher is better")
    ax.set_title(
        f"End to end over a socket: one stream of {data['messages']:,} messages, "
        f"median of {data['repeat']}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def plot_memory(data: dict[str, Any], out: Path) -> None:
    rows = [r for r in data["results"] if "problem" not in r]
    rows.sort(key=lambda r: (r["backend"], r["kib_per_stream"]))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    _bars(
        ax,
        [f"{r['client']}, {r['backend']}" for r in rows],
        [r["kib_per_stream"] for r in rows],
        [r["client"] for r in rows],
        "{:.1f} KiB",
    )
    ax.set_xlabel("resident memory per idle stream (KiB); lower is better")
    ax.set_title(f"{data['streams']:,} concurrent idle streams per client", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def plot_fanout(data: dict[str, Any], out: Path) -> None:
    times = [t * 1000 for t in data["fanout_seconds"]]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    positions = list(range(1, len(times) + 1))
    ax.bar(positions, times, color=OURS, width=0.6)
    median = statistics.median(times)
    ax.axhline(
        median, color="black", linewidth=0.8, linestyle="--", label=f"median {median:.0f} ms"
    )
    for position, value in zip(positions, times, strict=True):
        ax.text(position, value, f"{value:.0f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, max(times) * 1.2)
    ax.legend(loc="upper right", frameon=False, fontsize=9)
    ax.set_xticks(positions, [f"#{p}" for p in positions])
    ax.set_xlabel("message")
    ax.set_ylabel("ms until every stream had it")
    ax.set_title(
        f"Fan-out of the embedded concierge: {data['streams']:,} streams "
        f"(opened in {data['open_seconds']:.1f} s)",
        fontsize=11,
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


PLOTS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "decoder": plot_decoder,
    "e2e": plot_e2e,
    "memory": plot_memory,
    "fanout": plot_fanout,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    drawn = 0
    for name, plot in PLOTS.items():
        source = args.results / f"{name}.json"
        if not source.exists():
            print(f"{name}: no {source}, skipped")
            continue
        data = json.loads(source.read_text("utf-8"))
        target = args.out / f"{name}.png"
        plot(data, target)
        drawn += 1
        print(f"{name}: wrote {target}")
    return 0 if drawn else 1


if __name__ == "__main__":
    sys.exit(main())
