"""Content codings of a stream's body: identity, or gzip and deflate undone.

The client asks for ``Accept-Encoding: identity``. A server or a proxy that
compresses the body anyway is still understood: gzip and deflate are
decoded incrementally, as the body arrives. Any other coding (br, zstd, one
we have never heard of) is a :class:`ProtocolError` before the first read:
decoding it as if it were text would give no events and no error.

A body without a coding is read through :class:`StreamBody` as it is, with
no per-read work added. A decoded body hands out at most
:data:`PIECE_SIZE` bytes of decompressed output per read, keeping the
unread input for the next call, so a decompression bomb grows the SSE
decoder's buffer a piece at a time until its ``max_event_size`` stops it
(``EventTooLarge``), never the process's memory in one step.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from .._errors import ProtocolError

if TYPE_CHECKING:
    from ._base import Body

__all__ = ["PIECE_SIZE", "DecodedBody", "content_coding", "inflate_bounded"]

#: The most decompressed bytes one read of a decoded body returns.
PIECE_SIZE = 64 * 1024
_GZIP = 16 + zlib.MAX_WBITS  # a gzip header and trailer
_ZLIB = zlib.MAX_WBITS  # RFC 1950, what HTTP's "deflate" means
_RAW = -zlib.MAX_WBITS  # a bare RFC 1951 stream, which some servers send as "deflate"
_DECODED = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


def content_coding(value: bytes | None) -> str | None:
    """The coding to undo for a ``Content-Encoding`` value: None (identity),
    ``"gzip"`` or ``"deflate"``.

    Raises:
        ProtocolError: any other coding, or more than one (final: a new
            connection would get the same).
    """
    if value is None:
        return None
    codings = [c.strip().lower() for c in value.decode("latin-1").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in _DECODED:
        return _DECODED[codings[0]]
    shown = ", ".join(codings)[:100]
    raise ProtocolError(
        f"the server sent the stream with Content-Encoding {shown!r}; the client asked "
        "for identity and decodes only gzip and deflate"
    )


class DecodedBody:
    """A :class:`StreamBody` whose gzip or deflate coding is undone as it arrives."""

    __slots__ = ("_body", "_coding", "_inflater", "_pending")

    def __init__(self, body: Body, coding: str) -> None:
        self._body = body
        self._coding = coding
        # None until a deflate body's first two bytes tell zlib from raw.
        self._inflater = zlib.decompressobj(_GZIP) if coding == "gzip" else None
        self._pending = b""  # input not yet given to the inflater

    @property
    def bulk(self) -> bool:
        """Whether the body is read in bulk (else through httpcore's iterator)."""
        return self._body.bulk

    async def read(self) -> bytes:
        """The next piece of decoded payload (at most :data:`PIECE_SIZE`
        bytes); ``b""`` at the end of the body."""
        while True:
            if self._pending:
                out, again = self._inflate()
                if out:
                    return out
                if again:
                    continue  # a finished gzip member and another one after it
            data = await self._body.read()
            if not data:
                return b""  # the end (a cut-off body ends here too: a reconnect)
            self._pending += data

    async def aclose(self) -> None:
        """Close the body under this one (see :meth:`StreamBody.aclose`)."""
        await self._body.aclose()

    def _inflate(self) -> tuple[bytes, bool]:
        """Output for the pending input, and whether input is left to inflate
        now (rather than after the next read)."""
        inflater = self._inflater
        if inflater is None:
            if len(self._pending) < 2:
                return b"", False  # (kept, and joined by the next read)
            inflater = self._inflater = zlib.decompressobj(_wbits(self._pending))
        data, self._pending = self._pending, b""
        try:
            out = inflater.decompress(data, PIECE_SIZE)
        except zlib.error:
            raise ProtocolError(f"the {self._coding} coding of the stream is corrupt") from None
        if inflater.unconsumed_tail:
            self._pending = inflater.unconsumed_tail
        elif inflater.eof and inflater.unused_data:
            # Bytes after the end of the compressed stream: for gzip, the next
            # member (RFC 1952 allows several); for deflate, not ours.
            if self._coding != "gzip":
                raise ProtocolError("bytes after the end of the stream's deflate coding")
            self._pending = inflater.unused_data
            self._inflater = zlib.decompressobj(_GZIP)
        return out, bool(self._pending)


def _wbits(start: bytes) -> int:
    # RFC 1950 header: CM 8 in the low nibble, and the first two bytes, big
    # endian, a multiple of 31. Anything else is taken as raw deflate.
    if start[0] & 0x0F == 8 and (start[0] << 8 | start[1]) % 31 == 0:
        return _ZLIB
    return _RAW


def inflate_bounded(coding: str, data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of ``data`` (a whole, maybe cut, body) decoded.

    Raises:
        ProtocolError: the coding is corrupt.
    """
    wbits = _GZIP if coding == "gzip" else _wbits(data) if len(data) >= 2 else _ZLIB
    try:
        return zlib.decompressobj(wbits).decompress(data, limit)
    except zlib.error:
        raise ProtocolError(f"the {coding} coding of the response is corrupt") from None
