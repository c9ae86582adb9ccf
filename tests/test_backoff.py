"""The pure retry policy: jitter bounds, floors, Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expys_stream._backoff import MAX_RETRY_AFTER, Backoff, parse_retry_after


@given(attempt=st.integers(min_value=0, max_value=200), seed=st.integers())
def test_full_jitter_stays_within_its_ceiling(attempt: int, seed: int) -> None:
    backoff = Backoff(base=0.5, cap=10.0, rng=random.Random(seed))
    ceiling = min(10.0, 0.5 * 2.0 ** min(attempt, 64))
    assert backoff.ceiling(attempt) == ceiling
    assert 0.0 <= backoff.delay(attempt) <= ceiling


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=10.0)
    assert [backoff.ceiling(a) for a in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_delays_are_spread_not_fixed() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = {round(backoff.delay(3), 6) for _ in range(50)}
    assert len(delays) > 40


@given(floor=st.floats(min_value=0, max_value=100), attempt=st.integers(0, 10))
def test_a_floor_is_never_undercut(floor: float, attempt: int) -> None:
    assert Backoff().delay(attempt, floor=floor) >= floor


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base": 0}, "0 < base"),
        ({"base": 2, "cap": 1}, "base <= cap"),
        ({"base": -1}, "non-negative"),
        ({"reset_after": float("nan")}, "non-negative"),
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Backoff(**kwargs)


def test_retry_after_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(b" 0 ") == 0.0
    assert parse_retry_after("99999999999999") == MAX_RETRY_AFTER


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(90.0)
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Tue, 99 Foo 2026"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None
