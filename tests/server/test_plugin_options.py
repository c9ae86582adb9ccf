"""Overriding ``concierge_options`` configures the ``concierge`` fixture."""

from __future__ import annotations

from typing import Any

import httpcore
import pytest
from concierge_client import path_for

from expys_stream.testing import ConciergeThread


@pytest.fixture
def concierge_options() -> dict[str, Any]:
    return {"retry_ms": 42, "keepalive_interval": 0.05}


def test_options_reach_the_server(concierge: ConciergeThread) -> None:
    token = concierge.add_member("cnv_test", "usr_alice")
    url = concierge.base_url + path_for("cnv_test", "stream")
    with httpcore.ConnectionPool() as pool:
        headers = {"Authorization": f"Bearer {token}"}
        with pool.stream("GET", url, headers=headers) as response:
            body = b""
            chunks = response.iter_stream()
            while b": keepalive\n\n" not in body:
                body += next(chunks)
    assert body.startswith(b"retry: 42\n\n: keepalive\n\n")
