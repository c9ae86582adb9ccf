"""An option added to the async client after the sync API was written works there too.

``proxy=`` came to ``ClientOptions`` later; the sync client passes its
options on untouched, so a sync client goes through a real forward proxy on
127.0.0.1 (the one of ``tests/proxy``) with no code of its own. The proxy
and the concierge are served by this test's event loop (both backends); the
sync client runs in a worker thread, beside it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from sync_support import CONVERSATION, portal_threads

from expys_stream import Message, sync
from expys_stream.testing import serve_concierge

pytestmark = pytest.mark.anyio

_PROXIES = Path(__file__).resolve().parent.parent / "proxy" / "proxy_servers.py"


def _forward_proxy() -> Any:
    # Loaded from its file: tests/proxy is not on sys.path when only
    # tests/sync runs. (Registered first: its dataclasses look it up.)
    module = sys.modules.get("_sync_proxy_servers")
    if module is None:
        spec = importlib.util.spec_from_file_location("_sync_proxy_servers", _PROXIES)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["_sync_proxy_servers"] = module
        spec.loader.exec_module(module)
    return module.ForwardProxy()


async def test_a_sync_client_and_its_stream_go_through_the_proxy_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    async with serve_concierge(retry_ms=1) as server, _forward_proxy() as proxy:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")

        def blocking() -> tuple[Message, list[Message]]:
            with sync.Client(token=token, base_url=server.base_url, proxy=proxy.url) as client:
                first = client.send_message(CONVERSATION, "first")
                sent = client.send_message(CONVERSATION, "through the proxy")
                # Resumed after the first: the second can come only over the stream.
                with client.open_message_stream(CONVERSATION, last_event_id=first.id) as stream:
                    return sent, [next(stream)]

        with anyio.fail_after(20):
            sent, got = await anyio.to_thread.run_sync(blocking)
    assert got == [sent]
    # Two sends and the stream: each in absolute form, via the proxy.
    assert [seen.method for seen in proxy.seen] == ["POST", "POST", "GET"]
    assert proxy.seen[2].target.startswith(
        f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    )
    assert portal_threads() == []
