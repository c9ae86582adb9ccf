"""TLS against a real https concierge (trustme certificates), both backends.

A certificate that fails verification is final (TLSVerificationError, one
attempt, the reason named); other TLS failures are retried like any network
error, and their reason (OpenSSL's words) is in the message on both event
loops.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import pytest
import trustme
from client_support import CONVERSATION, Scripted, collect, http_response, running, subscribed

from expys_stream import (
    Client,
    ConnectError,
    RetryLimitExceeded,
    TLSVerificationError,
    open_event_stream,
    open_message_stream,
)
from expys_stream.testing import ConciergeServer, serve_concierge

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def https_concierge(cert: trustme.LeafCert) -> AsyncIterator[ConciergeServer]:
    async with serve_concierge(retry_ms=1, ssl_context=server_context(cert)) as concierge:
        concierge.add_conversation(CONVERSATION)
        yield concierge


@pytest.fixture
async def good(ca: trustme.CA) -> AsyncIterator[ConciergeServer]:
    async for concierge in https_concierge(ca.issue_cert("127.0.0.1")):
        yield concierge


def fast(server: ConciergeServer, context: ssl.SSLContext) -> dict[str, Any]:
    return {
        "base_url": server.base_url,
        "ssl_context": context,
        "backoff_base": 0.01,
        "backoff_cap": 0.02,
    }


async def test_a_good_certificate_streams(good: ConciergeServer, ca: trustme.CA) -> None:
    assert good.base_url.startswith("https://127.0.0.1:")
    token = good.add_member(CONVERSATION, "usr_alice")
    async with open_message_stream(CONVERSATION, token=token, **fast(good, trusting(ca))) as s:
        await subscribed(good)
        sent = await good.publish(CONVERSATION, "usr_bob", "over TLS")
        assert await collect(s, 1) == [sent]


async def first_error(server: ConciergeServer, context: ssl.SSLContext) -> tuple[Any, int]:
    """The error of a stream that retries forever, and how often it reconnected."""
    token = server.add_member(CONVERSATION, "usr_alice")
    async with open_message_stream(CONVERSATION, token=token, **fast(server, context)) as stream:
        with anyio.fail_after(10), pytest.raises(TLSVerificationError) as info:
            await collect(stream, 1)
    return info.value, stream.reconnects


async def test_an_untrusted_certificate_fails_at_once(good: ConciergeServer) -> None:
    error, reconnects = await first_error(good, trusting(trustme.CA()))
    assert reconnects == 0  # one attempt, although max_retries is None
    assert isinstance(error, ConnectError)
    assert error.reason == "untrusted"
    # OpenSSL's words, on trio too (where they sit two causes down).
    assert "unable to get local issuer certificate" in str(error)
    assert error.__cause__ is None
    assert good.requests == []


async def test_a_certificate_for_another_host_fails_at_once(ca: trustme.CA) -> None:
    async for server in https_concierge(ca.issue_cert("other.example")):
        error, reconnects = await first_error(server, trusting(ca))
    assert reconnects == 0
    assert error.reason == "wrong host"
    assert "mismatch" in error.detail


async def test_an_expired_certificate_fails_at_once(ca: trustme.CA) -> None:
    now = datetime.datetime.now(datetime.UTC)
    cert = ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    async for server in https_concierge(cert):
        error, reconnects = await first_error(server, trusting(ca))
    assert reconnects == 0
    assert error.reason == "expired"
    assert "expired" in str(error)


async def test_a_clients_request_does_not_retry_a_verification_failure(
    good: ConciergeServer,
) -> None:
    token = good.add_member(CONVERSATION, "usr_alice")
    context = trusting(trustme.CA())
    async with Client(token=token, request_retries=3, **fast(good, context)) as client:
        with anyio.fail_after(10), pytest.raises(TLSVerificationError) as info:
            await client.list_messages(CONVERSATION)
    assert info.value.reason == "untrusted"


async def test_a_handshake_cut_by_the_network_is_retried(ca: trustme.CA) -> None:
    # Not TLS at all: the "server" answers the ClientHello with plain text
    # and closes. That is no verdict on a certificate, so it is retried.
    hellos = 0

    async def not_tls(client: anyio.abc.SocketStream) -> None:
        nonlocal hellos
        async with client:
            await client.receive()
            hellos += 1
            await client.send(b"HTTP/1.1 400 Not TLS\r\n\r\n")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, not_tls)
        async with open_event_stream(
            f"https://127.0.0.1:{port}/s",
            ssl_context=trusting(ca),
            backoff_base=0.01,
            max_retries=1,
        ) as stream:
            with anyio.fail_after(10), pytest.raises(RetryLimitExceeded) as info:
                [event async for event in stream]
        group.cancel_scope.cancel()
    error = info.value.last_error
    assert type(error) is ConnectError
    assert info.value.attempts == 2
    assert hellos == 2
    # OpenSSL's reason is in the text on both backends, not just "ConnectError".
    assert "SSL" in str(error), str(error)


async def test_an_https_to_http_redirect_carries_none_of_the_callers_headers(
    good: ConciergeServer, ca: trustme.CA
) -> None:
    plain = Scripted([http_response(204)])
    async with running(plain):
        # The same host and port, but http: another origin, and clear text.
        good.faults.redirect(f"http://127.0.0.1:{plain.port}/plain", status=302)
        async with open_event_stream(
            good.base_url + f"/v1/conversations/{CONVERSATION}/stream",
            headers={"X-Api-Key": "key-SECRET"},
            token="tok-SECRET",
            ssl_context=trusting(ca),
            max_retries=0,
        ) as stream:
            with anyio.fail_after(10):
                assert [event async for event in stream] == []
    assert good.requests[0].headers["x-api-key"] == "key-SECRET"
    assert plain.heads[0].startswith(b"GET /plain ")
    assert b"SECRET" not in plain.heads[0]
    assert plain.header(0, b"authorization") is None


def test_the_error_is_exported_pickles_and_keeps_its_reason() -> None:
    import pickle

    import expys_stream

    assert expys_stream.TLSVerificationError is TLSVerificationError
    assert "TLSVerificationError" in expys_stream.__all__
    error = TLSVerificationError("the TLS certificate ...", reason="expired", detail="d")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.reason, copy.detail) == (
        TLSVerificationError,
        "the TLS certificate ...",
        "expired",
        "d",
    )
