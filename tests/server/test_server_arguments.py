"""serve_concierge refuses what it cannot serve, before it binds anything."""

from __future__ import annotations

from typing import Any

import pytest

from expys_stream.testing import serve_concierge


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"host": None}, TypeError, "host must be a str"),
        ({"host": b"h"}, TypeError, "host must be a str"),
        ({"port": -1}, ValueError, "port must be an int from 0 to 65535"),
        ({"port": 65536}, ValueError, "port must be an int"),
        ({"port": "80"}, ValueError, "port must be an int"),
        ({"port": True}, ValueError, "port must be an int"),
        ({"path_prefix": 5}, TypeError, "path_prefix must be a str"),
        ({"path_prefix": "prefix"}, ValueError, "path_prefix must be"),
        ({"path_prefix": "/prefix/"}, ValueError, "path_prefix must be"),
        ({"path_prefix": "/a b"}, ValueError, "percent-encode anything else"),
        ({"path_prefix": "/präfix"}, ValueError, "path_prefix must be"),
        ({"path_prefix": "/a?b"}, ValueError, "path_prefix must be"),
        ({"path_prefix": "//"}, ValueError, "path_prefix must be"),
        ({"keepalive_interval": float("nan")}, ValueError, "keepalive_interval"),
    ],
)
def test_bad_arguments_are_refused_at_construction(
    kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        serve_concierge(**kwargs)


@pytest.mark.parametrize("prefix", ["/p", "/a/b", "/pr%C3%A4fix", "/v-1.2_~x"])
def test_prefixes_that_need_no_encoding_are_taken(prefix: str) -> None:
    assert serve_concierge(path_prefix=prefix).base_url.endswith(prefix)


def test_empty_segments_are_fine_but_not_a_trailing_one() -> None:
    assert serve_concierge(path_prefix="/a//b").base_url.endswith("/a//b")
    with pytest.raises(ValueError, match="path_prefix"):
        serve_concierge(path_prefix="/a//")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"host": ""}, ValueError),
        ({"keepalive_interval": 10**400}, ValueError),
        ({"keepalive_interval": True}, ValueError),
        ({"keepalive_interval": "1"}, ValueError),
    ],
)
def test_more_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        serve_concierge(**kwargs)
