"""Helpers shared by the client tests (imported as a top-level module)."""

from __future__ import annotations

import os
from typing import Any

import anyio
import anyio.abc

from expys_stream import Message

CONVERSATION = "cnv_test"


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


async def collect(stream: Any, count: int, timeout: float = 10) -> list[Message]:
    """The next ``count`` messages of ``stream`` (fails after ``timeout`` s)."""
    got: list[Message] = []
    with anyio.fail_after(timeout):
        async for message in stream:
            got.append(message)
            if len(got) == count:
                break
    return got


async def logged(caplog: Any, prefix: str) -> str:
    """Wait (at most 10 s) for a log record starting with ``prefix``; its text.

    The library logs a retry or a reconnect just before it starts waiting,
    so this is the moment the wait has begun.
    """
    with anyio.fail_after(10):
        while True:
            for record in caplog.records:
                if record.getMessage().startswith(prefix):
                    return str(record.getMessage())
            await anyio.sleep(0.005)


async def subscribed(server: Any, n: int = 1, conversation_id: str = CONVERSATION) -> None:
    """Wait (at most 10 s) until ``n`` streams are subscribed to the conversation."""
    with anyio.fail_after(10):
        await server.wait_for_streams(n, conversation_id)


class Scripted:
    """A raw HTTP server on 127.0.0.1 that answers from a script, for exact wire control.

    Each accepted connection takes the next entry of ``responses`` (raw bytes
    written after the request head is read, then the connection closes), or
    a callable ``(head: bytes) -> bytes``. Request heads are recorded.
    """

    def __init__(self, responses: list[Any]) -> None:
        self.responses = list(responses)
        self.heads: list[bytes] = []
        self.port = 0
        self._listener: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, client: Any) -> None:
        async with client:
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    head += await client.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            self.heads.append(head)
            if not self.responses:
                return
            entry = self.responses.pop(0)
            data = entry(head) if callable(entry) else entry
            try:
                await client.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    def header(self, index: int, name: bytes) -> bytes | None:
        """A header of the ``index``-th recorded request, or None."""
        for line in self.heads[index].split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def http_response(
    status: int,
    body: bytes = b"",
    *,
    content_type: str | None = "text/event-stream",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A complete close-delimited HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status} Scripted"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class running:
    """``async with running(scripted) as s``: serve a Scripted in a task group."""

    def __init__(self, scripted: Scripted) -> None:
        self.scripted = scripted

    async def __aenter__(self) -> Scripted:
        self._listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.scripted.port = self._listener.extra(anyio.abc.SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._listener.serve, self.scripted.handle)
        return self.scripted

    async def __aexit__(self, *exc: Any) -> None:
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        await self._listener.aclose()
