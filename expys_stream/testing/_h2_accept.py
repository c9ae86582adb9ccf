"""Which protocol a new connection speaks: TLS and ALPN, or the HTTP/2 preface.

Every accepted connection starts here, in its own task. Over TLS the
handshake runs first (in that task, not the accept loop) and ALPN decides:
``h2`` goes to :class:`~._h2.H2Server`, anything else (``http/1.1``, or no
ALPN at all) to the HTTP/1.1 service. In cleartext the first bytes decide:
the 24-byte HTTP/2 connection preface means prior knowledge; the first byte
that differs from it means HTTP/1.1, and the bytes read so far go to h11.

h2 is imported only when a connection is HTTP/2. Without it installed, ALPN
offers no ``h2``, and a cleartext preface gets a GOAWAY frame that says why.
"""

from __future__ import annotations

import contextlib
import logging
import ssl

import anyio
import anyio.abc
import anyio.streams.tls
from anyio.streams.tls import TLSStream

from ._faults import Faults
from ._h2_stream import no_h2_goaway
from ._hub import Hub
from ._service import Service

__all__ = ["PREFACE", "Acceptor", "h2_installed"]

logger = logging.getLogger("expys_stream.testing")

#: The client connection preface (RFC 9113 section 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


def h2_installed() -> bool:
    """Whether h2 (the ``http2`` extra) can be imported."""
    try:
        import h2.connection  # noqa: F401
    except ImportError:
        return False
    return True


class Acceptor:
    """Serves each accepted connection in the protocol it speaks."""

    def __init__(
        self,
        service: Service,
        hub: Hub,
        faults: Faults,
        *,
        ssl_context: ssl.SSLContext | None,
        http2: bool,
        h2_max_concurrent_streams: int,
    ) -> None:
        self._service = service
        self._hub = hub
        self._faults = faults
        self._ssl_context = ssl_context
        self._http2 = http2
        self._h2 = http2 and h2_installed()
        self._h2_max_streams = h2_max_concurrent_streams
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2", "http/1.1"] if self._h2 else ["http/1.1"])

    async def serve(self, stream: anyio.abc.SocketStream) -> None:
        """Serve one accepted connection until it ends."""
        if self._ssl_context is None:
            await self._serve_plain(stream)
        else:
            await self._serve_tls(stream, self._ssl_context)

    async def _serve_tls(self, stream: anyio.abc.SocketStream, context: ssl.SSLContext) -> None:
        try:
            with anyio.fail_after(10):
                tls = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=context, standard_compatible=False
                )
        except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            logger.debug("concierge: TLS handshake failed: %r", exc)
            await anyio.aclose_forcefully(stream)
            return
        if tls.extra(anyio.streams.tls.TLSAttribute.alpn_protocol, None) == "h2":
            await self._serve_h2(tls, b"", tls=True)
        else:
            await self._service.serve_connection(tls, tls=True)

    async def _serve_plain(self, stream: anyio.abc.SocketStream) -> None:
        # Prior knowledge: a connection that opens with the HTTP/2 preface is HTTP/2.
        initial = b""
        if self._http2:
            try:
                while len(initial) < len(PREFACE) and PREFACE.startswith(initial):
                    initial += await stream.receive(len(PREFACE) - len(initial))
            except _GONE:
                await anyio.aclose_forcefully(stream)
                return
            if initial.startswith(PREFACE):
                await self._serve_h2(stream, initial, tls=False)
                return
        await self._service.serve_connection(stream, initial=initial)

    async def _serve_h2(self, stream: anyio.abc.ByteStream, initial: bytes, *, tls: bool) -> None:
        if not self._h2:
            logger.warning("concierge: an HTTP/2 connection, but h2 is not installed")
            with contextlib.suppress(*_GONE):
                await stream.send(no_h2_goaway())
            await anyio.aclose_forcefully(stream)
            return
        from ._h2 import H2Server  # imports h2

        record = self._hub.open_connection("h2", tls=tls)
        server = H2Server(
            stream,
            self._service,
            record,
            max_concurrent_streams=self._h2_max_streams,
            plan=self._faults._take_connection_plan(),
        )
        try:
            await server.run(initial)
        finally:
            self._hub.close_connection(record)
