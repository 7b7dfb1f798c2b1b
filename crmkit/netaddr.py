"""Client addresses as rate limits count them: an IPv4 address alone, an IPv6 address by its
/64 (one subscriber's network: a host picks any of its 2^64 addresses at will, so counting
single IPv6 addresses would let one machine dodge every per-address limit)."""

from __future__ import annotations

import ipaddress


def address_group(host: str) -> str:
    """'192.0.2.7' -> '192.0.2.7'; '2001:db8:1:2:a:b:c:d' -> '2001:db8:1:2::/64'; an IPv4
    address mapped into IPv6 counts as the IPv4 address; anything unparsable as it is."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
