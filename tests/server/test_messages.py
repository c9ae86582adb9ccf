"""The backlog (GET .../messages) and sending (POST .../messages)."""

from __future__ import annotations

import re

import anyio
import pytest
from concierge_client import Api
from conftest import DEMO

from expys_stream._models import Message, message_decoder, page_decoder
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def publish_many(server: ConciergeServer, n: int) -> list[Message]:
    return [await server.publish(DEMO, "usr_bob", f"m{i}") for i in range(n)]


# -- the message on the wire --------------------------------------------------


async def test_message_json_shape(server: ConciergeServer, api: Api, alice: str) -> None:
    published = await server.publish(DEMO, "usr_bob", "Hi! How can I help?")
    page = (await api.list(DEMO, alice)).json()
    (wire,) = page["messages"]
    assert list(wire) == ["id", "conversationID", "authorID", "body", "createdAt"]
    assert re.fullmatch(r"msg_\d{12}", wire["id"])
    assert TIMESTAMP.fullmatch(wire["createdAt"])
    assert wire["body"] == "Hi! How can I help?"
    assert published.created_at.microsecond % 1000 == 0
    assert page_decoder.decode((await api.list(DEMO, alice)).body).messages == [published]


async def test_ids_increase_across_conversations(server: ConciergeServer) -> None:
    server.add_conversation("cnv_other")
    ids = [
        (await server.publish(conversation, "usr_bob", None)).id
        for conversation in (DEMO, "cnv_other", DEMO)
    ]
    assert ids == ["msg_000000000001", "msg_000000000002", "msg_000000000003"]
    stamps = [m.created_at for m in server.messages(DEMO)]
    assert stamps == sorted(stamps)


# -- the backlog ------------------------------------------------------------------


async def test_empty_backlog(api: Api, alice: str) -> None:
    reply = await api.list(DEMO, alice)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"messages": [], "hasMore": False}


async def test_default_limit_is_20_newest_oldest_first(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    published = await publish_many(server, 25)
    page = page_decoder.decode((await api.list(DEMO, alice)).body)
    assert page.messages == published[5:]
    assert page.has_more is True


async def test_paging_backwards_with_before(server: ConciergeServer, api: Api, alice: str) -> None:
    published = await publish_many(server, 23)
    seen: list[Message] = []
    query = "limit=5"
    pages = 0
    while True:
        page = page_decoder.decode((await api.list(DEMO, alice, query)).body)
        pages += 1
        assert len(page.messages) <= 5
        seen = page.messages + seen
        if not page.has_more:
            break
        query = f"limit=5&before={page.messages[0].id}"
    assert pages == 5
    assert seen == published


async def test_page_that_reaches_the_start_has_no_more(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    published = await publish_many(server, 10)
    exact = page_decoder.decode((await api.list(DEMO, alice, "limit=10")).body)
    assert exact.messages == published
    assert exact.has_more is False
    before_first = (await api.list(DEMO, alice, f"before={published[0].id}")).json()
    assert before_first == {"messages": [], "hasMore": False}
    middle = page_decoder.decode((await api.list(DEMO, alice, f"before={published[3].id}")).body)
    assert middle.messages == published[:3]
    assert middle.has_more is False


@pytest.mark.parametrize("limit", ["1", "100", "007"])
async def test_limit_bounds_accepted(
    server: ConciergeServer, api: Api, alice: str, limit: str
) -> None:
    await publish_many(server, 101)
    page = (await api.list(DEMO, alice, f"limit={limit}")).json()
    assert len(page["messages"]) == int(limit)
    assert page["hasMore"] is True


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=5&limit=6"],
)
async def test_bad_limit_is_400(api: Api, alice: str, query: str) -> None:
    reply = await api.list(DEMO, alice, query)
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "invalid_request"


async def test_bad_before_is_400(server: ConciergeServer, api: Api, alice: str) -> None:
    server.add_conversation("cnv_other")
    elsewhere = await server.publish("cnv_other", "usr_bob", "x")
    for before in ("msg_999999999999", elsewhere.id, ""):
        reply = await api.list(DEMO, alice, f"before={before}")
        assert reply.status == 400, before
        assert reply.json()["error"]["code"] == "invalid_request"


async def test_unknown_query_parameters_are_ignored(api: Api, alice: str) -> None:
    assert (await api.list(DEMO, alice, "cursor=abc&x")).status == 200


# -- sending -----------------------------------------------------------------------


async def test_send_stores_and_returns_201(server: ConciergeServer, api: Api, alice: str) -> None:
    reply = await api.send(DEMO, alice, "hello")
    assert reply.status == 201
    assert reply.headers["content-type"] == "application/json"
    message = message_decoder.decode(reply.body)
    assert message.author_id == "usr_alice"
    assert message.conversation_id == DEMO
    assert message.body == "hello"
    assert server.messages(DEMO) == [message]


@pytest.mark.parametrize(("raw", "body"), [(b'{"body":null}', None), (b"{}", None)])
async def test_send_null_or_absent_body(
    server: ConciergeServer, api: Api, alice: str, raw: bytes, body: None
) -> None:
    reply = await api.send(DEMO, alice, raw=raw)
    assert reply.status == 201
    assert reply.json()["body"] is body


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b"null", b'"text"', b'{"body":5}', b'{"body":["a"]}', b"{\xff}"],
)
async def test_send_bad_body_is_400(
    server: ConciergeServer, api: Api, alice: str, raw: bytes
) -> None:
    reply = await api.send(DEMO, alice, raw=raw)
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "invalid_request"
    assert server.messages(DEMO) == []


async def test_idempotency_key_201_then_200(server: ConciergeServer, api: Api, alice: str) -> None:
    first = await api.send(DEMO, alice, "once", key="6c1c3b1e-key")
    again = await api.send(DEMO, alice, "once", key="6c1c3b1e-key")
    assert first.status == 201
    assert again.status == 200
    assert again.body == first.body
    assert [m.body for m in server.messages(DEMO)] == ["once"]
    other = await api.send(DEMO, alice, "twice", key="another-key")
    assert other.status == 201
    assert [m.body for m in server.messages(DEMO)] == ["once", "twice"]


async def test_idempotency_key_is_per_user_and_conversation(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    bob = server.add_member(DEMO, "usr_bob")
    server.add_conversation("cnv_other")
    alice_elsewhere = server.add_member("cnv_other", "usr_alice")
    replies = [
        await api.send(DEMO, alice, "a", key="k"),
        await api.send(DEMO, bob, "b", key="k"),
        await api.send("cnv_other", alice_elsewhere, "c", key="k"),
    ]
    assert [r.status for r in replies] == [201, 201, 201]
    assert len({r.json()["id"] for r in replies}) == 3


async def test_concurrent_retries_store_once(server: ConciergeServer, api: Api, alice: str) -> None:
    statuses: list[int] = []

    async def send() -> None:
        statuses.append((await api.send(DEMO, alice, "x", key="same")).status)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(send)
    assert sorted(statuses) == [200] * 9 + [201]
    assert len(server.messages(DEMO)) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256])
async def test_bad_idempotency_key_is_400(
    server: ConciergeServer, api: Api, alice: str, key: str
) -> None:
    reply = await api.send(DEMO, alice, "x", key=key)
    assert reply.status == 400
    assert server.messages(DEMO) == []


async def test_sent_message_is_streamed(server: ConciergeServer, api: Api, alice: str) -> None:
    async with api.stream(DEMO, alice) as stream:
        sent = message_decoder.decode((await api.send(DEMO, alice, "live")).body)
        with anyio.fail_after(5):
            event = await stream.next_event()
        assert event.id == sent.id
        assert message_decoder.decode(event.data_bytes) == sent
