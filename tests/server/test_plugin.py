"""The ``concierge`` fixture of the pytest plugin, used as users would."""

from __future__ import annotations

import subprocess
import sys

import anyio
import httpcore
import pytest
from concierge_client import Api, path_for

from expys_stream._models import message_decoder
from expys_stream.testing import ConciergeThread


def test_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("expys_stream")


def test_concierge_fixture_from_a_sync_test(concierge: ConciergeThread) -> None:
    assert isinstance(concierge, ConciergeThread)
    assert concierge.base_url.startswith("http://127.0.0.1:")
    assert concierge.messages("cnv_test") == []
    token = concierge.add_member("cnv_test", "usr_alice")
    concierge.publish("cnv_test", "usr_bob", "hello")
    with httpcore.ConnectionPool() as pool:
        url = concierge.base_url + path_for("cnv_test", "messages")
        response = pool.request("GET", url, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    assert b'"body":"hello"' in response.content


@pytest.mark.anyio
async def test_concierge_fixture_from_an_async_test(
    concierge: ConciergeThread, anyio_backend: str
) -> None:
    token = concierge.add_member("cnv_test", "usr_alice")
    async with httpcore.AsyncConnectionPool() as pool:
        api = Api(pool, concierge.base_url)
        async with api.stream("cnv_test", token) as stream:
            with anyio.fail_after(5):
                await concierge.await_for_streams(1)
                message = await concierge.apublish("cnv_test", "usr_bob", "hi")
                event = await stream.next_event()
            assert message_decoder.decode(event.data_bytes) == message


def test_each_test_gets_a_fresh_server(concierge: ConciergeThread) -> None:
    assert concierge.messages("cnv_test") == []
    assert concierge.requests == []
    assert concierge.faults.pending == 0


def test_importing_the_plugin_is_light() -> None:
    code = (
        "import sys, expys_stream.testing._plugin, expys_stream.testing;"
        "loaded = [m for m in ('anyio', 'h11', 'httpcore', 'msgspec') if m in sys.modules];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
