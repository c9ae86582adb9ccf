"""OpenTelemetry for streams: a span per connection attempt, and metrics.

Optional (``pip install 'expys-stream[otel]'``) and off until the caller
turns it on: ``import expys_stream`` never imports this module, nor
``opentelemetry``. Two ways to turn it on:

* ``instrument()`` once: every stream created afterwards gets an observer
  (``uninstrument()`` stops that for new streams);
* ``OpenTelemetryObserver()`` in a stream's ``observers`` argument.

The tracer and meter come from the providers given, else from the global
ones (OpenTelemetry's proxies follow a global provider set later). The
names follow the HTTP client semantic conventions; the stream's own
metrics are prefixed ``expys_stream.``. No attribute holds a credential: the
URL is reduced to scheme, host, port and path, errors are named by their
type, never by their text.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from . import __version__
from ._errors import HTTPStatusError, ReadTimeout
from ._lifecycle import (
    Connected,
    Connecting,
    Disconnected,
    LifecycleEvent,
    Retrying,
    StreamStats,
    add_default_observer,
    remove_default_observer,
)
from .sse import ServerSentEvent

__all__ = [
    "MAX_EVENT_TYPES",
    "METRIC_CONNECTION_DURATION",
    "METRIC_EVENTS",
    "METRIC_RECONNECTS",
    "METRIC_STALLS",
    "METRIC_TIME_TO_FIRST_EVENT",
    "OpenTelemetryObserver",
    "instrument",
    "uninstrument",
]

SCOPE = "expys_stream"
METRIC_RECONNECTS = "expys_stream.reconnects"
METRIC_CONNECTION_DURATION = "expys_stream.connection.duration"
METRIC_EVENTS = "expys_stream.events"
METRIC_STALLS = "expys_stream.stalls"
METRIC_TIME_TO_FIRST_EVENT = "expys_stream.time_to_first_event"
ATTR_EVENT_TYPE = "expys_stream.event.type"
ATTR_RETRY_REASON = "expys_stream.retry.reason"
ATTR_ATTEMPT = "expys_stream.attempt"

MAX_EVENT_TYPES = 64
"""Distinct event types counted under their own name; later ones are
counted as ``"_other"``, so that a server cannot grow the metric without
bound."""


class _Instruments:
    """A tracer and the instruments, made once per pair of providers."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.reconnects = meter.create_counter(
            METRIC_RECONNECTS, unit="{reconnect}", description="Retries of a stream's connection."
        )
        self.duration = meter.create_histogram(
            METRIC_CONNECTION_DURATION, unit="s", description="How long connections stayed open."
        )
        self.events = meter.create_counter(
            METRIC_EVENTS, unit="{event}", description="Server-sent events received."
        )
        self.stalls = meter.create_counter(
            METRIC_STALLS, unit="{stall}", description="Connections the read timeout found silent."
        )
        self.first_event = meter.create_histogram(
            METRIC_TIME_TO_FIRST_EVENT,
            unit="s",
            description="From a connection's response to its first event.",
        )
        self.types: set[str] = set()

    def event_type(self, name: str) -> str:
        if name in self.types:
            return name
        if len(self.types) < MAX_EVENT_TYPES:
            self.types.add(name)
            return name
        return "_other"


# Keyed by the providers' ids; the providers are kept alive with the entry,
# so an id is never reused while it is a key.
_CACHE: dict[tuple[int, int], tuple[Any, Any, _Instruments]] = {}


def _instruments(tracer_provider: Any, meter_provider: Any) -> _Instruments:
    key = (id(tracer_provider), id(meter_provider))
    entry = _CACHE.get(key)
    if entry is None:
        entry = _CACHE[key] = (
            tracer_provider,
            meter_provider,
            _Instruments(tracer_provider, meter_provider),
        )
    return entry[2]


def _error_type(error: BaseException) -> str:
    if isinstance(error, HTTPStatusError):
        return str(error.status)  # as the HTTP conventions ask
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"


def _server(url: str) -> tuple[str, int]:
    # ``url`` is a Connecting event's: already without userinfo or query.
    scheme, _, rest = url.partition("://")
    hostport = rest.split("/", 1)[0]
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = hostport.partition(":")
    default = 443 if scheme == "https" else 80
    return host, int(port) if port.isdigit() else default


class OpenTelemetryObserver:
    """Turns one stream's connection events into spans and metrics.

    One per stream (it follows that stream's attempts). Pass it in a
    stream's ``observers``, or call `expys_stream.otel.instrument()`
    to give every new stream one.

    Args:
        tracer_provider: where spans go; the global provider if None.
        meter_provider: where metrics go; the global provider if None.
        clock: monotonic seconds, for the time to the first event.
    """

    __slots__ = ("_attrs", "_clock", "_first_pending", "_instruments", "_opened_at", "_span")

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._instruments = _instruments(tracer_provider, meter_provider)
        self._clock = clock
        self._span: Span | None = None
        self._attrs: dict[str, str | int] = {}
        self._opened_at = 0.0
        self._first_pending = False

    def on_lifecycle(self, event: LifecycleEvent, stats: StreamStats) -> None:
        """Start, annotate and end the attempt's span; record the metrics."""
        if isinstance(event, Connecting):
            self._begin(event)
        elif isinstance(event, Connected):
            self._opened_at = self._clock()
            self._first_pending = True
            if self._span is not None:
                self._span.set_attribute("http.response.status_code", event.status)
        elif isinstance(event, Disconnected):
            self._end(event)
        elif isinstance(event, Retrying):
            attrs: dict[str, str | int] = {**self._attrs, ATTR_RETRY_REASON: event.reason}
            if event.error is not None:  # (None: the caller's restart())
                attrs["error.type"] = _error_type(event.error)
            self._instruments.reconnects.add(1, attrs)

    def on_items(self, items: Sequence[Any]) -> None:
        """Count a batch's events by type; time the connection's first one."""
        counts = Counter(item._event for item in items if type(item) is ServerSentEvent)
        if not counts:
            return
        instruments = self._instruments
        if self._first_pending:
            self._first_pending = False
            instruments.first_event.record(max(0.0, self._clock() - self._opened_at), self._attrs)
        for name, n in counts.items():
            instruments.events.add(
                n, {**self._attrs, ATTR_EVENT_TYPE: instruments.event_type(name)}
            )

    def _begin(self, event: Connecting) -> None:
        if self._span is not None:  # (the table pairs them; be safe anyway)
            self._span.end()
        host, port = _server(event.url)
        self._attrs = {"server.address": host, "server.port": port}
        self._first_pending = False
        self._span = self._instruments.tracer.start_span(
            event.method,
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": event.method,
                "server.address": host,
                "server.port": port,
                "url.full": event.url,
                ATTR_ATTEMPT: event.attempt,
            },
        )

    def _end(self, event: Disconnected) -> None:
        instruments = self._instruments
        error = event.error
        attrs = dict(self._attrs)
        if error is not None:
            attrs["error.type"] = _error_type(error)
            if isinstance(error, ReadTimeout):
                instruments.stalls.add(1, self._attrs)
        if event.was_open:
            instruments.duration.record(event.duration, attrs)
        self._first_pending = False
        span = self._span
        if span is None:
            return
        self._span = None
        if error is not None:
            span.set_attribute("error.type", attrs["error.type"])
            if isinstance(error, HTTPStatusError):
                span.set_attribute("http.response.status_code", error.status)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


_FACTORIES: dict[tuple[int, int], Callable[[], OpenTelemetryObserver]] = {}


def instrument(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Give every stream created from now on an `OpenTelemetryObserver`.

    Calling it again with the same providers changes nothing; with others,
    streams get one observer per call.
    """
    key = (id(tracer_provider), id(meter_provider))
    if key in _FACTORIES:
        return

    def factory() -> OpenTelemetryObserver:
        return OpenTelemetryObserver(tracer_provider=tracer_provider, meter_provider=meter_provider)

    _FACTORIES[key] = factory
    add_default_observer(factory)


def uninstrument() -> None:
    """Stop giving new streams observers; streams already open keep theirs."""
    for factory in _FACTORIES.values():
        remove_default_observer(factory)
    _FACTORIES.clear()
