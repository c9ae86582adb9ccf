"""After os.fork() the child gets its own event-loop thread (POSIX only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).resolve().parent / "fork_child.py"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
def test_a_forked_child_starts_afresh() -> None:
    done = subprocess.run([sys.executable, str(CHILD)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "OK"
