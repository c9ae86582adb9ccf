"""Sans-IO readers for an HTTP/1.1 response body's framing.

httpcore (through h11) turns every HTTP chunk into an event of its own, a few
microseconds each; an SSE server flushes one chunk per event, so that cost
lands on every message. Once a stream response's headers are in, the
transport reads the socket itself and these readers undo the framing with
bulk ``bytes`` operations, handing the SSE decoder one joined payload per
socket read.

Each reader's ``feed(data) -> bytes`` returns the payload bytes found in
``data`` (possibly ``b""``); ``done`` turns True once the body is complete.
They keep no payload between calls, only an unfinished chunk-size line.

A framing error raises :class:`FramingError`, which carries the payload of
the chunks that arrived intact before it in the same ``feed``, so that the
caller can use it before replacing the connection. The error is raised
outside any ``except`` block: it chains no exception holding the wire's
bytes.
"""

from __future__ import annotations

from .._errors import ProtocolError

__all__ = ["BodyReader", "ChunkedReader", "FramingError", "LengthReader", "UntilCloseReader"]

#: The longest chunk-size line (with extensions) or trailer line accepted.
MAX_FRAMING_LINE = 8 * 1024


class FramingError(ProtocolError):
    """The body's framing is broken; ``payload`` is what came intact before it.

    ``take_payload()`` hands that payload over once and forgets it, so that
    the error does not keep the body's bytes while it travels on.
    """

    def __init__(self, message: str, payload: bytes = b"") -> None:
        super().__init__(message)
        self._payload = payload

    def take_payload(self) -> bytes:
        """The intact payload (once; ``b""`` afterwards)."""
        payload, self._payload = self._payload, b""
        return payload


class BodyReader:
    """Interface of the framing readers."""

    done: bool = False

    def feed(self, data: bytes) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError


class UntilCloseReader(BodyReader):
    """A body delimited by the connection closing: everything is payload."""

    def feed(self, data: bytes) -> bytes:
        return data


class LengthReader(BodyReader):
    """A body of ``Content-Length`` bytes; anything after it is ignored."""

    def __init__(self, length: int) -> None:
        self._left = length
        self.done = length == 0

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        if len(data) >= self._left:
            data = data[: self._left]
            self._left = 0
            self.done = True
            return data
        self._left -= len(data)
        return data


# States of ChunkedReader between feeds.
_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedReader(BodyReader):
    """Undoes ``Transfer-Encoding: chunked`` (RFC 9112, section 7.1).

    Chunk extensions are skipped and trailer fields are ignored. A malformed
    size line raises :class:`FramingError` with the payload of the whole
    chunks before it (a chunk that does not end with CRLF is not whole).
    """

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0  # payload bytes still to come in the current chunk
        self._line = b""  # an unfinished size, data-end or trailer line
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self._line:
            data = self._line + data
            self._line = b""
        out: list[bytes] = []
        pos = 0
        end = len(data)
        # out[:whole] is payload of chunks that ended well (or of a chunk
        # still arriving); a chunk not ending with CRLF is cut back to it.
        whole = 0
        while pos < end:
            state = self._state
            if state == _SIZE:
                # The hot path: whole chunks inside this read, one after
                # another, each "SIZE\r\nPAYLOAD\r\n".
                find = data.find
                append = out.append
                while True:
                    eol = find(b"\r\n", pos)
                    if eol < 0:
                        self._keep(data, pos, out)
                        return b"".join(out)
                    line = data[pos:eol]
                    try:  # a plain hex size: the common case, inline
                        size = (
                            int(line, 16) if len(line) < 9 and line.isalnum() else _chunk_size(line)
                        )
                    except ValueError:
                        size = -1
                    if size < 0:  # (raised here, not in the except: no context)
                        raise _broken("bad chunk size", out, len(out))
                    start = eol + 2
                    stop = start + size
                    if size and stop + 2 <= end and data[stop : stop + 2] == b"\r\n":
                        append(data[start:stop])
                        pos = stop + 2
                        continue
                    pos = start
                    if size == 0:
                        self._state = _TRAILER
                    else:
                        self._state = _DATA
                        self._left = size
                        whole = len(out)
                    break
            elif state == _DATA:
                take = min(self._left, end - pos)
                out.append(data[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = _DATA_END
            elif state == _DATA_END:
                if end - pos < 2:
                    self._keep(data, pos, out)
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise _broken("a chunk does not end with CRLF", out, whole)
                pos += 2
                self._state = _SIZE
                whole = len(out)
            elif state == _TRAILER:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._keep(data, pos, out)
                    break
                if eol == pos:  # the blank line that ends the trailer section
                    self._state = _DONE
                    self.done = True
                pos = eol + 2
            else:  # _DONE: whatever follows is not part of this body
                break
        return b"".join(out)

    def _keep(self, data: bytes, pos: int, out: list[bytes]) -> None:
        rest = data[pos:]
        if len(rest) > MAX_FRAMING_LINE:
            raise _broken("a framing line is too long", out, len(out))
        self._line = rest


def _broken(reason: str, out: list[bytes], whole: int) -> FramingError:
    return FramingError(f"malformed chunked body: {reason}", b"".join(out[:whole]))


def _chunk_size(line: bytes) -> int:
    # A size line with extensions or whitespace (RFC 9112 7.1.1): the part
    # before ";", trimmed, must be hex digits. Raises ValueError otherwise
    # (without the line: it is the server's bytes).
    digits = line.split(b";", 1)[0].strip(b" \t")
    if not digits.isalnum() or len(digits) > 16:
        raise ValueError("not a chunk size")
    return int(digits, 16)
