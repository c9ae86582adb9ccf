"""Every ```python block of README.md and docs/**/*.md runs, against a real concierge.

The convention for writing a block
----------------------------------

A block is a complete program, run as it is written, on its own, with a
deadline (``BLOCK_TIMEOUT`` seconds). What it may count on:

* ``EXPYS_BASE_URL`` points at a fresh embedded concierge (a
  ``ConciergeThread``) started for this block alone. It holds the
  conversations ``cnv_123`` and ``cnv_demo``, each with a backlog of three
  messages; ``usr_alice`` is a member of both.
* The block's globals hold ``token`` (a member token of ``usr_alice``) and
  ``server`` (that ``ConciergeThread``, for examples of its API).
  ``EXPYS_MEMBER_TOKEN`` and ``EXPYS_CONVERSATION_ID`` (``cnv_demo``) are
  set too, and ``__name__`` is ``"__main__"``.
* Streams end by themselves: whenever a stream is open, the harness
  publishes three messages (``message 1`` .. ``message 3``, from
  ``usr_bob``) to its conversation; the server closes that stream after
  three messages, and answers the client's reconnection with 204, which
  ends ``async for message in stream`` normally. So a block may loop over
  a stream "forever", as a real consumer does, and still finish.

How a block runs:

* A block with top-level ``await``, ``async with`` or ``async for`` is
  compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` and awaited inside the
  test's event loop, once on asyncio and once on trio.
* A block that defines ``test_*`` functions is a pytest module: it is
  written to a temporary folder and run by pytest in a subprocess, whose
  ``conftest.py`` runs ``@pytest.mark.anyio`` tests on asyncio and trio.
  Every test in it must pass and at least one must run.
* Any other block runs as a script. One that calls ``anyio.run`` runs
  twice, with ``anyio.run`` defaulting to asyncio and then to trio; the
  rest run once.

Anything that is not a program meant to run (output, a shell session, a
formula) goes in a ```text, ```sh or ```console fence; a fence without a
language is refused, so that no Python hides from this harness.
"""

from __future__ import annotations

import ast
import inspect
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from expys_stream.testing import ConciergeThread

ROOT = Path(__file__).resolve().parent.parent
BLOCK_TIMEOUT = 30
CONVERSATIONS = ("cnv_123", "cnv_demo")
#: messages the harness publishes to each newly opened stream
LIVE_MESSAGES = 3

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    source: str

    @property
    def label(self) -> str:
        return f"{self.path}:{self.line}"


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def _fences(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line of the opening fence, info string, dedented body) of each fenced block."""
    lines = path.read_text("utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, ticks, info = match["indent"], match["ticks"], match["info"].strip()
        start = index
        body = []
        index += 1
        while index < len(lines) and lines[index].strip() != ticks:
            body.append(lines[index].removeprefix(indent))
            index += 1
        index += 1  # the closing fence
        yield start + 1, info, textwrap.dedent("\n".join(body)) + "\n"


def _python_blocks() -> list[Block]:
    blocks = []
    for path in _markdown_files():
        for line, info, body in _fences(path):
            if info.split()[:1] == ["python"]:
                blocks.append(Block(str(path.relative_to(ROOT)), line, body))
    return blocks


BLOCKS = _python_blocks()


def _kind(block: Block) -> str:
    tree = ast.parse(block.source, block.label)
    if any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        for node in tree.body
    ):
        return "pytest"
    code = compile(block.source, block.label, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return "async" if code.co_flags & inspect.CO_COROUTINE else "sync"


def _of_kind(kind: str) -> list[Any]:
    return [pytest.param(b, id=b.label) for b in BLOCKS if _kind(b) == kind]


def _scripts() -> list[Any]:
    params = []
    for block in BLOCKS:
        if _kind(block) != "sync":
            continue
        if "anyio.run(" in block.source:
            params += [pytest.param(block, b, id=f"{b}-{block.label}") for b in ("asyncio", "trio")]
        else:
            params.append(pytest.param(block, None, id=block.label))
    return params


def _expected_passes(source: str) -> int:
    """Tests a pytest-module block holds: async ones run on two backends."""
    functions = ast.FunctionDef | ast.AsyncFunctionDef
    tests = [
        node
        for node in ast.parse(source).body
        if isinstance(node, functions) and node.name.startswith("test_")
    ]
    return sum(2 if isinstance(node, ast.AsyncFunctionDef) else 1 for node in tests)


# -- the server every block runs against ---------------------------------------------------


class _Feeder:
    """Publishes to each stream that opens, and makes that stream end by itself."""

    def __init__(self, server: ConciergeThread) -> None:
        self._server = server
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="docs-feeder", daemon=True)

    def __enter__(self) -> _Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the feeder thread did not stop"

    def _wait(self, method: Any, n: int) -> bool:
        # Short bounded waits on the condition, so that the thread notices
        # the end of the block.
        while not self._stop.is_set():
            try:
                method(n, timeout=0.05)
            except TimeoutError:
                continue
            return True
        return False

    def _run(self) -> None:
        server = self._server
        try:
            # Each stream that opens takes one armed drop: the server closes
            # it right after its third message event.
            server.faults.drop_after_events(LIVE_MESSAGES)
            while self._wait(server.wait_for_streams, 1):
                # Armed now, while the stream is open, so that its
                # reconnection (however soon it comes) gets 204 and the
                # iteration ends. (A block that leaves a stream before it
                # ends leaves the 204 armed for its next stream.)
                server.faults.no_content()
                for conversation in CONVERSATIONS:
                    if server.stream_count(conversation):
                        for n in range(1, LIVE_MESSAGES + 1):
                            server.publish(conversation, "usr_bob", f"message {n}")
                if not self._wait(server.wait_for_stream_count, 0):
                    return
                server.faults.drop_after_events(LIVE_MESSAGES)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)


@pytest.fixture
def docs_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A fresh concierge, the environment and the globals a block runs with."""
    # retry_ms=1: the server's retry floor must not slow the examples down.
    with ConciergeThread(retry_ms=1) as server:
        token = ""
        for conversation in CONVERSATIONS:
            server.add_conversation(conversation)
            token = server.add_member(conversation, "usr_alice")
            for n in range(1, 4):
                server.publish(conversation, "usr_bob", f"backlog {n}")
        monkeypatch.setenv("EXPYS_BASE_URL", server.base_url)
        monkeypatch.setenv("EXPYS_MEMBER_TOKEN", token)
        monkeypatch.setenv("EXPYS_CONVERSATION_ID", "cnv_demo")
        with _Feeder(server) as feeder:
            yield {"__name__": "__main__", "token": token, "server": server}
        assert not feeder.errors, f"the feeder failed: {feeder.errors!r}"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Blocks may configure logging (as logging.md shows); undo it afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the tests ---------------------------------------------------------------------------------


def test_the_docs_have_examples() -> None:
    labels = {block.path for block in BLOCKS}
    assert {"README.md", "docs/client.md", "docs/testing.md", "docs/sse.md"} <= labels
    assert len(BLOCKS) >= 10


def test_every_fence_names_its_language() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _markdown_files()
        for line, info, _body in _fences(path)
        if not info
    ]
    assert not bare, f"fences without a language (use ```text for output): {bare}"


@pytest.mark.timeout(BLOCK_TIMEOUT + 10)
@pytest.mark.parametrize(("block", "backend"), _scripts())
def test_script_example(
    block: Block,
    backend: str | None,
    docs_server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend is not None:
        run = anyio.run

        def run_on_backend(func: Any, *args: Any, backend: str = backend, **kw: Any) -> Any:
            return run(func, *args, backend=backend, **kw)

        monkeypatch.setattr(anyio, "run", run_on_backend)
    code = compile(block.source, block.label, "exec")
    exec(code, dict(docs_server))


@pytest.mark.timeout(BLOCK_TIMEOUT + 10)
@pytest.mark.anyio
@pytest.mark.parametrize("block", _of_kind("async"))
async def test_async_example(block: Block, docs_server: dict[str, Any]) -> None:
    code = compile(block.source, block.label, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    with anyio.fail_after(BLOCK_TIMEOUT):
        await eval(code, dict(docs_server))


_CONFTEST = """
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""


@pytest.mark.timeout(BLOCK_TIMEOUT + 10)
@pytest.mark.parametrize("block", _of_kind("pytest"))
def test_pytest_example(block: Block, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(_CONFTEST, "utf-8")
    (tmp_path / "test_example.py").write_text(block.source, "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, f"{block.label}:\n{result.stdout}\n{result.stderr}"
    expected = _expected_passes(block.source)
    assert re.search(rf"\b{expected} passed\b", summary), (expected, summary)
    assert not re.search(r"failed|error|skipped|xfail", summary), summary
