"""The library's log on stderr: -v, --log-level, EXPYS_LOG, --log-timestamps."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from cli_support import FAST

from expys_stream._cli import run as run_cli
from expys_stream.testing import ConciergeThread

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
RETRY_RECORD = re.compile(r"^info expys_stream: retrying GET http://127\.0\.0\.1:\d+/", re.M)

Tail = Callable[..., tuple[int, str, str]]


@pytest.fixture
def tail_backlog(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> Tail:
    """Runs ``tail`` on the backlog only, whose request fails once, then
    succeeds (one INFO record); returns the exit status, stdout and stderr."""

    def tail(*argv: str, before: tuple[str, ...] = ()) -> tuple[int, str, str]:
        concierge.faults.fail_next(1, 503, endpoint="list")
        command = [*before, "tail", "--history", "1", "--count", "0", *argv]
        status = run_cli(command, backend=backend, options=FAST)
        out, err = capsys.readouterr()
        return status, out, err

    return tail


def test_by_default_only_warnings_are_shown(tail_backlog: Tail) -> None:
    status, _out, err = tail_backlog()
    assert status == 0, err
    assert "expys_stream:" not in err
    # The state line is there all the same.
    assert re.fullmatch(r"~ retrying the request in \d+\.\d s \(retry 1\): .*503.*\n", err), err


@pytest.mark.parametrize(
    "how",
    [["-v"], ["--verbose"], ["--log-level", "info"], ["--log-level=debug"], ["-vv"]],
    ids=" ".join,
)
def test_verbose_shows_the_library_log(tail_backlog: Tail, how: list[str]) -> None:
    status, _out, err = tail_backlog(*how)
    assert status == 0, err
    assert RETRY_RECORD.search(err), err


def test_the_log_options_may_come_before_the_command(tail_backlog: Tail) -> None:
    status, _out, err = tail_backlog(before=("-v", "--log-timestamps"))
    assert status == 0, err
    assert re.search(r"Z info expys_stream: retrying GET", err), err


def test_expys_log_sets_the_level_and_options_win(
    tail_backlog: Tail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPYS_LOG", "INFO")
    assert RETRY_RECORD.search(tail_backlog()[2])
    assert "expys_stream:" not in tail_backlog("--log-level", "off")[2]
    monkeypatch.setenv("EXPYS_LOG", "off")
    assert "expys_stream:" not in tail_backlog()[2]
    assert RETRY_RECORD.search(tail_backlog("-v")[2])


def test_timestamps_start_every_log_and_state_line(tail_backlog: Tail) -> None:
    status, _out, err = tail_backlog("-v", "--log-timestamps")
    assert status == 0, err
    lines = err.splitlines()
    assert len(lines) == 2, lines  # the log record and the state line
    assert all(STAMP.match(line) for line in lines), lines
    assert any("~ retrying the request" in line for line in lines)


def test_the_logger_is_left_as_it_was(tail_backlog: Tail) -> None:
    logger = logging.getLogger("expys_stream")
    before = (logger.level, list(logger.handlers))
    assert tail_backlog("-vv")[0] == 0
    assert (logger.level, list(logger.handlers)) == before
