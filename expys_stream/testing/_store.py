"""The concierge's state: conversations, members, tokens and messages.

Plain synchronous data, no I/O: the server mutates it only from its own
event loop thread, between awaits, so every operation here is atomic with
respect to the connections (the thread runner routes calls through the
loop for the same reason).

Message ids come from one counter for the whole store, ``msg_%012d``; the
counter's value is also kept as an integer (``seq``) so that ordering never
depends on comparing id strings. ``createdAt`` never goes backwards, even
if the wall clock does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from expys_stream._models import Message

from ._wire import message_event

__all__ = ["Conversation", "Store", "StoredMessage"]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message with its position in the store and its encoded event."""

    seq: int
    message: Message
    event: bytes


@dataclass(slots=True)
class Conversation:
    """One conversation: its members and its messages in delivery order."""

    id: str
    members: set[str] = field(default_factory=set)
    messages: list[StoredMessage] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)  # message id -> position

    @property
    def latest_seq(self) -> int:
        """The seq of the newest message, 0 if there is none."""
        return self.messages[-1].seq if self.messages else 0


@dataclass(frozen=True, slots=True)
class _Token:
    user_id: str
    expires_at: float | None  # on the monotonic clock


class Store:
    """Everything the concierge knows; see the module docstring."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._conversations: dict[str, Conversation] = {}
        self._users: set[str] = set()
        self._tokens: dict[str, _Token] = {}
        # (user, conversation, key) -> the message that key first created
        self._idempotency: dict[tuple[str, str, str], StoredMessage] = {}
        self._counter = 0
        self._last_created = datetime.fromtimestamp(0, UTC)

    # -- conversations, users, tokens -------------------------------------

    def add_conversation(self, conversation_id: str) -> str:
        _check_id("conversation_id", conversation_id)
        self._conversations.setdefault(conversation_id, Conversation(conversation_id))
        return conversation_id

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation; ``KeyError`` if there is none."""
        return self._conversations[conversation_id]

    def find(self, conversation_id: str) -> Conversation | None:
        return self._conversations.get(conversation_id)

    def add_user(self, user_id: str) -> str:
        _check_id("user_id", user_id)
        self._users.add(user_id)
        return user_id

    def add_member(self, conversation_id: str, user_id: str) -> None:
        conversation = self.conversation(conversation_id)
        self.add_user(user_id)
        conversation.members.add(user_id)

    def remove_member(self, conversation_id: str, user_id: str) -> None:
        self.conversation(conversation_id).members.discard(user_id)

    def issue_token(self, user_id: str, ttl: float | None = None) -> str:
        if user_id not in self._users:
            raise KeyError(f"no such user: {user_id!r}")
        if ttl is not None and not ttl > 0:
            raise ValueError("ttl must be a positive number of seconds or None")
        token = "tok_" + secrets.token_urlsafe(24)
        expires_at = None if ttl is None else self._monotonic() + ttl
        self._tokens[token] = _Token(user_id, expires_at)
        return token

    def expire_token(self, token: str) -> None:
        entry = self._tokens.get(token)
        if entry is None:
            raise KeyError("no such token")  # never echo a credential
        self._tokens[token] = _Token(entry.user_id, expires_at=-1.0)

    def authenticate(self, token: str) -> str | None:
        """The token's user, or None for an unknown or expired token."""
        entry = self._tokens.get(token)
        if entry is None:
            return None
        if entry.expires_at is not None and self._monotonic() >= entry.expires_at:
            return None
        return entry.user_id

    # -- messages ------------------------------------------------------------

    def append(self, conversation_id: str, author_id: str, body: str | None) -> StoredMessage:
        """Store a new message at the end of the conversation."""
        conversation = self.conversation(conversation_id)
        if not isinstance(author_id, str) or not author_id:
            raise ValueError("author_id must be a non-empty str")
        if body is not None and not isinstance(body, str):
            raise TypeError("body must be str or None")
        self._counter += 1
        message = Message(
            id=f"msg_{self._counter:012d}",
            conversation_id=conversation_id,
            author_id=author_id,
            created_at=self._now(),
            body=body,
        )
        stored = StoredMessage(self._counter, message, message_event(message))
        conversation.index[message.id] = len(conversation.messages)
        conversation.messages.append(stored)
        return stored

    def page(
        self, conversation_id: str, limit: int, before: str | None
    ) -> tuple[list[StoredMessage], bool]:
        """The newest ``limit`` messages older than ``before``, oldest first.

        Returns the page and whether older messages exist. ``KeyError`` if
        ``before`` is not a message of this conversation.
        """
        conversation = self.conversation(conversation_id)
        end = len(conversation.messages) if before is None else conversation.index[before]
        start = max(0, end - limit)
        return conversation.messages[start:end], start > 0

    def after(self, conversation_id: str, last_id: str) -> list[StoredMessage] | None:
        """Every message after ``last_id``, or None if it is not one of ours."""
        conversation = self.conversation(conversation_id)
        position = conversation.index.get(last_id)
        if position is None:
            return None
        return conversation.messages[position + 1 :]

    def remembered(self, user_id: str, conversation_id: str, key: str) -> StoredMessage | None:
        return self._idempotency.get((user_id, conversation_id, key))

    def remember(self, user_id: str, conversation_id: str, key: str, stored: StoredMessage) -> None:
        self._idempotency[(user_id, conversation_id, key)] = stored

    def _now(self) -> datetime:
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond - now.microsecond % 1000)
        self._last_created = max(self._last_created, now)
        return self._last_created


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str")
