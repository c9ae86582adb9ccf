"""``tail`` says what its connection is doing, and gives up on one that
never comes up. In-process on both backends, against the concierge."""

from __future__ import annotations

import json
import re

import pytest
from cli_support import CONVERSATION, FAST, InProcess, run, wait_for_stream

from expys_stream._cli import run as run_cli
from expys_stream.testing import ConciergeThread

CONNECTING = re.compile(r"~ connecting to http://127\.0\.0\.1:\d+ for cnv_test")
CONNECTED = re.compile(r"~ connected, resuming after msg_\w+")
RECONNECTING = re.compile(r"~ reconnecting in \d+\.\d s \(retry (\d+)(?: of (\d+))?\): (.+)")


def _stream_requests(server: ConciergeThread) -> int:
    return sum(1 for r in server.requests if r.path.endswith(f"/{CONVERSATION}/stream"))


def test_a_stream_that_never_connects_gives_up_after_five_retries(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    concierge.faults.fail_next(100, 503, endpoint="stream")
    status = run_cli(["tail", "--history", "0"], backend=backend, options=FAST)
    out, err = capsys.readouterr()
    assert status == 1, err
    assert out == ""
    lines = err.splitlines()
    assert CONNECTING.fullmatch(lines[0]), lines[0]
    retries = [RECONNECTING.fullmatch(line) for line in lines[1:-1]]
    assert all(retries), lines
    assert [(m.group(1), m.group(2)) for m in retries if m] == [(str(n), "5") for n in range(1, 6)]
    assert all("503" in m.group(3) for m in retries if m)
    assert lines[-1].startswith("expys-stream: gave up after 6 failed attempts; last error: ")
    assert _stream_requests(concierge) == 6


def test_max_retries_sets_the_limit(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    concierge.faults.fail_next(100, 503, endpoint="stream")
    argv = ["tail", "--history", "0", "--max-retries", "2"]
    assert run_cli(argv, backend=backend, options=FAST) == 1
    err = capsys.readouterr().err
    assert "(retry 2 of 2)" in err
    assert "(retry 3" not in err
    assert err.splitlines()[-1].startswith("expys-stream: gave up after 3 failed attempts")
    assert _stream_requests(concierge) == 3


def test_max_retries_zero_gives_up_at_the_first_failure(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    concierge.faults.fail_next(1, 503, endpoint="stream")
    argv = ["tail", "--history", "0", "--max-retries", "0"]
    assert run_cli(argv, backend=backend, options=FAST) == 1
    assert "gave up after 1 failed attempts" in capsys.readouterr().err
    assert _stream_requests(concierge) == 1


def _tail_through_an_outage(
    server: ConciergeThread, backend: str, *extra: str, failures: int = 0
) -> int:
    # One backlog message gives the stream a resume point; the tail then
    # connects, loses the connection, fails `failures` times and resumes,
    # getting the message sent during the outage.
    server.publish(CONVERSATION, "usr_bob", "before")
    command = InProcess("tail", "--history", "1", "--count", "1", *extra, backend=backend)
    wait_for_stream(server)
    if failures:
        server.faults.fail_next(failures, 503, endpoint="stream")
    server.drop_streams(CONVERSATION)
    server.publish(CONVERSATION, "usr_bob", "after")
    return command.join()


def test_once_connected_tail_retries_past_the_first_connect_limit(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _tail_through_an_outage(concierge, backend, failures=7) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["[history usr_bob] before", "[live usr_bob] after"]
    lines = err.splitlines()
    assert CONNECTING.fullmatch(lines[0]), lines
    assert CONNECTED.fullmatch(lines[1]), lines
    retries = [RECONNECTING.fullmatch(line) for line in lines[2:-1]]
    assert all(retries), lines
    # After a connection there is no "of N": the count goes on past 5.
    assert [(m.group(1), m.group(2)) for m in retries if m] == [(str(n), None) for n in range(1, 9)]
    assert CONNECTED.fullmatch(lines[-1]), lines
    assert _stream_requests(concierge) == 1 + 7 + 1  # the first, seven refused, the last


def test_state_lines_hold_no_python_reprs(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _tail_through_an_outage(concierge, backend) == 0
    err = capsys.readouterr().err
    assert "None" not in err
    assert "'" not in err
    assert "(resume after" not in err
    assert all(line.startswith("~ ") for line in err.splitlines()), err
    assert env["EXPYS_MEMBER_TOKEN"] not in err


def test_json_puts_state_records_on_stdout(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _tail_through_an_outage(concierge, backend, "--json") == 0
    out, err = capsys.readouterr()
    assert err == ""
    records = [json.loads(line) for line in out.splitlines()]
    kinds = [(r["kind"], r.get("state")) for r in records]
    assert kinds == [
        ("history", None),
        ("status", "connecting"),
        ("status", "connected"),
        ("status", "reconnecting"),
        ("status", "connected"),
        ("live", None),
    ]
    history, connecting, connected, reconnecting = records[:4]
    assert connecting["baseURL"] == concierge.base_url
    assert connecting["conversationID"] == CONVERSATION
    assert connected["resumeAfter"] == history["id"]
    assert reconnecting["retry"] == 1
    assert reconnecting["retryLimit"] is None  # it had connected
    assert isinstance(reconnecting["delay"], float)
    assert reconnecting["reason"]


def test_quiet_hides_the_state_lines(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _tail_through_an_outage(concierge, backend, "--quiet", failures=2) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == ["[history usr_bob] before", "[live usr_bob] after"]


def test_quiet_still_gives_up_and_says_why(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    concierge.faults.fail_next(100, 503, endpoint="stream")
    assert run_cli(["tail", "-q", "--history", "0"], backend=backend, options=FAST) == 1
    err = capsys.readouterr().err
    assert err.startswith("expys-stream: gave up after 6 failed attempts")
    assert err.count("\n") == 1


def test_a_typo_in_the_base_url_fails_instead_of_retrying_forever() -> None:
    # The case from the issue, with the real backoff: nothing listens on
    # port 1, the stream never connects, and tail ends by itself.
    env = {"EXPYS_MEMBER_TOKEN": "t", "EXPYS_BASE_URL": "http://127.0.0.1:1"}
    result = run("tail", CONVERSATION, "--history", "0", env=env, timeout=60)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert sum(1 for line in lines if RECONNECTING.fullmatch(line)) == 5
    assert lines[-1].startswith("expys-stream: gave up after 6 failed attempts; last error: ")
    assert "Traceback" not in result.stderr


def test_the_connecting_line_escapes_what_the_user_typed(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No such conversation: the stream is refused (404) after the line.
    status = run_cli(["tail", "cnv_\x1b[2J", "--history", "0"], backend=backend, options=FAST)
    err = capsys.readouterr().err
    assert status == 1, err
    assert "\x1b" not in err
    assert err.splitlines()[0].endswith(" for cnv_\\x1b[2J")
