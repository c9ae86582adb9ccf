"""Developer tasks: ``nox -s tests lint typecheck`` is what CI runs.

Sessions:
    tests      the whole suite (async tests run on asyncio and on trio), on
               every Python from 3.11 to 3.13 the machine has
    lint       ruff check and ruff format --check
    typecheck  mypy --strict on the package; pyright --verifytypes on its public API
    fuzz       the SSE decoder fuzz target for a while (FUZZ_SECONDS, default 300)
    bench      the benchmarks under benchmarks/ (they print ratios, never assert),
               then their plots in docs/img/
    docs       the documentation site, ``mkdocs build --strict`` into site/
    soak       the slow tests (``pytest -m slow``): load, reconnect soak, big property runs
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True
# A Python the machine lacks is skipped, not failed: `nox -s tests` runs on
# whichever of SUPPORTED are installed. CI (.ci/run) insists on 3.11.
nox.options.error_on_missing_interpreters = False

PYTHON = "3.11"
SUPPORTED = ["3.11", "3.12", "3.13"]


@nox.session(python=SUPPORTED)
def tests(session: nox.Session) -> None:
    """Run the test suite on one Python; extra arguments go to pytest."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy --strict, and check with pyright that
    every public name has a known type (pyright's wheel carries its own
    JavaScript and runs it with the ``node`` on PATH)."""
    session.install("-e", ".[test]", "mypy>=1.10", "pyright>=1.1.380")
    session.run("mypy", "--strict", "expys_stream")
    session.run("pyright", "--verifytypes", "expys_stream", "--ignoreexternal")


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Fuzz the SSE decoder (atheris when it installs, else hypothesis)."""
    seconds = os.environ.get("FUZZ_SECONDS", "300")
    session.install("-e", ".[test]")
    try:
        session.install("atheris>=2.3")
    except nox.command.CommandFailed:
        session.log("atheris did not install; the fuzz target falls back to hypothesis")
    # --seconds bounds the Hypothesis fallback, -max_total_time atheris.
    session.run(
        "python",
        "tests/fuzz_sse.py",
        f"--seconds={seconds}",
        f"-max_total_time={seconds}",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks, then plot them into docs/img/; extra arguments go to each script.

    Each ``benchmarks/bench_NAME.py`` writes ``benchmarks/results/NAME.json``,
    which ``benchmarks/plot.py`` draws as ``docs/img/NAME.png``.
    """
    session.install("-e", ".[bench]")
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            name = script.removeprefix("bench_").removesuffix(".py")
            results = f"benchmarks/results/{name}.json"
            session.run("python", f"benchmarks/{script}", "--json", results, *session.posargs)
    session.run(
        "python", "benchmarks/plot.py", "--results", "benchmarks/results", "--out", "docs/img"
    )


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/; any warning (a broken link or reference) fails."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Run the slow tests: the load and soak tests, the longer property runs."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "slow", *session.posargs)
