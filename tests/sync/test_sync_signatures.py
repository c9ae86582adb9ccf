"""The sync API mirrors the async one: same parameters, documented the same."""

from __future__ import annotations

import builtins
import inspect
import re
from collections.abc import Callable
from typing import Any, Unpack

import pytest

import expys_stream
from expys_stream import ClientOptions, EventStreamOptions, sync

PAIRS: list[tuple[Callable[..., Any], Callable[..., Any]]] = [
    (sync.Client.__init__, expys_stream.Client.__init__),
    (sync.Client.list_messages, expys_stream.Client.list_messages),
    (sync.Client.send_message, expys_stream.Client.send_message),
    (sync.Client.open_message_stream, expys_stream.Client.open_message_stream),
    (sync.open_message_stream, expys_stream.open_message_stream),
    (sync.open_event_stream, expys_stream.open_event_stream),
]
# Async only for now (issue 13: watching the connection): the sync facade
# does not offer them yet.
ASYNC_ONLY = {"observers", "on_event", "lifecycle", "comments", "state", "stats", "restart"}
# What a sync callable returns in place of its twin's result.
TWINS = {
    expys_stream.MessageStream: sync.MessageStream,
    expys_stream.EventStream: sync.EventStream,
}


def ids(pair: tuple[Callable[..., Any], Callable[..., Any]]) -> str:
    return pair[0].__qualname__


@pytest.mark.parametrize("pair", PAIRS, ids=ids)
def test_parameters_match_the_async_twin(
    pair: tuple[Callable[..., Any], Callable[..., Any]],
) -> None:
    mine, theirs = (inspect.signature(f, eval_str=True) for f in pair)

    def described(signature: inspect.Signature) -> list[tuple[str, Any, Any, Any]]:
        return [
            (p.name, p.kind, p.default, p.annotation)
            for p in signature.parameters.values()
            if p.name not in ASYNC_ONLY
        ]

    assert described(mine) == described(theirs)
    # (eval_str: the annotations are compared as objects, not as strings.)
    assert not any(isinstance(p.annotation, str) for p in mine.parameters.values())
    expected = TWINS.get(theirs.return_annotation, theirs.return_annotation)
    if pair[0] is sync.Client.__init__:
        expected = None
    assert mine.return_annotation == expected


@pytest.mark.parametrize(
    ("function", "options"),
    [
        (sync.Client.__init__, ClientOptions),
        (sync.open_message_stream, ClientOptions),
        (sync.open_event_stream, EventStreamOptions),
    ],
    ids=lambda value: getattr(value, "__qualname__", ""),
)
def test_options_are_the_typed_dict_of_the_async_twin(
    function: Callable[..., Any], options: type
) -> None:
    # The one source of truth: no option of its own, none spelt out again.
    parameters = inspect.signature(function, eval_str=True).parameters
    variadic = [p for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    assert [(p.name, p.annotation) for p in variadic] == [("options", Unpack[options])]
    assert not set(parameters) & set(options.__annotations__)


def section(function: Callable[..., Any], title: str) -> str:
    doc = inspect.getdoc(function) or ""
    if f"\n{title}:\n" not in doc:
        return ""
    return doc.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]


def documented_args(function: Callable[..., Any]) -> list[str]:
    return re.findall(r"^    (\*{0,2}\w+):", section(function, "Args"), flags=re.MULTILINE)


def documented_errors(function: Callable[..., Any]) -> set[str]:
    return set(re.findall(r"^    (\w+):", section(function, "Raises"), flags=re.MULTILINE))


@pytest.mark.parametrize(
    "pair",
    [*PAIRS[1:], (sync.Client, expys_stream.Client)],
    ids=lambda pair: pair[0].__qualname__,
)
def test_docstrings_describe_the_same_arguments_and_errors(
    pair: tuple[Callable[..., Any], Callable[..., Any]],
) -> None:
    mine, theirs = pair
    assert documented_args(mine) == [a for a in documented_args(theirs) if a not in ASYNC_ONLY]
    # Each error the async twin documents, the sync one documents too (it
    # may add its own: RuntimeError on an event-loop thread, StreamClosed).
    assert documented_errors(theirs) <= documented_errors(mine)
    # Every documented name is a real exception.
    for name in documented_errors(mine):
        error = getattr(expys_stream, name, None) or getattr(builtins, name, None)
        assert isinstance(error, type), name
        assert issubclass(error, Exception), name


def test_the_public_surface() -> None:
    assert sorted(sync.__all__) == [
        "Client",
        "EventStream",
        "MessageStream",
        "open_event_stream",
        "open_message_stream",
    ]
    for name in sync.__all__:
        value = getattr(sync, name)
        assert value.__module__ == "expys_stream.sync"
        assert inspect.getdoc(value)
    for cls in (sync.Client, sync.MessageStream, sync.EventStream):
        for attribute, member in vars(cls).items():
            if not attribute.startswith("_"):
                assert inspect.getdoc(member), f"{cls.__name__}.{attribute}"
    # Every public attribute of the async streams and client has a twin.
    renamed = {"aclose": "close"}
    for theirs, mine in [
        (expys_stream.Client, sync.Client),
        (expys_stream.MessageStream, sync.MessageStream),
        (expys_stream.EventStream, sync.EventStream),
    ]:
        public = {a for c in theirs.__mro__ for a in vars(c) if not a.startswith("_")}
        for attribute in public - ASYNC_ONLY:
            assert hasattr(mine, renamed.get(attribute, attribute)), attribute
