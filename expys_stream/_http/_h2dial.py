"""Dialling an HTTP/2 connection: socket, TLS with ALPN, preface, SETTINGS.

:func:`connect_h2` is the only way an :class:`~._h2conn.H2Conn` comes to life
in the library: it opens the socket, hands it to the connection, starts the
connection's reader in the caller's task group and waits for the server's
first SETTINGS, so the caller gets either a usable connection or ``None``
(the server speaks HTTP/1.1) and never a half-open one.
"""

from __future__ import annotations

import ssl
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ._h2conn import H2Conn
from ._h2stream import NotHTTP2
from ._tls import connect
from ._urls import origin_of

__all__ = ["connect_h2"]


async def connect_h2(
    tg: TaskGroup,
    url: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    **options: Any,
) -> H2Conn | None:
    """Connect to ``url``'s origin, start the connection in ``tg`` and wait
    for the server's SETTINGS. Returns None when the server does not speak
    HTTP/2 (TLS negotiated another protocol, or a cleartext server answered
    the preface in HTTP/1.x): the socket is closed; the caller uses HTTP/1.1.
    Cancelled at any point, it leaves no socket and no task behind."""
    scheme, host, port = origin_of(url)
    sock, alpn = await connect(host, port, tls=scheme == "https", ssl_context=ssl_context, url=url)
    if scheme == "https" and alpn != "h2":
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(sock)
        return None
    default = 443 if scheme == "https" else 80
    authority = host if port == default else f"{host}:{port}"
    if ":" in host:
        authority = f"[{host}]" if port == default else f"[{host}]:{port}"
    try:
        conn = H2Conn(sock, scheme=scheme, authority=authority, url=url, **options)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(sock)
        raise
    tg.start_soon(conn.run)
    try:
        await conn.wait_ready()
    except NotHTTP2:
        return None  # run() has closed the socket, or is closing it
    except BaseException:
        conn.close_now()
        raise
    return conn
