"""Small real proxies on 127.0.0.1 for the tests (imported as a top-level module).

:class:`ForwardProxy` is an HTTP proxy: absolute-form requests (``GET
http://host/path``) are forwarded to the origin, one request per
connection, and ``CONNECT host:port`` opens a tunnel. :class:`Socks5Proxy`
is a SOCKS5 proxy (RFC 1928, with RFC 1929 username/password). Both may
demand credentials, reach loopback hosts only, and record what they saw.
Both run in the test's event loop (asyncio or trio) inside ``async with``;
leaving the block closes every connection.
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.tls import TLSStream

#: The conversation every proxy test's concierge has.
CONVERSATION = "cnv_proxy"

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Hop-by-hop headers: a proxy does not pass them on (RFC 9110, 7.6.1).
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authorization", b"proxy-connection", b"te"}
_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


@dataclass
class Seen:
    """One request as the proxy received it."""

    method: str  # "GET", "CONNECT", ... or "SOCKS5"
    target: str  # the request target, or host:port for CONNECT and SOCKS5
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


class _Server:
    """Listening, serving and closing; the protocol is the subclass's."""

    def __init__(
        self, *, credentials: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.credentials = credentials
        self.tls = tls
        self.seen: list[Seen] = []
        self.refused = 0  # requests refused for want of credentials
        self.open_connections = 0  # client connections not yet closed
        self.port = 0
        self._listener: Any = None
        self._group: anyio.abc.TaskGroup | None = None

    kind = "http"

    @property
    def scheme(self) -> str:
        return self.kind + ("s" if self.tls is not None else "")

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        """The URL with credentials in it (percent-encoded)."""
        userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"{self.scheme}://{userinfo}@127.0.0.1:{self.port}"

    async def __aenter__(self) -> Any:
        self._listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = self._listener.extra(anyio.abc.SocketAttribute.local_port)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._listener.serve, self._serve, self._group)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._group is not None
        self._group.cancel_scope.cancel()
        await self._group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            await self._listener.aclose()

    async def _serve(self, client: Any) -> None:
        self.open_connections += 1
        async with client:
            try:
                with anyio.fail_after(60):
                    if self.tls is not None:
                        client = await TLSStream.wrap(
                            client,
                            server_side=True,
                            ssl_context=self.tls,
                            standard_compatible=False,
                        )
                    await self.handle(client, BufferedByteReceiveStream(client))
            except (*_GONE, anyio.IncompleteRead, anyio.DelimiterNotFound, TimeoutError):
                pass
            finally:
                await anyio.aclose_forcefully(client)
                self.open_connections -= 1

    async def wait_closed(self) -> None:
        """Return once every client connection is closed (bound it with fail_after)."""
        while self.open_connections:
            await anyio.sleep(0.005)

    async def handle(
        self, client: anyio.abc.SocketStream, reader: BufferedByteReceiveStream
    ) -> None:
        raise NotImplementedError


async def _open(host: str, port: int) -> anyio.abc.SocketStream | None:
    if host.strip("[]") not in _LOOPBACK:
        return None
    try:
        return await anyio.connect_tcp(host.strip("[]"), port)
    except OSError:
        return None


async def _copy(source: Any, sink: anyio.abc.SocketStream, group: anyio.abc.TaskGroup) -> None:
    """Copy bytes until ``source`` ends or either side fails; then stop ``group``."""
    try:
        while True:
            await sink.send(await source.receive())
    except _GONE:
        pass
    group.cancel_scope.cancel()


async def _splice(
    client: anyio.abc.SocketStream,
    reader: BufferedByteReceiveStream,
    upstream: anyio.abc.SocketStream,
    *,
    first: bytes,
) -> None:
    """Send ``first``, then copy bytes both ways until either side is done; close both."""
    async with upstream, anyio.create_task_group() as group:
        await client.send(first)
        group.start_soon(_copy, reader, upstream, group)
        group.start_soon(_copy, upstream, client, group)


class ForwardProxy(_Server):
    """An HTTP forward proxy with CONNECT, maybe demanding Basic credentials.

    ``connect_status``: answer every CONNECT with this status instead of
    tunnelling (e.g. 403, 502).
    """

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        connect_status: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(credentials=credentials, tls=tls)
        self.connect_status = connect_status
        self.tunnels = 0

    async def handle(
        self, client: anyio.abc.SocketStream, reader: BufferedByteReceiveStream
    ) -> None:
        head = await reader.receive_until(b"\r\n\r\n", 64 * 1024)
        request_line, *lines = head.split(b"\r\n")
        method, target, _version = request_line.decode("latin-1").split(" ")
        fields = [line.split(b":", 1) for line in lines if line]
        headers = {
            name.strip().lower().decode("latin-1"): value.strip().decode("latin-1")
            for name, value in fields
        }
        self.seen.append(Seen(method, target, headers))
        if not self._authorised(headers.get("proxy-authorization")):
            self.refused += 1
            await client.send(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="tests"\r\n'
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            return
        if method == "CONNECT":
            await self._tunnel(client, reader, target)
        else:
            await self._forward(client, reader, method, target, fields)

    def _authorised(self, value: str | None) -> bool:
        if self.credentials is None:
            return True
        user, password = self.credentials
        expected = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return value == f"Basic {expected}"

    async def _tunnel(
        self, client: anyio.abc.SocketStream, reader: BufferedByteReceiveStream, target: str
    ) -> None:
        if self.connect_status is not None:
            await client.send(b"HTTP/1.1 %d Refused by the test\r\n\r\n" % self.connect_status)
            return
        host, _, port = target.rpartition(":")
        upstream = await _open(host, int(port))
        if upstream is None:
            await client.send(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.tunnels += 1
        await _splice(
            client, reader, upstream, first=b"HTTP/1.1 200 Connection established\r\n\r\n"
        )

    async def _forward(
        self,
        client: anyio.abc.SocketStream,
        reader: BufferedByteReceiveStream,
        method: str,
        target: str,
        fields: list[list[bytes]],
    ) -> None:
        url = urlsplit(target)
        upstream = None
        if url.scheme == "http" and url.hostname:
            upstream = await _open(url.hostname, url.port or 80)
        if upstream is None:
            await client.send(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        # One request per connection: "Connection: close" both ways.
        kept = [b":".join(pair) for pair in fields if pair[0].strip().lower() not in _HOP_BY_HOP]
        head = b"\r\n".join([f"{method} {path} HTTP/1.1".encode(), *kept, b"Connection: close"])
        async with upstream, anyio.create_task_group() as group:
            await upstream.send(head + b"\r\n\r\n")
            group.start_soon(_copy, reader, upstream, group)  # the request's body, if any
            answer = BufferedByteReceiveStream(upstream)
            response = await answer.receive_until(b"\r\n\r\n", 64 * 1024)
            status_line, *lines = response.split(b"\r\n")
            kept = [line for line in lines if line and _name(line) not in _HOP_BY_HOP]
            end = b"Connection: close\r\n\r\n"
            await client.send(b"\r\n".join([status_line, *kept, end]) + bytes(answer.buffer))
            await _copy(upstream, client, group)


def _name(line: bytes) -> bytes:
    return line.split(b":", 1)[0].strip().lower()


class Socks5Proxy(_Server):
    """A SOCKS5 proxy (CONNECT only), maybe demanding a username and password."""

    kind = "socks5"

    async def handle(
        self, client: anyio.abc.SocketStream, reader: BufferedByteReceiveStream
    ) -> None:
        version, count = await reader.receive_exactly(2)
        methods = await reader.receive_exactly(count)
        wanted = 0x00 if self.credentials is None else 0x02
        if version != 5 or wanted not in methods:
            self.refused += 1
            await client.send(b"\x05\xff")
            return
        await client.send(bytes([5, wanted]))
        if self.credentials is not None:
            _version, length = await reader.receive_exactly(2)
            user = (await reader.receive_exactly(length)).decode()
            (length,) = await reader.receive_exactly(1)
            password = (await reader.receive_exactly(length)).decode()
            if (user, password) != self.credentials:
                self.refused += 1
                await client.send(b"\x01\x01")
                return
            await client.send(b"\x01\x00")
        _version, command, _reserved, kind = await reader.receive_exactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.receive_exactly(4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.receive_exactly(16)))
        else:
            (length,) = await reader.receive_exactly(1)
            host = (await reader.receive_exactly(length)).decode("ascii")
        (port,) = struct.unpack("!H", await reader.receive_exactly(2))
        self.seen.append(Seen("SOCKS5", f"{host}:{port}"))
        upstream = await _open(host, port) if command == 1 else None
        if upstream is None:
            await client.send(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")  # refused
            return
        await _splice(client, reader, upstream, first=b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
