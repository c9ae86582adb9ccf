"""The connection state machine: its table, its events, its statistics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expys_stream import ConnectError, PermissionDeniedError, ReadTimeout, RetryLimitExceeded
from expys_stream._lifecycle import (
    Connected,
    Connecting,
    Disconnected,
    GaveUp,
    Lifecycle,
    LifecycleError,
    LifecycleEvent,
    Retrying,
    StreamState,
    StreamStats,
    add_default_observer,
    remove_default_observer,
    safe_url,
)
from expys_stream._policy import Delay
from expys_stream.sse import Comment, ServerSentEvent, SSEDecoder

URL = "http://127.0.0.1:8000/v1/stream"
S = StreamState


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> tuple[Lifecycle, list[LifecycleEvent], Clock]:
    seen: list[LifecycleEvent] = []
    clock = Clock()
    return Lifecycle([seen.append], clock=clock, **kwargs), seen, clock


# --- The table ----------------------------------------------------------------------

# How to reach each state (with an attempt in flight or not), from a fresh machine.
SETUPS: dict[str, Callable[[Lifecycle], None]] = {
    "connecting (before the first attempt)": lambda lc: None,
    "connecting (attempt in flight)": lambda lc: lc.begin(1, "GET", URL),
    "open": lambda lc: (lc.begin(1, "GET", URL), lc.connected(200, [], "")),
    "retrying": lambda lc: (
        lc.begin(1, "GET", URL),
        lc.retry(ConnectError("x"), Delay(1, "backoff")),
    ),
    "closed": lambda lc: lc.close(),
}
ERROR = ConnectError("refused")
INPUTS: dict[str, Callable[[Lifecycle], None]] = {
    "begin": lambda lc: lc.begin(2, "GET", URL),
    "connected": lambda lc: lc.connected(200, [("content-type", "text/event-stream")], "7"),
    "retry": lambda lc: lc.retry(ERROR, Delay(0.5, "backoff")),
    "give_up": lambda lc: lc.give_up(ERROR),
    "close": lambda lc: lc.close(),
}
# (setup, input) -> (next state, the types of the events emitted); absent: refused.
TABLE: dict[tuple[str, str], tuple[StreamState, list[type]]] = {
    ("connecting (before the first attempt)", "begin"): (S.CONNECTING, [Connecting]),
    ("connecting (before the first attempt)", "give_up"): (S.CLOSED, [GaveUp]),
    ("connecting (before the first attempt)", "close"): (S.CLOSED, []),
    ("connecting (attempt in flight)", "connected"): (S.OPEN, [Connected]),
    ("connecting (attempt in flight)", "retry"): (S.RETRYING, [Disconnected, Retrying]),
    ("connecting (attempt in flight)", "give_up"): (S.CLOSED, [Disconnected, GaveUp]),
    ("connecting (attempt in flight)", "close"): (S.CLOSED, [Disconnected]),
    ("open", "retry"): (S.RETRYING, [Disconnected, Retrying]),
    ("open", "give_up"): (S.CLOSED, [Disconnected, GaveUp]),
    ("open", "close"): (S.CLOSED, [Disconnected]),
    ("retrying", "begin"): (S.CONNECTING, [Connecting]),
    ("retrying", "give_up"): (S.CLOSED, [GaveUp]),
    ("retrying", "close"): (S.CLOSED, []),
    ("closed", "close"): (S.CLOSED, []),
}


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("step", list(INPUTS))
def test_every_state_and_input(setup: str, step: str) -> None:
    lifecycle, seen, _ = make()
    SETUPS[setup](lifecycle)
    before = len(seen)
    state_before = lifecycle.state
    expected = TABLE.get((setup, step))
    if expected is None:
        with pytest.raises(LifecycleError, match=step):
            INPUTS[step](lifecycle)
        assert lifecycle.state is state_before  # a refused input changes nothing
        assert len(seen) == before
        return
    INPUTS[step](lifecycle)
    state, types = expected
    assert lifecycle.state is state
    assert [type(e) for e in seen[before:]] == types


# --- A realistic life ---------------------------------------------------------------


def test_a_life_in_order() -> None:
    lifecycle, seen, clock = make()
    stats = lifecycle.stats
    headers = [("content-type", "text/event-stream"), ("x-request-id", "r1")]
    lifecycle.begin(1, "GET", "http://user:secret@127.0.0.1:8000/v1/stream?key=k#f")
    clock.now += 0.25
    lifecycle.connected(200, headers, "")
    assert lifecycle.state is S.OPEN
    stats.bytes += 500  # what the reader does per socket read
    stats.events += 3
    stats.last_byte_at = clock.now
    clock.now += 10.0
    assert stats.time_connected() > 0  # (the real monotonic clock: only a sign)
    assert stats.time_connected(clock.now) == 10.0
    lifecycle.retry(ReadTimeout("silent"), Delay(0.4, "backoff"))
    lifecycle.begin(2, "GET", URL)
    lifecycle.retry(ConnectError("refused"), Delay(3.0, "retry_field"))
    lifecycle.begin(3, "GET", URL)
    clock.now += 1.0
    lifecycle.connected(200, headers, "msg_9")
    clock.now += 2.0
    lifecycle.retry(ConnectError("reset"), Delay(300.0, "capped"))
    final = RetryLimitExceeded(3, PermissionDeniedError(403))
    lifecycle.give_up(final)
    assert lifecycle.state is S.CLOSED
    lifecycle.close()  # idempotent
    assert seen == [
        Connecting(1, "GET", "http://127.0.0.1:8000/v1/stream"),
        Connected(200, tuple(headers), "", 1),
        Disconnected(seen[2].error, True, 10.0),  # type: ignore[union-attr]
        Retrying(2, 0.4, "backoff", seen[2].error),  # type: ignore[union-attr]
        Connecting(2, "GET", URL),
        Disconnected(seen[5].error, False, 0.0),  # type: ignore[union-attr]
        Retrying(3, 3.0, "retry_field", seen[5].error),  # type: ignore[union-attr]
        Connecting(3, "GET", URL),
        Connected(200, tuple(headers), "msg_9", 3),
        Disconnected(seen[9].error, True, 2.0),  # type: ignore[union-attr]
        Retrying(4, 300.0, "capped", seen[9].error),  # type: ignore[union-attr]
        GaveUp(final),
    ]
    assert isinstance(seen[2], Disconnected)
    assert isinstance(seen[2].error, ReadTimeout)
    assert (stats.attempts, stats.connections, stats.reconnects) == (3, 2, 2)
    assert (stats.events, stats.bytes, stats.last_byte_at) == (3, 500, 100.25)
    assert stats.time_connected() == 12.0
    assert stats.connected_since is None
    assert repr(stats) == (
        "StreamStats(attempts=3, connections=2, reconnects=2, events=3, bytes=500)"
    )


def test_close_ends_the_attempt_in_flight_without_an_error() -> None:
    lifecycle, seen, clock = make()
    lifecycle.begin(1, "POST", URL)
    lifecycle.connected(200, [], "")
    clock.now += 5.0
    assert lifecycle.connected_for() == 5.0
    lifecycle.close()
    assert seen[-1] == Disconnected(None, True, 5.0)
    assert lifecycle.state is S.CLOSED
    assert lifecycle.connected_for() is None


def test_a_final_error_before_any_connection() -> None:
    lifecycle, seen, _ = make()
    lifecycle.begin(1, "GET", URL)
    denied = PermissionDeniedError(403)
    lifecycle.give_up(denied)
    assert seen[1:] == [Disconnected(denied, False, 0.0), GaveUp(denied)]
    assert lifecycle.connected_for() is None


def test_begin_twice_is_refused() -> None:
    lifecycle, _, _ = make()
    lifecycle.begin(1, "GET", URL)
    with pytest.raises(LifecycleError, match="in flight"):
        lifecycle.begin(1, "GET", URL)


def test_connected_needs_an_attempt() -> None:
    lifecycle, _, _ = make()
    with pytest.raises(LifecycleError, match="no attempt"):
        lifecycle.connected(200, [], "")


# --- Observers and the outbox -------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[LifecycleEvent, int]] = []
        self.batches: list[list[Any]] = []

    def on_lifecycle(self, event: LifecycleEvent, stats: StreamStats) -> None:
        self.events.append((event, stats.attempts))

    def on_items(self, items: list[Any]) -> None:
        self.batches.append(list(items))


class LifecycleOnly:
    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []

    def on_lifecycle(self, event: LifecycleEvent, stats: StreamStats) -> None:
        self.events.append(event)


def test_observers_get_events_and_stats_and_batches() -> None:
    recorder = Recorder()
    lifecycle = Lifecycle([recorder])
    lifecycle.begin(1, "GET", URL)
    assert recorder.events == [(Connecting(1, "GET", URL), 1)]
    assert lifecycle.on_items is not None
    batch = [ServerSentEvent(data="a"), Comment("k")]
    lifecycle.on_items(batch)
    assert recorder.batches == [batch]


def test_no_batch_observer_means_no_batch_hook() -> None:
    assert Lifecycle().on_items is None
    assert Lifecycle([LifecycleOnly(), print]).on_items is None


def test_a_failing_observer_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: LifecycleEvent) -> None:
        raise RuntimeError("observer bug")

    class BrokenBatch(LifecycleOnly):
        def on_items(self, items: list[Any]) -> None:
            raise RuntimeError("batch bug")

    after = LifecycleOnly()
    lifecycle = Lifecycle([broken, BrokenBatch(), after])
    with caplog.at_level(logging.ERROR, logger="expys_stream"):
        lifecycle.begin(1, "GET", URL)
        assert lifecycle.on_items is not None
        lifecycle.on_items([ServerSentEvent()])
    assert after.events == [Connecting(1, "GET", URL)]
    assert lifecycle.state is S.CONNECTING
    messages = [r.getMessage() for r in caplog.records]
    assert "a stream observer failed on Connecting" in messages
    assert "a stream observer failed on a batch of events" in messages


def test_an_observer_must_be_callable_or_have_on_lifecycle() -> None:
    with pytest.raises(TypeError, match="observer"):
        Lifecycle([42])  # type: ignore[list-item]


def test_the_outbox_queues_events_for_the_reader() -> None:
    lifecycle = Lifecycle(queue=True)
    assert lifecycle.drain() == []
    lifecycle.begin(1, "GET", URL)
    lifecycle.connected(200, [], "")
    assert [type(e) for e in lifecycle.drain()] == [Connecting, Connected]
    assert lifecycle.drain() == []
    assert Lifecycle().outbox is None


def test_default_observers_are_made_per_stream() -> None:
    made: list[LifecycleOnly] = []

    def factory() -> LifecycleOnly:
        made.append(LifecycleOnly())
        return made[-1]

    add_default_observer(factory)
    add_default_observer(factory)  # once only
    try:
        first, second = Lifecycle(), Lifecycle()
        first.begin(1, "GET", URL)
        assert len(made) == 2
        assert made[0].events == [Connecting(1, "GET", URL)]
        assert made[1].events == []
        assert second.state is S.CONNECTING
    finally:
        remove_default_observer(factory)
    Lifecycle()
    assert len(made) == 2
    remove_default_observer(factory)  # idempotent


# --- safe_url -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/a/b", "http://127.0.0.1:8000/a/b"),
        ("https://u:p@example.test/x?token=t#frag", "https://example.test/x"),
        ("http://[::1]:9/s?q", "http://[::1]:9/s"),
        ("http://HOST.test/", "http://host.test/"),
        ("http://h:99999/", "(not shown)"),
        ("http://[::1/", "(not shown)"),
    ],
)
def test_safe_url(url: str, expected: str) -> None:
    assert safe_url(url) == expected


# --- Properties ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(INPUTS)), max_size=30))
def test_any_sequence_keeps_the_invariants(steps: list[str]) -> None:
    lifecycle, seen, clock = make()
    for step in steps:
        clock.now += 1.0
        try:
            INPUTS[step](lifecycle)
        except LifecycleError:
            continue
    kinds = [type(e) for e in seen]
    stats = lifecycle.stats
    # Each Connecting is ended by one Disconnected, before the next begins.
    open_attempt = False
    for kind in kinds:
        if kind is Connecting:
            assert not open_attempt
            open_attempt = True
        elif kind is Disconnected:
            assert open_attempt
            open_attempt = False
        elif kind is Connected:
            assert open_attempt
    assert stats.attempts == kinds.count(Connecting)
    assert stats.connections == kinds.count(Connected)
    assert stats.reconnects == max(0, stats.attempts - 1)
    assert kinds.count(GaveUp) <= 1
    if GaveUp in kinds:
        assert kinds[-1] is GaveUp
        assert lifecycle.state is S.CLOSED
    ended = sum(e.duration for e in seen if isinstance(e, Disconnected))
    assert stats.time_connected(clock.now) >= ended


# --- Delivered among the events, the same on both backends --------------------------


@pytest.mark.anyio
async def test_events_and_lifecycle_travel_in_order_across_tasks() -> None:
    # The shape of the wiring: the reader task drives the machine and sends
    # the drained lifecycle items ahead of each batch; the consumer sees one
    # ordered sequence.
    send, receive = anyio.create_memory_object_stream[list[Any]](1)
    lifecycle = Lifecycle(queue=True)

    async def reader() -> None:
        async with send:
            for attempt in (1, 2):
                lifecycle.begin(attempt, "GET", URL)
                lifecycle.connected(200, [], str(attempt - 1))
                batch = [ServerSentEvent(data=f"{attempt}"), Comment("ka")]
                await send.send([*lifecycle.drain(), *batch])
                lifecycle.retry(ReadTimeout("silent"), Delay(0.0, "backoff"))
                await send.send(lifecycle.drain())
            lifecycle.close()

    seen: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        async with receive:
            async for items in receive:
                seen.extend(items)
    assert [type(item).__name__ for item in seen] == [
        "Connecting",
        "Connected",
        "ServerSentEvent",
        "Comment",
        "Disconnected",
        "Retrying",
    ] * 2
    assert [e.resume_id for e in seen if isinstance(e, Connected)] == ["0", "1"]
    assert lifecycle.state is S.CLOSED


def test_non_events_are_told_apart_by_their_kind_tag() -> None:
    # The consumers' hot loops test ``item._event == "message"``; comments
    # and connection events must pass that test as "not a message", with
    # no AttributeError and no per-item isinstance.
    error = ConnectError("x")
    items: list[Any] = [
        Comment("k"),
        Connecting(1, "GET", URL),
        Connected(200, (), "", 1),
        Disconnected(error, False, 0.0),
        Retrying(2, 1.0, "backoff", error),
        GaveUp(error),
    ]
    assert [item._event for item in items] == [""] * len(items)
    # No decoded event has that tag: an empty ``event`` field means "message".
    [event] = SSEDecoder().feed(b"event:\ndata: x\n\n")
    assert event._event == "message"


def test_connected_takes_raw_headers() -> None:
    lifecycle, seen, _ = make()
    lifecycle.begin(1, "GET", URL)
    lifecycle.connected(
        200, [(b"Content-Type", b"text/event-stream"), (b"X-Caf\xe9", b"\xe9"), ("A", "b")], "9"
    )
    assert seen[-1] == Connected(
        200, (("content-type", "text/event-stream"), ("x-caf\xe9", "\xe9"), ("a", "b")), "9", 1
    )


def test_give_up_can_name_the_error_that_ended_the_attempt() -> None:
    lifecycle, seen, _ = make()
    lifecycle.begin(4, "GET", URL)
    refused = ConnectError("refused")
    final = RetryLimitExceeded(4, refused)
    lifecycle.give_up(final, attempt_error=refused)
    assert seen[1:] == [Disconnected(refused, False, 0.0), GaveUp(final)]
