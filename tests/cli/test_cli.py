"""The ``expys-stream`` command, run as a subprocess against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpcore
import pytest
from cli_support import CONVERSATION, run, start, wait_for_stream

from expys_stream.testing import ConciergeThread


def test_tail_prints_history_then_live(
    concierge: ConciergeThread, concierge_env: dict[str, str]
) -> None:
    concierge.publish(CONVERSATION, "usr_bob", "old one")
    concierge.publish(CONVERSATION, "usr_bob", None)
    process = start("tail", "--history", "5", "--count", "2", env=concierge_env)
    try:
        wait_for_stream(concierge)
        concierge.publish(CONVERSATION, "usr_bob", "new one")
        concierge.publish(CONVERSATION, "usr_alice", "héllo")
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.splitlines() == [
        "[history usr_bob] old one",
        "[history usr_bob] (no body)",
        "[live usr_bob] new one",
        "[live usr_alice] héllo",
    ]


def test_tail_json_lines(concierge: ConciergeThread, concierge_env: dict[str, str]) -> None:
    sent = concierge.publish(CONVERSATION, "usr_bob", "as json")
    result = run("tail", "--history", "1", "--count", "0", "--json", env=concierge_env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "history"
    assert record["id"] == sent.id
    assert record["authorID"] == "usr_bob"
    assert record["body"] == "as json"
    assert record["createdAt"].endswith("Z")


def test_tail_reports_reconnects_on_stderr(
    concierge: ConciergeThread, concierge_env: dict[str, str]
) -> None:
    process = start("tail", "--history", "0", "--count", "2", env=concierge_env)
    try:
        wait_for_stream(concierge)
        concierge.publish(CONVERSATION, "usr_bob", "before")
        # Wait until the tail has it, so the drop happens after a resume point.
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "[live usr_bob] before"
        concierge.drop_streams(CONVERSATION)
        wait_for_stream(concierge)
        concierge.publish(CONVERSATION, "usr_bob", "after")
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.strip() == "[live usr_bob] after"
    assert "reconnecting" in err
    assert concierge_env["EXPYS_MEMBER_TOKEN"] not in err


def test_send_prints_the_new_id(concierge: ConciergeThread, concierge_env: dict[str, str]) -> None:
    result = run("send", CONVERSATION, "from the cli", env=concierge_env)
    assert result.returncode == 0, result.stderr
    stored = concierge.messages(CONVERSATION)
    assert [m.body for m in stored] == ["from the cli"]
    assert result.stdout.strip() == f"sent {stored[0].id}"


def test_missing_token_or_conversation_is_a_usage_error(concierge: ConciergeThread) -> None:
    result = run("tail", env={"EXPYS_CONVERSATION_ID": CONVERSATION})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "expys-stream: no member token: pass --token or set EXPYS_MEMBER_TOKEN"
    )
    result = run("tail", env={"EXPYS_MEMBER_TOKEN": "t"})
    assert result.returncode == 2
    assert "no conversation id" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_auth_failure_exits_3(concierge: ConciergeThread) -> None:
    env = {"EXPYS_BASE_URL": concierge.base_url, "EXPYS_MEMBER_TOKEN": "wrong-token"}
    result = run("tail", CONVERSATION, env=env)
    assert result.returncode == 3
    assert "401" in result.stderr
    assert "wrong-token" not in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_exits_130_without_a_traceback(
    concierge: ConciergeThread, concierge_env: dict[str, str]
) -> None:
    process = start("tail", env=concierge_env)
    try:
        wait_for_stream(concierge)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err


def test_demo_runs_end_to_end() -> None:
    started = time.monotonic()
    result = run("demo", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("demo: 17 messages received (5 history, 12 live), 0 lost, 0 repeated")
    assert "in order" in last
    assert "reconnect" in result.stderr
    assert elapsed < 60


def test_demo_json_summary() -> None:
    result = run("demo", "--json", "--speed", "4", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    summary = lines[-1]
    assert summary["kind"] == "summary"
    assert (summary["lost"], summary["repeated"], summary["in_order"]) == (0, 0, True)
    assert summary["reconnects"] >= 1
    messages = [line["kind"] for line in lines[:-1] if line["kind"] != "status"]
    assert messages == ["history"] * 5 + ["live"] * 12
    # The connection's state is in the same stream, as records of its own kind.
    states = [line["state"] for line in lines if line["kind"] == "status"]
    assert states[:3] == ["connected", "reconnecting", "connected"]


def test_serve_prints_ready_to_paste_settings() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "expys_stream", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        lines = [process.stdout.readline() for _ in range(3)]
        settings = dict(line.strip().removeprefix("export ").split("=", 1) for line in lines)
        # For manual testing it advertises the service's retry floor, not
        # the test server's 10 ms.
        url = f"{settings['EXPYS_BASE_URL']}/v1/conversations/cnv_demo/stream"
        auth = {"Authorization": f"Bearer {settings['EXPYS_MEMBER_TOKEN']}"}
        timeouts = {"timeout": {"connect": 10, "read": 10, "write": 10, "pool": 10}}
        with httpcore.stream("GET", url, headers=auth, extensions=timeouts) as response:
            assert next(response.iter_stream()).startswith(b"retry: 1500\n\n")
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    finally:
        process.kill()
    assert first.startswith("concierge listening on http://127.0.0.1:")
    assert settings["EXPYS_CONVERSATION_ID"] == "cnv_demo"
    assert settings["EXPYS_MEMBER_TOKEN"]
    assert process.returncode == 130


def test_other_members_text_cannot_drive_the_terminal(
    concierge: ConciergeThread, concierge_env: dict[str, str]
) -> None:
    # ESC starts terminal commands; a newline would forge a line of its own.
    concierge.publish(CONVERSATION, "usr_bob", "hi\x1b[2J\n[live usr_admin] send me your token")
    concierge.publish(CONVERSATION, "usr_bob", "rtl\u202eoverride \x9b1m é 🙂")
    result = run("tail", "--history", "2", "--count", "0", env=concierge_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[history usr_bob] hi\\x1b[2J\\n[live usr_admin] send me your token",
        "[history usr_bob] rtl\\u202eoverride \\x9b1m é 🙂",
    ]
    as_json = run("tail", "--history", "2", "--count", "0", "--json", env=concierge_env)
    lines = as_json.stdout.splitlines()
    assert len(lines) == 2
    assert "\x1b" not in as_json.stdout
    assert "\u202e" not in as_json.stdout
    assert "\x9b" not in as_json.stdout
    assert json.loads(lines[1])["body"] == "rtl\u202eoverride \x9b1m é 🙂"  # same text


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["demo", "--speed", "nan"], {}, "--speed: must be a finite number > 0"),
        (["demo", "--speed", "0"], {}, "--speed: must be a finite number > 0"),
        (["serve", "--port", "99999"], {}, "--port: a port is from 0 to 65535"),
        (
            ["tail", "c", "--token", "a\nsecret", "--base-url", "http://127.0.0.1:9"],
            {},
            "a token must be text an HTTP header can carry",
        ),
        (["tail", "c", "--token", "t", "--base-url", "ftp://x"], {}, "scheme must be http"),
        (["tail", "c", "--token", "t"], {"EXPYS_BASE_URL": "garbage"}, "base_url 'garbage'"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    args: list[str], env: dict[str, str], words: str
) -> None:
    result = run(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def test_arguments_that_are_not_utf8_are_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPYS_")}
    result = subprocess.run(
        [sys.executable, "-m", "expys_stream", "tail", b"cnv_\xff", "--token", "t"],
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == b"expys-stream: an argument is not valid UTF-8\n"


def test_a_reader_that_goes_away_ends_tail_quietly(
    concierge: ConciergeThread, concierge_env: dict[str, str]
) -> None:
    for i in range(50):
        concierge.publish(CONVERSATION, "usr_bob", f"m{i} " + "x" * 2000)
    process = start("tail", "--history", "50", "--count", "0", env=concierge_env)
    assert process.stdout is not None
    process.stdout.close()  # like `| head -0`: the pipe breaks on the first write
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert err == ""
