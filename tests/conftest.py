"""Shared setup: make the helper modules in this folder importable.

``naive_sse`` (the reference decoder) is imported by several test files and
by ``fuzz_sse.py``; putting this folder on ``sys.path`` makes that work in
every pytest import mode, without an ``__init__.py``.
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
