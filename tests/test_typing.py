"""A type checker catches the mistakes that used to pass until run time.

mypy (``mypy.api.run``, in-process, once for the whole module) checks two
small programs: one with a mistake on each marked line, which must be
reported on exactly those lines, and one that uses every option rightly,
which must pass ``--strict``.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from mypy import api as mypy_api

# Each line marked `# E: words` must get a mypy error containing the words.
BAD = """
import httpcore

from expys_stream import Client, open_event_stream, open_message_stream

Client(token="t", read_timout=5.0)  # E: Unexpected keyword argument "read_timout"
Client(token="t", pool=httpcore.ConnectionPool())  # E: Argument "pool" to "Client"
Client(token="t", pool="pool")  # E: Argument "pool" to "Client"
Client(token="t", environment="prod")  # E: Argument "environment" to "Client"
Client(token="t", max_retries="3")  # E: Argument "max_retries" to "Client"
open_message_stream("c", token="t", read_timout=5.0)  # E: Unexpected keyword argument
open_message_stream("c", token="t", backoff_cap=None)  # E: Argument "backoff_cap"
open_event_stream("http://x/s", request_retries=2)  # E: Unexpected keyword argument "request_r
open_event_stream("http://x/s", pool=httpcore.ConnectionPool())  # E: Argument "pool"
open_event_stream("http://x/s", ssl_context=True)  # E: Argument "ssl_context"
"""

GOOD = """
import ssl
from typing import Unpack

import httpcore

from expys_stream import (
    Client,
    ClientOptions,
    EventStream,
    MessageStream,
    open_event_stream,
    open_message_stream,
)


def everything(pool: httpcore.AsyncConnectionPool) -> list[object]:
    client = Client(
        token="t",
        base_url="http://127.0.0.1:9",
        environment="sandbox",
        pool=pool,
        connect_timeout=None,
        read_timeout=5.0,
        backoff_base=0.1,
        backoff_cap=1,
        reset_after=30.0,
        max_retries=None,
        request_retries=0,
        max_event_size=4096,
        ssl_context=ssl.create_default_context(),
        user_agent="tests/1",
    )
    stream: MessageStream = open_message_stream(
        "c", token=lambda: "t", history=5, on_invalid="skip", max_retries=3, pool=None
    )
    events: EventStream = open_event_stream(
        "http://127.0.0.1:9/s", headers={"X-A": "b"}, last_event_id="7", read_timeout=None
    )
    return [client, stream, events]


def forwarding(conversation_id: str, **options: Unpack[ClientOptions]) -> MessageStream:
    # A wrapper can pass the options on, still checked where it is called.
    return open_message_stream(conversation_id, token="t", **options)


forwarding("c", read_timeout=1.0, request_retries=1)
"""


def _marked(source: str) -> dict[int, str]:
    return {
        number: line.split("# E: ", 1)[1].strip()
        for number, line in enumerate(source.splitlines(), start=1)
        if "# E: " in line
    }


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    folder = tmp_path_factory.mktemp("typing")
    (folder / "bad.py").write_text(textwrap.dedent(BAD), encoding="utf-8")
    (folder / "good.py").write_text(textwrap.dedent(GOOD), encoding="utf-8")
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--show-error-codes",
            "--cache-dir",
            str(folder / "cache"),
            str(folder / "bad.py"),
            str(folder / "good.py"),
        ]
    )
    assert not stderr, stderr
    return stdout, status


def _errors(report: str, name: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    pattern = re.compile(rf"^.*{name}:(\d+): error: (.*)$")
    for line in report.splitlines():
        match = pattern.match(line)
        if match:
            found.setdefault(int(match.group(1)), []).append(match.group(2))
    return found


@pytest.mark.timeout(180)
def test_each_mistake_is_a_type_error_on_its_line(mypy_report: tuple[str, int]) -> None:
    report, status = mypy_report
    assert status == 1, report
    errors = _errors(report, "bad.py")
    expected = _marked(textwrap.dedent(BAD))
    assert sorted(errors) == sorted(expected), report
    for number, words in expected.items():
        assert any(words in text for text in errors[number]), (number, errors[number])


@pytest.mark.timeout(180)
def test_right_use_of_every_option_passes_strict(mypy_report: tuple[str, int]) -> None:
    report, _status = mypy_report
    assert _errors(report, "good.py") == {}, report
    assert "good.py" not in report, report
