"""Fixtures for the HTTP/2 edge: hypercorn in-process (TLS with trustme and
ALPN h2, or h2c prior knowledge) serving a small SSE app, on both backends."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
import sniffio
import trustme

pytest.importorskip("h2")
pytest.importorskip("hypercorn")

EVENT = b"id: %d\ndata: " + b"x" * 100 + b"\n\n"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Certs:
    ca: trustme.CA
    pem: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    ca = trustme.CA()
    pem = tmp_path_factory.mktemp("h2certs") / "server.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(pem))
    return Certs(ca, pem)


@dataclass
class Hub:
    """What the app shares with the test: published messages, counts."""

    messages: list[int] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)
    served: int = 0
    disconnects: int = 0

    def publish(self, number: int) -> None:
        self.messages.append(number)
        self.changed.set()
        self.changed = anyio.Event()


def make_app(hub: Hub) -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        hub.served += 1
        path: str = scope["path"]
        head = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
        if path == "/echo":
            size, more = 0, True
            while more:
                message = await receive()
                size += len(message.get("body", b""))
                more = message.get("more_body", False)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": str(size).encode()})
            return
        if path == "/nohead":
            await _until_disconnect(receive, hub)
            return
        await send(head)
        if path.startswith("/events/"):
            body = b"".join(EVENT % i for i in range(int(path.rsplit("/", 1)[1])))
            await send({"type": "http.response.body", "body": body})
        elif path.startswith("/burst/"):
            total = int(path.rsplit("/", 1)[1])
            block = b"z" * 16384
            while total > 0:
                chunk, total = block[:total], total - len(block)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/hold":
            first = {"type": "http.response.body", "body": b": hello\n\n", "more_body": True}
            await send(first)
            await _until_disconnect(receive, hub)
        elif path == "/live":
            await send({"type": "http.response.body", "body": b": live\n\n", "more_body": True})
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    await _until_disconnect(receive, hub)
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                seen = 0
                while True:
                    while seen < len(hub.messages):
                        body = EVENT % hub.messages[seen]
                        await send({"type": "http.response.body", "body": body, "more_body": True})
                        seen += 1
                    await hub.changed.wait()

    return app


async def _until_disconnect(receive: Any, hub: Hub) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    hub.disconnects += 1


@dataclass
class Server:
    url: str
    hub: Hub
    ssl_context: ssl.SSLContext | None


Serve = Callable[..., AbstractAsyncContextManager[Server]]


def hypercorn_config(certs: Certs, *, tls: bool, **options: Any) -> tuple[Any, int]:
    """A hypercorn ``Config`` bound to a fresh loopback port (TLS with the
    test certificate, or cleartext), quiet, with ``options`` set on it; and
    the port."""
    from hypercorn.config import Config

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{os.dup(listener.fileno())}"]
    listener.close()
    if tls:
        config.certfile = config.keyfile = str(certs.pem)
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.2
    config.keep_alive_timeout = 3600
    for key, value in options.items():
        setattr(config, key, value)
    return config, port


@pytest.fixture
def serve_hypercorn(certs: Certs) -> Serve:
    """``async with serve_hypercorn(tls=True, **config) as server``."""

    @asynccontextmanager
    async def serve(*, tls: bool = True, **options: Any) -> AsyncIterator[Server]:
        config, port = hypercorn_config(certs, tls=tls, **options)
        hub = Hub()
        if sniffio.current_async_library() == "trio":
            from hypercorn.trio import serve as hypercorn_serve
        else:
            from hypercorn.asyncio import serve as hypercorn_serve  # type: ignore[assignment]
        stop = anyio.Event()
        scheme = "https" if tls else "http"
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                partial(hypercorn_serve, make_app(hub), config, shutdown_trigger=stop.wait)
            )
            yield Server(
                f"{scheme}://127.0.0.1:{port}", hub, certs.client_context() if tls else None
            )
            stop.set()
            tg.cancel_scope.deadline = anyio.current_time() + 5  # a bounded shutdown

    return serve
