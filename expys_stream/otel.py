"""OpenTelemetry for expys_stream streams (``pip install 'expys-stream[otel]'``).

Importing this module imports ``opentelemetry``; importing ``expys_stream``
does not. See docs/observability.md for the spans and metrics.

    import expys_stream.otel

    expys_stream.otel.instrument()  # every stream opened from now on
"""

from ._otel import MAX_EVENT_TYPES as MAX_EVENT_TYPES
from ._otel import OpenTelemetryObserver as OpenTelemetryObserver
from ._otel import instrument as instrument
from ._otel import uninstrument as uninstrument

__all__ = ["MAX_EVENT_TYPES", "OpenTelemetryObserver", "instrument", "uninstrument"]

OpenTelemetryObserver.__module__ = "expys_stream.otel"
instrument.__module__ = "expys_stream.otel"
uninstrument.__module__ = "expys_stream.otel"
