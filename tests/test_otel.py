"""OpenTelemetry spans and metrics from a stream's lifecycle, with the real SDK.

The lifecycle is driven directly through a realistic life (connect, events,
a read-timeout stall, a retry for each reason, a final error), inside a task
on asyncio and on trio; the spans come out of the SDK's in-memory exporter
and the metrics out of its in-memory reader.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from expys_stream import ConnectError, PermissionDeniedError, ReadTimeout, ServerError
from expys_stream._lifecycle import Lifecycle
from expys_stream._policy import Delay
from expys_stream.otel import MAX_EVENT_TYPES, OpenTelemetryObserver, instrument, uninstrument
from expys_stream.sse import Comment, ServerSentEvent

HOST_URL = "http://127.0.0.1:8123/v1/conversations/cnv_1/stream"
SSE_HEADERS = [("content-type", "text/event-stream")]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        out: list[Any] = []
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        out.extend(metric.data.data_points)
        return out

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def make_telemetry() -> Telemetry:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return Telemetry(tracer_provider, meter_provider, spans, reader)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = make_telemetry()
    yield t
    t.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events(*types: str) -> list[Any]:
    return [ServerSentEvent(event=t, data="{}") for t in types]


async def live(lifecycle: Lifecycle, clock: Clock, url: str = HOST_URL) -> None:
    """A stream's life, with a checkpoint between steps as a reader would have."""
    on_items = lifecycle.on_items
    assert on_items is not None
    # 1: connects, gets events, then goes silent: the read timeout.
    lifecycle.begin(1, "GET", url)
    clock.now += 0.1
    lifecycle.connected(200, SSE_HEADERS, "")
    await anyio.lowlevel.checkpoint()
    clock.now += 0.5
    on_items([Comment("hello"), *events("message", "message", "typing")])
    on_items(events("message"))
    clock.now += 45.0
    lifecycle.retry(ReadTimeout("nothing for 45 s"), Delay(0.3, "backoff"))
    await anyio.lowlevel.checkpoint()
    # 2: 503 with Retry-After.
    lifecycle.begin(2, "GET", url)
    lifecycle.retry(ServerError(503), Delay(7.0, "retry_after"))
    await anyio.lowlevel.checkpoint()
    # 3: refused; the stream's retry: field is the floor.
    lifecycle.begin(3, "GET", url)
    lifecycle.retry(ConnectError("connection refused"), Delay(2.0, "retry_field"))
    await anyio.lowlevel.checkpoint()
    # 4: connects, one event after 2 s, dropped; the server's delay is capped.
    lifecycle.begin(4, "GET", url)
    lifecycle.connected(200, SSE_HEADERS, "msg_4")
    clock.now += 2.0
    on_items([Comment("keepalive")])  # a comment is not the first event
    on_items(events("message"))
    clock.now += 8.0
    lifecycle.retry(ConnectError("connection reset"), Delay(300.0, "capped"))
    await anyio.lowlevel.checkpoint()
    # 5: the token no longer has access: final.
    lifecycle.begin(5, "GET", url)
    lifecycle.give_up(PermissionDeniedError(403))


def by_attrs(points: list[Any], key: str) -> dict[Any, Any]:
    return {p.attributes.get(key): p for p in points}


@pytest.mark.anyio
async def test_a_life_as_spans_and_metrics(telemetry: Telemetry) -> None:
    clock = Clock()
    observer = OpenTelemetryObserver(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        clock=clock,
    )
    lifecycle = Lifecycle([observer], clock=clock)
    await live(lifecycle, clock)

    spans = telemetry.finished()
    assert [s.name for s in spans] == ["GET"] * 5
    assert all(s.kind is SpanKind.CLIENT for s in spans)
    common = {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": 8123,
        "url.full": HOST_URL,
    }
    for number, span in enumerate(spans, 1):
        attrs = dict(span.attributes or {})
        assert {k: attrs[k] for k in common} == common
        assert attrs["expys_stream.attempt"] == number
        assert span.status.status_code is StatusCode.ERROR
    attrs = [dict(s.attributes or {}) for s in spans]
    assert attrs[0]["http.response.status_code"] == 200
    assert attrs[0]["error.type"] == "expys_stream.ReadTimeout"
    assert attrs[1]["http.response.status_code"] == 503
    assert attrs[1]["error.type"] == "503"
    assert "http.response.status_code" not in attrs[2]
    assert attrs[2]["error.type"] == "expys_stream.ConnectError"
    assert attrs[3]["http.response.status_code"] == 200
    assert attrs[4]["error.type"] == "403"

    reconnects = by_attrs(telemetry.points("expys_stream.reconnects"), "expys_stream.retry.reason")
    assert {reason: p.value for reason, p in reconnects.items()} == {
        "backoff": 1,
        "retry_after": 1,
        "retry_field": 1,
        "capped": 1,
    }
    assert reconnects["backoff"].attributes["error.type"] == "expys_stream.ReadTimeout"
    assert reconnects["retry_after"].attributes["error.type"] == "503"
    assert reconnects["backoff"].attributes["server.address"] == "127.0.0.1"

    [stalls] = telemetry.points("expys_stream.stalls")
    assert stalls.value == 1
    assert dict(stalls.attributes) == {"server.address": "127.0.0.1", "server.port": 8123}

    durations = by_attrs(telemetry.points("expys_stream.connection.duration"), "error.type")
    assert durations["expys_stream.ReadTimeout"].count == 1
    assert durations["expys_stream.ReadTimeout"].sum == pytest.approx(45.5)
    assert durations["expys_stream.ConnectError"].count == 1
    assert durations["expys_stream.ConnectError"].sum == pytest.approx(10.0)

    counted = by_attrs(telemetry.points("expys_stream.events"), "expys_stream.event.type")
    assert {t: p.value for t, p in counted.items()} == {"message": 4, "typing": 1}

    [first] = telemetry.points("expys_stream.time_to_first_event")
    assert first.count == 2
    assert first.sum == pytest.approx(0.5 + 2.0)


@pytest.mark.anyio
async def test_instrument_gives_every_new_stream_an_observer(telemetry: Telemetry) -> None:
    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        clock = Clock()
        await live(Lifecycle(clock=clock), clock)
        await live(Lifecycle(clock=clock), clock)
    finally:
        uninstrument()
    assert len(telemetry.finished()) == 10  # one observer per stream, not two
    assert Lifecycle().on_items is None  # uninstrumented: new streams have none
    [stalls] = telemetry.points("expys_stream.stalls")
    assert stalls.value == 2


def test_event_types_are_bounded(telemetry: Telemetry) -> None:
    observer = OpenTelemetryObserver(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    lifecycle = Lifecycle([observer])
    lifecycle.begin(1, "GET", HOST_URL)
    lifecycle.connected(200, SSE_HEADERS, "")
    assert lifecycle.on_items is not None
    lifecycle.on_items(events(*(f"type{i}" for i in range(MAX_EVENT_TYPES + 10))))
    counted = by_attrs(telemetry.points("expys_stream.events"), "expys_stream.event.type")
    assert len(counted) == MAX_EVENT_TYPES + 1
    assert counted["_other"].value == 10
    lifecycle.close()
    [span] = telemetry.finished()
    assert span.status.status_code is StatusCode.UNSET  # closed by the caller: no error


def test_ipv6_and_default_ports(telemetry: Telemetry) -> None:
    observer = OpenTelemetryObserver(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    lifecycle = Lifecycle([observer])
    for url, host, port in [
        ("http://[::1]:9000/s", "::1", 9000),
        ("https://example.test/s", "example.test", 443),
        ("http://example.test/s", "example.test", 80),
    ]:
        lifecycle.begin(1, "POST", url)
        lifecycle.retry(ConnectError("x"), Delay(0.0, "backoff"))
        span = telemetry.finished()[-1]
        assert span.attributes is not None
        assert (span.attributes["server.address"], span.attributes["server.port"]) == (host, port)
        assert span.attributes["http.request.method"] == "POST"


# A real token is random; a bare random string may also spell a name the
# telemetry legitimately holds ("expys_stream"), so each one starts with a
# prefix no attribute, metric or span name contains.
_TOKENS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
    min_size=8,
    max_size=36,
).map(lambda rest: "Zq9K" + rest)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=_TOKENS)
def test_the_token_is_never_in_an_attribute(token: str) -> None:
    t = make_telemetry()
    try:
        observer = OpenTelemetryObserver(
            tracer_provider=t.tracer_provider, meter_provider=t.meter_provider
        )
        lifecycle = Lifecycle([observer])
        url = f"http://alice:{token}@127.0.0.1:8123/v1/stream?token={token}#{token}"
        anyio.run(live, lifecycle, Clock(), url)
        # The errors' texts and the response headers hold it too.
        lifecycle2 = Lifecycle([observer])
        lifecycle2.begin(1, "GET", url)
        lifecycle2.connected(200, [("set-cookie", f"session={token}")], token)
        assert lifecycle2.on_items is not None
        lifecycle2.on_items(events("message"))
        lifecycle2.retry(ConnectError(f"refused for {token}"), Delay(0.1, "backoff"))
        lifecycle2.give_up(ReadTimeout(f"bearer {token}"))
        spans = t.finished()
        assert spans
        dumped = [
            json.dumps(
                [
                    dict(s.attributes or {}),
                    s.name,
                    s.status.description,
                    [dict(e.attributes or {}) for e in s.events],
                ],
                default=str,
            )
            for s in spans
        ]
        data = t.metrics.get_metrics_data()
        assert data is not None
        dumped.append(data.to_json())
        for text in dumped:
            assert token not in text
        assert dict(spans[0].attributes or {})["url.full"] == "http://127.0.0.1:8123/v1/stream"
    finally:
        t.close()


def test_importing_expys_stream_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, json, expys_stream, expys_stream._lifecycle, expys_stream._policy, "
        "expys_stream.sse; expys_stream.open_event_stream; expys_stream.Client; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_a_restart_is_a_reconnect_without_an_error_type(telemetry: Telemetry) -> None:
    observer = OpenTelemetryObserver(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    lifecycle = Lifecycle([observer])
    lifecycle.begin(1, "GET", HOST_URL)
    lifecycle.connected(200, SSE_HEADERS, "")
    lifecycle.retry(None, Delay(0.2, "backoff"), next_attempt=1)  # restart()
    lifecycle.begin(1, "GET", HOST_URL)
    lifecycle.close()
    (point,) = telemetry.points("expys_stream.reconnects")
    assert point.value == 1
    assert "error.type" not in point.attributes
    assert point.attributes["expys_stream.retry.reason"] == "backoff"
    spans = telemetry.finished()
    assert len(spans) == 2
    assert all(span.status.status_code is not StatusCode.ERROR for span in spans)
    assert [span.attributes["expys_stream.attempt"] for span in spans] == [1, 1]
