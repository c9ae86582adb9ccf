"""The pure proxy logic: proxy URLs, NO_PROXY matching, the environment, the choice per URL."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expys_stream import Client, open_event_stream
from expys_stream._http._proxy import (
    NoProxy,
    ProxySettings,
    ProxyURL,
    parse_no_proxy,
    parse_proxy_url,
    resolve_proxy,
    settings_from_environment,
)

# -- proxy URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://proxy:3128", ProxyURL("http", "proxy", 3128)),
        ("proxy.corp:8080", ProxyURL("http", "proxy.corp", 8080)),  # no scheme: http
        ("http://PROXY.Corp", ProxyURL("http", "proxy.corp", 80)),
        ("https://proxy", ProxyURL("https", "proxy", 443)),
        ("socks5://proxy", ProxyURL("socks5", "proxy", 1080)),
        ("SOCKS5H://10.0.0.1:9050/", ProxyURL("socks5h", "10.0.0.1", 9050)),
        ("http://[::1]:3128", ProxyURL("http", "::1", 3128)),
        ("  http://proxy:1/ignored/path  ", ProxyURL("http", "proxy", 1)),
        ("http://u%40corp:p%3Aw%40rd@proxy:1", ProxyURL("http", "proxy", 1, "u@corp", "p:w@rd")),
        ("http://user@proxy:1", ProxyURL("http", "proxy", 1, "user", "")),
    ],
)
def test_proxy_urls_parse(text: str, expected: ProxyURL) -> None:
    assert parse_proxy_url(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("ftp://proxy", "scheme must be http, https, socks5 or socks5h"),
        ("socks4://proxy", "SOCKS4"),
        ("http://", "no host"),
        ("http://proxy:99999", "bad host or port"),
        ("http://proxy:port", "bad host or port"),
        ("http://pro xy", "whitespace"),
        ("http://[nothost]:1", "bad host or port"),
        ("http://a..b", "invalid proxy host name"),
    ],
)
def test_bad_proxy_urls_are_value_errors_naming_the_source(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="the_source") as raised:
        parse_proxy_url(text, source="the_source")
    assert reason in str(raised.value)


def test_a_proxy_url_that_is_not_a_str_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_proxy_url(b"http://proxy")  # type: ignore[arg-type]


# "#" appears in no text that we make: a password is never found there by chance.
_PASSWORD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",))).map("#".__add__)


@given(password=_PASSWORD)
def test_the_password_is_never_shown(password: str) -> None:
    from urllib.parse import quote

    url = f"http://alice:{quote(password, safe='')}@proxy.corp:3128"
    parsed = parse_proxy_url(url)
    assert parsed.password == password
    assert parsed.auth == (b"alice", password.encode())
    assert parsed.shown == "http://proxy.corp:3128"
    assert password not in repr(parsed)
    assert "with credentials" in repr(parsed)
    # A bad URL's error does not quote it either.
    with pytest.raises(ValueError) as raised:
        parse_proxy_url(f"gopher://alice:{quote(password, safe='')}@proxy:1")
    assert password not in str(raised.value)
    assert quote(password, safe="") not in str(raised.value)


# -- NO_PROXY ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypass"),
    [
        ("example.com", "example.com", 443, True),
        ("example.com", "api.example.com", 443, True),
        (".example.com", "example.com", 443, True),  # curl: the leading dot matches the domain too
        (".example.com", "a.b.example.com", 80, True),
        ("*.example.com", "api.example.com", 80, True),
        ("example.com", "notexample.com", 443, False),
        ("example.com", "example.com.evil", 443, False),
        ("EXAMPLE.com", "Example.COM.", 443, True),  # case, and the root's dot
        ("example.com:8443", "example.com", 8443, True),
        ("example.com:8443", "example.com", 443, False),
        ("127.0.0.1", "127.0.0.1", 80, True),
        ("127.0.0.1", "127.0.0.2", 80, False),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 80, False),
        ("10.0.0.0/8", "10.20.30.40", 80, True),
        ("10.0.0.0/8", "11.0.0.1", 80, False),
        ("::1", "::1", 80, True),
        ("::1", "[::1]", 80, True),
        ("[::1]", "::1", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 80, False),
        ("fd00::/8", "fd12:3456::1", 443, True),
        ("fd00::/8", "fe80::1", 443, False),
        ("fe80::/10", "fe80::1%25eth0", 443, True),  # a zone does not hide the address
        ("10.0.0.0/8", "::ffff:10.0.0.1", 80, False),  # versions are not mixed
        ("127.0.0.1", "localhost", 80, False),  # no name is resolved
        ("localhost", "127.0.0.1", 80, False),
        ("*", "anything.at.all", 1, True),
        ("a.com, *", "b.com", 1, True),
        ("a.com,b.com c.com", "c.com", 1, True),  # commas and whitespace separate
        ("<local>, a.com", "b.com", 1, False),  # unknown syntax is ignored
        ("", "a.com", 1, False),
        (" , ,", "a.com", 1, False),
        ("a.com:0", "a.com", 1, False),  # an invalid entry, ignored
        ("[::1", "::1", 1, False),
    ],
)
def test_no_proxy_matching(no_proxy: str, host: str, port: int, bypass: bool) -> None:
    assert parse_no_proxy(no_proxy).bypasses(host, port) is bypass


# Labels start with a letter: "0.0.0" plus a label could be an IP literal.
_LABEL = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(domain=st.lists(_LABEL, min_size=1, max_size=3).map(".".join), sub=_LABEL)
def test_a_domain_entry_matches_itself_and_subdomains_only(domain: str, sub: str) -> None:
    for entry in (domain, "." + domain, domain.upper()):
        rules = parse_no_proxy(entry)
        assert rules.bypasses(domain, 443)
        assert rules.bypasses(f"{sub}.{domain}", 443)
        assert not rules.bypasses(f"{sub}{domain}", 443)  # a suffix, but not at a dot
        assert not rules.bypasses(f"{domain}.{sub}x", 443)


@given(
    network=st.ip_addresses(v=4).flatmap(
        lambda a: st.integers(8, 32).map(lambda n: ipaddress.ip_network(f"{a}/{n}", strict=False))
    ),
    address=st.ip_addresses(v=4),
)
def test_a_cidr_entry_matches_exactly_the_addresses_in_it(
    network: ipaddress.IPv4Network, address: ipaddress.IPv4Address
) -> None:
    assert parse_no_proxy(str(network)).bypasses(str(address), 80) is (address in network)


@given(st.text(max_size=40))
def test_any_no_proxy_value_parses(text: str) -> None:
    rules = parse_no_proxy(text)
    assert isinstance(rules.bypasses("example.com", 80), bool)


# -- the environment ---------------------------------------------------------------------

P1, P2, P3 = "http://p1:1", "http://p2:2", "http://p3:3"


def urls(environ: dict[str, str]) -> tuple[str | None, str | None]:
    """The proxies (as shown) for an http and an https URL under ``environ``."""
    settings = settings_from_environment(environ)
    if settings is None:
        return None, None
    http = settings.proxy_for("http://service.example/x")
    https = settings.proxy_for("https://service.example/x")
    return (http and http.shown), (https and https.shown)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, (None, None)),
        ({"HTTP_PROXY": P1}, (P1, None)),
        ({"http_proxy": P1}, (P1, None)),
        ({"HTTPS_PROXY": P1}, (None, P1)),
        ({"https_proxy": P1}, (None, P1)),
        ({"ALL_PROXY": P1}, (P1, P1)),
        ({"all_proxy": P1, "https_proxy": P2}, (P1, P2)),
        ({"http_proxy": P1, "HTTP_PROXY": P2}, (P1, None)),  # lower case wins
        ({"https_proxy": P1, "HTTPS_PROXY": P2}, (None, P1)),
        ({"all_proxy": P1, "ALL_PROXY": P2}, (P1, P1)),
        ({"http_proxy": "", "HTTP_PROXY": P2}, (None, None)),  # set but empty: none
        ({"http_proxy": "", "ALL_PROXY": P3}, (P3, P3)),  # ... and all_proxy still serves
        ({"HTTP_PROXY": P1, "REQUEST_METHOD": "GET"}, (None, None)),  # httpoxy
        ({"http_proxy": P1, "REQUEST_METHOD": "GET"}, (P1, None)),
        ({"HTTP_PROXY": P1, "ALL_PROXY": P3, "REQUEST_METHOD": "GET"}, (P3, P3)),
        ({"HTTPS_PROXY": P1, "REQUEST_METHOD": "GET"}, (None, P1)),
        ({"https_proxy": P1, "NO_PROXY": "example"}, (None, None)),
        ({"https_proxy": P1, "no_proxy": "other", "NO_PROXY": "example"}, (None, P1)),
        ({"https_proxy": P1, "no_proxy": "", "NO_PROXY": "example"}, (None, P1)),
    ],
)
def test_the_environment_variables(
    environ: dict[str, str], expected: tuple[str | None, str | None]
) -> None:
    assert urls(environ) == expected


def test_a_bad_proxy_variable_is_named_and_its_value_not_shown() -> None:
    with pytest.raises(ValueError, match="the https_proxy environment variable") as raised:
        settings_from_environment({"https_proxy": "ftp://u:hunter2@proxy"})
    assert "hunter2" not in str(raised.value)


def test_the_proxy_for_a_url_uses_its_effective_port() -> None:
    proxy = parse_proxy_url(P1)
    settings = ProxySettings(http=proxy, https=proxy, no_proxy=parse_no_proxy("a.com:443"))
    assert settings.proxy_for("https://a.com/x") is None
    assert settings.proxy_for("https://a.com:443/x") is None
    assert settings.proxy_for("http://a.com/x") == proxy
    assert settings.proxy_for("https://a.com:8443/x") == proxy


# -- the public arguments ----------------------------------------------------------------


def test_resolve_proxy() -> None:
    env = {"HTTPS_PROXY": P1, "NO_PROXY": "*"}
    assert resolve_proxy(None, True, pool_given=False, environ={}) is None
    from_env = resolve_proxy(None, True, pool_given=False, environ=env)
    assert from_env is not None
    assert from_env.no_proxy == NoProxy(everything=True)
    assert resolve_proxy(None, False, pool_given=False, environ=env) is None
    assert resolve_proxy(None, True, pool_given=True, environ=env) is None
    explicit = resolve_proxy(P2, True, pool_given=False, environ=env)
    assert explicit == ProxySettings(http=parse_proxy_url(P2), https=parse_proxy_url(P2))
    assert explicit.proxy_for("https://anything/") == parse_proxy_url(P2)  # NO_PROXY not read
    with pytest.raises(ValueError, match="either pool or proxy"):
        resolve_proxy(P2, True, pool_given=True)
    with pytest.raises(TypeError, match="trust_env"):
        resolve_proxy(None, 1, pool_given=False)


def test_client_and_open_event_stream_check_the_proxy_arguments_before_any_io() -> None:
    with pytest.raises(TypeError, match="proxy must be a str URL or None"):
        Client(token="t", base_url="http://127.0.0.1:1", proxy=3128)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scheme"):
        Client(token="t", base_url="http://127.0.0.1:1", proxy="ftp://proxy")
    with pytest.raises(TypeError, match="trust_env"):
        Client(token="t", base_url="http://127.0.0.1:1", trust_env="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="proxy is empty"):
        open_event_stream("http://127.0.0.1:1/s", proxy="")


def test_a_proxy_error_pickles_and_is_final() -> None:
    import pickle

    from expys_stream import ExpysError, HTTPStatusError, ProxyError, TransportError

    error = ProxyError("proxy http://p:1 refused", status=407, proxy="http://p:1")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.status, copy.proxy) == (
        ProxyError,
        "proxy http://p:1 refused",
        407,
        "http://p:1",
    )
    # Not a TransportError (streams and requests retry those), nor a status
    # error of the service's.
    assert isinstance(error, ExpysError)
    assert not isinstance(error, TransportError | HTTPStatusError)
