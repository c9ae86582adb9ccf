"""What ``tail`` says about its connection, and when it gives up.

:class:`ConnectionStatus` is the one place that knows: it is told that the
stream is connecting, connected, or about to retry, shows it (a short line on
stderr, a JSON record on stdout with ``--json``, nothing with ``--quiet``)
and applies the command line's rule for a stream that has never connected.

Today the library tells this only through its INFO log lines, which
:class:`_LogBridge` turns into calls on :class:`ConnectionStatus`; when the
library has connection events of its own, they replace the bridge and
nothing else changes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .._errors import RetryLimitExceeded
from .._text import printable
from ._logs import timestamp
from ._output import Style, write_json

__all__ = ["DEFAULT_FIRST_CONNECT_RETRIES", "ConnectionStatus"]

#: Retries a stream that has never connected makes before ``tail`` gives up
#: (unless ``--max-retries`` says otherwise).
DEFAULT_FIRST_CONNECT_RETRIES = 5


class ConnectionStatus:
    """Shows the connection's state and gives up on a stream that never connects.

    Args:
        mode: ``"text"`` (lines on stderr), ``"json"`` (records on stdout)
            or ``"quiet"`` (nothing shown; the rule still applies).
        first_connect_retries: retries allowed before the stream has ever
            connected (shown as "retry 2 of 5"); None: no limit.
        enforce: give up at that limit here; False when the library's own
            ``max_retries`` has the same limit and raises by itself.
        timestamps: start each text line with the time.
    """

    def __init__(
        self,
        *,
        mode: str,
        first_connect_retries: int | None,
        enforce: bool = True,
        timestamps: bool = False,
    ) -> None:
        self._mode = mode
        self._limit = first_connect_retries
        self._enforce = enforce
        self._timestamps = timestamps
        self._style = Style(sys.stderr)
        self._ever_connected = False
        self._failures = 0  # failed attempts since the last connection
        self._request_failures = 0  # of one-shot requests, over the whole run
        self._give_up: Callable[[], None] | None = None
        #: The error ``tail`` raises once it gave up (None until then).
        self.gave_up: RetryLimitExceeded | None = None

    # -- what the stream tells ---------------------------------------------

    def connecting(self, base_url: str, conversation_id: str) -> None:
        """The stream is about to open; ``give_up`` will end it if need be."""
        self._show(
            f"connecting to {printable(base_url)} for {printable(conversation_id)}",
            {"state": "connecting", "baseURL": base_url, "conversationID": conversation_id},
        )

    def connected(self, resume_after: str | None) -> None:
        """A connection is up, resuming after ``resume_after`` (None: from now)."""
        self._ever_connected = True
        self._failures = 0
        where = f"resuming after {resume_after}" if resume_after else "from the next new message"
        self._show(f"connected, {where}", {"state": "connected", "resumeAfter": resume_after})

    def reconnecting(self, error: BaseException | str, delay: float | None) -> None:
        """An attempt failed; the stream retries after ``delay`` seconds."""
        self._failures += 1
        if (
            self._enforce
            and not self._ever_connected
            and self._limit is not None
            and self._failures > self._limit
            and self.gave_up is None
        ):
            self.gave_up = RetryLimitExceeded(
                self._failures, error if isinstance(error, BaseException) else None
            )
            if self._give_up is not None:
                self._give_up()
            return
        self._retry_line("reconnecting", self._failures, error, delay)

    def retrying(self, error: BaseException | str, delay: float | None) -> None:
        """A one-shot request (the backlog, a send) failed and is retried."""
        self._request_failures += 1
        self._retry_line("retrying the request", self._request_failures, error, delay)

    # -- plumbing -----------------------------------------------------------

    @contextmanager
    def watching(self, give_up: Callable[[], None]) -> Iterator[None]:
        """Receive the library's news while inside; ``give_up`` ends the stream."""
        self._give_up = give_up
        bridge = _LogBridge(self)
        logger = logging.getLogger("expys_stream")
        logger.addHandler(bridge)
        try:
            yield
        finally:
            logger.removeHandler(bridge)
            self._give_up = None

    def _retry_line(
        self, what: str, retry: int, error: BaseException | str, delay: float | None
    ) -> None:
        # "of N" only where this class enforces N itself: before the first
        # connection (the library's own count is not visible from here).
        limit = self._limit if what == "reconnecting" and not self._ever_connected else None
        reason = printable(str(error))
        when = f" in {delay:.1f} s" if delay is not None else ""
        count = f"retry {retry}" if limit is None else f"retry {retry} of {limit}"
        self._show(
            f"{what}{when} ({count}): {reason}",
            {
                "state": what.split(" ", 1)[0],
                "retry": retry,
                "retryLimit": limit,
                "delay": None if delay is None else round(delay, 3),
                "reason": str(error),
            },
            colour="33",
        )

    def _show(self, text: str, record: dict[str, object], colour: str = "2") -> None:
        if self._mode == "quiet":
            return
        if self._mode == "json":
            write_json({"kind": "status", **record})
            return
        line = self._style(f"~ {text}", colour)
        if self._timestamps:
            line = f"{timestamp()} {line}"
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class _LogBridge(logging.Handler):
    """Turns the library's INFO log lines into :class:`ConnectionStatus` calls.

    It reads the records' arguments, not their text, and by type: the first
    float is the delay, the first exception the reason, and a connected
    record's last argument the id it resumes after.
    """

    def __init__(self, status: ConnectionStatus) -> None:
        super().__init__(logging.INFO)
        self._status = status

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != "expys_stream":  # (not the embedded server's, say)
            return
        template = record.msg if isinstance(record.msg, str) else ""
        args = record.args if isinstance(record.args, tuple) else ()
        if template.startswith("connected"):
            last = args[-1] if len(args) > 1 else None
            self._status.connected(last if isinstance(last, str) and last else None)
        elif template.startswith(("reconnecting", "retrying")):
            delay = next((a for a in args if isinstance(a, float)), None)
            error = next((a for a in args if isinstance(a, BaseException)), None)
            reason: BaseException | str = error if error is not None else record.getMessage()
            if template.startswith("reconnecting"):
                self._status.reconnecting(reason, delay)
            else:
                self._status.retrying(reason, delay)
