"""The h2 pieces of the HTTP/2 client edge that do no I/O: the configured
client connection, the request-header check, the response head.

Imported only by ``_h2conn`` (h2 is an optional dependency).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import h2.config
import h2.connection
import h2.settings

from ._h2stream import Headers
from ._urls import _FIELD_VALUE

__all__ = ["code_name", "header_problem", "new_client", "response_head"]


def new_client(stream_window: int, max_closed_streams: int) -> h2.connection.H2Connection:
    """An h2 client connection with our SETTINGS (docs/http2-design.md, section 7)."""
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = _H2Client(config)
    conn.MAX_CLOSED_STREAMS = max_closed_streams
    # Replaced whole before initiate_connection(), as hypercorn does. No
    # ENABLE_CONNECT_PROTOCOL: some servers refuse it.
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: stream_window,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384,
            h2.settings.SettingCodes.HEADER_TABLE_SIZE: 4096,
        },
    )
    return conn


class _H2Client(h2.connection.H2Connection):
    """h2's client connection, kept open after a GOAWAY is received.

    h2 treats a received GOAWAY as the end of the connection and refuses the
    frames that follow, even in the same read, so the streams the server
    still serves (ids up to its last_stream_id) would fail with a protocol
    error. Here the connection stays open; ``H2Conn`` stops opening streams
    on it (the state is DRAINING) and sends its own GOAWAY once the last
    stream is gone.
    """

    def _receive_goaway_frame(self, frame: Any) -> Any:
        result = super()._receive_goaway_frame(frame)
        self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return result


_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def header_problem(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """Why a request header cannot be sent, never quoting its value.

    h2 checks pseudo-headers and connection-specific fields but lets CR, LF
    and NUL through in values, which a proxy translating to HTTP/1.1 could
    turn into header injection.
    """
    for name, value in headers:
        if not _FIELD_NAME.fullmatch(name):
            return f"{name!r} is not a header name"
        if not _FIELD_VALUE.fullmatch(value):
            return (
                f"the value of {name.decode('ascii')} starts or ends with whitespace, "
                "or holds NUL, CR, LF or another control character (not shown)"
            )
    return None


def response_head(headers: Any) -> tuple[int, Headers]:
    status = 0
    rest: Headers = []
    for name, value in headers:
        if name == b":status":
            status = int(value)
        elif not name.startswith(b":"):
            rest.append((bytes(name), bytes(value)))
    return status, rest


def code_name(code: Any) -> str:
    return getattr(code, "name", str(code))
