"""The keyword options shared by ``Client``, ``open_message_stream`` and
``open_event_stream``: their names, types, defaults and meaning, in one place.

Type checkers read the names and types from the two ``TypedDict`` classes
(``**options: Unpack[ClientOptions]``), so a misspelt or mistyped option is
a type error where it is written. At run time ``client_settings`` and
``event_stream_settings`` refuse unknown names (a ``TypeError`` that names
the nearest known one) and fill in the defaults, which are set in
``Settings`` alone. A test keeps them in step: the same names with the same
types, and each default as the docstring states it.

Adding an option: declare it in ``EventStreamOptions`` (or, for one-shot
requests only, ``ClientOptions``) with a "Default ``...``." sentence in its
docstring entry, give it the same type and its default in ``Settings``, and
pass it on in ``_event_stream.configure``.
"""

from __future__ import annotations

import difflib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypedDict

import httpcore

from ._policy import DEFAULT_MAX_SERVER_DELAY
from .sse import DEFAULT_MAX_EVENT_SIZE

__all__ = [
    "CLIENT_OPTION_NAMES",
    "DEFAULT_REQUEST_RETRIES",
    "DEFAULT_USER_AGENT",
    "EVENT_STREAM_OPTION_NAMES",
    "ClientOptions",
    "Environment",
    "EventStreamOptions",
    "Settings",
    "client_settings",
    "event_stream_settings",
]

#: The User-Agent header sent unless ``user_agent`` says otherwise.
DEFAULT_USER_AGENT = "expys-stream/0.1"
#: Retries of a one-shot request (list, send) after its first attempt.
DEFAULT_REQUEST_RETRIES = 3

#: The concierge environments a ``Client`` knows by name.
Environment = Literal["production", "sandbox"]


class EventStreamOptions(TypedDict, total=False):
    """The keyword options of ``open_event_stream`` (and of every client).

    Each may be left out; its default applies then.

    Attributes:
        pool: an ``httpcore.AsyncConnectionPool`` to use and leave open;
            ``None`` makes a private pool, closed with the stream or client.
            Default ``None``.
        connect_timeout: seconds to connect, to send a request, or to wait
            for a pooled connection; ``None``: no limit. Default ``10.0``.
        read_timeout: seconds of silence after which a stream's connection
            counts as dead and is replaced (keepalive comments count as
            traffic); ``None``: no limit. Default ``45.0``.
        backoff_base: the first retry waits up to this many seconds (full
            jitter, doubling each time). Default ``0.5``.
        backoff_cap: no retry waits longer than this by our choice (a
            server's ``retry:`` or ``Retry-After`` may ask for longer).
            Default ``10.0``.
        reset_after: seconds a connection must stay up for the backoff and
            the retry count to start again from zero. Default ``60.0``.
        max_retries: consecutive failed stream attempts before
            [`RetryLimitExceeded`][expys_stream.RetryLimitExceeded];
            ``None`` retries forever. Default ``None``.
        max_event_size: the longest SSE line or event data accepted, in
            bytes (1 MiB). Default ``1048576``.
        ssl_context: the ``ssl.SSLContext`` for https; ``None``: one that
            verifies certificates. Default ``None``.
        user_agent: the User-Agent header. Default ``'expys-stream/0.1'``.
        head_timeout: seconds from the start of an attempt (connecting
            included) to a complete response head, so that a server that
            trickles its head cannot hold an attempt forever; ``None``:
            ``connect_timeout + read_timeout`` (no deadline if both are
            ``None``). Default ``None``.
        proxy: the proxy for every request (``http://``, ``https://``,
            ``socks5://`` or ``socks5h://``, maybe with ``user:password@``);
            ``None``: the environment's (``HTTPS_PROXY``, ``NO_PROXY``...)
            when ``trust_env`` is true. Default ``None``.
        trust_env: read the proxy environment variables when ``proxy`` is
            ``None``. Default ``True``.
        max_server_delay: the longest wait, in seconds, that a server's
            ``retry:`` or ``Retry-After`` may impose on a reconnect or a
            request retry; a longer one is cut to this, with a warning in
            the log. Default ``300.0``.
        http2: speak HTTP/2 where the server does (ALPN ``h2`` over https,
            prior knowledge over http), many streams sharing one connection;
            HTTP/1.1 where it does not, and through proxies. Needs the
            ``expys-stream[http2]`` extra, and a ``Client`` used as
            ``async with`` (see the HTTP/2 guide). Default ``False``.
    """

    pool: httpcore.AsyncConnectionPool | None
    connect_timeout: float | None
    read_timeout: float | None
    backoff_base: float
    backoff_cap: float
    reset_after: float
    max_retries: int | None
    max_event_size: int
    ssl_context: ssl.SSLContext | None
    user_agent: str
    head_timeout: float | None
    proxy: str | None
    trust_env: bool
    max_server_delay: float
    http2: bool


class ClientOptions(EventStreamOptions, total=False):
    """The keyword options of ``Client`` and ``open_message_stream``.

    Every option of [`EventStreamOptions`][expys_stream.EventStreamOptions],
    and this one:

    Attributes:
        request_retries: retries of a ``list_messages`` or ``send_message``
            request after its first attempt (network errors, 408, 429 and
            5xx), with the same backoff as streams. Default ``3``.
    """

    request_retries: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Every option with its value: the one place where the defaults are set."""

    pool: httpcore.AsyncConnectionPool | None = None
    connect_timeout: float | None = 10.0
    read_timeout: float | None = 45.0
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    reset_after: float = 60.0
    max_retries: int | None = None
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    ssl_context: ssl.SSLContext | None = None
    user_agent: str = DEFAULT_USER_AGENT
    head_timeout: float | None = None
    proxy: str | None = None
    trust_env: bool = True
    max_server_delay: float = DEFAULT_MAX_SERVER_DELAY
    http2: bool = False
    request_retries: int = DEFAULT_REQUEST_RETRIES


#: The names ``open_event_stream`` accepts as options.
EVENT_STREAM_OPTION_NAMES: frozenset[str] = frozenset(EventStreamOptions.__annotations__)
#: The names ``Client`` and ``open_message_stream`` accept as options.
CLIENT_OPTION_NAMES: frozenset[str] = frozenset(ClientOptions.__annotations__)


def client_settings(options: ClientOptions, caller: str) -> Settings:
    """The settings for a client's options.

    Raises:
        TypeError: an option name that ``caller`` does not take.
    """
    _check_names(options, CLIENT_OPTION_NAMES, caller)
    return Settings(**options)


def event_stream_settings(options: EventStreamOptions, caller: str) -> Settings:
    """The settings for ``open_event_stream``'s options.

    Raises:
        TypeError: an option name that ``caller`` does not take.
    """
    _check_names(options, EVENT_STREAM_OPTION_NAMES, caller)
    return Settings(**options)


def _check_names(options: Mapping[str, object], known: frozenset[str], caller: str) -> None:
    # What Python says for an unexpected keyword, plus the nearest known
    # name: the options arrive through **options, so Python cannot check them.
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{caller} got an unexpected keyword argument {name!r}{hint}")
