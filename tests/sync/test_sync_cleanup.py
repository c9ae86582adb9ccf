"""Leaving a sync stream's block closes everything before the block returns."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sync_support import CONVERSATION, Baseline, wait_until

from expys_stream.sync import Client, open_message_stream
from expys_stream.testing import ConciergeThread


class Boom(Exception):
    pass


def test_an_exception_leaves_the_block_as_itself(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    error = Boom("mine")
    with (
        pytest.raises(Boom) as raised,
        open_message_stream(CONVERSATION, token=token, **fast) as stream,
    ):
        server.wait_for_streams(1)
        server.publish(CONVERSATION, "usr_bob", "x")
        next(stream)
        raise error
    assert raised.value is error
    assert raised.value.__context__ is None
    baseline.check()


def test_leaving_during_a_reconnect_wait_cancels_the_timer(
    server: ConciergeThread,
    token: str,
    fast: dict[str, Any],
    baseline: Baseline,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A 503 asking for an hour: the reader sleeps in its backoff when the
    # block is left; leaving must not wait for it (the test's timeout would).
    caplog.set_level(logging.INFO, logger="expys_stream")
    server.faults.fail_next(1, 503, retry_after=3600)
    with open_message_stream(CONVERSATION, token=token, **fast):
        # Logged just before the reader starts its sleep.
        wait_until(lambda: any("reconnecting to" in r.getMessage() for r in caplog.records))
    baseline.check()
    assert len(server.requests) == 1  # no second attempt was made


def test_leaving_during_the_connect_and_the_read(
    server: ConciergeThread, token: str, fast: dict[str, Any], baseline: Baseline
) -> None:
    # Right after entering (the reader is connecting), then while it reads.
    with open_message_stream(CONVERSATION, token=token, **fast):
        pass
    baseline.check()
    with open_message_stream(CONVERSATION, token=token, **fast):
        server.wait_for_streams(1)
    baseline.check()
    server.wait_for_stream_count(0)


def sse_lines(conversation_id: str, token: str, base_url: str) -> Iterator[str]:
    """A Django-style streaming view's body: one SSE block per message."""
    with open_message_stream(conversation_id, token=token, base_url=base_url) as stream:
        for message in stream:
            data = json.dumps({"author": message.author_id, "body": message.body})
            yield f"id: {message.id}\nevent: message\ndata: {data}\n\n"


def test_a_streaming_response_generator_closed_early_cleans_up(
    server: ConciergeThread, token: str, baseline: Baseline
) -> None:
    body = sse_lines(CONVERSATION, token, server.base_url)
    # The server would call next() for the first chunk; the stream starts then.
    sent = [server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(2)]
    del sent  # (stored before the stream: not delivered live)
    first: list[str] = []

    def publish_when_subscribed() -> None:
        server.wait_for_streams(1)
        server.publish(CONVERSATION, "usr_bob", "live 1")
        server.publish(CONVERSATION, "usr_bob", "live 2")

    publisher = threading.Thread(target=publish_when_subscribed)
    publisher.start()
    first.append(next(body))
    first.append(next(body))
    publisher.join()
    assert first[0].startswith("id: msg_000000000003\nevent: message\ndata: ")
    assert json.loads(first[1].split("data: ", 1)[1]) == {"author": "usr_bob", "body": "live 2"}
    # The client went away: the framework closes the iterator.
    body.close()
    baseline.check()
    server.wait_for_stream_count(0)


def test_an_unclosed_client_warns(server: ConciergeThread, token: str) -> None:
    client = Client(token=token, base_url=server.base_url)
    client.list_messages(CONVERSATION)
    with pytest.warns(ResourceWarning, match="never closed"):
        client.__del__()
    client.close()
