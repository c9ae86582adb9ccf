"""The concierge client: backlog, send, and live message streams.

A ``Client`` holds the configuration and one httpcore connection pool;
``open_message_stream`` (the module-level function) is the same with a
private client that lives as long as the stream.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, Unpack
from urllib.parse import urlencode

import anyio
import msgspec

from ._backoff import parse_retry_after
from ._errors import (
    AuthenticationError,
    ConversationNotFoundError,
    ExpysError,
    ProtocolError,
    RetryLimitExceeded,
    Secrets,
    StreamClosed,
    TLSVerificationError,
    TransportError,
)
from ._event_stream import TokenSource, check_observers, check_token, configure, resolve_token
from ._headers import ENVIRONMENTS, resolve_base_url, segment
from ._http._redirects import GET_ON_SEE_OTHER
from ._lifecycle import Observer
from ._message_stream import MessageStream
from ._models import Message, MessagePage, message_decoder, page_decoder
from ._options import ClientOptions, Environment, client_settings
from ._policy import retry_delay
from ._stream_parts import StreamItem
from ._transport import Exchange, header_problem, status_error
from .sse._event import _utf8

__all__ = ["ENVIRONMENTS", "Client", "open_message_stream", "resolve_base_url"]

logger = logging.getLogger("expys_stream")

_REQUEST_READ_TIMEOUT = 30.0


class Client:
    """A client of the concierge service for one member token.

    Use it as an async context manager (or call [`aclose`][expys_stream.Client.aclose]):

        async with Client(token=token) as client:
            page = await client.list_messages("cnv_123", limit=10)
            await client.send_message("cnv_123", "Hello!")
            async with client.open_message_stream("cnv_123") as stream:
                async for message in stream:
                    ...

    Args:
        token: the member token, or a sync or async callable returning a
            fresh one (called before every request and every reconnect).
        base_url: the service's base URL (may carry a path prefix); else
            ``EXPYS_BASE_URL``; else the environment's.
        environment: ``"production"`` or ``"sandbox"``.
        observers: objects told of every connection event of every stream
            this client opens (see [`Observer`][expys_stream.Observer]).
        **options: the options of [`ClientOptions`][expys_stream.ClientOptions]
            (``pool``, ``connect_timeout``, ``read_timeout``, ``backoff_base``,
            ``backoff_cap``, ``reset_after``, ``max_retries``,
            ``request_retries``, ``max_event_size``, ``ssl_context``,
            ``user_agent``, ``head_timeout``, ``proxy``, ``trust_env``,
            ``max_server_delay``, ``http2``), each
            with its default there.

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an option out of range, or a bad base URL.
    """

    def __init__(
        self,
        *,
        token: TokenSource,
        base_url: str | None = None,
        environment: Environment = "production",
        observers: Iterable[Observer] = (),
        **options: Unpack[ClientOptions],
    ) -> None:
        settings = client_settings(options, "Client()")
        check_token(token)
        self._observers = check_observers(observers)
        request_retries = settings.request_retries
        if type(request_retries) is not int or request_retries < 0:
            raise ValueError("request_retries must be an int >= 0")
        self._token = token
        # Shared by the client's streams; a provider's tokens are added per
        # request and per stream as they are sent.
        self._secrets = Secrets(tokens=[token] if isinstance(token, str) else [])
        self._base_url = resolve_base_url(base_url, environment)
        self._options, self._transport = configure(settings)
        self._request_retries = request_retries
        self._closed = False

    @property
    def base_url(self) -> str:
        """The base URL requests go to."""
        return self._base_url

    def __repr__(self) -> str:
        return f"Client(base_url={self._base_url!r})"

    async def __aenter__(self) -> Client:
        await self._transport.__aenter__()  # (hosts the HTTP/2 connections)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        await self._transport.__aexit__(exc_type, exc, tb)  # (closes it first)

    async def aclose(self) -> None:
        """Close the client: its open streams end with [`StreamClosed`][expys_stream.StreamClosed]
        (after the messages they already received), further requests raise
        it, and the connection pool is closed if the client made it.
        Idempotent."""
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    def _url(self, conversation_id: str, leaf: str) -> str:
        return f"{self._base_url}/v1/conversations/{segment(conversation_id)}/{leaf}"

    async def list_messages(
        self, conversation_id: str, *, limit: int = 20, before: str | None = None
    ) -> MessagePage:
        """One page of the backlog: the newest ``limit`` messages (before ``before``).

        Messages come oldest first; ``has_more`` tells whether older ones
        exist (pass the first message's id as ``before`` to page back).

        Raises:
            ValueError: ``limit`` outside 1..100, or text that is not valid
                Unicode.
            TypeError: ``before`` is not a non-empty str.
            AuthenticationError: 401, even after a fresh token.
            PermissionDeniedError: 403, the token's user is not a member.
            ConversationNotFoundError: 404, no such conversation.
            HTTPStatusError: another error status.
            RateLimitedError: 429, once the retries are spent.
            ServerError: 5xx, once the retries are spent.
            TransportError: the network failed, once the retries are spent.
        """
        if type(limit) is not int or not 1 <= limit <= 100:
            raise ValueError("limit must be an int from 1 to 100")
        query: dict[str, str] = {"limit": str(limit)}
        if before is not None:
            if not isinstance(before, str) or not before:
                raise TypeError("before must be a non-empty str (a message id) or None")
            _utf8(before, "before")  # (a ValueError for a lone surrogate)
            query["before"] = before
        url = self._url(conversation_id, "messages") + "?" + urlencode(query)
        _status, body = await self._request("GET", url)
        page: MessagePage = _decode_body(page_decoder, body, "message page", self._secrets)
        return page

    async def send_message(
        self, conversation_id: str, body: str | None, *, idempotency_key: str | None = None
    ) -> Message:
        """Send a message; returns it as stored.

        One ``Idempotency-Key`` (a new UUID unless given) is used for this
        call and reused by each of its retries, so a retried send never
        stores the message twice.

        Raises:
            TypeError: ``body`` or ``idempotency_key`` has the wrong type.
            ValueError: ``body`` or ``idempotency_key`` cannot be sent (an
                empty or invalid key, a lone surrogate).
            HTTPStatusError: the server refused; the same subclasses as
                [`list_messages`][expys_stream.Client.list_messages] raises.
            TransportError: the network failed, once the retries are spent.
        """
        if body is not None:
            if not isinstance(body, str):
                raise TypeError("body must be a str or None")
            _utf8(body, "body")
        if idempotency_key is None:
            key = str(uuid.uuid4())
        elif not isinstance(idempotency_key, str) or not idempotency_key:
            raise TypeError("idempotency_key must be a non-empty str or None")
        elif (problem := header_problem("Idempotency-Key", idempotency_key)) is not None:
            raise ValueError(f"idempotency_key: {problem}")
        else:
            key = idempotency_key
        payload = json.dumps({"body": body}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        url = self._url(conversation_id, "messages")
        _status, response = await self._request("POST", url, body=payload, headers=headers)
        message: Message = _decode_body(message_decoder, response, "message", self._secrets)
        return message

    def open_message_stream(
        self,
        conversation_id: str,
        *,
        last_event_id: str | None = None,
        history: int = 0,
        on_invalid: Literal["raise", "skip"] = "raise",
        on_event: Callable[[StreamItem], object] | None = None,
        observers: Iterable[Observer] = (),
    ) -> MessageStream:
        """A live stream of the conversation's messages; use with ``async with``.

        Args:
            conversation_id: the conversation.
            last_event_id: resume after this message id (a value you kept
                from ``stream.last_event_id``).
            history: first deliver the newest ``history`` messages of the
                backlog (oldest first), then go live right after the last of
                them, so nothing sent in between is lost or repeated.
            on_invalid: ``"raise"`` a [`MessageDecodeError`][expys_stream.MessageDecodeError] for a
                message event that is not a valid message, or ``"skip"`` it
                with a warning in the log.
            on_event: called with each item that is not a message, at its
                place in the stream, from inside the ``async for``: events of
                other types (``typing``, ``read``), comments, and the
                connection's events ([`Retrying`][expys_stream.Retrying]...).
            observers: told of every connection event, as well as the
                client's own observers (see [`Observer`][expys_stream.Observer]).

        Raises:
            ValueError: ``history`` outside 0..100, or given together with
                ``last_event_id``.
        """
        if self._closed:
            raise StreamClosed("the client is closed")
        return self._stream(
            conversation_id,
            last_event_id,
            history,
            on_invalid,
            owns=False,
            on_event=on_event,
            observers=observers,
        )

    def _stream(
        self,
        conversation_id: str,
        last_event_id: str | None,
        history: int,
        on_invalid: Literal["raise", "skip"],
        *,
        owns: bool,
        on_event: Callable[[StreamItem], object] | None = None,
        observers: Iterable[Observer] = (),
    ) -> MessageStream:
        if type(history) is not int or not 0 <= history <= 100:
            raise ValueError("history must be an int from 0 to 100")
        if history and last_event_id is not None:
            raise ValueError("give either history or last_event_id, not both")
        prelude = None
        if history:

            async def prelude() -> tuple[list[Any], str | None]:
                page = await self.list_messages(conversation_id, limit=history)
                last = page.messages[-1].id if page.messages else None
                return list(page.messages), last

        return MessageStream(
            self._url(conversation_id, "stream"),
            on_invalid=on_invalid,
            transport=self._transport,
            owns_transport=owns,
            headers=None,
            token=self._token,
            last_event_id=last_event_id,
            options=self._options,
            not_found=ConversationNotFoundError,
            prelude=prelude,
            secrets=self._secrets,
            on_event=on_event,
            observers=[*self._observers, *check_observers(observers)],
        )

    async def _request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        if self._closed:
            raise StreamClosed("the client is closed")
        # Client.aclose() cancels this scope: a request waiting to retry
        # (up to a day, for a Retry-After) ends at once.
        with anyio.CancelScope() as scope:
            cancel = scope.cancel
            self._transport.on_close(cancel)
            try:
                return await self._retrying(method, url, body, headers)
            finally:
                self._transport.discard_on_close(cancel)
        raise StreamClosed("the client was closed")

    async def _retrying(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str] | None
    ) -> tuple[int, bytes]:
        # One-shot request with the client's retry policy: network errors,
        # 408, 429 and 5xx wait (full jitter, Retry-After as a floor) and
        # retry; a 401 asks the token provider once more.
        backoff = self._options.backoff
        auth_retry_spent = False
        attempt = 0
        while True:
            request_headers = dict(headers or {})
            request_headers["Accept"] = "application/json"
            token = await resolve_token(self._token)
            secrets = self._secrets.with_tokens(token)
            retry_after: float | None = None
            try:
                response = await self._transport.open(
                    method,
                    url,
                    request_headers,
                    origin_only={"Authorization": "Bearer " + token},
                    body=body,
                    read_timeout=_REQUEST_READ_TIMEOUT,
                    # A send is not repeated as a GET on a 301 or 302 (the
                    # message would silently not be sent); a 303 points at
                    # its result, which is fetched.
                    get_on=GET_ON_SEE_OTHER,
                )
                status = response.status
                data = await response.read_bounded(_body_limit(response))
                if 200 <= status < 300:
                    return status, data
                error: ExpysError = status_error(
                    status,
                    secrets.data(data),
                    url,
                    not_found=ConversationNotFoundError,
                    secret=token,
                )
                if status == 401 and not auth_retry_spent and not isinstance(self._token, str):
                    auth_retry_spent = True
                elif status in (408, 429) or status >= 500:
                    retry_after = parse_retry_after(response.header(b"retry-after"))
                else:
                    raise secrets.error(error)
            except TLSVerificationError as exc:  # a configuration problem: it will not heal
                raise secrets.error(exc) from exc.__cause__  # (cleaned, and as it was)
            except TransportError as exc:
                error = exc
            except ExpysError as exc:  # a redirect, a request we cannot send: final
                raise secrets.error(exc) from exc.__cause__  # (cleaned, and as it was)
            # (Outside the except: the error chains no foreign exception.)
            secrets.error(error)
            if attempt >= self._request_retries and not isinstance(error, AuthenticationError):
                raise secrets.error(RetryLimitExceeded(attempt + 1, error)) from error
            wait = retry_delay(
                backoff,
                attempt,
                retry_after=retry_after,
                max_server_delay=self._options.max_server_delay,
            )
            if wait.reason == "capped":
                secrets.log(
                    logger,
                    logging.WARNING,
                    "the server asked to wait %.0f s before retrying %s %s; "
                    "waiting %.2f s (max_server_delay)",
                    retry_after,
                    method,
                    url.split("?")[0],
                    wait.seconds,
                )
            delay = wait.seconds
            attempt += 1
            secrets.log(
                logger,
                logging.INFO,
                "retrying %s %s in %.2f s after: %s",
                method,
                url.split("?")[0],
                delay,
                error,
            )
            await anyio.sleep(delay)


def _body_limit(response: Exchange) -> int:
    # Success bodies of list/send are small JSON documents; 8 MiB is far
    # above 100 messages and still a bound.
    return 8 * 1024 * 1024 if 200 <= response.status < 300 else 64 * 1024


def _decode_body(
    decoder: msgspec.json.Decoder[Any], body: bytes, what: str, secrets: Secrets
) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = secrets.text(str(exc))[:200]
    # (Raised outside the except: msgspec's error does not ride along.)
    raise ProtocolError(f"the server sent an invalid {what}: {reason}")


def open_message_stream(
    conversation_id: str,
    *,
    token: TokenSource,
    base_url: str | None = None,
    environment: Environment = "production",
    last_event_id: str | None = None,
    history: int = 0,
    on_invalid: Literal["raise", "skip"] = "raise",
    on_event: Callable[[StreamItem], object] | None = None,
    observers: Iterable[Observer] = (),
    **options: Unpack[ClientOptions],
) -> MessageStream:
    """Stream a conversation's new messages, live, as [`Message`][expys_stream.Message] objects.

        async with open_message_stream("cnv_123", token=token) as stream:
            async for message in stream:
                print(message.author_id, message.body)

    Every message arrives exactly once and in order for as long as you stay
    in the block, across dropped connections and server restarts. Leaving
    the block closes the connection and any pending reconnect timer.

    ``token``, ``base_url``, ``environment`` and ``**options`` (the options
    of [`ClientOptions`][expys_stream.ClientOptions]: timeouts, backoff,
    ``max_retries``, ``max_event_size``, ``pool``, ``ssl_context``,
    ``user_agent``...) are as for [`Client`][expys_stream.Client]; the stream
    closes the private client it makes.
    ``last_event_id``, ``history``, ``on_invalid``, ``on_event`` and
    ``observers`` are as for
    [`Client.open_message_stream`][expys_stream.Client.open_message_stream].
    """
    client = Client(token=token, base_url=base_url, environment=environment, **options)
    return client._stream(
        conversation_id,
        last_event_id,
        history,
        on_invalid,
        owns=True,
        on_event=on_event,
        observers=observers,
    )


Client.__module__ = "expys_stream"
open_message_stream.__module__ = "expys_stream"
