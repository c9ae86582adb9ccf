"""The fan-out: which streams are open, per conversation, and who waits on them.

Every change (a stream subscribed or gone) sets an event that waiters
re-check their condition on, so ``wait_for_streams`` and friends wake
exactly when the count changes, never by polling.
"""

from __future__ import annotations

import anyio

from ._stream import Subscriber

__all__ = ["Hub"]


class Hub:
    """The open streams of every conversation."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._open = 0
        self._changed: anyio.Event | None = None  # made in the server's loop

    def start(self) -> None:
        """Call from the event loop that will run the server."""
        self._changed = anyio.Event()

    @property
    def open(self) -> int:
        return self._open

    def count(self, conversation_id: str | None) -> int:
        if conversation_id is None:
            return self._open
        return len(self._subscribers.get(conversation_id, ()))

    def current(self, conversation_id: str | None) -> list[Subscriber]:
        if conversation_id is not None:
            return list(self._subscribers.get(conversation_id, ()))
        return [s for group in self._subscribers.values() for s in group]

    def fan_out(self, conversation_id: str, seq: int, data: bytes) -> None:
        """Queue ``data`` for every open stream of the conversation, now."""
        for subscriber in list(self._subscribers.get(conversation_id, ())):
            subscriber.offer(seq, data)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(subscriber.conversation_id, set()).add(subscriber)
        self._open += 1
        self._notify()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        group = self._subscribers.get(subscriber.conversation_id)
        if group is not None and subscriber in group:
            group.discard(subscriber)
            if not group:
                del self._subscribers[subscriber.conversation_id]
            self._open -= 1
            self._notify()

    async def wait_until_count(self, n: int, conversation_id: str | None, *, exact: bool) -> None:
        """Until ``n`` streams are open (``exact``) or at least ``n`` are."""
        while not (self.count(conversation_id) == n if exact else self.count(conversation_id) >= n):
            await self._wait_change()

    async def wait_gone(self, subscribers: list[Subscriber]) -> None:
        """Until none of ``subscribers`` is subscribed any more."""
        while any(s in self._subscribers.get(s.conversation_id, ()) for s in subscribers):
            await self._wait_change()

    def _notify(self) -> None:
        if self._changed is not None:
            changed, self._changed = self._changed, anyio.Event()
            changed.set()

    async def _wait_change(self) -> None:
        if self._changed is None:
            raise RuntimeError("the server is not running")
        await self._changed.wait()
