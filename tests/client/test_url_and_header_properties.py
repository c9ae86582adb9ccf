"""Property tests: what we let through, HTTP/1.1 (h11, httpcore) can carry."""

from __future__ import annotations

import h11
import httpcore
from hypothesis import given, settings
from hypothesis import strategies as st

from expys_stream._transport import _host_header, ascii_url, header_problem

# An alphabet that reaches every branch: URL delimiters, percent signs,
# brackets, blanks and controls, non-ASCII letters, full-width forms that
# IDNA maps to ASCII, and lone surrogates.
_ALPHABET = st.sampled_from(
    [
        *"aZ09-._~:/?#[]@!$&'()*+,;=%\"<>\\^`{|} \t",
        *("\x00", "\x0b", "\x7f", "\x85", "é", "ß", "\u00a0", "\uff0e", "\uff3b"),
        *("\u202e", "\ud800"),
    ]
)
_PIECE = st.text(_ALPHABET, max_size=12)


def _h11_request(target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    client = h11.Connection(h11.CLIENT)
    return client.send(h11.Request(method=b"GET", target=target, headers=headers)) or b""


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
    host=_PIECE,
    port=st.sampled_from(["", ":80", ":0", ":65535", ":65536", ":x", ":"]),
    path=_PIECE,
    query=_PIECE,
)
def test_ascii_url_gives_a_request_h11_can_send_or_a_value_error(
    scheme: str, host: str, port: str, path: str, query: str
) -> None:
    url = f"{scheme}://{host}{port}/{path}?{query}"
    try:
        result = ascii_url(url)
    except ValueError:
        return
    assert result.isascii()
    request = httpcore.Request(b"GET", result)  # raises on a URL it cannot send
    host_header = _host_header(result)
    target = request.url.target
    assert _h11_request(target, [(b"Host", host_header)]).startswith(b"GET ")


@settings(max_examples=400, deadline=None)
@given(name=st.text(_ALPHABET, min_size=0, max_size=6), value=_PIECE)
def test_header_problem_agrees_with_h11(name: str, value: str) -> None:
    problem = header_problem(name, value)
    try:
        _h11_request(b"/", [(b"Host", b"h"), (name.encode(), value.encode())])
    except (h11.LocalProtocolError, UnicodeEncodeError):
        accepted = False
    else:
        accepted = True
    if problem is None:
        assert accepted, (name, value)
    elif accepted:
        # Only names h11 takes that we refuse on purpose could differ: none.
        raise AssertionError(f"refused what h11 sends: {name!r}: {value!r} ({problem})")
