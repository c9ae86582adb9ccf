"""A server's retry: or Retry-After cannot park a client: max_server_delay caps it."""

from __future__ import annotations

import logging
import random
from typing import Any

import anyio
import pytest
from client_support import CONVERSATION, collect, logged
from hypothesis import given
from hypothesis import strategies as st

from expys_stream import Client, open_event_stream, open_message_stream
from expys_stream._backoff import Backoff
from expys_stream._policy import DEFAULT_MAX_SERVER_DELAY, retry_delay
from expys_stream.testing import ConciergeServer, serve_concierge

pytestmark = pytest.mark.anyio

A_DAY_MS = 86_400_000
CAPPED = "the server asked to wait"


def test_the_default_cap_is_five_minutes() -> None:
    assert DEFAULT_MAX_SERVER_DELAY == 300.0
    wait = retry_delay(Backoff(), 0, retry_field=86_400.0)
    assert (wait.seconds, wait.reason) == (300.0, "capped")


@given(
    attempt=st.integers(0, 80),
    retry_field=st.none() | st.floats(0, 1e6),
    retry_after=st.none() | st.floats(0, 1e6),
    max_server_delay=st.floats(0, 1e4),
    seed=st.integers(0, 2**32),
)
def test_a_wait_is_floored_by_the_server_and_capped(
    attempt: int,
    retry_field: float | None,
    retry_after: float | None,
    max_server_delay: float,
    seed: int,
) -> None:
    backoff = Backoff(rng=random.Random(seed))
    wait = retry_delay(
        backoff,
        attempt,
        retry_field=retry_field,
        retry_after=retry_after,
        max_server_delay=max_server_delay,
    )
    asked = max(retry_field or 0.0, retry_after or 0.0)
    assert wait.seconds >= min(asked, max_server_delay)
    assert wait.seconds <= max(min(asked, max_server_delay), backoff.ceiling(attempt))
    if wait.reason == "capped":
        assert asked > max_server_delay
        assert wait.seconds == max_server_delay


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), "300", None, True])
async def test_a_bad_max_server_delay_is_refused_before_any_io(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_server_delay"):
        Client(token="t", base_url="http://127.0.0.1:9", max_server_delay=bad)
    with pytest.raises(ValueError, match="max_server_delay"):
        open_event_stream("http://127.0.0.1:9/s", max_server_delay=bad)


async def test_a_day_long_retry_field_is_cut_to_max_server_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "expys_stream")
    async with serve_concierge(retry_ms=A_DAY_MS) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")
        sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(3)]
        server.faults.drop_after_events(1)
        async with open_message_stream(
            CONVERSATION,
            token=token,
            base_url=server.base_url,
            last_event_id=sent[0].id,
            backoff_base=0.01,
            backoff_cap=0.02,
            max_server_delay=0.05,
        ) as stream:
            got = await collect(stream, 2)
    assert got == sent[1:]
    assert stream.reconnects == 1
    warnings = [r for r in caplog.records if r.getMessage().startswith(CAPPED)]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "86400 s before reconnecting" in warnings[0].getMessage()
    assert "(max_server_delay)" in warnings[0].getMessage()


async def test_the_default_cap_applies_to_a_retry_field(caplog: pytest.LogCaptureFixture) -> None:
    # The wait itself is not sat out: the log line says how long it is,
    # and leaving the block cancels it.
    caplog.set_level(logging.INFO, "expys_stream")
    async with serve_concierge(retry_ms=A_DAY_MS) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")
        server.faults.drop_after_events(0)
        with anyio.fail_after(10):
            async with open_message_stream(
                CONVERSATION, token=token, base_url=server.base_url
            ) as stream:
                text = await logged(caplog, CAPPED)
    assert "86400 s" in text
    assert "waiting 300.00 s" in text
    assert stream.reconnects == 0


async def test_a_day_long_retry_after_on_a_stream_is_capped(
    server: ConciergeServer, token: str, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "expys_stream")
    sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(2)]
    server.faults.fail_next(1, 503, retry_after=86_400)
    async with open_message_stream(
        CONVERSATION, token=token, last_event_id=sent[0].id, max_server_delay=0.05, **fast
    ) as stream:
        got = await collect(stream, 1)
    assert got == sent[1:]
    assert any(
        r.levelno == logging.WARNING and "86400 s before reconnecting" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("endpoint", ["list", "send"])
async def test_a_day_long_retry_after_on_a_request_is_capped(
    server: ConciergeServer,
    token: str,
    fast: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    endpoint: str,
) -> None:
    caplog.set_level(logging.INFO, "expys_stream")
    server.faults.fail_next(1, 429, retry_after=86_400, endpoint=endpoint)  # type: ignore[arg-type]
    async with Client(token=token, max_server_delay=0.05, **fast) as client:
        with anyio.fail_after(10):
            if endpoint == "list":
                page = await client.list_messages(CONVERSATION)
                assert page.messages == []
            else:
                message = await client.send_message(CONVERSATION, "hi")
                assert message.body == "hi"
    method = "GET" if endpoint == "list" else "POST"
    warnings = [r for r in caplog.records if r.getMessage().startswith(CAPPED)]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert f"86400 s before retrying {method} " in warnings[0].getMessage()


async def test_a_request_retry_under_the_cap_logs_no_warning(
    server: ConciergeServer, token: str, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "expys_stream")
    server.faults.fail_next(1, 503, retry_after=0, endpoint="list")
    async with Client(token=token, **fast) as client:
        await client.list_messages(CONVERSATION)
    assert any(r.getMessage().startswith("retrying GET") for r in caplog.records)
    assert not any(r.getMessage().startswith(CAPPED) for r in caplog.records)
