"""The options have one source of truth, and run time refuses what types refuse.

``ClientOptions`` / ``EventStreamOptions`` (names and types, for type
checkers), ``Settings`` (the defaults) and the docstrings and docs/client.md
(the meaning) must agree; an unknown option name is a ``TypeError`` at run
time too, naming the nearest known one.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path
from typing import Any

import pytest

import expys_stream
from expys_stream import Client, open_event_stream, open_message_stream
from expys_stream._options import (
    CLIENT_OPTION_NAMES,
    EVENT_STREAM_OPTION_NAMES,
    ClientOptions,
    EventStreamOptions,
    Settings,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "client.md"
NOWHERE = "http://127.0.0.1:9"  # nothing listens; nothing here does I/O


def test_the_typed_dicts_and_the_settings_have_the_same_names_and_types() -> None:
    settings = typing.get_type_hints(Settings)
    assert typing.get_type_hints(ClientOptions) == settings
    events = typing.get_type_hints(EventStreamOptions)
    assert events == {name: settings[name] for name in EVENT_STREAM_OPTION_NAMES}
    assert set(settings) - set(events) == {"request_retries"}
    assert set(settings) == CLIENT_OPTION_NAMES
    # Every option may be left out.
    assert ClientOptions.__required_keys__ == frozenset()


def _documented_defaults(cls: type) -> dict[str, str]:
    # Each "Attributes:" entry, "name: text ... Default ``value``.", to its value.
    doc = (inspect.getdoc(cls) or "").split("Attributes:\n", 1)[1]
    entries = re.split(r"^    (\w+): ", doc, flags=re.MULTILINE)[1:]
    found = {}
    for name, text in zip(entries[::2], entries[1::2], strict=True):
        defaults = re.findall(r"Default ``(.*?)``\.", " ".join(text.split()))
        assert len(defaults) == 1, (name, text)
        found[name] = defaults[0]
    return found


def test_each_docstring_states_the_default_that_applies() -> None:
    documented = {
        **_documented_defaults(EventStreamOptions),
        **_documented_defaults(ClientOptions),
    }
    assert set(documented) == CLIENT_OPTION_NAMES
    for field in dataclasses.fields(Settings):
        assert documented[field.name] == repr(field.default), field.name


def test_the_docs_options_table_lists_every_option() -> None:
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \|", table, re.MULTILINE)
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row)}
    assert named >= CLIENT_OPTION_NAMES, CLIENT_OPTION_NAMES - named


def test_the_public_api_exports_the_option_types() -> None:
    assert expys_stream.ClientOptions is ClientOptions
    assert expys_stream.EventStreamOptions is EventStreamOptions
    for function in (Client.__init__, open_message_stream):
        annotation = inspect.signature(function).parameters["options"].annotation
        assert "Unpack[ClientOptions]" in str(annotation)
    annotation = inspect.signature(open_event_stream).parameters["options"].annotation
    assert "Unpack[EventStreamOptions]" in str(annotation)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda o: Client(token="t", base_url=NOWHERE, **o),
            r"Client\(\) got an unexpected keyword argument 'read_timout'; "
            r"did you mean 'read_timeout'\?",
        ),
        (
            lambda o: open_message_stream("c", token="t", base_url=NOWHERE, **o),
            r"Client\(\) got an unexpected keyword argument 'read_timout'",
        ),
        (
            lambda o: open_event_stream(NOWHERE + "/s", **o),
            r"open_event_stream\(\) got an unexpected keyword argument 'read_timout'; did you",
        ),
    ],
)
def test_a_misspelt_option_is_a_type_error_at_run_time(call: Any, words: str) -> None:
    with pytest.raises(TypeError, match=words):
        call({"read_timout": 5.0})


def test_an_option_of_the_client_only_is_refused_by_the_event_stream() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'request_retries'"):
        open_event_stream(NOWHERE + "/s", request_retries=1)  # type: ignore[call-arg]


def test_a_name_like_no_option_gets_no_suggestion() -> None:
    with pytest.raises(TypeError) as caught:
        Client(token="t", base_url=NOWHERE, zzz=1)  # type: ignore[call-arg]
    assert str(caught.value) == "Client() got an unexpected keyword argument 'zzz'"


def test_the_defaults_apply_when_an_option_is_left_out() -> None:
    stream = open_event_stream(NOWHERE + "/s")
    defaults = Settings()
    assert stream._options.connect_timeout == defaults.connect_timeout == 10.0
    assert stream._options.read_timeout == defaults.read_timeout == 45.0
    assert stream._options.backoff.base == defaults.backoff_base
    assert stream._options.backoff.cap == defaults.backoff_cap
    assert stream._options.backoff.reset_after == defaults.reset_after
    assert stream._options.max_retries is None
    assert stream._options.max_event_size == defaults.max_event_size == 1024 * 1024
    client = Client(token="t", base_url=NOWHERE)
    assert client._request_retries == defaults.request_retries == 3


def test_given_options_reach_the_stream() -> None:
    stream = open_message_stream(
        "c", token="t", base_url=NOWHERE, read_timeout=2.5, max_retries=4, backoff_base=0.25
    )
    assert stream._options.read_timeout == 2.5
    assert stream._options.max_retries == 4
    assert stream._options.backoff.base == 0.25
