"""The sync API takes the async options as they are: one source of truth.

``**options`` goes straight to the async twin, which checks it: a misspelt
name or a bad value raises the same error, in the caller's thread, before
the event-loop thread starts; the given options reach the wire; and a type
checker reads the same ``TypedDict`` (mypy, in-process, on two programs).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
from mypy import api as mypy_api
from sync_support import CONVERSATION, Baseline, portal_threads

from expys_stream import RetryLimitExceeded, sync
from expys_stream._options import Settings
from expys_stream.testing import ConciergeThread

NOWHERE = "http://127.0.0.1:9"  # nothing listens there


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda o: sync.Client(token="t", base_url=NOWHERE, **o),
            r"^Client\(\) got an unexpected keyword argument 'read_timout'; "
            r"did you mean 'read_timeout'\?$",
        ),
        (
            lambda o: sync.open_message_stream("c", token="t", base_url=NOWHERE, **o),
            r"^Client\(\) got an unexpected keyword argument 'read_timout'; did you",
        ),
        (
            lambda o: sync.open_event_stream(NOWHERE + "/s", **o),
            r"^open_event_stream\(\) got an unexpected keyword argument 'read_timout'; did you",
        ),
    ],
    ids=["Client", "open_message_stream", "open_event_stream"],
)
def test_a_misspelt_option_is_refused_before_any_thread_starts(call: Any, words: str) -> None:
    with pytest.raises(TypeError, match=words):
        call({"read_timout": 5.0})
    assert portal_threads() == []


def test_the_event_stream_refuses_an_option_of_the_client_only() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'request_retries'"):
        sync.open_event_stream(NOWHERE + "/s", request_retries=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"request_retries": -1}, ValueError, "request_retries must be an int >= 0"),
        ({"user_agent": None}, TypeError, "user_agent must be a str"),
        ({"user_agent": "ua\r\nX-Evil: 1"}, ValueError, "user_agent: the value of User-Agent"),
    ],
)
def test_a_bad_value_gets_the_async_clients_error(
    options: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=re.escape(words)):
        sync.Client(token="t", base_url=NOWHERE, **options)
    if "request_retries" not in options:
        with pytest.raises(error, match=re.escape(words)):
            sync.open_event_stream(NOWHERE + "/s", **options)
    assert portal_threads() == []


def test_options_left_out_take_the_defaults_of_settings() -> None:
    defaults = Settings()
    client = sync.Client(token="t", base_url=NOWHERE)
    assert client._aclient._request_retries == defaults.request_retries
    assert client._aclient._options.read_timeout == defaults.read_timeout
    stream = sync.open_event_stream(NOWHERE + "/s")
    assert stream._astream._options.connect_timeout == defaults.connect_timeout
    assert stream._astream._options.max_event_size == defaults.max_event_size
    assert stream._astream._options.max_retries is None


def test_given_options_reach_the_async_streams() -> None:
    client = sync.Client(token="t", base_url=NOWHERE, request_retries=0, read_timeout=2.5)
    assert client._aclient._request_retries == 0
    via_client = client.open_message_stream("c")
    assert via_client._astream._options.read_timeout == 2.5
    alone = sync.open_message_stream(
        "c", token="t", base_url=NOWHERE, max_retries=4, backoff_base=0.25
    )
    assert alone._astream._options.max_retries == 4
    assert alone._astream._options.backoff.base == 0.25
    events = sync.open_event_stream(NOWHERE + "/s", max_event_size=4096, reset_after=1.0)
    assert events._astream._options.max_event_size == 4096
    assert events._astream._options.backoff.reset_after == 1.0
    client.close()  # its open_message_stream took the lease: this gives it back
    assert portal_threads() == []


def test_options_reach_the_wire(server: ConciergeThread, token: str, baseline: Baseline) -> None:
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    with sync.open_event_stream(url, token=token, user_agent="sync-tests/1") as stream:
        server.wait_for_streams(1)
        server.publish(CONVERSATION, "usr_bob", "hi")
        event = next(stream)
    assert event.event == "message"
    with sync.Client(token=token, base_url=server.base_url, user_agent="sync-tests/2") as client:
        client.list_messages(CONVERSATION)
    agents = [r.headers["user-agent"] for r in server.requests]
    assert agents == ["sync-tests/1", "sync-tests/2"]


def test_max_retries_bounds_a_sync_stream(baseline: Baseline) -> None:
    # Nothing listens on the port: each attempt fails to connect.
    stream = sync.open_event_stream(
        NOWHERE + "/s", max_retries=1, backoff_base=0.001, backoff_cap=0.001
    )
    with stream, pytest.raises(RetryLimitExceeded) as info:
        next(stream)
    assert info.value.attempts == 2


# -- what a type checker makes of the sync options -----------------------------------------

# Each line marked `# E: words` must get a mypy error containing the words.
BAD = """
import httpcore

from expys_stream.sync import Client, open_event_stream, open_message_stream

Client(token="t", read_timout=5.0)  # E: Unexpected keyword argument "read_timout"
Client(token="t", pool=httpcore.ConnectionPool())  # E: Argument "pool" to "Client"
Client(token="t", environment="prod")  # E: Argument "environment" to "Client"
Client(token="t", max_retries="3")  # E: Argument "max_retries" to "Client"
open_message_stream("c", token="t", read_timout=5.0)  # E: Unexpected keyword argument
open_message_stream("c", token="t", backoff_cap=None)  # E: Argument "backoff_cap"
open_event_stream("http://x/s", request_retries=2)  # E: Unexpected keyword argument "request_r
open_event_stream("http://x/s", ssl_context=True)  # E: Argument "ssl_context"
open_event_stream("http://x/s", trust_env="no")  # E: Argument "trust_env"
"""

GOOD = """
import ssl
from typing import Unpack

import httpcore

from expys_stream import ClientOptions, EventStreamOptions
from expys_stream.sync import (
    Client,
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
        proxy="http://127.0.0.1:3128",
        trust_env=False,
    )
    stream: MessageStream = open_message_stream(
        "c", token=lambda: "t", history=5, on_invalid="skip", max_retries=3, pool=None
    )
    events: EventStream = open_event_stream(
        "http://127.0.0.1:9/s", headers={"X-A": "b"}, last_event_id="7", read_timeout=None
    )
    return [client, stream, events]


def forwarding(url: str, **options: Unpack[EventStreamOptions]) -> EventStream:
    return open_event_stream(url, **options)


def client_for(**options: Unpack[ClientOptions]) -> Client:
    return Client(token="t", **options)


forwarding("http://127.0.0.1:9/s", max_retries=1)
client_for(request_retries=1)
"""


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("sync_typing")
    (folder / "bad.py").write_text(textwrap.dedent(BAD), encoding="utf-8")
    (folder / "good.py").write_text(textwrap.dedent(GOOD), encoding="utf-8")
    stdout, stderr, _status = mypy_api.run(
        [
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--cache-dir",
            str(folder / "cache"),
            str(folder / "bad.py"),
            str(folder / "good.py"),
        ]
    )
    assert not stderr, stderr
    return stdout


def _errors(report: str, name: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for match in re.finditer(rf"^.*{name}:(\d+): error: (.*)$", report, flags=re.MULTILINE):
        found.setdefault(int(match.group(1)), []).append(match.group(2))
    return found


@pytest.mark.timeout(180)
def test_each_sync_mistake_is_a_type_error_on_its_line(mypy_report: str) -> None:
    errors = _errors(mypy_report, "bad.py")
    expected = {
        number: line.split("# E: ", 1)[1].strip()
        for number, line in enumerate(textwrap.dedent(BAD).splitlines(), start=1)
        if "# E: " in line
    }
    assert sorted(errors) == sorted(expected), mypy_report
    for number, words in expected.items():
        assert any(words in text for text in errors[number]), (number, errors[number])


@pytest.mark.timeout(180)
def test_right_use_of_every_sync_option_passes_strict(mypy_report: str) -> None:
    assert "good.py" not in mypy_report, mypy_report
