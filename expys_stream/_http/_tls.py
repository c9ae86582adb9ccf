"""TCP connect, then TLS with ALPN ``h2``/``http/1.1``, for the HTTP/2 edge.

ALPN is set on the context and the TLS object made from it in one
synchronous step (anyio's ``TLSStream.wrap`` calls ``wrap_bio`` before its
first await, and OpenSSL copies the protocol list there): httpcore sets ALPN
on the same shared context at its own connects, and a list set before an
await could be replaced in between (docs/http2-design.md, section 10.1).

Errors leave as ``ConnectError``, or the final ``TLSVerificationError`` for a
certificate that failed verification; nothing foreign.
"""

from __future__ import annotations

import ssl

import anyio
from anyio.abc import ByteStream
from anyio.streams.tls import TLSAttribute, TLSStream

from .._errors import ConnectError
from ._errors_map import _describe, _verification_error
from ._urls import _redact

__all__ = ["ALPN_PROTOCOLS", "connect"]

ALPN_PROTOCOLS = ["h2", "http/1.1"]


async def connect(
    host: str,
    port: int,
    *,
    tls: bool,
    ssl_context: ssl.SSLContext | None = None,
    url: str = "",
) -> tuple[ByteStream, str | None]:
    """Connect to ``host:port``; with ``tls``, negotiate ALPN.

    Returns the byte stream and the protocol the server selected (``"h2"``,
    ``"http/1.1"`` or None when it chose none; None for cleartext). The
    caller's cancel scope is the connect timeout; a cancelled connect leaves
    no socket open.
    """
    where = _redact(url) if url else f"{host}:{port}"
    try:
        tcp = await anyio.connect_tcp(host, port)
    except OSError as exc:
        raise ConnectError(f"cannot connect to {where}: {_describe(exc)}") from None
    if not tls:
        return tcp, None
    context = ssl_context if ssl_context is not None else ssl.create_default_context()
    try:
        # One synchronous step up to wrap_bio: see the module's docstring.
        context.set_alpn_protocols(ALPN_PROTOCOLS)
        stream = await TLSStream.wrap(
            tcp, hostname=host, ssl_context=context, standard_compatible=False
        )
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(tcp)
        if not isinstance(exc, Exception):
            raise
        verification = _verification_error(exc, where)
        if verification is not None:
            raise verification from None
        raise ConnectError(f"TLS with {where} failed: {_describe(exc)}") from None
    return stream, stream.extra(TLSAttribute.alpn_protocol, None)
