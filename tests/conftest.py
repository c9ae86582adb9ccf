"""Shared setup for the whole suite.

* The helper modules in this folder (``naive_sse``, ``tree_guard``) are made
  importable in every pytest import mode, without an ``__init__.py``.
* Every file the test process opens is watched (``tree_guard.OpenWatch``):
  a collector or test phase that opens a file outside the repository, such
  as one in a ``shared/`` folder beside the checkout, fails with the paths
  it opened. The watch is an audit hook added when pytest loads this file
  (``pytest_configure``), before any test module is collected, so that
  module-level loading (a data table read at import time) is watched too;
  a session fixture would come too late for that.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

import tree_guard  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    if tree_guard.ACTIVE is None:
        roots = tree_guard.pytest_temp_roots(config.getoption("basetemp", None))
        tree_guard.ACTIVE = tree_guard.OpenWatch(temp_roots=roots)
        tree_guard.ACTIVE.install()
        tree_guard.ACTIVE.take()  # what pytest opened before: not a test's doing


def _outside_message(paths: list[str]) -> str:
    listed = "\n".join(f"  {path}" for path in paths)
    return (
        "opened files outside the repository (tests must only use data in the"
        f" tree; see tests/tree_guard.py):\n{listed}"
    )


def _fail(report: pytest.CollectReport | pytest.TestReport, outside: list[str]) -> None:
    if report.outcome == "failed":  # keep its own error; add ours beside it
        report.sections.append(("files opened outside the repository", "\n".join(outside)))
    else:
        report.outcome = "failed"
        report.longrepr = _outside_message(outside)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    outside = tree_guard.ACTIVE.take() if tree_guard.ACTIVE else []
    if outside:
        _fail(report, outside)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    outside = tree_guard.ACTIVE.take() if tree_guard.ACTIVE else []
    if outside:
        _fail(report, outside)
    return report
