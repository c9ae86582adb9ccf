"""Error texts name the operating system's reason found under foreign errors."""

from __future__ import annotations

import itertools
import socket
import ssl

import anyio
import h11
import httpcore

from expys_stream import ProtocolError
from expys_stream._transport import _describe, _translated


def chained(*errors: BaseException) -> BaseException:
    """The first error, raised from the second, raised from the third..."""
    for outer, inner in itertools.pairwise(errors):
        outer.__cause__ = inner
    return errors[0]


def test_an_empty_text_becomes_the_os_reason() -> None:
    error = chained(
        httpcore.ReadError(""),
        anyio.BrokenResourceError(),
        ConnectionResetError(104, "Connection reset by peer"),
    )
    assert _describe(error) == "Connection reset by peer (ECONNRESET)"


def test_the_reason_is_added_once() -> None:
    said = httpcore.ConnectError("[Errno 111] Connection refused")
    error = chained(said, ConnectionRefusedError(111, "Connection refused"))
    assert _describe(error) == "[Errno 111] Connection refused"
    other = chained(httpcore.ConnectError("Connect call failed"), OSError(111, "Connect failed"))
    assert _describe(other) == "Connect call failed: Connection refused (ECONNREFUSED)"


def test_group_members_are_searched() -> None:
    group = ExceptionGroup("attempts", [OSError(111, "refused")])
    error = chained(OSError("all attempts to connect to h:1 failed"), group)
    assert _describe(error).endswith(": Connection refused (ECONNREFUSED)")


def test_the_callers_own_exception_is_not_the_reason() -> None:
    # The library's first error is raised while the caller handles an
    # OSError of its own, which becomes that error's context.
    try:
        open("/nonexistent/expys/config")  # noqa: SIM115
    except OSError:
        try:
            try:
                raise ValueError("peer closed")  # as h11 would
            except ValueError as inner:
                raise httpcore.RemoteProtocolError("peer closed connection") from inner
        except httpcore.RemoteProtocolError as exc:
            error = exc
    assert isinstance(error.__cause__, ValueError)
    assert isinstance(error.__cause__.__context__, FileNotFoundError)
    assert _describe(error) == "peer closed connection"


def test_the_replaced_error_is_searched() -> None:
    # httpcore raises its ConnectError while handling anyio's error, which
    # holds the OS's under it; the ConnectError keeps it as its context.
    try:
        try:
            raise OSError("All connection attempts failed") from ConnectionRefusedError(111, "x")
        except OSError:
            raise httpcore.ConnectError("All connection attempts failed") from None
    except httpcore.ConnectError as exc:
        error = exc
    assert error.__cause__ is None
    assert _describe(error) == ("All connection attempts failed: Connection refused (ECONNREFUSED)")


def test_resolver_and_tls_codes_are_not_errno() -> None:
    # getaddrinfo's codes are positive on BSD and macOS and collide with
    # errno values (8 is ENOEXEC); OpenSSL's are its own.
    dns = chained(httpcore.ConnectError("name not known"), socket.gaierror(8, "name not known"))
    assert _describe(dns) == "name not known"
    tls = chained(httpcore.ConnectError("bad cert"), ssl.SSLError(1, "bad cert"))
    assert _describe(tls) == "bad cert"


def test_an_odd_errno_is_left_alone() -> None:
    assert _describe(OSError(104.0, "x")) == "[Errno 104.0] x"
    assert _describe(OSError([1], "x")) == "[Errno [1]] x"


def test_cycles_end() -> None:
    a, b = httpcore.ReadError(""), anyio.BrokenResourceError()
    a.__cause__, b.__cause__ = b, a
    assert _describe(a) == "ReadError"


def test_a_refused_request_never_quotes_the_header_bytes() -> None:
    error = _translated(
        httpcore.LocalProtocolError("Illegal header value b'Bearer  secret '"), "http://h/x?k=v"
    )
    assert isinstance(error, ProtocolError)
    assert str(error) == "invalid request to http://h/x: Illegal header value (not shown)"


def test_h11s_own_refusal_is_a_protocol_error_not_a_network_one() -> None:
    refusal = h11.LocalProtocolError("Too little data for declared Content-Length")
    error = _translated(refusal, "http://h/x")
    assert type(error) is ProtocolError
    assert str(error) == (
        "invalid request to http://h/x: Too little data for declared Content-Length"
    )
