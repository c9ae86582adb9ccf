"""The sync API mirrors the async one: same parameters, documented the same."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

import expys_stream
from expys_stream import sync

PAIRS: list[tuple[Callable[..., Any], Callable[..., Any]]] = [
    (sync.Client.__init__, expys_stream.Client.__init__),
    (sync.Client.list_messages, expys_stream.Client.list_messages),
    (sync.Client.send_message, expys_stream.Client.send_message),
    (sync.Client.open_message_stream, expys_stream.Client.open_message_stream),
    (sync.open_message_stream, expys_stream.open_message_stream),
    (sync.open_event_stream, expys_stream.open_event_stream),
]
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
        return [(p.name, p.kind, p.default, p.annotation) for p in signature.parameters.values()]

    assert described(mine) == described(theirs)
    expected = TWINS.get(theirs.return_annotation, theirs.return_annotation)
    if pair[0] is sync.Client.__init__:
        expected = None
    assert mine.return_annotation == expected


def documented_args(function: Callable[..., Any]) -> list[str]:
    doc = inspect.getdoc(function) or ""
    if "Args:" not in doc:
        return []
    section = doc.split("Args:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^    (\w+):", section, flags=re.MULTILINE)


@pytest.mark.parametrize(
    "pair",
    [*PAIRS[1:], (sync.Client, expys_stream.Client)],
    ids=lambda pair: pair[0].__qualname__,
)
def test_docstrings_describe_the_same_arguments_and_errors(
    pair: tuple[Callable[..., Any], Callable[..., Any]],
) -> None:
    mine, theirs = pair
    assert documented_args(mine) == documented_args(theirs)
    raised = re.compile(r"\b([A-Z]\w+(?:Error|Exceeded|Closed))\b")
    their_errors = set(raised.findall(inspect.getdoc(theirs) or ""))
    assert their_errors <= set(raised.findall(inspect.getdoc(mine) or ""))


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
        for attribute in public:
            assert hasattr(mine, renamed.get(attribute, attribute)), attribute
