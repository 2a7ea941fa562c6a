"""Address sets: what a set of CIDRs admits, judged by meaning rather than by literal strings.

"Open to the world" is not only ``0.0.0.0/0``: ``0.0.0.0/1`` and ``128.0.0.0/1`` together admit
every IPv4 address, and a list of ranges that leaves out only private and reserved space
(10.0.0.0/8, 192.168.0.0/16, ...) admits every address on the Internet. The policies of
security groups, network ACLs and bucket policies (``aws:SourceIp``) ask this module.

Pure: no I/O. An :class:`AddressSet` is a tuple of disjoint networks of one IP version; two
CIDRs are always either nested or disjoint, which keeps union, difference and intersection
simple and exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, collapse_addresses, ip_network
from typing import Any, cast

Network = IPv4Network | IPv6Network

EVERYTHING: dict[int, Network] = {4: IPv4Network("0.0.0.0/0"), 6: IPv6Network("::/0")}
# Sources no Internet host can have (IANA special-purpose registries: "this network", private,
# shared, loopback, link-local, documentation, benchmarking, multicast, reserved). For IPv6 the
# Internet is global unicast, 2000::/3, less its documentation prefix.
NOT_PUBLIC: dict[int, tuple[Network, ...]] = {
    4: tuple(
        IPv4Network(cidr)
        for cidr in (
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        )
    ),
    6: tuple(IPv6Network(cidr) for cidr in ("::/3", "4000::/2", "8000::/1", "2001:db8::/32")),
}


def parse_cidr(text: object, version: int | None = None) -> Network | None:
    """``text`` as a network (host bits allowed, as AWS accepts them), or None when it is not
    a CIDR (or not of ``version``)."""
    if not isinstance(text, str):
        return None
    try:
        network = ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if version is not None and network.version != version:
        return None
    return network


def _collapse(networks: Iterable[Network]) -> tuple[Network, ...]:
    """Sorted, disjoint, merged networks (of one version)."""
    return tuple(collapse_addresses(cast(Iterable[Any], networks)))


def _minus(networks: Iterable[Network], holes: Iterable[Network]) -> list[Network]:
    remaining = list(networks)
    for hole in holes:
        kept: list[Network] = []
        for network in remaining:
            if network.version != hole.version:
                kept.append(network)
            elif network.subnet_of(hole):  # type: ignore[arg-type]  # same version
                continue
            elif hole.subnet_of(network):  # type: ignore[arg-type]
                kept.extend(network.address_exclude(hole))  # type: ignore[arg-type]
            else:
                kept.append(network)  # disjoint
        remaining = kept
    return remaining


@dataclass(frozen=True)
class AddressSet:
    """A set of addresses of one IP version, as disjoint networks."""

    version: int
    networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, version: int, cidrs: Iterable[object]) -> AddressSet:
        """The addresses of the valid ``version`` CIDRs among ``cidrs`` (others are ignored)."""
        parsed = [n for n in (parse_cidr(c, version) for c in cidrs) if n is not None]
        return cls(version, _collapse(parsed))

    @classmethod
    def everything(cls, version: int) -> AddressSet:
        return cls(version, (EVERYTHING[version],))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def union(self, other: AddressSet) -> AddressSet:
        merged = [*self.networks, *other.networks]
        return AddressSet(self.version, _collapse(merged))

    def minus(self, other: AddressSet) -> AddressSet:
        return AddressSet(self.version, tuple(_minus(self.networks, other.networks)))

    def intersection(self, other: AddressSet) -> AddressSet:
        return self.minus(self.minus(other))

    def is_everything(self) -> bool:
        """Every address of the version (``0.0.0.0/0`` / ``::/0``, however written)."""
        return not AddressSet.everything(self.version).minus(self)

    def has_every_public_address(self) -> bool:
        """Every address an Internet host can have (the rest is private or reserved space)."""
        rest = AddressSet.everything(self.version).minus(self)
        return not _minus(rest.networks, NOT_PUBLIC[self.version])

    def __str__(self) -> str:
        return ", ".join(str(n) for n in self.networks)


def reach(addresses: AddressSet) -> str | None:
    """What ``addresses`` add up to when they admit the whole Internet ("every address",
    "every public address"), or None."""
    if addresses.is_everything():
        return "every address"
    if addresses.has_every_public_address():
        return "every public address"
    return None


def world_reach(version: int, cidrs: Iterable[object]) -> str | None:
    """How ``cidrs`` admit the whole Internet, for evidence, or None when they do not: the
    literal world CIDR (``0.0.0.0/0``), or the ranges and what they add up to ("0.0.0.0/1,
    128.0.0.0/1 (together every address)")."""
    given = [str(c).strip() for c in cidrs if parse_cidr(c, version) is not None]
    together = reach(AddressSet.of(version, given))
    if together is None:
        return None
    world = str(EVERYTHING[version])
    return world if world in given else f"{', '.join(given)} (together {together})"
