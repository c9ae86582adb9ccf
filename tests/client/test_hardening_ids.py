"""The ids "." and ".." are dot segments: refused before any I/O, never routed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from expys_stream import Client, open_message_stream
from expys_stream._cli import EXIT_USAGE, main
from expys_stream.testing import ConciergeServer, ConciergeThread
from expys_stream.testing._routes import match_route

pytestmark = pytest.mark.anyio

DOT_IDS = [".", ".."]


def _calls(client: Client, conversation_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def list_messages() -> Any:
        return await client.list_messages(conversation_id)

    async def send_message() -> Any:
        return await client.send_message(conversation_id, "hi")

    async def client_stream() -> Any:
        return client.open_message_stream(conversation_id)

    async def stream_with_history() -> Any:
        return client.open_message_stream(conversation_id, history=5)

    return {
        "list_messages": list_messages,
        "send_message": send_message,
        "open_message_stream": client_stream,
        "open_message_stream(history)": stream_with_history,
    }


@pytest.mark.parametrize("conversation_id", DOT_IDS)
@pytest.mark.parametrize(
    "method",
    ["list_messages", "send_message", "open_message_stream", "open_message_stream(history)"],
)
async def test_every_client_method_refuses_a_dot_segment_before_any_io(
    server: ConciergeServer, token: str, conversation_id: str, method: str
) -> None:
    server.add_conversation(conversation_id)  # even when such a conversation exists
    async with Client(token=token, base_url=server.base_url) as client:
        call = _calls(client, conversation_id)[method]
        with pytest.raises(ValueError, match="dot segment"):
            await call()
    assert server.requests == []


@pytest.mark.parametrize("conversation_id", DOT_IDS)
async def test_the_module_function_refuses_a_dot_segment_before_any_io(
    server: ConciergeServer, token: str, conversation_id: str
) -> None:
    with pytest.raises(ValueError, match="dot segment"):
        open_message_stream(conversation_id, token=token, base_url=server.base_url)
    assert server.requests == []


@pytest.mark.parametrize("conversation_id", ["...", ".a", "a.", "%2e%2e", ".%2e", "../admin"])
async def test_ids_that_only_look_like_dots_stay_one_segment(
    server: ConciergeServer, token: str, conversation_id: str
) -> None:
    # "%2e%2e" is sent as "%252e%252e": the server decodes it back to the
    # literal "%2e%2e", which is no dot segment.
    server.add_conversation(conversation_id)
    server.add_member(conversation_id, "usr_alice")
    async with Client(token=token, base_url=server.base_url) as client:
        await client.send_message(conversation_id, "hello")
        page = await client.list_messages(conversation_id)
    assert [m.body for m in page.messages] == ["hello"]
    assert [m.conversation_id for m in page.messages] == [conversation_id]


@pytest.mark.parametrize("segment", [".", "..", "%2e", "%2E", "%2e%2e", ".%2e", "%2E.", "%2e%2E"])
async def test_the_server_routes_no_dot_segment_to_a_conversation(
    server: ConciergeServer, segment: str
) -> None:
    # Even with a conversation of that name and a member's token, the
    # server answers as for an unknown path, the way a normalising proxy
    # in front of it would route the request elsewhere.
    server.add_conversation("..")
    server.add_conversation(".")
    dot_token = server.add_member("..", "usr_dots")
    server.add_member(".", "usr_dots")
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    async with stream:
        request = (
            f"GET /v1/conversations/{segment}/messages HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {dot_token}\r\n"
            "Connection: close\r\n\r\n"
        )
        await stream.send(request.encode("ascii"))
        answer = b""
        with anyio.fail_after(10):
            while True:
                try:
                    answer += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert b"no such path" in answer


def test_match_route_takes_no_dot_segment_as_an_id() -> None:
    for segment in (".", "..", "%2e", "%2e%2E", ".%2E"):
        assert match_route(f"/v1/conversations/{segment}/stream") is None
    route = match_route("/v1/conversations/%252e%252e/stream")
    assert route is not None
    assert route.conversation_id == "%2e%2e"


@pytest.mark.parametrize("command", ["tail", "send"])
@pytest.mark.parametrize("conversation_id", DOT_IDS)
def test_the_cli_refuses_a_dot_segment_as_a_usage_error(
    command: str, conversation_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with ConciergeThread() as concierge:
        concierge.add_conversation("cnv_x")
        token = concierge.add_member("cnv_x", "usr_alice")
        args = [command, conversation_id, *(["hi"] if command == "send" else [])]
        status = main([*args, "--token", token, "--base-url", concierge.base_url])
        assert concierge.requests == []
    assert status == EXIT_USAGE
    err = capsys.readouterr().err
    assert "dot segment" in err
    assert err.count("\n") == 1
