"""The wire types of docs/protocol.md as msgspec Structs, with reused decoders.

msgspec validates while it decodes, straight from ``bytes``: a message that
lacks a required field, or has one of the wrong type, fails in C with a
precise path, and unknown fields (the service adds some without notice) are
skipped. The decoders are module-level objects, built once. (No postponed
annotations here: msgspec reads them after ``__module__`` is changed.)
"""

from datetime import datetime
from typing import Annotated

import msgspec

__all__ = ["Message", "MessagePage"]


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One chat message of a conversation.

    Attributes:
        id: opaque, unique in its conversation, ordered by delivery.
        conversation_id: the conversation it belongs to (``conversationID``).
        author_id: the member who wrote it (``authorID``).
        body: its text; ``None`` for an attachment-only or system message.
        created_at: when the service stored it, timezone-aware
            (``createdAt``).
    """

    id: str
    conversation_id: str = msgspec.field(name="conversationID")
    author_id: str = msgspec.field(name="authorID")
    # tz=True: a timestamp without an offset is refused, not read as naive.
    created_at: Annotated[datetime, msgspec.Meta(tz=True)] = msgspec.field(name="createdAt")
    body: str | None = None


class MessagePage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a conversation's backlog, oldest message first.

    Attributes:
        messages: the page's messages, oldest first.
        has_more: whether older messages exist before this page
            (``hasMore``).
    """

    messages: list[Message]
    has_more: bool = msgspec.field(name="hasMore")


Message.__module__ = "expys_stream"
MessagePage.__module__ = "expys_stream"

message_decoder = msgspec.json.Decoder(Message)
page_decoder = msgspec.json.Decoder(MessagePage)
