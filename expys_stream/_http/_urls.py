"""URLs and header fields as HTTP/1.1 carries them; no I/O.

``ascii_url`` makes every URL the client sends (from the caller, or from a
``Location``), ``origin_of`` says whose it is, ``_redact`` makes it fit for
a message or a log line, and ``header_problem`` says whether h11 can write
a header as it is.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["ascii_url", "header_problem", "origin_of"]

# RFC 9110 field names (tokens), and field values as h11 accepts them once
# encoded: no NUL, no whitespace but spaces and tabs between other bytes.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")


def header_problem(name: object, value: object) -> str | None:
    """Why HTTP/1.1 cannot carry this header as it is, or None if it can.

    The answer never quotes the value, which may be a credential.
    """
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        return f"{name!r} is not a header name"
    if not isinstance(value, str):
        return f"the value of {name} is not a str"
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        return f"the value of {name} is not valid Unicode (a lone surrogate)"
    if not _FIELD_VALUE.fullmatch(encoded):
        return (
            f"the value of {name} starts or ends with whitespace, or holds NUL, CR, LF, "
            "a vertical tab or a form feed"
        )
    return None


def origin_of(url: str) -> tuple[str, str, int]:
    """The (scheme, host, port) origin of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _redact(url: str) -> str:
    """The URL without userinfo, query or fragment, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _host_header(url: str) -> bytes:
    # (Every URL here went through ascii_url: the host is ASCII already.)
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("ascii")
    if b":" in host:  # an IPv6 literal
        host = b"[" + host + b"]"
    default = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default:
        host += b":%d" % parts.port
    return host


# What stays as it is: every printable ASCII character but those WHATWG's
# URL standard percent-encodes (its path and special-query percent-encode
# sets), so that a URL goes out as a browser would send it and a signed one
# stays as signed. "%" stays: escapes already made are kept.
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
_PATH_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>?`{}')
_QUERY_SAFE = "".join(c for c in _PRINTABLE if c not in "\"#<>'")
# A host name as DNS takes it: labels of letters, digits, "-" and "_",
# joined by dots, maybe with the root's trailing dot.
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
# RFC 6874: a zone in an IPv6 literal is "%25" then unreserved characters.
_ZONE = re.compile(r"25[A-Za-z0-9._~-]+")


def _ip_literal(host: str) -> str:
    """The inside of a bracketed host, checked: an IPv6 address, maybe with
    a zone; anything else (IPvFuture included) is a ValueError."""
    address, percent, zone = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise ValueError(f"invalid IPv6 address {host!r}") from None
    if percent and not _ZONE.fullmatch(zone):
        raise ValueError(f"invalid zone in IPv6 address {host!r}")
    return host


def ascii_url(url: str) -> str:
    """``url`` as HTTP sends it: an absolute http(s) URL in ASCII.

    A host name outside ASCII becomes its IDNA (punycode) form; any other
    character outside ASCII, or not allowed in a URL (space, quote, angle
    brackets...), is percent-encoded as UTF-8, as browsers do. Userinfo and
    the fragment are dropped: neither is sent.

    Host names go through Python's IDNA 2003 codec, so a few differ from
    what browsers (UTS 46) make of them: ``faß.de`` becomes ``fass.de``.
    Write such a name in its ``xn--`` form to be sure of it.

    Raises:
        ValueError: not an absolute http(s) URL, a bad port, a host name
            that IDNA cannot encode (an empty label, a label over 63
            characters) or that holds anything but letters, digits, ``-``,
            ``_`` and dots once encoded, or a bracketed host that is not an
            IPv6 address (with an RFC 6874 zone, if any).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        # (urllib's text quotes the netloc, password included.)
        raise ValueError("urllib cannot split it (a bad IPv6 literal or netloc)") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the scheme must be http or https, not {parts.scheme!r}")
    if not host:
        raise ValueError("there is no host")
    port = parts.port  # a ValueError of its own for a bad one
    if parts.netloc.rpartition("@")[2].startswith("["):
        host = f"[{_ip_literal(host)}]"
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"invalid host name {host!r}") from None
        # IDNA maps some characters to ASCII that no host name may hold
        # (U+FF1C to "<", U+00A0 to a space), and leaves ASCII as it is.
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"invalid host name {host!r}")
    netloc = host if port is None else f"{host}:{port}"
    path = quote(parts.path, safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((parts.scheme, netloc, path, query, ""))
