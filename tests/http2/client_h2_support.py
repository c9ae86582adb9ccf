"""Helpers for the public-API HTTP/2 tests (``Client(http2=True)``): the
concierge over TLS, a chat endpoint for hypercorn, task and fd counts."""

from __future__ import annotations

import json
import os
import re
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from conftest import Certs, hypercorn_config

from expys_stream import Client, Message
from expys_stream._http._h2conn import CONNECTION_WINDOW, H2Conn
from expys_stream.testing import ConciergeServer, serve_concierge

LIVE = "cnv_live"
CHURN = "cnv_churn"
AUTHOR = "usr_bob"
#: a conversation whose stream the chat app never answers (no head)
NO_HEAD = "cnv_nohead"
#: Client options for tests: short backoff, so reconnects are quick.
FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05}


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def running_tasks() -> int:
    """How many tasks run in this event loop (both backends)."""
    return len(anyio.get_running_tasks())


async def poll(condition: Callable[[], object], seconds: float = 10) -> None:
    """Wait until ``condition()`` is true (a state wait; fails after ``seconds``)."""
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.01)


async def settle(fds: int, tasks: int, seconds: float = 10) -> None:
    """Wait until the fd and task counts are back to the given baselines."""
    await poll(lambda: open_fds() <= fds and running_tasks() <= tasks, seconds)


def server_context(certs: Certs) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certs.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@dataclass
class Concierge:
    server: ConciergeServer
    token: str
    ssl_context: ssl.SSLContext

    def client(self, **options: Any) -> Client:
        merged = {**FAST, **options}
        return Client(
            token=self.token,
            base_url=self.server.base_url,
            http2=True,
            ssl_context=self.ssl_context,
            **merged,
        )

    def h2_connections(self) -> list[Any]:
        return [info for info in self.server.connections() if info.protocol == "h2"]


@asynccontextmanager
async def concierge_h2(certs: Certs, **options: Any) -> AsyncIterator[Concierge]:
    """The concierge over TLS (ALPN h2), with LIVE and CHURN and one member."""
    options.setdefault("retry_ms", 1)
    async with serve_concierge(ssl_context=server_context(certs), **options) as server:
        server.add_conversation(LIVE)
        server.add_conversation(CHURN)
        token = server.add_member(LIVE, "usr_alice")
        server.add_member(CHURN, "usr_alice")
        server.add_member(LIVE, AUTHOR)
        server.add_member(CHURN, AUTHOR)
        yield Concierge(server, token, certs.client_context())


def client_h2_conns(client: Client) -> list[H2Conn]:
    """The client's live HTTP/2 connections (private: for the invariants)."""
    edge = client._transport.http2
    assert edge is not None
    return edge.connections()


def window_balanced(conn: H2Conn) -> bool:
    """Design 8.1: the connection window plus every open stream's unread
    bytes is the whole window (no credit leaked by closes and resets)."""
    unread = sum(stream.unacked for stream in conn.streams.values())
    return conn.connection_window() + unread == CONNECTION_WINDOW


# -- a chat endpoint for hypercorn -------------------------------------------------

_STREAM_PATH = re.compile(r"/v1/conversations/([^/]+)/stream")


@dataclass
class ChatHub:
    """What the ASGI chat app shares with the test."""

    messages: dict[str, list[int]] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)
    #: (conversation, Last-Event-ID, client address) of every stream request
    requests: list[tuple[str, str | None, tuple[str, int]]] = field(default_factory=list)
    disconnects: int = 0
    #: what hypercorn's own serve() raised (its bugs, not the client's)
    server_errors: list[BaseException] = field(default_factory=list)

    def publish(self, conversation_id: str) -> int:
        numbers = self.messages.setdefault(conversation_id, [])
        numbers.append(len(numbers) + 1)
        self.changed.set()
        self.changed = anyio.Event()
        return numbers[-1]

    def connections(self) -> set[tuple[str, int]]:
        return {peer for _, _, peer in self.requests}


def chat_event(conversation_id: str, number: int) -> bytes:
    data = json.dumps(
        {
            "id": str(number),
            "conversationID": conversation_id,
            "authorID": AUTHOR,
            "body": f"m{number}",
            "createdAt": "2026-12-07T00:00:00.000Z",
        }
    )
    return f"id: {number}\nevent: message\ndata: {data}\n\n".encode()


def make_chat_app(hub: ChatHub) -> Callable[..., Any]:
    """The stream endpoint of docs/protocol.md, enough for MessageStream."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].rsplit(".", 1)[1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        match = _STREAM_PATH.fullmatch(scope["path"])
        if match is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        conversation_id = match.group(1)
        headers = dict(scope["headers"])
        last = headers.get(b"last-event-id")
        last_id = None if last is None else last.decode()
        hub.requests.append((conversation_id, last_id, tuple(scope["client"])))
        if conversation_id == NO_HEAD:  # never answers: wait for the client's reset
            while (await receive())["type"] != "http.disconnect":
                pass
            hub.disconnects += 1
            return
        head = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        first = {"type": "http.response.body", "body": b"retry: 10\n\n", "more_body": True}
        await send(first)
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                hub.disconnects += 1
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            seen = 0 if last_id is None else int(last_id)
            while True:
                numbers = hub.messages.get(conversation_id, [])
                while seen < len(numbers):
                    seen += 1
                    body = chat_event(conversation_id, seen)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                await hub.changed.wait()

    return app


async def collect_into(stream: Any, sink: list[Message], enough: anyio.Event, count: int) -> None:
    """Append every message of ``stream`` to ``sink``; set ``enough`` at ``count``."""
    async for message in stream:
        sink.append(message)
        if len(sink) >= count:
            enough.set()


@dataclass
class ChatServer:
    base_url: str
    hub: ChatHub
    ssl_context: ssl.SSLContext | None

    def client(self, **options: Any) -> Client:
        merged = {**FAST, **options}
        return Client(
            token="tok_test",
            base_url=self.base_url,
            http2=True,
            ssl_context=self.ssl_context,
            **merged,
        )


@asynccontextmanager
async def hypercorn_chat(
    certs: Certs, *, tls: bool = True, **config_options: Any
) -> AsyncIterator[ChatServer]:
    """hypercorn in this event loop serving the chat app: TLS with ALPN h2,
    or (``tls=False``) cleartext, which the client speaks by prior knowledge."""
    import sniffio

    config, port = hypercorn_config(certs, tls=tls, **config_options)
    hub = ChatHub()
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            try:
                await serve(make_chat_app(hub), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
            except Exception as exc:  # e.g. hypercorn's own SSL errors on asyncio
                hub.server_errors.append(exc)

        tg.start_soon(run)
        if tls:
            yield ChatServer(f"https://127.0.0.1:{port}", hub, certs.client_context())
        else:
            yield ChatServer(f"http://127.0.0.1:{port}", hub, None)
        stop.set()
        tg.cancel_scope.deadline = anyio.current_time() + 5  # a bounded shutdown


def short_pings(monkeypatch: Any, interval: float = 0.2, timeout: float = 0.5) -> None:
    """Make the client's connections PING after ``interval`` s of silence
    (the library's 20 s and 10 s are not options; design 14, test 6)."""
    from functools import partial

    from expys_stream._http import _http2
    from expys_stream._http._h2dial import connect_h2

    dial = partial(connect_h2, ping_interval=interval, ping_timeout=timeout)
    monkeypatch.setattr(_http2, "connect_h2", dial)
