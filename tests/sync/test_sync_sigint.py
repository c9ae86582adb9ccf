"""Ctrl-C (SIGINT) ends a blocked wait at once and closes the stream."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).resolve().parent / "sigint_child.py"


@pytest.mark.parametrize("mode", ["stream", "backoff", "list"])
def test_sigint_interrupts_the_wait_and_cleans_up(mode: str) -> None:
    # The child blocks forever unless SIGINT ends its wait: no message comes,
    # the reconnect sleep and the retry sleep last an hour.
    child = subprocess.Popen(
        [sys.executable, "-W", "error", str(CHILD), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {
        "outcome": "KeyboardInterrupt",
        "portal_threads": 0,
        "extra_threads": 0,
        "check": "clean",
    }, err
    assert "ResourceWarning" not in err
