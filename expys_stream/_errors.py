"""The library's exception hierarchy.

The root, :class:`ExpysError`, and the codec's errors live in
``expys_stream.sse._errors`` so that the codec stays importable on its own;
the rest of the tree grows here::

    ExpysError
    ├── TransportError              the network failed (retried by streams)
    │   ├── ConnectError
    │   └── ReadTimeout
    ├── HTTPStatusError             the server answered with an error status
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   │   └── ConversationNotFoundError
    │   ├── RateLimitedError        429 (once retries are exhausted)
    │   └── ServerError             5xx (once retries are exhausted)
    ├── ProtocolError               the server broke the protocol
    │   ├── EventTooLarge
    │   ├── NotAnEventStream        200 with another content type
    │   └── RedirectError           too many hops, or a bad Location
    ├── MessageDecodeError          a message event that is not a message
    ├── ProxyError                  the proxy refused for good (407...): not retried
    ├── RetryLimitExceeded          max_retries reached (.last_error)
    └── StreamClosed                the stream was used after it was closed

No error carries a credential: messages, attributes and reprs never include
the token, and server-provided text is bounded.
"""

from __future__ import annotations

from .sse._errors import EventTooLarge, ExpysError, ProtocolError

__all__ = [
    "AuthenticationError",
    "ConnectError",
    "ConversationNotFoundError",
    "EventTooLarge",
    "ExpysError",
    "HTTPStatusError",
    "MessageDecodeError",
    "NotAnEventStream",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProxyError",
    "RateLimitedError",
    "ReadTimeout",
    "RedirectError",
    "RetryLimitExceeded",
    "ServerError",
    "StreamClosed",
    "TransportError",
]


class TransportError(ExpysError):
    """The connection failed: refused, reset, TLS, read error or timeout.

    Streams retry these with backoff; one-shot requests raise them once
    their retries are spent.
    """


class ConnectError(TransportError):
    """The connection could not be made (refused, DNS, TLS handshake...)."""


class ReadTimeout(TransportError):
    """Nothing at all arrived for the read timeout: the connection is dead."""


class HTTPStatusError(ExpysError):
    """The server answered with a status the request cannot go on with.

    Attributes:
        status: the HTTP status code.
        code: the ``error.code`` of the server's JSON error body, or None.
        server_message: the ``error.message`` of that body (bounded), or None.
        url: the URL that answered, without query string.
    """

    status: int
    code: str | None
    server_message: str | None
    url: str

    def __init__(
        self,
        status: int,
        *,
        code: str | None = None,
        server_message: str | None = None,
        url: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.server_message = server_message
        self.url = url
        detail = f"HTTP {status}"
        if code:
            detail += f" {code}"
        if server_message:
            detail += f": {server_message}"
        if url:
            detail += f" ({url})"
        super().__init__(detail)

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_status_error,
            (type(self), self.status, self.code, self.server_message, self.url),
        )


def _rebuild_status_error(
    cls: type[HTTPStatusError], status: int, code: str | None, message: str | None, url: str
) -> HTTPStatusError:
    return cls(status, code=code, server_message=message, url=url)


class AuthenticationError(HTTPStatusError):
    """401: the token is missing, malformed or expired (after one refresh)."""


class PermissionDeniedError(HTTPStatusError):
    """403: the token is valid but not a member of this conversation."""


class NotFoundError(HTTPStatusError):
    """404: the resource does not exist."""


class ConversationNotFoundError(NotFoundError):
    """404 for a conversation: no conversation has this id."""


class RateLimitedError(HTTPStatusError):
    """429: too many requests, and the request's retries are spent."""


class ServerError(HTTPStatusError):
    """5xx: the server failed, and the request's retries are spent."""


class NotAnEventStream(ProtocolError):
    """A stream request got 200 with a content type other than text/event-stream.

    Attributes:
        content_type: the Content-Type the server sent ("" when none).
    """

    content_type: str

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        shown = content_type[:100] or "no Content-Type"
        super().__init__(f"expected text/event-stream, got {shown!r}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.content_type,))


class RedirectError(ProtocolError):
    """A redirect could not be followed: too many hops, or a bad Location."""


class MessageDecodeError(ExpysError):
    """A ``message`` event's data is not a valid message.

    Attributes:
        event_id: the SSE id of the offending event ("" if none).
        excerpt: the start of its data (at most 200 characters).
    """

    event_id: str
    excerpt: str

    def __init__(self, reason: str, *, event_id: str, excerpt: str) -> None:
        self.event_id = event_id
        self.excerpt = excerpt
        super().__init__(f"invalid message in event {event_id!r}: {reason}; data: {excerpt!r}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_decode_error, (self.args[0], self.event_id, self.excerpt))


def _rebuild_decode_error(text: str, event_id: str, excerpt: str) -> MessageDecodeError:
    error = MessageDecodeError.__new__(MessageDecodeError)
    Exception.__init__(error, text)
    error.event_id = event_id
    error.excerpt = excerpt
    return error


class ProxyError(ExpysError):
    """The proxy refused the request for good; it is not retried.

    A 407 (Proxy Authentication Required: credentials missing or wrong),
    another 4xx answer to ``CONNECT`` (403: the proxy's policy forbids the
    destination), or a SOCKS proxy that refused the credentials. A proxy
    that cannot be reached, or that cannot reach the service (502, 503,
    504), is a [`ConnectError`][expys_stream.ConnectError] instead, and is retried.

    Attributes:
        status: the proxy's HTTP status, or None (a SOCKS proxy).
        proxy: the proxy's URL, without its credentials.
    """

    status: int | None
    proxy: str

    def __init__(self, message: str, *, status: int | None, proxy: str) -> None:
        self.status = status
        self.proxy = proxy
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_proxy_error, (self.args[0], self.status, self.proxy))


def _rebuild_proxy_error(message: str, status: int | None, proxy: str) -> ProxyError:
    return ProxyError(message, status=status, proxy=proxy)


class RetryLimitExceeded(ExpysError):
    """The stream gave up after ``max_retries`` consecutive failed attempts.

    Attributes:
        attempts: how many attempts failed in a row.
        last_error: the error of the last attempt (also ``__cause__``).
    """

    attempts: int
    last_error: BaseException | None

    def __init__(self, attempts: int, last_error: BaseException | None) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"gave up after {attempts} failed attempts; last error: {last_error}")


class StreamClosed(ExpysError):
    """The stream or client was used after it was closed."""


for _cls in (
    TransportError,
    ConnectError,
    ReadTimeout,
    HTTPStatusError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    ConversationNotFoundError,
    RateLimitedError,
    ServerError,
    NotAnEventStream,
    RedirectError,
    MessageDecodeError,
    ProxyError,
    RetryLimitExceeded,
    StreamClosed,
):
    _cls.__module__ = "expys_stream"
del _cls
