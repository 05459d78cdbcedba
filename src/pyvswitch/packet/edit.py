"""Header rewrites in place: what datapath set/push/pop actions do to a frame.

Frames are `bytearray`s.  Functions that change a frame's length (VLAN push
and pop) return the new frame; the others edit in place.  L3 and L4 offsets
come from `flow.extract_with_offsets`, which the datapath has at hand from
parsing the packet; an offset of -1 means "no such header" and the function
leaves that layer alone.

Checksums are kept valid incrementally (RFC 1624: HC' = ~(~HC + ~m + m')),
never recomputed over the payload: rewriting an IPv4 address fixes the IPv4
header checksum and the TCP/UDP checksum (the address is in their
pseudo-header), an IPv6 address fixes TCP/UDP/ICMPv6, a port fixes its own
header's checksum.  A UDP checksum of zero means "none" and stays zero; a
computed zero is sent as 0xffff.  SCTP's CRC32c is not updated (SCTP port
rewrites are not offered).
"""

from __future__ import annotations

from pyvswitch.packet.headers import (
    ETH_TYPE_VLAN, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, VLAN_CFI,
)

# Where the L4 checksum is, for the protocols whose checksum covers the IP pseudo-header.
_PSEUDO_CSUM_OFS = {IPPROTO_TCP: 16, IPPROTO_UDP: 6, IPPROTO_ICMPV6: 2}


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def csum_replace(csum: int, old: bytes, new: bytes) -> int:
    """An Internet checksum updated for the even-length bytes old being replaced by new."""
    s = ~csum & 0xFFFF
    for i in range(0, len(old), 2):
        s += (~((old[i] << 8) | old[i + 1]) & 0xFFFF) + ((new[i] << 8) | new[i + 1])
    return ~_fold(s) & 0xFFFF


def _get16(frame: bytearray, ofs: int) -> int:
    return (frame[ofs] << 8) | frame[ofs + 1]


def _put16(frame: bytearray, ofs: int, v: int) -> None:
    frame[ofs] = v >> 8
    frame[ofs + 1] = v & 0xFF


def _fix_l4(frame: bytearray, l4: int, proto: int, old: bytes, new: bytes) -> None:
    """Updates the L4 checksum at l4 for old -> new, if proto has one that covers them."""
    ofs = _PSEUDO_CSUM_OFS.get(proto)
    if l4 < 0 or ofs is None or len(frame) < l4 + ofs + 2:
        return
    c = _get16(frame, l4 + ofs)
    if proto == IPPROTO_UDP and c == 0:
        return
    c = csum_replace(c, old, new)
    if proto == IPPROTO_UDP and c == 0:
        c = 0xFFFF
    _put16(frame, l4 + ofs, c)


def _replace(frame: bytearray, ofs: int, new: bytes) -> bytes:
    """Writes new at ofs; returns the bytes it replaced."""
    old = bytes(frame[ofs:ofs + len(new)])
    frame[ofs:ofs + len(new)] = new
    return old


# ---- Ethernet and VLAN ----------------------------------------------------------

def set_eth(frame: bytearray, src: int | None = None, dst: int | None = None) -> None:
    if dst is not None:
        frame[0:6] = dst.to_bytes(6, "big")
    if src is not None:
        frame[6:12] = src.to_bytes(6, "big")


def push_vlan(frame: bytearray, tci: int, tpid: int = ETH_TYPE_VLAN) -> bytearray:
    """frame with a new outermost tag; tci's CFI bit ("present" in flow keys) is cleared."""
    tag = tpid.to_bytes(2, "big") + (tci & ~VLAN_CFI & 0xFFFF).to_bytes(2, "big")
    return frame[:12] + tag + frame[12:]


def pop_vlan(frame: bytearray) -> bytearray:
    """frame without its outermost tag (unchanged if it has none)."""
    if len(frame) < 18 or _get16(frame, 12) not in (0x8100, 0x88A8):
        return frame
    return frame[:12] + frame[16:]


def set_vlan_tci(frame: bytearray, tci: int) -> None:
    """Rewrites the outermost tag's TCI (no-op on an untagged frame)."""
    if len(frame) >= 18 and _get16(frame, 12) in (0x8100, 0x88A8):
        _put16(frame, 14, tci & ~VLAN_CFI & 0xFFFF)


# ---- IPv4, IPv6, ARP -------------------------------------------------------------

def set_ipv4(frame: bytearray, l3: int, l4: int = -1, *, src: int | None = None,
             dst: int | None = None, tos: int | None = None, ttl: int | None = None) -> None:
    """Rewrites IPv4 header fields, keeping the header and TCP/UDP checksums valid."""
    if l3 < 0:
        return
    proto = frame[l3 + 9]
    hc = _get16(frame, l3 + 10)
    for ofs, value in ((12, src), (16, dst)):
        if value is not None:
            new = value.to_bytes(4, "big")
            old = _replace(frame, l3 + ofs, new)
            hc = csum_replace(hc, old, new)
            _fix_l4(frame, l4, proto, old, new)
    if tos is not None:
        old = bytes(frame[l3:l3 + 2])
        frame[l3 + 1] = tos
        hc = csum_replace(hc, old, bytes(frame[l3:l3 + 2]))
    if ttl is not None:
        old = bytes(frame[l3 + 8:l3 + 10])
        frame[l3 + 8] = ttl
        hc = csum_replace(hc, old, bytes(frame[l3 + 8:l3 + 10]))
    _put16(frame, l3 + 10, hc)


def set_ipv6(frame: bytearray, l3: int, l4: int = -1, proto: int = -1, *,
             src: int | None = None, dst: int | None = None, tclass: int | None = None,
             label: int | None = None, hlim: int | None = None) -> None:
    """Rewrites IPv6 header fields; proto is the flow's nw_proto, whose checksum (TCP, UDP,
    ICMPv6 at l4) is kept valid across address changes."""
    if l3 < 0:
        return
    for ofs, value in ((8, src), (24, dst)):
        if value is not None:
            new = value.to_bytes(16, "big")
            old = _replace(frame, l3 + ofs, new)
            _fix_l4(frame, l4, proto, old, new)
    vtf = int.from_bytes(frame[l3:l3 + 4], "big")
    if tclass is not None:
        vtf = (vtf & ~(0xFF << 20)) | (tclass << 20)
    if label is not None:
        vtf = (vtf & ~0xFFFFF) | (label & 0xFFFFF)
    frame[l3:l3 + 4] = vtf.to_bytes(4, "big")
    if hlim is not None:
        frame[l3 + 7] = hlim


def set_arp(frame: bytearray, l3: int, *, op: int | None = None, sha: int | None = None,
            spa: int | None = None, tha: int | None = None, tpa: int | None = None) -> None:
    if l3 < 0:
        return
    if op is not None:
        _put16(frame, l3 + 6, op)
    for ofs, value, n in ((8, sha, 6), (14, spa, 4), (18, tha, 6), (24, tpa, 4)):
        if value is not None:
            frame[l3 + ofs:l3 + ofs + n] = value.to_bytes(n, "big")


# ---- transport ---------------------------------------------------------------------

def set_tp_ports(frame: bytearray, l4: int, proto: int, *, src: int | None = None,
                 dst: int | None = None) -> None:
    """Rewrites TCP or UDP ports at l4, keeping the checksum valid."""
    if l4 < 0 or proto not in (IPPROTO_TCP, IPPROTO_UDP):
        return
    for ofs, value in ((0, src), (2, dst)):
        if value is not None:
            new = value.to_bytes(2, "big")
            old = _replace(frame, l4 + ofs, new)
            _fix_l4(frame, l4, proto, old, new)


def set_icmp(frame: bytearray, l4: int, *, type_: int | None = None,
             code: int | None = None) -> None:
    """Rewrites ICMP or ICMPv6 type and code, keeping the checksum valid."""
    if l4 < 0:
        return
    old = bytes(frame[l4:l4 + 2])
    if type_ is not None:
        frame[l4] = type_
    if code is not None:
        frame[l4 + 1] = code
    c = csum_replace(_get16(frame, l4 + 2), old, bytes(frame[l4:l4 + 2]))
    _put16(frame, l4 + 2, c)
