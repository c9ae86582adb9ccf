"""``send [CONVERSATION_ID] TEXT``: one argument is the text, ``-`` reads stdin."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cli_support import CONVERSATION, FAST, run

from expys_stream._cli import run as run_cli
from expys_stream.testing import ConciergeThread


def _bodies(server: ConciergeThread) -> list[str | None]:
    return [m.body for m in server.messages(CONVERSATION)]


def test_one_argument_is_the_text_for_the_conversation_from_the_environment(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(["send", "hello"], backend=backend, options=FAST) == 0
    stored = concierge.messages(CONVERSATION)
    assert [m.body for m in stored] == ["hello"]
    assert capsys.readouterr().out == f"sent {stored[0].id}\n"


def test_two_arguments_are_the_conversation_and_the_text(
    backend: str, concierge: ConciergeThread, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    concierge.add_conversation("cnv_other")
    monkeypatch.setenv("EXPYS_MEMBER_TOKEN", concierge.add_member("cnv_other", "usr_alice"))
    assert run_cli(["send", "cnv_other", "over there"], backend=backend, options=FAST) == 0
    assert [m.body for m in concierge.messages("cnv_other")] == ["over there"]
    assert _bodies(concierge) == []


def test_one_argument_without_a_conversation_is_a_usage_error(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("EXPYS_CONVERSATION_ID")
    assert run_cli(["send", "hello"], backend=backend, options=FAST) == 2
    assert capsys.readouterr().err == (
        "expys-stream: no conversation id: pass CONVERSATION_ID before the TEXT "
        "or set EXPYS_CONVERSATION_ID\n"
    )
    assert _bodies(concierge) == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["send"], "nothing to send: give the TEXT (or - to read it from stdin)"),
        (["send", ""], "nothing to send: the text is empty"),
        (["send", CONVERSATION, ""], "nothing to send: the text is empty"),
    ],
)
def test_no_text_is_a_usage_error(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    words: str,
) -> None:
    assert run_cli(argv, backend=backend, options=FAST) == 2
    assert capsys.readouterr().err == f"expys-stream: {words}\n"
    assert _bodies(concierge) == []


def test_a_retried_send_says_so_unless_quiet(
    backend: str,
    concierge: ConciergeThread,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    concierge.faults.fail_next(1, 503, endpoint="send")
    assert run_cli(["send", "once"], backend=backend, options=FAST) == 0
    err = capsys.readouterr().err
    assert err.startswith("~ retrying the request in ")
    assert "(retry 1): " in err
    concierge.faults.fail_next(1, 503, endpoint="send")
    assert run_cli(["send", "-q", "twice"], backend=backend, options=FAST) == 0
    assert capsys.readouterr().err == ""
    assert _bodies(concierge) == ["once", "twice"]


def test_a_dash_reads_the_text_from_stdin(
    concierge: ConciergeThread, concierge_env: dict[str, str]
) -> None:
    result = run("send", CONVERSATION, "-", env=concierge_env, stdin="two\nlines\n")
    assert result.returncode == 0, result.stderr
    result = run("send", "-", env=concierge_env, stdin="from the environment's conversation")
    assert result.returncode == 0, result.stderr
    assert _bodies(concierge) == ["two\nlines", "from the environment's conversation"]
    assert result.stdout == f"sent {concierge.messages(CONVERSATION)[-1].id}\n"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "nothing to send: the text is empty"),
        (b"\n", "nothing to send: the text is empty"),
        (b"caf\xe9", "the text on stdin is not valid UTF-8"),
        (b"x" * (1024 * 1024 + 1), "the text on stdin is longer than 1048576 bytes"),
    ],
)
def test_text_on_stdin_that_cannot_be_sent_is_a_usage_error(
    concierge: ConciergeThread, concierge_env: dict[str, str], data: bytes, words: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EXPYS_")}
    result = subprocess.run(
        [sys.executable, "-m", "expys_stream", "send", "-"],
        input=data,
        capture_output=True,
        env={**environment, **concierge_env},
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.decode() == f"expys-stream: {words}\n"
    assert _bodies(concierge) == []
