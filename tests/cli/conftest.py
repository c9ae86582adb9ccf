"""Fixtures for the command line tests: both anyio backends, a concierge
with two members and the environment that points the command at it."""

from __future__ import annotations

import os
from typing import Any

import pytest

from expys_stream.testing import ConciergeThread

CONVERSATION = "cnv_test"


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """The anyio backend an in-process run of the command uses."""
    return str(request.param)


@pytest.fixture
def concierge_options() -> dict[str, Any]:
    """No ``retry:`` floor from the server: reconnects come as fast as the
    client's backoff allows."""
    return {"retry_ms": 1}


@pytest.fixture
def concierge_env(concierge: ConciergeThread) -> dict[str, str]:
    """EXPYS_* settings for the ``concierge`` fixture, as usr_alice."""
    token = concierge.add_member(CONVERSATION, "usr_alice")
    concierge.add_member(CONVERSATION, "usr_bob")
    return {
        "EXPYS_BASE_URL": concierge.base_url,
        "EXPYS_CONVERSATION_ID": CONVERSATION,
        "EXPYS_MEMBER_TOKEN": token,
    }


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, concierge_env: dict[str, str]) -> dict[str, str]:
    """The concierge's settings in os.environ, for in-process runs (and
    nothing else of EXPYS_* or NO_COLOR from outside)."""
    for name in [name for name in os.environ if name.startswith("EXPYS_")]:
        monkeypatch.delenv(name)
    for name, value in concierge_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_COLOR", "1")
    return concierge_env
