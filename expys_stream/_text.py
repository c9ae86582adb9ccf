"""Text from the network, made safe to show in a log line or on a terminal."""

from __future__ import annotations

import re

__all__ = ["json_printable", "printable"]

# Characters that would let someone else's text act on a log or a terminal:
# C0 and C1 controls (ESC starts terminal commands, CR and LF forge lines),
# DEL, line and paragraph separators, bidi embeddings and isolates.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with its controls escaped (``\\n``, ``\\x1b``...)."""
    return _CONTROLS.sub(_escape, text)


def json_printable(line: str) -> str:
    """A line of JSON made by ``json.dumps(..., ensure_ascii=False)`` (which
    escapes only C0), with the other controls escaped as ``\\uXXXX``."""
    return _CONTROLS.sub(_json_escape, line)


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"
