"""The single translation of foreign exceptions into the library's own.

httpcore, h11, anyio, trio, ``ssl`` and the OS raise their own types; every
one that reaches the package's edge is turned into an :class:`ExpysError`
here, once, and never chained (its text is kept, its type is not exposed).
"""

from __future__ import annotations

import errno
import os
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import anyio
import h11
import httpcore

from .._errors import (
    ConnectError,
    ExpysError,
    ProtocolError,
    ReadTimeout,
    TLSVerificationError,
    TransportError,
)
from .._text import printable
from ._urls import _redact

__all__ = ["head_timeout_error", "read_timeout_error"]

_READ_TIMEOUT = "nothing received from {} within the read timeout"


@contextmanager
def _translate(url: str) -> Iterator[None]:
    # The single place where foreign exceptions become ours. The original is
    # not chained (``from None``): its text is kept, its type is not exposed.
    # Paths where a stream waits (connecting, reading) call
    # ``_raise_translated`` in an ``except`` clause instead: no generator
    # kept while they wait.
    try:
        yield
    except Exception as exc:
        _raise_translated(exc, url)


def _raise_translated(exc: Exception, url: str) -> NoReturn:
    """Raise our error for ``exc`` (see ``_translated``), or ``exc`` itself."""
    error = _translated(exc, url)
    if error is None:
        raise exc
    raise error from None


def _translated(exc: Exception, url: str) -> ExpysError | None:
    """Our error for a foreign exception from httpcore, h11 or a socket, else None."""
    where = _redact(url)
    verification = _verification_error(exc, where)
    if verification is not None:
        return verification
    match exc:
        case httpcore.ConnectError() | httpcore.ConnectTimeout() | httpcore.ProxyError():
            return ConnectError(f"cannot connect to {where}: {_describe(exc)}")
        case httpcore.ReadTimeout():
            return ReadTimeout(_READ_TIMEOUT.format(where))
        case httpcore.PoolTimeout():
            return ConnectError(f"no connection to {where} became free in time")
        case httpcore.UnsupportedProtocol():
            return ConnectError(f"unsupported URL {where}: {_describe(exc)}")
        case httpcore.LocalProtocolError() | h11.LocalProtocolError():
            # We built a bad request: no retry.
            # (h11 quotes the offending bytes, which may be a credential.)
            reason = _QUOTED_BYTES.sub(" (not shown)", _describe(exc))
            return ProtocolError(f"invalid request to {where}: {reason}")
        case httpcore.TimeoutException() | httpcore.NetworkError() | httpcore.ProtocolError():
            return TransportError(f"connection to {where} failed: {_describe(exc)}")
        case h11.ProtocolError() | anyio.BrokenResourceError() | anyio.ClosedResourceError():
            return TransportError(f"connection to {where} failed: {_describe(exc)}")
        case ssl.SSLError():
            return ConnectError(f"TLS with {where} failed: {_describe(exc)}")
        case OSError():
            return TransportError(f"connection to {where} failed: {_describe(exc)}")
    return None


_QUOTED_BYTES = re.compile(r" ?b(['\"]).*")


def _describe(exc: BaseException) -> str:
    # httpcore's and anyio's errors often print as nothing, or as the event
    # loop's words ("Connect call failed"): the reason under them ("Connection
    # reset by peer", OpenSSL's "certificate verify failed: ...") is what a
    # reader needs, once, on either event loop.
    text = str(exc)
    tls = _tls_error(exc)
    if tls is not None and tls is not exc:
        shown = str(tls)
        if shown and shown.lower() not in text.lower():
            text = f"{text}: {shown}" if text else shown
    reason = _os_reason(exc)
    if reason is not None and reason[0].lower() not in text.lower():
        described = f"{reason[0]} ({reason[1]})"
        text = f"{text}: {described}" if text else described
    return (text or type(exc).__name__)[:300]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what lies under it, depth first, each once."""
    # Through causes and groups' members (trio's "all attempts to connect
    # ... failed" keeps each attempt's error in a group under it), and
    # through the context of ``exc`` itself (httpcore keeps the error it
    # replaced there) but no deeper: further down, a context may be
    # whatever the caller was handling. Bounded, as chains may be long or
    # cyclic.
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    if exc.__context__ is not None and exc.__context__ is not exc.__cause__:
        todo.insert(0, exc.__context__)  # after the causes
    while todo and len(seen) < 64:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(reversed(current.exceptions))
        if current.__cause__ is not None:
            todo.append(current.__cause__)


def _os_reason(exc: BaseException) -> tuple[str, str] | None:
    """The OS's words and name for the first errno down ``exc``'s causes."""
    for current in _chain(exc):
        if isinstance(current, OSError) and not isinstance(current, _NOT_OS_ERRNO):
            code = current.errno
            if type(code) is int and code in errno.errorcode:
                return os.strerror(code), errno.errorcode[code]
    return None


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The first ``ssl.SSLError`` down ``exc``'s causes (trio keeps it two
    levels down, under its BrokenResourceError), or None."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLError):
            return current
    return None


# OpenSSL's X509_V_ERR_* codes, by what they mean to a reader.
_VERIFY_REASONS = {
    2: "untrusted",  # unable to get issuer certificate
    9: "not yet valid",
    10: "expired",
    18: "untrusted",  # self-signed certificate
    19: "untrusted",  # self-signed certificate in the chain
    20: "untrusted",  # unable to get local issuer certificate
    21: "untrusted",  # unable to verify the first certificate
    23: "revoked",
    62: "wrong host",  # host name mismatch
    64: "wrong host",  # IP address mismatch
}


def _verification_error(exc: BaseException, where: str) -> TLSVerificationError | None:
    """The final error for a certificate that failed verification, else None."""
    tls = _tls_error(exc)
    if not isinstance(tls, ssl.SSLCertVerificationError):
        return None
    code = tls.verify_code if type(tls.verify_code) is int else -1
    reason = _VERIFY_REASONS.get(code, "invalid")
    detail = printable(str(tls.verify_message or tls)[:200])
    return TLSVerificationError(
        f"the TLS certificate of {where} failed verification ({reason}): {detail}",
        reason=reason,
        detail=detail,
    )


# OSErrors whose errno is not the OS's: OpenSSL's codes, and getaddrinfo's
# (positive on BSD and macOS, where they collide with errno values).
_NOT_OS_ERRNO = (ssl.SSLError, socket.gaierror, socket.herror)


def read_timeout_error(url: str) -> ReadTimeout:
    """The error for a stream that received nothing within its read timeout."""
    return ReadTimeout(_READ_TIMEOUT.format(_redact(url)))


def head_timeout_error(url: str, limit: float) -> ReadTimeout:
    """The error for a response head not complete within the head timeout."""
    return ReadTimeout(
        f"no complete response head from {_redact(url)} within {limit:g} s (head_timeout)"
    )
