"""A deterministic corpus of chat-message events for the decoder benchmark.

``make_corpus(n_events, seed, crlf)`` writes ``n_events`` events shaped like
the live stream of chat messages (``expys_stream._models.Message``)::

    id: msg_000000000001
    event: message
    data: {"id":"msg_000000000001","conversationID":...,"createdAt":"...Z"}

with a ``: keepalive`` comment block after every 50th event, and keeps its own
record of what it wrote (type, data and id of every event), so that a decoder's
output can be checked against it. The data is compact JSON of 250-450 bytes
whose body mixes ASCII words with accented Latin, CJK and emoji, written as
raw UTF-8. Everything follows from the seed: the same arguments give the same
bytes on every run.

The bytes are written here by hand, not with ``expys_stream.sse.encode_event``,
so that the record does not depend on the code under test.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate

__all__ = [
    "DEFAULT_SEED",
    "KEEPALIVE",
    "KEEPALIVE_EVERY",
    "MAX_DATA_SIZE",
    "MIN_DATA_SIZE",
    "Corpus",
    "chunked",
    "make_corpus",
]

DEFAULT_SEED = 20240501
#: A keepalive comment block is written after every this many events.
KEEPALIVE_EVERY = 50
#: The keepalive block, LF form (the CRLF corpus writes CRLF instead).
KEEPALIVE = b": keepalive\n\n"
#: Bounds, in bytes, of every event's data (the JSON of one message).
MIN_DATA_SIZE = 250
MAX_DATA_SIZE = 450

# Words of message bodies: mostly ASCII, with accented Latin, CJK, emoji
# (4-byte UTF-8) and a few characters that JSON escapes.
_WORDS = (
    "the", "a", "to", "and", "of", "in", "is", "it", "you", "that", "we", "for",
    "on", "this", "with", "be", "are", "not", "have", "at", "can", "will", "just",
    "so", "ok", "yes", "no", "thanks", "hello", "meeting", "tomorrow", "today",
    "deploy", "review", "branch", "merge", "release", "ticket", "customer", "lunch",
    "coffee", "call", "later", "sounds", "good", "great", "please", "check", "sent",
    "draft", "agenda", "budget", "numbers", "slides", "update", "status", "done",
    "café", "déjà", "vu", "résumé", "naïve", "über", "Müller", "Grüße", "schön",
    "niño", "mañana", "señor", "año", "España", "São", "Paulo", "Kraków", "Øresund",
    "日本語", "東京", "こんにちは", "ありがとう", "中文", "你好", "한국어", "Привет", "спасибо",
    "Ελληνικά", "🎉", "👍", "😀", "🚀", "☕", "✅", "❤️", "🙏",
    '"quoted"', "back\\slash", "tab\there", "50%", "<b>", "&amp;",
)  # fmt: skip
# What each word costs inside a JSON string, in bytes of UTF-8.
_WORD_COSTS = tuple(len(json.dumps(w, ensure_ascii=False).encode("utf-8")) - 2 for w in _WORDS)
_MAX_WORD_COST = max(_WORD_COSTS)
# Enough words for the largest body (a word costs at least 2 bytes with its space).
_MAX_WORDS = MAX_DATA_SIZE // 2
# Words drawn at a time.
_BLOCK_WORDS = 1 << 16
# Random bytes to word indexes (a slight bias towards the first words is fine),
# and word indexes to the bytes a word takes in the JSON, with its space.
_INDEX_OF_BYTE = bytes(b % len(_WORDS) for b in range(256))
_SPAN_OF_INDEX = bytes([c + 1 for c in _WORD_COSTS] + [0] * (256 - len(_WORDS)))
_START = datetime(2024, 5, 1, 12, 0, 0)  # naive, written with a Z: UTC


@dataclass(frozen=True, slots=True)
class Corpus:
    """The bytes of one stream and the record of the events written into it.

    Attributes:
        raw: the whole stream.
        n_events: how many events it holds (comments not counted).
        seed: the seed it was made from.
        crlf: whether its lines end with CRLF (else LF).
        ids: every event's ``id`` field, in order.
        payloads: every event's data, as the UTF-8 bytes of its JSON, in order.
        event_type: the type of every event.
        n_keepalives: how many keepalive comment blocks it holds.
    """

    raw: bytes
    n_events: int
    seed: int
    crlf: bool
    ids: list[str]
    payloads: list[bytes]
    event_type: str
    n_keepalives: int

    def expected_events(self) -> list[tuple[str, str, str]]:
        """The (type, data, id) of every event, in order; the comments are not events."""
        etype = self.event_type
        return [(etype, p.decode("utf-8"), i) for p, i in zip(self.payloads, self.ids, strict=True)]


def make_corpus(n_events: int = 100_000, seed: int = DEFAULT_SEED, crlf: bool = False) -> Corpus:
    """Build the corpus of ``n_events`` chat-message events from ``seed``.

    The CRLF variant holds exactly the same events and comments as the LF one
    for the same seed; only the line ends differ.
    """
    if n_events < 0:
        raise ValueError("n_events must be >= 0")
    rng = random.Random(seed)
    conversations = [f"conv_{rng.randrange(16**8):08x}" for _ in range(12)]
    authors = [f"user_{rng.randrange(10**6):06d}" for _ in range(40)]
    words = _WORDS
    # The words of the bodies are drawn in blocks: one random byte per word,
    # an index into _WORDS. ``ends[j]`` is the bytes that the block's words
    # before j take in a JSON string, each with the space after it, so a
    # body is found with one bisect. A cursor walks along the block.
    pool = b""
    ends = [0]
    cursor = 0

    parts: list[bytes] = []
    ids: list[str] = []
    payloads: list[bytes] = []
    millis = 0
    for number in range(1, n_events + 1):
        mid = "msg_%012d" % number  # noqa: UP031 - the protocol's spelling
        millis += rng.randrange(50, 5000)
        when = _START + timedelta(milliseconds=millis)
        head = (
            f'{{"id":"{mid}","conversationID":"{rng.choice(conversations)}",'
            f'"authorID":"{rng.choice(authors)}","body":'
        )
        tail = f',"createdAt":"{when.isoformat(timespec="milliseconds")}Z"}}'
        # Pick a size, then take words while they fit (with the quotes of
        # the body): the last word is at most _MAX_WORD_COST short of it.
        room = rng.randint(MIN_DATA_SIZE + _MAX_WORD_COST + 1, MAX_DATA_SIZE)
        room -= len(head) + len(tail) + 2
        if cursor + _MAX_WORDS > len(pool):
            pool = pool[cursor:] + rng.randbytes(_BLOCK_WORDS).translate(_INDEX_OF_BYTE)
            ends = [0, *accumulate(pool.translate(_SPAN_OF_INDEX))]
            cursor = 0
        base = ends[cursor]
        end = bisect_right(ends, base + room + 1, cursor + 1, cursor + _MAX_WORDS + 1)
        take = max(1, end - 1 - cursor)
        body = " ".join([words[k] for k in pool[cursor : cursor + take]])
        cursor += take
        payload = (head + json.dumps(body, ensure_ascii=False) + tail).encode("utf-8")
        if not MIN_DATA_SIZE <= len(payload) <= MAX_DATA_SIZE:  # pragma: no cover
            raise AssertionError(f"payload of {len(payload)} bytes for {mid}")
        ids.append(mid)
        payloads.append(payload)
        parts.append(b"id: %s\nevent: message\ndata: %s\n\n" % (mid.encode("ascii"), payload))
        if number % KEEPALIVE_EVERY == 0:
            parts.append(KEEPALIVE)
    raw = b"".join(parts)
    if crlf:
        # No payload holds CR or LF (JSON escapes them), so every LF ends a line.
        raw = raw.replace(b"\n", b"\r\n")
    return Corpus(
        raw=raw,
        n_events=n_events,
        seed=seed,
        crlf=crlf,
        ids=ids,
        payloads=payloads,
        event_type="message",
        n_keepalives=n_events // KEEPALIVE_EVERY,
    )


def chunked(raw: bytes, size: int) -> list[bytes]:
    """Split ``raw`` into consecutive chunks of ``size`` bytes (the last may be shorter)."""
    if size < 1:
        raise ValueError("size must be >= 1")
    return [raw[i : i + size] for i in range(0, len(raw), size)]
