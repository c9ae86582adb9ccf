"""Client.list_messages and Client.send_message against the concierge."""

from __future__ import annotations

import re
from typing import Any

import pytest
from client_support import CONVERSATION

from expys_stream import (
    AuthenticationError,
    Client,
    ConversationNotFoundError,
    PermissionDeniedError,
    RetryLimitExceeded,
    ServerError,
    StreamClosed,
    open_event_stream,
)
from expys_stream._transport import ascii_url
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def test_backlog_pages_oldest_first(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(25)]
    async with Client(token=token, **fast) as client:
        newest = await client.list_messages(CONVERSATION)
        assert newest.messages == sent[-20:]
        assert newest.has_more is True
        older = await client.list_messages(CONVERSATION, before=newest.messages[0].id)
        assert older.messages == sent[:5]
        assert older.has_more is False
        three = await client.list_messages(CONVERSATION, limit=3)
        assert three.messages == sent[-3:]


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_limit_out_of_range_is_refused_before_any_request(
    server: ConciergeServer, token: str, fast: dict[str, Any], limit: int
) -> None:
    async with Client(token=token, **fast) as client:
        with pytest.raises(ValueError, match="limit"):
            await client.list_messages(CONVERSATION, limit=limit)
    assert server.requests == []


async def test_send_retries_reuse_one_idempotency_key(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.fail_next(2, 503, endpoint="send")
    async with Client(token=token, **fast) as client:
        message = await client.send_message(CONVERSATION, "only once")
    assert message.body == "only once"
    assert message.author_id == "usr_alice"
    assert server.messages(CONVERSATION) == [message]
    keys = {r.headers["idempotency-key"] for r in server.requests if r.method == "POST"}
    assert len(keys) == 1
    assert len([r for r in server.requests if r.method == "POST"]) == 3


async def test_send_with_the_same_key_twice_stores_one_message(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with Client(token=token, **fast) as client:
        first = await client.send_message(CONVERSATION, "hello", idempotency_key="k-1")
        again = await client.send_message(CONVERSATION, "hello", idempotency_key="k-1")
    assert first == again
    assert server.messages(CONVERSATION) == [first]


async def test_request_retries_are_bounded(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.fail_next(10, 500, endpoint="list")
    async with Client(token=token, request_retries=2, **fast) as client:
        with pytest.raises(RetryLimitExceeded) as info:
            await client.list_messages(CONVERSATION)
    assert isinstance(info.value.last_error, ServerError)
    assert info.value.attempts == 3


async def test_request_status_errors(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    outsider = server.issue_token(server.add_user("usr_mallory"))
    async with Client(token=outsider, **fast) as client:
        with pytest.raises(PermissionDeniedError):
            await client.list_messages(CONVERSATION)
    async with Client(token=token, **fast) as client:
        with pytest.raises(ConversationNotFoundError):
            await client.send_message("cnv_nope", "x")
    async with Client(token="bad-token", **fast) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.list_messages(CONVERSATION)
    assert "bad-token" not in str(info.value)


async def test_a_token_provider_is_asked_again_after_401(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    tokens = ["stale", token]
    async with Client(token=lambda: tokens.pop(0), **fast) as client:
        page = await client.list_messages(CONVERSATION)
    assert page.messages == []
    assert tokens == []


async def test_a_closed_client_refuses_work(token: str, fast: dict[str, Any]) -> None:
    client = Client(token=token, **fast)
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(StreamClosed):
        await client.list_messages(CONVERSATION)
    with pytest.raises(StreamClosed):
        client.open_message_stream(CONVERSATION)


def test_base_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPYS_BASE_URL", raising=False)
    assert Client(token="t").base_url == "https://api.expys.com"
    assert Client(token="t", environment="sandbox").base_url == "https://sandbox.api.expys.com"
    monkeypatch.setenv("EXPYS_BASE_URL", "http://127.0.0.1:8765/prefix/")
    assert Client(token="t").base_url == "http://127.0.0.1:8765/prefix"
    assert Client(token="t", base_url="http://h:1").base_url == "http://h:1"
    # The environment variable wins over the environment's default.
    assert Client(token="t", environment="staging").base_url == "http://127.0.0.1:8765/prefix"
    monkeypatch.delenv("EXPYS_BASE_URL")
    with pytest.raises(ValueError, match="unknown environment"):
        Client(token="t", environment="staging")
    with pytest.raises(ValueError, match="absolute http"):
        Client(token="t", base_url="ftp://example")
    with pytest.raises(TypeError):
        Client(token="")


def test_base_url_is_made_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPYS_BASE_URL", raising=False)
    client = Client(token="t", base_url="https://Bücher.example/ä pi/")
    assert client.base_url == "https://xn--bcher-kva.example/%C3%A4%20pi"
    assert (
        Client(token="t", base_url="http://[::1]:8080/p%2Fq").base_url == "http://[::1]:8080/p%2Fq"
    )
    zoned = "http://[fe80::1%25eth0]:8080"
    assert Client(token="t", base_url=zoned).base_url == zoned
    assert Client(token="t", base_url="http://a_b-c.example.").base_url == "http://a_b-c.example."


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("http://a..b", "invalid host name 'a..b'"),
        ("http://" + "x" * 64 + ".example", "invalid host name"),
        ("http://h:99999", "Port out of range"),
        ("http://[::1", "not a URL"),
        ("ftp://h", "scheme must be http or https, not 'ftp'"),
        ("h:80", "scheme must be http or https"),
        ("http:///path", "there is no host"),
        ("http://user:pw@h", "must not carry credentials"),
        ("http://h/?q=1", "must not carry credentials, a query"),
        # IDNA maps these to ASCII that no host name holds.
        ("http://a\uff3bb", "invalid host name 'a[b'"),
        ("http://\u00a0x", "invalid host name ' x'"),
        ("http://127.0.0.1\x00.example.com", "invalid host name"),
        ("http://a<b", "invalid host name"),
        ("http://[v1.fe]", "invalid IPv6 address 'v1.fe'"),
        ("http://[fe80::1%25\u00e9]", "invalid zone in IPv6 address"),
        ("http://[fe80::1%eth0]", "invalid zone in IPv6 address"),
    ],
)
def test_a_base_url_that_cannot_be_used_is_refused_at_once(base_url: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        Client(token="t", base_url=base_url)
    assert "pw" not in str(info.value)


async def test_a_base_url_with_a_path_prefix(token: str) -> None:
    from expys_stream.testing import serve_concierge

    async with serve_concierge(path_prefix="/prefix") as server:
        server.add_conversation(CONVERSATION)
        member = server.add_member(CONVERSATION, "usr_alice")
        assert server.base_url.endswith("/prefix")
        async with Client(token=member, base_url=server.base_url) as client:
            sent = await client.send_message(CONVERSATION, "prefixed")
            assert (await client.list_messages(CONVERSATION)).messages == [sent]


def test_a_url_urllib_cannot_split_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # urllib's own message would quote the netloc, password included.
    monkeypatch.delenv("EXPYS_BASE_URL", raising=False)
    url = "http://alice:hunter2\uff03pw@example.com/stream"
    with pytest.raises(ValueError, match="not a URL") as info:
        Client(token="t", base_url=url)
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="urllib cannot split it") as info:
        open_event_stream(url)
    assert "hunter2" not in str(info.value)


def test_printable_ascii_goes_out_as_browsers_send_it() -> None:
    # WHATWG's path and query percent-encode sets: a signed URL stays signed.
    url = ascii_url("http://h/a|b^c[1]/s?sig=x|y^z{1}[2]&q=`k`&s=a b")
    assert url == "http://h/a|b^c[1]/s?sig=x|y^z{1}[2]&q=`k`&s=a%20b"
    assert ascii_url('http://h/p`{}"<>?q="<>\'') == "http://h/p%60%7B%7D%22%3C%3E?q=%22%3C%3E%27"
