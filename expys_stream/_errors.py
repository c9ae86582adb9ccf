"""The library's exception hierarchy.

The root, :class:`ExpysError`, and the codec's errors live in
``expys_stream.sse._errors`` so that the codec stays importable on its own;
the rest of the tree grows here::

    ExpysError
    ├── TransportError              the network failed (retried by streams)
    │   ├── ConnectError
    │   │   └── TLSVerificationError  the certificate failed: final, not retried
    │   └── ReadTimeout             silence, or no response head within head_timeout
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
the token, and server-provided text is bounded. :class:`Secrets` is how: a
client or stream knows the secrets its requests carry (the tokens, the
values of headers the caller gave), blanks them out of the server's text
before that text is cut into an error, and passes every error it raises or
logs, with its whole chain, and every log record, through it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

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
    "Secrets",
    "ServerError",
    "StreamClosed",
    "TLSVerificationError",
    "TransportError",
]


class TransportError(ExpysError):
    """The connection failed: refused, reset, TLS, read error or timeout.

    Streams retry these with backoff; one-shot requests raise them once
    their retries are spent. The exception is
    [`TLSVerificationError`][expys_stream.TLSVerificationError], raised at
    once.
    """


class ConnectError(TransportError):
    """The connection could not be made (refused, DNS, TLS handshake...)."""


class TLSVerificationError(ConnectError):
    """The server's TLS certificate failed verification; never retried.

    A certificate that is untrusted, expired or for another host does not
    heal by waiting: it is a configuration problem (the wrong URL, a missing
    CA in ``ssl_context``, an intercepting proxy), so streams and requests
    raise this at once instead of retrying.

    Attributes:
        reason: ``"untrusted"``, ``"expired"``, ``"not yet valid"``,
            ``"wrong host"``, ``"revoked"`` or ``"invalid"`` (any other
            verification failure).
        detail: OpenSSL's words for it (bounded).
    """

    reason: str
    detail: str

    def __init__(self, message: str, *, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_tls_error, (self.args[0], self.reason, self.detail))


def _rebuild_tls_error(message: str, reason: str, detail: str) -> TLSVerificationError:
    return TLSVerificationError(message, reason=reason, detail=detail)


class ReadTimeout(TransportError):
    """Nothing at all arrived for the read timeout (the connection is dead),
    or the response head was not complete within the head timeout."""


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
    TLSVerificationError,
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


_E = TypeVar("_E", bound=BaseException)

#: What replaces a token, and any other secret, in emitted text.
TOKEN_MARK = "[token]"
SECRET_MARK = "[redacted]"
#: A token or header value shorter than this is not blanked: no credential
#: is that short, and blanking "t", "1" or "en" would garble every text.
MIN_SECRET = 6
#: Tokens a stream keeps blanking after it sent them (a provider's fresh
#: token per reconnect must not grow the set without bound).
MAX_TOKENS = 4
# How a URL shows a path: what ascii_url leaves unencoded.
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"#<>?`{}%')
_CHAIN_LIMIT = 64


class Secrets:
    """Values that nothing the library emits may contain, and the means to blank them.

    Immutable; :meth:`with_tokens` makes a new one when a request carries a
    token not seen before. Besides each value as it is, its escaped forms
    are blanked too: control characters escaped (:func:`printable`), as
    ``repr`` quotes it, and percent-encoded as a URL shows it.
    """

    __slots__ = ("_headers", "_pattern", "_pattern_bytes", "_tokens")

    def __init__(self, *, headers: Iterable[str] = (), tokens: Iterable[str] = ()) -> None:
        self._headers = tuple(dict.fromkeys(v for v in headers if len(v) >= MIN_SECRET))
        self._tokens = tuple(dict.fromkeys(t for t in tokens if len(t) >= MIN_SECRET))
        self._tokens = self._tokens[-MAX_TOKENS:]
        self._pattern: tuple[re.Pattern[str], dict[str, str]] | None = None
        self._pattern_bytes: tuple[re.Pattern[bytes], dict[bytes, bytes]] | None = None

    @classmethod
    def of_headers(cls, headers: Mapping[str, str] | None) -> Secrets:
        """The secrets of the headers a caller gave: every value (and the
        credential after the scheme of an ``Authorization``)."""
        if not headers:
            return _NONE
        tokens = [
            value.partition(" ")[2].strip()
            for name, value in headers.items()
            if name.lower() in ("authorization", "proxy-authorization")
        ]
        return cls(headers=headers.values(), tokens=tokens)

    def with_tokens(self, *tokens: str) -> Secrets:
        """These secrets plus ``tokens`` (self when it has them already)."""
        if all(token in self._tokens or len(token) < MIN_SECRET for token in tokens):
            return self
        return Secrets(headers=self._headers, tokens=(*self._tokens, *tokens))

    def __bool__(self) -> bool:
        return bool(self._headers or self._tokens)

    def __repr__(self) -> str:  # (never the values)
        return f"<Secrets: {len(self._tokens)} tokens, {len(self._headers)} header values>"

    # -- blanking ------------------------------------------------------------

    def _marks(self) -> dict[str, str]:
        # (Imported here: the codec imports this module, and stays light.)
        from ._text import printable

        marks: dict[str, str] = {}
        for values, mark in ((self._headers, SECRET_MARK), (self._tokens, TOKEN_MARK)):
            for value in values:
                for form in (
                    value,
                    printable(value),
                    repr(value)[1:-1],
                    quote(value, safe=_URL_SAFE),
                    quote(value, safe=""),
                ):
                    marks[form] = mark
        return marks

    def text(self, text: str) -> str:
        """``text`` with every secret (in any of its forms) blanked out."""
        if not self or not text:
            return text
        if self._pattern is None:
            marks = self._marks()
            forms = sorted(marks, key=len, reverse=True)  # the longest form wins
            self._pattern = re.compile("|".join(map(re.escape, forms))), marks
        pattern, marks = self._pattern
        return pattern.sub(lambda match: marks[match.group()], text)

    def data(self, data: bytes) -> bytes:
        """``data`` (the server's bytes) with every secret blanked out."""
        if not self or not data:
            return data
        if self._pattern_bytes is None:
            marks = {k.encode("utf-8", "replace"): v.encode() for k, v in self._marks().items()}
            forms = sorted(marks, key=len, reverse=True)
            self._pattern_bytes = re.compile(b"|".join(map(re.escape, forms))), marks
        pattern, marks_bytes = self._pattern_bytes
        return pattern.sub(lambda match: marks_bytes[match.group()], data)

    def error(self, error: _E) -> _E:
        """Blank the secrets out of ``error`` in place, and return it.

        Its ``args``, its attributes and notes, and every error down its
        ``__cause__`` and ``__context__`` are cleaned. A suppressed context
        (``raise ... from None``) and any foreign exception in the chain
        are cut off: ours describe them already, and theirs may hold the
        wire's raw bytes.
        """
        self._clean(error, set())
        return error

    def _clean(self, error: BaseException, seen: set[int]) -> None:
        if id(error) in seen or len(seen) >= _CHAIN_LIMIT:
            return
        seen.add(id(error))
        if self:
            error.args = tuple(self._value(arg, seen) for arg in error.args)
            for name, value in list(vars(error).items()):
                cleaned = self._value(value, seen)
                if cleaned is not value:
                    setattr(error, name, cleaned)
        cause, context = error.__cause__, error.__context__
        if cause is not None:
            if isinstance(cause, ExpysError):
                self._clean(cause, seen)
            else:
                error.__cause__ = None
        if context is not None:
            if error.__suppress_context__ or not isinstance(context, ExpysError):
                error.__context__ = None
            else:
                self._clean(context, seen)

    def _value(self, value: Any, seen: set[int]) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.data(value)
        if isinstance(value, BaseException):
            self._clean(value, seen)
            return value
        if isinstance(value, list | tuple) and any(isinstance(v, str | bytes) for v in value):
            return type(value)(self._value(v, seen) for v in value)
        return value

    def log(self, logger: logging.Logger, level: int, message: str, *args: Any) -> None:
        """Log ``message % args`` with the secrets blanked out of every argument."""
        if logger.isEnabledFor(level):
            cleaned = tuple(self._value(arg, set()) for arg in args)
            logger.log(level, message, *cleaned, stacklevel=2)


_NONE = Secrets()
