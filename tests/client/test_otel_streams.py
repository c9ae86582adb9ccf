"""OpenTelemetry end to end: instrument(), a real stream, a real drop, the SDK's records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from client_support import CONVERSATION, collect, subscribed
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from expys_stream import Client, open_event_stream
from expys_stream.otel import OpenTelemetryObserver, instrument, uninstrument
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def every_attribute_value(self) -> list[str]:
        values = [
            str(value)
            for span in self.spans.get_finished_spans()
            for value in [*(span.attributes or {}).values(), span.name, span.status.description]
        ]
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        values += [str(v) for v in (point.attributes or {}).values()]
        return values


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    made = Telemetry()
    yield made
    uninstrument()
    made.tracer_provider.shutdown()
    made.meter_provider.shutdown()


async def test_instrument_traces_each_attempt_and_counts_the_reconnect(
    server: ConciergeServer, token: str, fast: dict[str, Any], telemetry: Telemetry
) -> None:
    instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    server.faults.drop_after_events(1)
    async with (
        Client(token=token, **fast) as client,
        client.open_message_stream(CONVERSATION) as stream,
    ):
        await subscribed(server)
        sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(3)]
        assert await collect(stream, 3) == sent
        assert stream.reconnects == 1
    spans = sorted(telemetry.spans.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert len(spans) == 2  # one per attempt
    for number, span in enumerate(spans, 1):
        attributes = dict(span.attributes or {})
        assert span.name == "GET"
        assert span.kind is SpanKind.CLIENT
        assert attributes["http.request.method"] == "GET"
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["server.port"] == server.port
        assert attributes["url.full"] == f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
        assert attributes["http.response.status_code"] == 200
        assert attributes["expys_stream.attempt"] == number
    assert spans[0].status.status_code is StatusCode.ERROR
    assert "error.type" in dict(spans[0].attributes or {})
    assert spans[1].status.status_code is not StatusCode.ERROR  # we closed it
    (reconnect,) = telemetry.points("expys_stream.reconnects")
    assert reconnect.value == 1
    assert reconnect.attributes["expys_stream.retry.reason"] in (
        "backoff",
        "retry_field",
    )
    events = telemetry.points("expys_stream.events")
    assert sum(point.value for point in events) >= 3
    assert not any(token in value for value in telemetry.every_attribute_value())


async def test_an_observer_per_stream_and_a_token_in_the_url_stays_out(
    server: ConciergeServer, token: str, telemetry: Telemetry
) -> None:
    observer = OpenTelemetryObserver(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream?key={token}"
    async with open_event_stream(url, token=token, observers=[observer], max_retries=0) as s:
        await subscribed(server)
        await server.publish(CONVERSATION, "usr_bob", "hello")
        async for event in s:
            assert event.event == "message"
            break
    (span,) = telemetry.spans.get_finished_spans()
    assert dict(span.attributes or {})["url.full"].endswith("/stream")
    assert not any(token in value for value in telemetry.every_attribute_value())
