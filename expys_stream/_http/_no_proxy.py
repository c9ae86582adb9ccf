"""``NO_PROXY``: which hosts bypass the proxy. Pure: no I/O, no name lookups."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["NoProxy", "parse_no_proxy"]

_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class _Rule:
    domain: str | None  # a name and its subdomains (no leading dot)
    network: IPNetwork | None  # or IP literals in this network
    port: int | None  # None: any port


@dataclass(frozen=True, slots=True)
class NoProxy:
    """The hosts that bypass the proxy (a parsed ``NO_PROXY``)."""

    rules: tuple[_Rule, ...] = ()
    everything: bool = False

    def bypasses(self, host: str, port: int) -> bool:
        """Whether a request to ``host`` (a name or IP literal) on ``port`` goes direct.

        No name is resolved: an IP or CIDR entry matches URLs that hold an
        IP literal, a name entry matches names.
        """
        if self.everything:
            return True
        if not self.rules:
            return False
        host = host.lower().removeprefix("[").removesuffix("]").rstrip(".")
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
            address = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            address = None
        return any(
            (rule.port is None or rule.port == port) and _matches(rule, host, address)
            for rule in self.rules
        )


def _matches(
    rule: _Rule, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
) -> bool:
    if rule.network is not None:
        return (
            address is not None
            and address.version == rule.network.version
            and address in rule.network
        )
    domain = rule.domain
    return (
        address is None and domain is not None and (host == domain or host.endswith("." + domain))
    )


def parse_no_proxy(text: str) -> NoProxy:
    """Parse a ``NO_PROXY`` value, as curl reads it (plus ports and CIDR ranges).

    Entries are separated by commas (or whitespace): ``*`` (every host),
    a host name, which also matches its subdomains (``example.com`` and
    ``.example.com`` alike; ``*.example.com`` too), an IPv4 or IPv6
    address (``::1`` or ``[::1]``), a CIDR range (``10.0.0.0/8``,
    ``fd00::/8``), each maybe with a port (``example.com:8080``,
    ``[::1]:8080``) that limits it to that port. Case does not matter.
    Entries that are none of these (other tools' syntax, such as
    ``<local>``) are ignored.
    """
    rules: list[_Rule] = []
    for raw in re.split(r"[,\s]+", text):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return NoProxy(everything=True)
        rule = _parse_rule(entry)
        if rule is not None:
            rules.append(rule)
    return NoProxy(rules=tuple(rules))


def _parse_rule(entry: str) -> _Rule | None:
    port: int | None = None
    if entry.startswith("["):
        host, closed, rest = entry[1:].partition("]")
        if not closed:
            return None
        if rest:
            port = _port(rest.removeprefix(":")) if rest.startswith(":") else None
            if port is None:
                return None
        return _ip_rule(host, port)
    if entry.count(":") >= 2:  # a bare IPv6 address or range: no port
        return _ip_rule(entry, None)
    if ":" in entry:
        entry, _, digits = entry.partition(":")
        port = _port(digits)
        if port is None:
            return None
    rule = _ip_rule(entry, port)
    if rule is not None:
        return rule
    domain = entry.removeprefix("*").removeprefix(".").rstrip(".")
    if not domain or not _HOST_NAME.fullmatch(domain):
        return None
    return _Rule(domain=domain, network=None, port=port)


def _ip_rule(text: str, port: int | None) -> _Rule | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return _Rule(domain=None, network=network, port=port)


def _port(digits: str) -> int | None:
    if not digits.isascii() or not digits.isdigit() or len(digits) > 5:
        return None
    port = int(digits)
    return port if 0 < port <= 65535 else None
