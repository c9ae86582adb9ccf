"""Arguments: --version, --help, and values that make no sense (exit 2).

These end before any event loop starts, so they run in-process once.
"""

from __future__ import annotations

import pytest

import expys_stream
from expys_stream._cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"expys-stream {expys_stream.__version__}\n"


def test_help_of_send_says_how_one_argument_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: expys-stream send [options] [CONVERSATION_ID] TEXT" in text
    assert (
        "With one argument, it is the TEXT and the conversation is $EXPYS_CONVERSATION_ID" in text
    )
    assert 'A TEXT of "-" reads the text from stdin' in text


def test_help_of_tail_states_the_give_up_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tail", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "A stream that has never connected gives up after 5 retries (exit 1)" in text
    assert "--quiet" in text
    assert 'JSON records of kind "status" on stdout' in text


def test_top_help_lists_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ["EXPYS_MEMBER_TOKEN", "EXPYS_BASE_URL", "EXPYS_CONVERSATION_ID", "EXPYS_LOG"]:
        assert name in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["tail", "--count", "-3"], "argument --count: must be >= 0, not -3"),
        (["tail", "--count", "two"], "argument --count: not a whole number: 'two'"),
        (["tail", "--history", "-1"], "argument --history: must be from 0 to 100, not -1"),
        (["tail", "--history", "101"], "argument --history: must be from 0 to 100, not 101"),
        (["tail", "--max-retries", "-1"], "argument --max-retries: must be >= 0, not -1"),
        (["tail", "--max-retries", "1.5"], "argument --max-retries: not a whole number"),
        (["serve", "--chat-interval", "-1"], "argument --chat-interval: must be a finite number"),
        (["serve", "--chat-interval", "inf"], "argument --chat-interval: must be a finite number"),
        (["serve", "--port", "-1"], "argument --port: a port is from 0 to 65535"),
        (["demo", "--speed", "0"], "argument --speed: must be a finite number > 0"),
        (["tail", "--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
        (["tail", "-v", "--log-level", "info"], "not allowed with argument -v/--verbose"),
        (["send", "a", "b", "c"], "unrecognized arguments: c"),
        (["tail", "a", "b"], "unrecognized arguments: b"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_arguments_that_make_no_sense_are_usage_errors(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert words in err
    assert "Traceback" not in err


def test_a_bad_expys_log_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXPYS_LOG", "loud")
    assert main(["tail", "c", "--token", "t"]) == 2
    assert capsys.readouterr().err == (
        "expys-stream: EXPYS_LOG must be one of debug, info, warning, error, off, not 'loud'\n"
    )
