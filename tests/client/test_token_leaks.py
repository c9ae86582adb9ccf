"""Nothing the library emits holds a secret its requests carried, whatever the server echoes.

Secrets are the token and the values of headers the caller gave. A hostile
or careless server echoes them back in every place it can: an error body,
the Content-Type, a Location, message data, a chunk-size line, an SSE id,
an event name. Every error the user gets (its text, repr, args, every
attribute, the whole __cause__/__context__ chain, as ``traceback`` prints
it) and every log record of the library is checked.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from client_support import Scripted, http_response, running
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expys_stream import (
    AuthenticationError,
    Client,
    MessageDecodeError,
    NotAnEventStream,
    RedirectError,
    RetryLimitExceeded,
    open_event_stream,
    open_message_stream,
)
from expys_stream._errors import Secrets

pytestmark = pytest.mark.anyio

TOKEN68 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
TOKEN = "tok_" + "S3cr3t" * 5
# Random secrets (at least MIN_SECRET long) hold a "~", which none of the library's own words (nor a
# class or module name, nor a URL here) does: any hit is an echo let through.
SECRETS = st.builds(
    "{}~{}".format, st.text(TOKEN68, min_size=5, max_size=20), st.text(TOKEN68, max_size=20)
)


# -- what to look at ---------------------------------------------------------


def texts_of(error: BaseException, seen: set[int] | None = None) -> Iterator[str]:
    """Every text an error shows or holds, down its whole chain."""
    seen = set() if seen is None else seen
    if id(error) in seen:
        return
    seen.add(id(error))
    yield str(error)
    yield repr(error)
    yield repr(error.args)
    yield "".join(traceback.format_exception_only(error))
    yield repr(getattr(error, "__notes__", None))
    for value in vars(error).values():
        yield repr(value)
        if isinstance(value, BaseException):
            yield from texts_of(value, seen)
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            yield from texts_of(linked, seen)


def texts_of_records(records: list[logging.LogRecord]) -> Iterator[str]:
    formatter = logging.Formatter("%(message)s")
    for record in records:
        if record.name.startswith("expys_stream"):
            yield record.getMessage()
            yield repr(record.args)
            yield formatter.format(record)


def assert_no_leak(secrets: list[str], error: BaseException | None, records: Any) -> None:
    texts = list(texts_of(error)) if error is not None else []
    texts += list(texts_of_records(records))
    for secret in secrets:
        leaked = [text for text in texts if secret in text]
        assert not leaked, f"{secret!r} leaked in {leaked[0][:300]!r}"


def chain_types(error: BaseException) -> list[str]:
    names = []
    current: BaseException | None = error
    while current is not None:
        names.append(type(current).__name__)
        current = current.__cause__ or current.__context__
    return names


# -- what a server echoes ----------------------------------------------------


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def sse(body: bytes) -> bytes:
    return http_response(200, b"retry: 1\n\n" + body)


def error_json(status: int, echo: str, headers: dict[str, str] | None = None) -> bytes:
    body = json.dumps({"error": {"code": echo[-90:], "message": echo}}).encode()
    return http_response(status, body, content_type="application/json", headers=headers)


def echoes(kind: str, echo: str) -> list[bytes]:
    """The response(s), one per connection, that echo ``echo`` in one place."""
    raw = echo.encode()
    secret = echo.lstrip("x")
    if kind == "error-body-503":
        return [error_json(503, echo, {"Retry-After": "0"})]
    if kind in ("error-body-401", "error-body-403", "error-body-404", "error-body-418"):
        return [error_json(int(kind[-3:]), echo)]
    if kind == "retry-after":
        return [error_json(503, "busy", {"Retry-After": secret})]
    if kind == "content-type":
        return [http_response(200, b"{}", content_type="text/plain; x=" + echo)]
    if kind == "location-loop":
        return [http_response(302, headers={"Location": f"/hop{i}/{secret}"}) for i in range(6)]
    if kind == "location-then-404":
        return [
            http_response(302, headers={"Location": f"/p/{secret}/stream"}),
            http_response(404, b"no", content_type="text/plain"),
        ]
    if kind == "bad-location":
        return [http_response(302, headers={"Location": f"ftp://{secret}/x"})]
    if kind == "message-data":
        data = b'{"id":7,"body":"' + raw + b'"}'
        return [sse(b"id: " + secret.encode() + b"\nevent: message\ndata: " + data + b"\n\n")]
    if kind == "sse-id":
        return [sse(b"event: typing\nid: " + secret.encode() + b"\ndata: {}\n\n")]
    if kind == "sse-id-unsendable":
        return [sse(b"event: typing\nid: " + secret.encode() + b"\x0b\ndata: {}\n\n")]
    if kind == "event-name":
        return [sse(b"event: " + secret.encode() + b"\ndata: {}\n\n")]
    if kind == "chunk-size":
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        return [head + chunk(b"retry: 1\n\n") + raw + b"\r\n"]
    raise AssertionError(kind)


KINDS = [
    "error-body-503",
    "error-body-401",
    "error-body-403",
    "error-body-404",
    "error-body-418",
    "retry-after",
    "content-type",
    "location-loop",
    "location-then-404",
    "bad-location",
    "message-data",
    "sse-id",
    "sse-id-unsendable",
    "event-name",
    "chunk-size",
]


async def run_stream(
    responses: list[bytes], *, via: str, token: str, header_secret: str, retries: int
) -> BaseException | None:
    """Open a stream against the scripted echoes; the error it ends with."""
    server = Scripted(responses)
    options: dict[str, Any] = {"backoff_base": 0.001, "backoff_cap": 0.002, "max_retries": retries}
    async with running(server):
        if via == "message-stream":
            stream: Any = open_message_stream("c", token=token, base_url=server.url, **options)
        else:
            stream = open_event_stream(
                server.url + "/stream",
                token=token,
                headers={"X-Api-Key": header_secret},
                **options,
            )
        try:
            with anyio.fail_after(20):
                async with stream:
                    async for _item in stream:
                        pass
        except Exception as exc:
            return exc
    return None


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    token=SECRETS,
    header_secret=SECRETS,
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3),
    pad=st.integers(0, 600),
    via=st.sampled_from(["message-stream", "event-stream"]),
    echo_header=st.booleans(),
)
async def test_no_echo_of_a_secret_comes_out_of_a_stream(
    caplog: pytest.LogCaptureFixture,
    token: str,
    header_secret: str,
    kinds: list[str],
    pad: int,
    via: str,
    echo_header: bool,
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="expys_stream")
    secret = header_secret if echo_header and via == "event-stream" else token
    responses = [r for kind in kinds for r in echoes(kind, "x" * pad + secret)]
    error = await run_stream(
        responses, via=via, token=token, header_secret=header_secret, retries=len(responses)
    )
    assert error is not None  # (every run ends with an error: the script runs out)
    secrets = [token] + ([header_secret] if via == "event-stream" else [])
    assert_no_leak(secrets, error, caplog.records)


@pytest.mark.slow
@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    token=SECRETS,
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=6),
    pad=st.integers(0, 2000),
    via=st.sampled_from(["message-stream", "event-stream"]),
)
async def test_no_echo_of_a_secret_comes_out_of_a_stream_many(
    caplog: pytest.LogCaptureFixture, token: str, kinds: list[str], pad: int, via: str
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="expys_stream")
    responses = [r for kind in kinds for r in echoes(kind, "x" * pad + token)]
    error = await run_stream(
        responses, via=via, token=token, header_secret="k" * 12, retries=len(responses)
    )
    assert_no_leak([token], error, caplog.records)


# -- the four places the review found, one by one ----------------------------


async def first_error(responses: list[bytes], **kwargs: Any) -> BaseException:
    error = await run_stream(
        responses,
        via=kwargs.pop("via", "message-stream"),
        token=TOKEN,
        header_secret="k" * 12,
        retries=kwargs.pop("retries", 0),
    )
    assert error is not None
    return error


@pytest.mark.parametrize("pad", [0, 80, 95, 99, 100])
async def test_an_echoed_content_type(caplog: pytest.LogCaptureFixture, pad: int) -> None:
    # The error shows the first 100 characters: the token is blanked out
    # before the cut, so no part of it survives there either.
    error = await first_error(echoes("content-type", "x" * pad + TOKEN))
    assert isinstance(error, NotAnEventStream)
    assert "[token]" in error.content_type
    assert TOKEN[:6] not in str(error)
    assert_no_leak([TOKEN, TOKEN[:6]], error, caplog.records)


async def test_an_echoed_location(caplog: pytest.LogCaptureFixture) -> None:
    error = await first_error(echoes("location-loop", TOKEN))
    assert isinstance(error, RedirectError)
    assert "/hop5/[token]" in str(error)
    assert_no_leak([TOKEN], error, caplog.records)


@pytest.mark.parametrize("pad", [0, 150, 190, 199])
async def test_echoed_message_data(caplog: pytest.LogCaptureFixture, pad: int) -> None:
    error = await first_error(echoes("message-data", "x" * pad + TOKEN))
    assert isinstance(error, MessageDecodeError)
    assert error.event_id == "[token]"
    assert TOKEN[:6] not in error.excerpt
    assert error.__context__ is None  # msgspec's error does not ride along
    assert_no_leak([TOKEN, TOKEN[:6]], error, caplog.records)


async def test_echoed_message_data_skipped_is_logged_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="expys_stream")
    server = Scripted([*echoes("message-data", TOKEN), http_response(204)])
    async with (
        running(server),
        open_message_stream(
            "c", token=TOKEN, base_url=server.url, on_invalid="skip", backoff_base=0.001
        ) as stream,
    ):
        with anyio.fail_after(10):
            assert [m async for m in stream] == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "[token]" in warnings[0].getMessage()
    assert_no_leak([TOKEN], None, caplog.records)


async def test_an_echoed_chunk_size_line(caplog: pytest.LogCaptureFixture) -> None:
    error = await first_error(echoes("chunk-size", TOKEN))
    assert isinstance(error, RetryLimitExceeded)
    # The raw size line was the context of the framing error: it is gone.
    assert chain_types(error) == ["RetryLimitExceeded", "FramingError"]
    assert_no_leak([TOKEN], error, caplog.records)


async def test_an_echoed_sse_id_is_blanked_in_the_reconnect_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="expys_stream")
    error = await first_error(echoes("sse-id", TOKEN), retries=1)
    reconnecting = [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]
    assert reconnecting
    assert "(resume after '[token]')" in reconnecting[0]
    assert_no_leak([TOKEN], error, caplog.records)


async def test_an_unsendable_echoed_id_is_blanked_in_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = await first_error(echoes("sse-id-unsendable", TOKEN), retries=1)
    assert "[token]" in str(error)
    assert_no_leak([TOKEN], error, caplog.records)


async def test_a_caller_header_echoed_back_is_blanked(caplog: pytest.LogCaptureFixture) -> None:
    key = "api-key-" + "K3y" * 6
    server = Scripted(echoes("content-type", key))
    async with running(server):
        stream = open_event_stream(
            server.url + "/stream", headers={"X-Api-Key": key}, max_retries=0
        )
        with pytest.raises(NotAnEventStream) as info, anyio.fail_after(10):
            async with stream:
                await stream.__anext__()
    assert "[redacted]" in str(info.value)
    assert_no_leak([key], info.value, caplog.records)


# -- list and send -----------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["error-body-503", "error-body-401", "error-body-404", "location-loop", "bad-location"]
)
@pytest.mark.parametrize("endpoint", ["list", "send"])
async def test_no_echo_comes_out_of_a_request(
    caplog: pytest.LogCaptureFixture, kind: str, endpoint: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="expys_stream")
    responses = echoes(kind, "x" * 480 + TOKEN) * 4
    if endpoint == "send":  # (a POST follows only 307 and 308)
        responses = [r.replace(b"HTTP/1.1 302", b"HTTP/1.1 307") for r in responses]
    server = Scripted(responses)
    async with (
        running(server),
        Client(token=TOKEN, base_url=server.url, backoff_base=0.001, backoff_cap=0.002) as client,
    ):
        with pytest.raises(Exception) as info, anyio.fail_after(10):
            if endpoint == "list":
                await client.list_messages("c")
            else:
                await client.send_message("c", "hi")
    assert_no_leak([TOKEN, TOKEN[:6]], info.value, caplog.records)


async def test_a_providers_token_echoed_in_a_request_error_is_blanked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="expys_stream")
    server = Scripted(echoes("error-body-401", TOKEN) * 2)
    async with (
        running(server),
        Client(token=lambda: TOKEN, base_url=server.url, backoff_base=0.001) as client,
    ):
        with pytest.raises(AuthenticationError) as info, anyio.fail_after(10):
            await client.list_messages("c")
    assert "[token]" in str(info.value)
    assert_no_leak([TOKEN], info.value, caplog.records)


async def test_an_invalid_page_echoing_the_token() -> None:
    page = b'{"messages": [{"id": "' + TOKEN.encode() + b'"}], "hasMore": 1}'
    server = Scripted([http_response(200, page, content_type="application/json")])
    async with running(server), Client(token=TOKEN, base_url=server.url) as client:
        with pytest.raises(Exception) as info, anyio.fail_after(10):
            await client.list_messages("c")
    assert info.value.__context__ is None
    assert_no_leak([TOKEN], info.value, [])


# -- Secrets itself ----------------------------------------------------------


def test_short_values_are_not_secrets() -> None:
    secrets = Secrets(headers=["en", "12345"], tokens=["t"])
    assert not secrets
    assert secrets.text("t en 12345") == "t en 12345"


def test_escaped_forms_are_blanked_too() -> None:
    token = "a b\x01c'd\\e\u00e9"
    secrets = Secrets(tokens=[token])
    for shown in (token, repr(token)[1:-1], "a%20b%01c%27d%5Ce%C3%A9", "a b\\x01c'd\\\\e\u00e9"):
        assert secrets.text(f"<{shown}>") == "<[token]>", shown
    assert secrets.data(b"<" + token.encode() + b">") == b"<[token]>"


def test_a_provider_token_is_added_once_and_bounded() -> None:
    base = Secrets(headers=["header-value"])
    first = base.with_tokens("token-1-xyz")
    assert first.with_tokens("token-1-xyz") is first
    many = first
    for n in range(10):
        many = many.with_tokens(f"token-{n}-later")
    assert "token-1-xyz" in many.text("token-1-xyz")  # the oldest were forgotten
    assert many.text("token-9-later header-value") == "[token] [redacted]"
    assert "later" not in repr(many)
