"""Where deliveries may go: a defence against server-side request forgery.

Endpoint URLs are typed in by customers, so a delivery could be aimed at this service's
own network (a database, a metadata service at 169.254.169.254). Every URL is checked when
an endpoint is saved and again at each attempt, after DNS resolution; the attempt then
connects to the very address that was checked, so a DNS answer that changes in between
(rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class DestinationRefusedError(ValueError):
    """The URL may not receive deliveries; the message says why."""


@dataclass(frozen=True)
class PinnedTarget:
    """A request aimed at a checked address, carrying the original host for HTTP and TLS."""

    url: str
    host_header: str
    sni_hostname: str | None


def _unwrap(address: IPAddress) -> IPAddress:
    # An IPv6 address can carry an IPv4 one (::ffff:10.0.0.1, 6to4); judge the carried one.
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


@dataclass(frozen=True)
class DestinationPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    require_https: bool = True

    @classmethod
    def from_settings(
        cls, *, allowlist: Iterable[str], development: bool, require_https: bool | None
    ) -> DestinationPolicy:
        """Networks (CIDR or single addresses) and host names from the allowlist; development
        allows loopback so receivers on the same machine work, and plain http."""
        networks: list[IPNetwork] = list(LOOPBACK) if development else []
        hosts: set[str] = set()
        for entry in allowlist:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(entry.strip().lower().rstrip("."))
        return cls(
            allowed_networks=tuple(networks),
            allowed_hosts=frozenset(hosts),
            require_https=(not development) if require_https is None else require_https,
        )

    def check_address(self, address: IPAddress) -> None:
        if any(address in network for network in self.allowed_networks):
            return
        judged = _unwrap(address)
        if any(judged in network for network in self.allowed_networks):
            return
        if judged.is_multicast or not judged.is_global:
            raise DestinationRefusedError(
                f"{address} is a private, loopback, link-local or reserved address; "
                "deliveries go only to public addresses unless allowlisted"
            )

    def check_url(self, url: str) -> httpx.URL:
        """The checks that need no DNS: scheme, and a literal address."""
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https"):
            raise DestinationRefusedError("only http and https URLs can receive deliveries")
        if parsed.scheme != "https" and self.require_https:
            raise DestinationRefusedError("endpoint URLs must use https")
        if not parsed.host:
            raise DestinationRefusedError("the URL has no host")
        literal = _literal_address(parsed.host)
        if literal is not None:
            self.check_address(literal)
        return parsed

    async def check(self, url: str) -> None:
        """Refuse a URL that is, or resolves to, a forbidden address.

        A host that does not resolve now is let through: DNS can be down or not yet set up,
        and every attempt checks again before it connects.
        """
        try:
            await self.pin(url)
        except OSError:
            return

    async def pin(self, url: str) -> PinnedTarget:
        """Resolve, check every address, and aim the request at the first one.

        Raises ``DestinationRefusedError`` for a forbidden destination and ``OSError`` when
        the host does not resolve.
        """
        parsed = self.check_url(url)
        host = parsed.host
        if _literal_address(host) is not None or host.lower().rstrip(".") in self.allowed_hosts:
            return PinnedTarget(
                url=str(parsed), host_header=_host_header(parsed), sni_hostname=None
            )
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise OSError(f"{host} has no address")
        # Every answer must pass: an attacker's name may mix a public and a private one.
        for address in addresses:
            self.check_address(address)
        return PinnedTarget(
            url=str(parsed.copy_with(host=str(addresses[0]))),
            host_header=_host_header(parsed),
            sni_hostname=host if parsed.scheme == "https" else None,
        )


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _host_header(url: httpx.URL) -> str:
    return url.netloc.decode("ascii")
