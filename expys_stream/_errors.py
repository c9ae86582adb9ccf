"""The library's exception hierarchy.

The root, :class:`ExpysError`, and the codec's errors live in
``expys_stream.sse._errors`` so that the codec stays importable on its own;
this module is where the rest of the tree grows and where code outside the
codec imports errors from.
"""

from __future__ import annotations

from .sse._errors import EventTooLarge, ExpysError, ProtocolError

__all__ = ["EventTooLarge", "ExpysError", "ProtocolError"]
