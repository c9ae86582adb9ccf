"""Benchmark of the SSE decoder against its peers and against a floor.

Run from the repository root::

    python benchmarks/bench_decoder.py [--events N] [--chunk 16384,65536]
        [--repeat 5] [--only NAME[,NAME...]] [--seed S] [--json PATH]

It builds a deterministic corpus of chat-message events (see ``_corpus.py``),
LF and CRLF, cuts it into chunks of each size, and feeds the chunks to every
contender: ours (``expys_stream.sse.SSEDecoder``), with and without msgspec
decoding of each event's data into ``Message``; httpx-sse's decoding path;
sseclient-py; launchdarkly-eventsource's parser; and a floor that splits on
blank lines with ``bytes`` methods and knows no SSE rules (LF only). See
README.md beside this file for what each one is and how to read the ratios.

Before timing, every contender's events are checked against the corpus's own
record, for every corpus and chunk size: a contender that gets them wrong is
not timed, and the run exits 1. Timings are reported, never asserted: the run
otherwise exits 0.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import DEFAULT_SEED, Corpus, chunked, make_corpus

from expys_stream._models import message_decoder
from expys_stream.sse import SSEDecoder

# A timed run returns how many events it saw and the last one (or the last
# decoded Message), so that nothing is optimised away and nothing piles up.
TimedRun = Callable[[list[bytes]], tuple[int, Any]]
# A checking run returns everything, normalised for comparison.
CheckRun = Callable[[list[bytes]], list[Any]]

EVENTS = "events only"
MSGSPEC = "with msgspec"
FLOOR = "floor"
FLOOR_MSGSPEC = "floor+msgspec"
OURS = "ours"
OURS_MSGSPEC = "ours+msgspec"
TARGETS = {  # (group, corpus): the most ours may take, as a ratio to the floor
    (EVENTS, "LF"): 1.5,
    (EVENTS, "CRLF"): 2.0,
    (MSGSPEC, "LF"): 1.25,
}
TARGET_CHUNK = 16 * 1024
# Below this share of a CPU during the timed runs, a warning says the machine
# was busy with something else.
CPU_SHARE_WARNING = 0.95


# --------------------------------------------------------------------------
# The floor: the least work that gets the data out of this corpus. It is
# not a decoder (no CR, no comments, no multi-line data, no fields but the
# first "data: ", no BOM), only a yardstick for what Python's bytes methods
# cost on this input.


class FloorDecoder:
    def __init__(self):
        self.pending = b""

    def feed(self, chunk):
        blocks = (self.pending + chunk).split(b"\n\n")
        self.pending = blocks.pop()
        out = []
        for block in blocks:
            i = block.find(b"data: ")
            if i >= 0:
                out.append(block[i + 6 :])
        return out


# --------------------------------------------------------------------------
# The consumers. Every contender's events go through one of these loops:
# per chunk (or as the peer's iterator yields them), each event is counted
# and kept as the last one, then dropped. The msgspec loops decode each
# event's data into a Message instead.


def consume_push(feed: Callable[[bytes], Iterable[Any]], chunks: list[bytes]) -> tuple[int, Any]:
    n = 0
    last = None
    for chunk in chunks:
        for event in feed(chunk):
            n += 1
            last = event
    return n, last


def consume_pull(events: Iterator[Any]) -> tuple[int, Any]:
    n = 0
    last = None
    for event in events:
        n += 1
        last = event
    return n, last


# --------------------------------------------------------------------------
# The contenders.


def run_floor(chunks: list[bytes]) -> tuple[int, Any]:
    return consume_push(FloorDecoder().feed, chunks)


def check_floor(chunks: list[bytes]) -> list[Any]:
    feed = FloorDecoder().feed
    return [data for chunk in chunks for data in feed(chunk)]


def run_floor_msgspec(chunks: list[bytes]) -> tuple[int, Any]:
    feed = FloorDecoder().feed
    decode = message_decoder.decode
    n = 0
    last = None
    for chunk in chunks:
        for data in feed(chunk):
            n += 1
            last = decode(data)
    return n, last


def check_floor_msgspec(chunks: list[bytes]) -> list[Any]:
    feed = FloorDecoder().feed
    decode = message_decoder.decode
    return [decode(data) for chunk in chunks for data in feed(chunk)]


def run_ours(chunks: list[bytes]) -> tuple[int, Any]:
    return consume_push(SSEDecoder().feed, chunks)


def check_ours(chunks: list[bytes]) -> list[Any]:
    feed = SSEDecoder().feed
    return [(ev.event, ev.data, ev.id) for chunk in chunks for ev in feed(chunk)]


def run_ours_msgspec(chunks: list[bytes]) -> tuple[int, Any]:
    feed = SSEDecoder().feed
    decode = message_decoder.decode
    n = 0
    last = None
    for chunk in chunks:
        for event in feed(chunk):
            n += 1
            last = decode(event.data_bytes)
    return n, last


def check_ours_msgspec(chunks: list[bytes]) -> list[Any]:
    feed = SSEDecoder().feed
    decode = message_decoder.decode
    return [decode(ev.data_bytes) for chunk in chunks for ev in feed(chunk)]


class HttpxSSEFeed:
    """httpx-sse's decoding path, pushed one chunk at a time.

    ``EventSource.iter_sse``/``aiter_sse`` take the response's text
    (``iter_text``: httpx's incremental ``TextDecoder``, then a
    ``TextChunker`` that only drops empty strings when no chunk size is
    given), split it with httpx-sse's ``SSELineDecoder`` (its copy of
    httpx's ``LineDecoder`` that splits on CR, LF and CRLF only), strip a
    trailing LF of each line and hand each line to httpx-sse's
    ``SSEDecoder``. Here those same objects are driven over the chunks, with
    one list per chunk instead of three nested generators (which only makes
    it faster).

    One normalisation: httpx-sse 0.4.3 dispatches an event with empty data
    for the blank line after each ``: keepalive`` comment once the stream has
    an ID (the standard dispatches nothing when the data buffer is empty).
    An application reading JSON from it has to skip those, so this does too
    and counts them in ``skipped``.
    """

    def __init__(self) -> None:
        from httpx._decoders import TextDecoder
        from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
        from httpx_sse._decoders import SSELineDecoder

        self._decode_text = TextDecoder("utf-8").decode
        self._split_lines = SSELineDecoder().decode
        self._decode_line = HttpxSSEDecoder().decode
        self.skipped = 0

    def feed(self, chunk: bytes) -> list[Any]:
        text = self._decode_text(chunk)
        if not text:
            return []
        decode_line = self._decode_line
        out = []
        for line in self._split_lines(text):
            sse = decode_line(line.rstrip("\n"))
            if sse is not None:
                if sse.data:
                    out.append(sse)
                else:
                    self.skipped += 1
        return out


def run_httpx_sse(chunks: list[bytes]) -> tuple[int, Any]:
    return consume_push(HttpxSSEFeed().feed, chunks)


def check_httpx_sse(chunks: list[bytes]) -> list[Any]:
    feed = HttpxSSEFeed().feed
    return [(ev.event, ev.data, ev.id) for chunk in chunks for ev in feed(chunk)]


def sseclient_events(chunks: list[bytes]) -> Iterator[Any]:
    # sseclient-py reads any iterable of bytes chunks (normally a urllib3
    # response): SSEClient(source).events() is its whole parser.
    from sseclient import SSEClient

    return SSEClient(iter(chunks)).events()


def run_sseclient(chunks: list[bytes]) -> tuple[int, Any]:
    return consume_pull(sseclient_events(chunks))


def check_sseclient(chunks: list[bytes]) -> list[Any]:
    return [(ev.event, ev.data, ev.id) for ev in sseclient_events(chunks)]


def ld_events(chunks: list[bytes]) -> Iterator[Any]:
    # launchdarkly-eventsource's SSEClient reads the HTTP stream with
    # _BufferedLineReader.lines_from(chunks), parses the lines with
    # _SSEReader.events_and_comments() and, for .events, keeps the Event
    # items (comments come out as Comment items): the same here, no network.
    from ld_eventsource.actions import Event
    from ld_eventsource.reader import _BufferedLineReader, _SSEReader

    reader = _SSEReader(_BufferedLineReader.lines_from(iter(chunks)))
    return (item for item in reader.events_and_comments() if isinstance(item, Event))


def run_ld(chunks: list[bytes]) -> tuple[int, Any]:
    return consume_pull(ld_events(chunks))


def check_ld(chunks: list[bytes]) -> list[Any]:
    # Its Event.id is the event's own id field; last_event_id is the
    # stream's last event ID at dispatch, which is what the others report.
    return [(ev.event, ev.data, ev.last_event_id) for ev in ld_events(chunks)]


@dataclass(frozen=True)
class Contender:
    name: str
    group: str  # EVENTS or MSGSPEC
    run: TimedRun
    check: CheckRun
    expect: str  # what check returns: "events", "payloads" or "messages"
    requires: str | None = None  # a module it needs beyond the package's own
    lf_only: bool = False

    def available(self) -> bool:
        return self.requires is None or importlib.util.find_spec(self.requires) is not None

    @property
    def base(self) -> str:
        return self.name.partition("+")[0]


CONTENDERS = (
    Contender(FLOOR, EVENTS, run_floor, check_floor, "payloads", lf_only=True),
    Contender(OURS, EVENTS, run_ours, check_ours, "events"),
    Contender("httpx-sse", EVENTS, run_httpx_sse, check_httpx_sse, "events", "httpx_sse"),
    Contender("sseclient-py", EVENTS, run_sseclient, check_sseclient, "events", "sseclient"),
    Contender("launchdarkly-eventsource", EVENTS, run_ld, check_ld, "events", "ld_eventsource"),
    Contender(
        FLOOR_MSGSPEC, MSGSPEC, run_floor_msgspec, check_floor_msgspec, "messages", lf_only=True
    ),
    Contender(OURS_MSGSPEC, MSGSPEC, run_ours_msgspec, check_ours_msgspec, "messages"),
)
BASELINE = {EVENTS: FLOOR, MSGSPEC: FLOOR_MSGSPEC}
PEERS = ("httpx-sse", "sseclient-py", "launchdarkly-eventsource")


# --------------------------------------------------------------------------
# Checking.


@dataclass
class Expected:
    corpus: Corpus
    _cache: dict[str, list[Any]] = field(default_factory=dict)

    def get(self, kind: str) -> list[Any]:
        if kind not in self._cache:
            if kind == "events":
                value: list[Any] = self.corpus.expected_events()
            elif kind == "payloads":
                value = list(self.corpus.payloads)
            else:
                value = [message_decoder.decode(p) for p in self.corpus.payloads]
            self._cache[kind] = value
        return self._cache[kind]


def check(contender: Contender, chunks: list[bytes], expected: Expected) -> str | None:
    """Return None when the contender's events are exactly the expected ones, else why not."""
    try:
        got = contender.check(chunks)
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"
    want = expected.get(contender.expect)
    if got == want:
        return None
    if len(got) != len(want):
        problem = f"{len(got)} events instead of {len(want)}"
    else:
        problem = "the right number of events"
    for index, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"{problem}; event #{index} is {_short(g)}, expected {_short(w)}"
    return problem


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


# --------------------------------------------------------------------------
# Timing.


@dataclass
class Result:
    name: str
    group: str
    corpus: str  # "LF" or "CRLF"
    chunk: int
    n_events: int
    n_bytes: int
    times: list[float]
    baseline: str
    ratio: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def as_json(self) -> dict[str, Any]:
        return {
            "decoder": self.name,
            "group": self.group,
            "corpus": self.corpus,
            "chunk": self.chunk,
            "events": self.n_events,
            "bytes": self.n_bytes,
            "times_s": self.times,
            "median_s": self.median,
            "min_s": min(self.times),
            "events_per_s": self.n_events / self.median,
            "mb_per_s": self.n_bytes / self.median / 1e6,
            "baseline": self.baseline,
            "ratio_to_baseline": self.ratio,
        }


@dataclass(frozen=True)
class Job:
    """One contender on one corpus, cut into chunks of one size."""

    contender: Contender
    corpus_name: str
    corpus: Corpus
    chunks: list[bytes]


@dataclass
class Clock:
    """Wall and CPU time of all timed runs, to tell whether others competed for the CPU."""

    wall: float = 0.0
    cpu: float = 0.0

    @property
    def share(self) -> float:
        return self.cpu / self.wall if self.wall else 1.0


def time_jobs(jobs: list[Job], repeat: int, clock: Clock) -> list[list[float]]:
    """Time each job ``repeat`` times, round-robin, with a GC (and freeze) before each run.

    Round-robin, so that a slow spell of the machine hits every contender
    alike and the ratios stay meaningful.
    """
    times: list[list[float]] = [[] for _ in jobs]
    for _ in range(repeat):
        for job, job_times in zip(jobs, times, strict=True):
            gc.collect()
            # The harness's own objects (the corpus records) go to the
            # permanent generation, so that the collections a contender's
            # allocations trigger do not walk them: each contender pays for
            # its own garbage only.
            gc.freeze()
            cpu = time.process_time()
            start = time.perf_counter()
            n, last = job.contender.run(job.chunks)
            elapsed = time.perf_counter() - start
            clock.cpu += time.process_time() - cpu
            clock.wall += elapsed
            if n != job.corpus.n_events or last is None:  # pragma: no cover - checked before
                raise RuntimeError(
                    f"{job.contender.name} saw {n} events, not {job.corpus.n_events}"
                )
            job_times.append(elapsed)
            del last
    return times


# --------------------------------------------------------------------------
# Reporting.


def kib(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def print_table(results: list[Result], group: str) -> None:
    rows = [r for r in results if r.group == group]
    if not rows:
        return
    base = BASELINE[group]
    print(f"\n{group}: each time as a ratio to {base}'s on the LF corpus, same chunk size")
    header = (
        f"{'chunk':>7}  {'corpus':<6}  {'decoder':<24}  {'median':>10}  {'min':>10}  "
        f"{'events/s':>10}  {'MB/s':>6}  {'vs ' + base:>16}"
    )
    print(header)
    print("-" * len(header))
    previous = None
    for r in rows:
        key = (r.chunk, r.corpus)
        if previous is not None and key != previous:
            print()
        previous = key
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        print(
            f"{kib(r.chunk):>7}  {r.corpus:<6}  {r.name:<24}  {r.median * 1e3:>7.1f} ms  "
            f"{min(r.times) * 1e3:>7.1f} ms  {r.n_events / r.median:>10,.0f}  "
            f"{r.n_bytes / r.median / 1e6:>6.1f}  {ratio:>16}"
        )


def summary_lines(results: list[Result], chunks: list[int]) -> list[str]:
    by_key = {(r.name, r.corpus, r.chunk): r for r in results}
    lines = []
    ordered = sorted(chunks, key=lambda c: (c != TARGET_CHUNK, chunks.index(c)))
    for chunk in ordered:
        for (group, corpus), target in TARGETS.items():
            name = OURS if group == EVENTS else OURS_MSGSPEC
            r = by_key.get((name, corpus, chunk))
            if r is None or r.ratio is None:
                continue
            verdict = "met" if r.ratio <= target else "MISSED"
            # The fastest runs' ratio as well: a second view of the same runs
            # when the medians move from run to run (see README.md; on a
            # shared machine neither is steady, and instruction counts are).
            floor = by_key.get((BASELINE[group], "LF", chunk))
            fastest = ""
            if floor is not None:
                fastest = f"; fastest runs {min(r.times) / min(floor.times):.2f}x"
            lines.append(
                f"{group}, {corpus}, {kib(chunk)}: ours {r.ratio:.2f}x {BASELINE[group]} "
                f"(median{fastest}) (target <= {target:g}x) [{verdict}]"
            )
        for corpus in ("LF", "CRLF"):
            ours = by_key.get((OURS, corpus, chunk))
            if ours is None:
                continue
            parts = []
            for peer in PEERS:
                r = by_key.get((peer, corpus, chunk))
                if r is None:
                    continue
                factor = r.median / ours.median
                if factor >= 1:
                    parts.append(f"{factor:.1f}x faster than {peer}")
                else:
                    parts.append(f"{1 / factor:.1f}x slower than {peer}")
            if parts:
                lines.append(f"ours vs peers, {corpus}, {kib(chunk)}: " + ", ".join(parts))
    return lines


def versions() -> dict[str, str]:
    out = {}
    for dist in (
        "expys-stream",
        "msgspec",
        "httpx",
        "httpx-sse",
        "sseclient-py",
        "launchdarkly-eventsource",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


# --------------------------------------------------------------------------
# Main.


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark expys_stream's SSE decoder against its peers and a floor."
    )
    parser.add_argument("--events", type=int, default=100_000, help="events in the corpus")
    parser.add_argument(
        "--chunk",
        default="16384,65536",
        help="comma-separated chunk sizes in bytes (default: 16384,65536)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per decoder (median)")
    parser.add_argument(
        "--only",
        default=None,
        metavar="NAME",
        help="comma-separated decoders to run, by name ('ours' also selects ours+msgspec); "
        "the floors always run, as every time is a ratio to theirs",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus seed")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write JSON here")
    args = parser.parse_args(argv)
    try:
        sizes = [int(part) for part in args.chunk.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--chunk: not a list of integers: {args.chunk!r}")
    args.chunks = list(dict.fromkeys(sizes))
    if not args.chunks or min(args.chunks) < 1:
        parser.error("--chunk: sizes must be positive")
    if args.events < 1:
        parser.error("--events must be positive")
    if args.repeat < 1:
        parser.error("--repeat must be positive")
    names = {c.name for c in CONTENDERS} | {c.base for c in CONTENDERS}
    if args.only is not None:
        args.only = {part.strip() for part in args.only.split(",") if part.strip()}
        unknown = args.only - names
        if unknown:
            parser.error(f"--only: unknown {sorted(unknown)}; choose from {sorted(names)}")
    return args


def selected(only: set[str] | None) -> list[Contender]:
    if only is None:
        return list(CONTENDERS)
    return [
        c for c in CONTENDERS if c.name in BASELINE.values() or c.name in only or c.base in only
    ]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    contenders = []
    notes: list[str] = []
    for contender in selected(args.only):
        if contender.available():
            contenders.append(contender)
        else:
            notes.append(f"{contender.name}: not installed (the 'bench' extra), skipped")

    log(f"building the corpus: {args.events:,} events, seed {args.seed} ...")
    lf = make_corpus(args.events, seed=args.seed)
    crlf = make_corpus(args.events, seed=args.seed, crlf=True)
    corpora = {"LF": lf, "CRLF": crlf}

    vers = versions()
    print(
        f"decoder benchmark: Python {platform.python_version()} "
        f"({platform.python_implementation()}) on {platform.machine()} {platform.system()}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(
        f"corpus: {args.events:,} events (+{lf.n_keepalives:,} keepalive comments), "
        f"seed {args.seed}; LF {len(lf.raw) / 1e6:.1f} MB, CRLF {len(crlf.raw) / 1e6:.1f} MB; "
        f"median of {args.repeat}; MB = 10^6 bytes"
    )

    failures: list[str] = []
    clock = Clock()
    results: list[Result] = []
    for chunk in args.chunks:
        # Check every contender on both corpora, then time the good ones
        # together, so that the CRLF runs share the LF floor's conditions.
        jobs = []
        for corpus_name, corpus in corpora.items():
            chunks = chunked(corpus.raw, chunk)
            expected = Expected(corpus)
            for contender in contenders:
                if contender.lf_only and corpus_name != "LF":
                    continue
                where = f"{contender.name}, {corpus_name}, {kib(chunk)}"
                log(f"checking {where} ...")
                problem = check(contender, chunks, expected)
                if problem is None:
                    jobs.append(Job(contender, corpus_name, corpus, chunks))
                else:
                    failures.append(f"{where}: WRONG EVENTS: {problem}")
                if contender.name == "httpx-sse" and problem is None:
                    feed = HttpxSSEFeed()
                    consume_push(feed.feed, chunks)
                    if feed.skipped:
                        notes.append(
                            f"{where}: dispatched {feed.skipped:,} empty events "
                            "(one per keepalive comment); its consumer skips them"
                        )
            del expected
        log(f"timing {len(jobs)} runs of {kib(chunk)} chunks, {args.repeat} times each ...")
        for job, times in zip(jobs, time_jobs(jobs, args.repeat, clock), strict=True):
            results.append(
                Result(
                    name=job.contender.name,
                    group=job.contender.group,
                    corpus=job.corpus_name,
                    chunk=chunk,
                    n_events=job.corpus.n_events,
                    n_bytes=len(job.corpus.raw),
                    times=times,
                    baseline=BASELINE[job.contender.group],
                )
            )
        del jobs

    # Every time as a ratio to its group's floor on the LF corpus, same chunk.
    floors = {(r.name, r.chunk): r.median for r in results if r.corpus == "LF"}
    for r in results:
        base = floors.get((r.baseline, r.chunk))
        r.ratio = None if base is None else r.median / base

    order = {c.name: i for i, c in enumerate(CONTENDERS)}
    results.sort(
        key=lambda r: (
            r.group != EVENTS,
            args.chunks.index(r.chunk),
            r.corpus != "LF",
            order[r.name],
        )
    )
    print_table(results, EVENTS)
    print_table(results, MSGSPEC)

    print()
    summary = summary_lines(results, args.chunks)
    for line in summary:
        print(line)
    for note in notes:
        print(f"note: {note}")
    if clock.share < CPU_SHARE_WARNING:
        print(
            f"warning: the timed runs got {clock.share:.0%} of a CPU (CPU time / wall time): "
            "other processes competed for it, so these numbers are unreliable; run again on "
            "a quiet machine"
        )
    for failure in failures:
        print(f"FAILED: {failure}")
    elapsed = time.perf_counter() - started
    print(f"total run time: {elapsed:.0f} s")

    if args.json is not None:
        document = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "versions": vers,
            "events": args.events,
            "seed": args.seed,
            "repeat": args.repeat,
            "chunks": args.chunks,
            "corpus_bytes": {name: len(c.raw) for name, c in corpora.items()},
            "results": [r.as_json() for r in results],
            "summary": summary,
            "notes": notes,
            "failures": failures,
            "ok": not failures,
            "elapsed_s": elapsed,
            "cpu_share": clock.share,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
