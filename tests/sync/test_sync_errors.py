"""The sync client raises the async client's typed errors, unwrapped."""

from __future__ import annotations

from typing import Any

import pytest
from sync_support import CONVERSATION, Baseline, portal_threads

from expys_stream import (
    AuthenticationError,
    ConversationNotFoundError,
    PermissionDeniedError,
    RetryLimitExceeded,
    ServerError,
)
from expys_stream.sync import Client, open_event_stream, open_message_stream
from expys_stream.testing import ConciergeThread


@pytest.fixture(params=["expired", "not-a-member", "unknown-conversation"])
def refusal(request: pytest.FixtureRequest, server: ConciergeThread) -> tuple[str, str, type]:
    """A token and conversation the server refuses, and the error expected."""
    if request.param == "expired":
        token = server.add_member(CONVERSATION, "usr_carol")
        server.expire_token(token)
        return token, CONVERSATION, AuthenticationError
    if request.param == "not-a-member":
        server.add_user("usr_dave")
        return server.issue_token("usr_dave"), CONVERSATION, PermissionDeniedError
    return server.add_member(CONVERSATION, "usr_erin"), "cnv_missing", ConversationNotFoundError


def test_a_refused_stream_raises_the_typed_error(
    refusal: tuple[str, str, type], fast: dict[str, Any], baseline: Baseline
) -> None:
    token, conversation, error = refusal
    stream = open_message_stream(conversation, token=token, **fast)
    with stream, pytest.raises(error) as raised:
        next(stream)
    assert token not in str(raised.value)
    assert token not in repr(raised.value)
    baseline.check()


def test_refused_requests_raise_the_typed_error(
    refusal: tuple[str, str, type], fast: dict[str, Any], baseline: Baseline
) -> None:
    token, conversation, error = refusal
    with Client(token=token, **fast) as client:
        with pytest.raises(error):
            client.list_messages(conversation)
        with pytest.raises(error):
            client.send_message(conversation, "hi")
    baseline.check()


def test_a_token_provider_is_asked_again_after_a_401(
    server: ConciergeThread, fast: dict[str, Any]
) -> None:
    stale = server.add_member(CONVERSATION, "usr_alice")
    server.expire_token(stale)
    fresh = server.issue_token("usr_alice")
    tokens = iter([stale, fresh])
    calls = []

    def provider() -> str:
        calls.append(1)
        return next(tokens)

    with open_message_stream(CONVERSATION, token=provider, **fast) as stream:
        server.wait_for_streams(1)
        sent = server.publish(CONVERSATION, "usr_bob", "after the refresh")
        assert next(stream) == sent
    assert len(calls) == 2


def test_an_async_token_provider_is_awaited(server: ConciergeThread, fast: dict[str, Any]) -> None:
    token = server.add_member(CONVERSATION, "usr_alice")

    async def provider() -> str:
        return token

    with Client(token=provider, **fast) as client:
        assert client.list_messages(CONVERSATION).messages == []


def test_spent_retries_raise_retry_limit_exceeded(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    server.faults.fail_next(3, 503, endpoint="stream")
    stream = open_message_stream(CONVERSATION, token=token, max_retries=2, **fast)
    with stream, pytest.raises(RetryLimitExceeded) as raised:
        next(stream)
    assert isinstance(raised.value.__cause__, ServerError)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda t, u: open_message_stream("", token=t, base_url=u), ValueError),
        (lambda t, u: open_message_stream("c", token="", base_url=u), TypeError),
        (lambda t, u: open_message_stream("c", token="a\nb", base_url=u), ValueError),
        (lambda t, u: open_message_stream("c", token=t, base_url=u, history=101), ValueError),
        (lambda t, u: open_message_stream("c", token=t, base_url=u, read_timeout=-1), ValueError),
        (lambda t, u: open_message_stream("c", token=t, base_url="ftp://x"), ValueError),
        (lambda t, u: open_message_stream("c", token=t, base_url=u, on_invalid="x"), ValueError),
        (lambda t, u: open_event_stream("not a url"), ValueError),
        (lambda t, u: open_event_stream(u, headers={"Host": "x"}), ValueError),
        (lambda t, u: Client(token=t, base_url=u, request_retries=-1), ValueError),
        (lambda t, u: Client(token=t, base_url=u).open_message_stream("c", history=-1), ValueError),
    ],
)
def test_bad_arguments_fail_before_any_thread_starts(
    server: ConciergeThread, token: str, call: Any, error: type
) -> None:
    with pytest.raises(error):
        call(token, server.base_url)
    assert portal_threads() == []


def test_bad_request_arguments_raise_the_async_errors(
    server: ConciergeThread, token: str, fast: dict[str, Any]
) -> None:
    with Client(token=token, **fast) as client:
        with pytest.raises(ValueError, match="limit"):
            client.list_messages(CONVERSATION, limit=0)
        with pytest.raises(TypeError, match="before"):
            client.list_messages(CONVERSATION, before="")
        with pytest.raises(TypeError, match="body"):
            client.send_message(CONVERSATION, 5)  # type: ignore[arg-type]
