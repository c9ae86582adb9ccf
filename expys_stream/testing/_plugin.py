"""The pytest plugin of ``expys_stream`` (entry point ``pytest11``).

It provides one fixture, ``concierge``, and one fixture to configure it,
``concierge_options``. Importing this module is cheap: the server is
imported inside the fixture, the first time a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._thread import ConciergeThread

#: The conversation that the ``concierge`` fixture creates.
TEST_CONVERSATION = "cnv_test"


@pytest.fixture
def concierge_options() -> dict[str, Any]:
    """Keyword arguments for the ``concierge`` fixture's ``ConciergeThread``.

    Empty by default (the server's defaults). Override this fixture in a
    ``conftest.py`` or a test module to change them, e.g.
    ``return {"keepalive_interval": 0.2, "retry_ms": 100}``.
    """
    return {}


@pytest.fixture
def concierge(concierge_options: dict[str, Any]) -> Iterator[ConciergeThread]:
    """A fresh concierge server for one test, in a background thread.

    It is a started ``expys_stream.testing.ConciergeThread`` on 127.0.0.1
    and a free port (``concierge.base_url``), with one conversation,
    ``"cnv_test"``, that has no members and no messages yet. Its methods
    are blocking and thread-safe, with ``a``-prefixed awaitable versions
    (``await concierge.await_for_streams(1)``), so it serves sync tests and
    async tests on any backend alike. It is stopped, every connection
    closed, when the test ends.
    """
    from ._thread import ConciergeThread

    with ConciergeThread(**concierge_options) as server:
        server.add_conversation(TEST_CONVERSATION)
        yield server
