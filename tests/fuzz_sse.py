"""Fuzz target for the SSE decoder, with two invariants.

Feed arbitrary bytes, in chunks chosen by the fuzz input, to a decoder with
a small ``max_event_size``: the only exception that may escape is
``EventTooLarge``, and the outcome (the events delivered before any error,
whether an error happened, and otherwise the final ``last_event_id`` and
``retry``) is the same as feeding the bytes whole or one at a time, and the
same as the reference decoder's (``naive_sse.py``, the standard's prose).

Two ways to run it::

    python tests/fuzz_sse.py [atheris/libFuzzer args, e.g. -max_total_time=600]
    python tests/fuzz_sse.py --fallback --seconds 60

With atheris installed the first is coverage-guided; without it (or with
``--fallback``) a Hypothesis loop runs for ``--seconds`` (default 30). Not
collected by pytest (the name does not start with ``test_``);
``test_sse_properties.py`` runs the fallback for a moment to prove it works.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

# The decoder (through naive_sse) and Hypothesis are imported when first
# needed, so that atheris can instrument the decoder's modules, and only
# those, as they are imported.
if TYPE_CHECKING:
    from hypothesis import strategies as st
    from naive_sse import Outcome

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# The first bytes of an input are its plan: a limit and chunk sizes.
_LIMITS = (4, 16, 64, 1024)
_PLAN_SIZE = 4

# Pieces of SSE and of near-misses, so that random streams are mostly
# "almost valid": field names and their typos, separators, line ends, a
# BOM and pieces of one, NUL, digits, broken and whole UTF-8 sequences.
TOKENS = [
    b"data",
    b"event",
    b"id",
    b"retry",
    b"dat",
    b"Data",
    b"ids",
    b"retryy",
    b"data ",
    b"message",
    b":",
    b": ",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\xef\xbb\xbf",
    b"\xef",
    b"\xef\xbb",
    b"\x00",
    b"0",
    b"7",
    b"42",
    b"007",
    b"-1",
    b"x",
    b"abc",
    b"\xff",
    b"\xe2\x82",
    b"\xe2\x82\xac",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\xed\xa0\x80",
    b"\xe2\x80\xa8",
    b"\x0b",
    b"\x85",
    b"id: 1\nevent: message\ndata: x\n\n",
    b"id: 2\r\nevent: message\r\ndata: y\r\n\r\n",
    b"id: ",
    b"data: ",
    b"event: message",
]


def sse_streams(max_tokens: int = 60) -> st.SearchStrategy[bytes]:
    """Byte streams built from SSE-ish tokens, with some arbitrary binary."""
    from hypothesis import strategies as st

    token = st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6))
    return st.lists(token, max_size=max_tokens).map(b"".join)


def plan(data: bytes) -> tuple[int, bytes, list[bytes]]:
    """Split a fuzz input into (max_event_size, stream, chunks of the stream)."""
    head, stream = data[:_PLAN_SIZE], data[_PLAN_SIZE:]
    limit = _LIMITS[head[0] % len(_LIMITS)] if head else _LIMITS[-1]
    sizes = [1 + byte % 24 for byte in head[1:]] or [1]
    chunks = []
    start = 0
    while start < len(stream):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(stream[start : start + size])
        start += size
    return limit, stream, chunks


def check(data: bytes) -> Outcome:
    """The invariant for one fuzz input; raises if it does not hold."""
    from naive_sse import decode, run_decoder

    limit, stream, chunks = plan(data)
    # run_decoder stops at EventTooLarge; any other exception escapes.
    whole = run_decoder([stream], max_event_size=limit)
    chunked = run_decoder(chunks, max_event_size=limit)
    assert chunked.key() == whole.key(), (stream, chunks, limit)
    # And what the decoder makes of the stream is what the standard says.
    assert whole.key() == decode(stream, max_event_size=limit).key(), (stream, limit)
    if len(stream) <= 512:
        single = run_decoder([stream[i : i + 1] for i in range(len(stream))], max_event_size=limit)
        assert single.key() == whole.key(), (stream, limit)
    return whole


def fuzz_with_hypothesis(seconds: float, examples_per_round: int = 50) -> int:
    """Check Hypothesis-made inputs until ``seconds`` have passed; returns how many."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    done = 0
    inputs = st.tuples(
        st.binary(min_size=_PLAN_SIZE, max_size=_PLAN_SIZE),
        st.one_of(sse_streams(), st.binary(max_size=300)),
    ).map(b"".join)

    @settings(
        max_examples=examples_per_round,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def one_round(data: bytes) -> None:
        nonlocal done
        check(data)
        done += 1

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        one_round()
    return done


def _atheris_main(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["expys_stream"]):
        import naive_sse  # noqa: F401  (imports the decoder)
    atheris.Setup(argv, lambda data: check(bytes(data)))
    atheris.Fuzz()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="fallback run time")
    parser.add_argument("--fallback", action="store_true", help="use Hypothesis, not atheris")
    ours, rest = parser.parse_known_args(argv[1:])
    if not ours.fallback:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed; fuzzing with Hypothesis instead", file=sys.stderr)
        else:
            _atheris_main([argv[0], *rest])
            return 0
    count = fuzz_with_hypothesis(ours.seconds)
    print(f"{count} inputs checked in {ours.seconds:g} s, no failure", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
