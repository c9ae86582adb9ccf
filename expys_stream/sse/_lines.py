"""Module-level helpers of the SSE decoder: byte constants, its tuning
limits, the checks that ``_bulk`` applies to lines and windows, and the
``id`` and ``retry`` value rules.

They live here, apart from the decoder class, so that ``_decoder.py`` stays
readable; the decoder binds every name it uses in its hot loop as a global of
its own module (``from ._lines import ...``), so moving them costs no lookup.
"""

from __future__ import annotations

from operator import itemgetter

MAX_RETRY = 2**63 - 1
"""``retry`` values are clamped to this many milliseconds (about 292 million
years), so that an absurd field never makes a huge integer."""

_before_lf = itemgetter(-2)
# Blank lines as readlines leaves them.
_BLANK_LF = b"\n"
_BLANK_CRLF = b"\r\n"
# Bytes as ints: ``13 in data`` is a plain memchr, whereas ``b"\r" in data``
# first tries the operand as an int and formats (then drops) a TypeError.
_NUL, _LF, _CR = 0, 10, 13
# Once a line has arrived in this many pieces (chunks without a line end),
# its small pieces are gathered in a growing buffer, so that a trickle of
# tiny chunks costs its bytes and not an object per piece.
_TAIL_PIECES = 16
_SMALL_PIECE = 512
# Complete lines after the last blank line of a chunk are held back (so that
# the next chunk starts on an event boundary, where the fast path works) while
# there are at most this many of them.
_HOLD_LINES = 8
# Chat-shaped windows of four lines that _bulk takes in one step: bounds the
# lists it slices, so that a stream mixing shapes costs no more than linear
# time.
_RUN = 64
# A run drops a keepalive (a comment and a blank line) by shifting the lines
# after it: only while at most this many follow, so that a huge chunk full of
# keepalives costs linear time.
_SHIFT_LINES = 1024


def _has_comment(lines: list[bytes], start: int) -> bool:
    """Whether a line from ``lines[start]`` on is a comment."""
    return any(line[0] == 58 for line in lines[start:])


def _keepalive_at(lines: list[bytes], index: int, cr: bool) -> bool:
    """Whether ``lines[index]`` is a comment line and the next one a blank
    line. In a chunk with a CR, the comment must hold no CR but one just
    before its LF, or a lone CR would end a line inside it."""
    if index + 1 >= len(lines):
        return False
    line = lines[index]
    after = lines[index + 1]
    return (
        line[0] == 58  # ":"
        and after in (_BLANK_LF, _BLANK_CRLF)
        and not (cr and _CR in line[:-2])
    )


def _clean_windows(
    datas: list[bytes], ids: list[bytes], joined_ids: bytes, values: list[bytes], blank: bytes
) -> int:
    """How many of the windows, from the first, have data and id lines that
    end like ``blank`` (LF or CRLF) and hold no other CR. ``joined_ids`` is
    ``b"".join(ids)``: the id lines are short, so counting in it beats a
    call per line."""
    k = len(datas)
    if blank == _BLANK_CRLF:
        # The byte before each LF is a CR, and no other byte is.
        if (
            list(map(_before_lf, datas)).count(_CR) == k
            and _CR not in b"".join(values)
            and joined_ids.count(b"\r") == k == joined_ids.count(b"\r\n")
        ):
            return k
    elif _CR not in b"".join(values) and _CR not in joined_ids:
        return k
    # Some window is not clean: the first one.
    return next(
        index
        for index, (data, id_line) in enumerate(zip(datas, ids, strict=True))
        if not _clean_window(data, id_line, blank)
    )


def _clean_window(data: bytes, id_line: bytes, blank: bytes) -> bool:
    """Whether one window's data and id lines end like ``blank`` and hold no
    other CR."""
    if blank == _BLANK_CRLF:
        return data.find(b"\r") == len(data) - 2 and id_line.find(b"\r") == len(id_line) - 2
    return _CR not in data and _CR not in id_line


def _valid_id(value: str) -> bool:
    return "\0" not in value and "\r" not in value and "\n" not in value


def _parse_retry(digits: bytes) -> int:
    significant = digits.lstrip(b"0")
    if len(significant) > 19:
        return MAX_RETRY
    return min(int(significant or b"0"), MAX_RETRY)
