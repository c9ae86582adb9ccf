"""The public surface of ``expys_stream.testing``."""

from __future__ import annotations

import inspect

import pytest

import expys_stream.testing as testing


def test_all_names_resolve_and_are_documented() -> None:
    assert testing.__all__ == sorted(
        [
            "ConciergeServer",
            "ConciergeThread",
            "ConnectionInfo",
            "Faults",
            "RecordedRequest",
            "serve_concierge",
        ]
    )
    for name in testing.__all__:
        value = getattr(testing, name)
        assert inspect.getdoc(value), name
        assert value.__module__ == "expys_stream.testing", name
    assert set(testing.__all__) <= set(dir(testing))


def test_public_methods_are_documented() -> None:
    for cls in (testing.ConciergeServer, testing.ConciergeThread, testing.Faults):
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            assert inspect.getdoc(member), f"{cls.__name__}.{name}"


def test_unknown_name() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        testing.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_thread_mirrors_the_server() -> None:
    server_api = {n for n in vars(testing.ConciergeServer) if not n.startswith("_")}
    thread_api = {n for n in vars(testing.ConciergeThread) if not n.startswith("_")}
    assert server_api <= thread_api
    for name in server_api:
        if inspect.iscoroutinefunction(getattr(testing.ConciergeServer, name)):
            assert inspect.iscoroutinefunction(getattr(testing.ConciergeThread, "a" + name)), name
