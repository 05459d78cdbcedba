"""Protocol header codecs and test-frame builders.

Every fixed header has one precompiled `struct.Struct` whose size is asserted
against the protocol's definition, plus a frozen dataclass with `pack()` and
`unpack(buf, offset)`.  The flow extractor (`packet.flow`) uses variants of
the structs on its hot path; the dataclasses and the `*_frame` builders
(which fill in IPv4 header and TCP/UDP/ICMP/ICMPv6 checksums) serve tests and
the slower layers (ARP/ND responders, packet-out, traces).

Addresses travel as ints everywhere (a MAC is a 48-bit int, an IPv4 address a
32-bit int, an IPv6 address a 128-bit int), exactly as the flow key holds
them; `mac_to_str`/`mac_from_str` and the `ipaddress` module convert to text.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

# Ethertypes.
ETH_TYPE_IP = 0x0800
ETH_TYPE_ARP = 0x0806
ETH_TYPE_RARP = 0x8035
ETH_TYPE_VLAN = 0x8100      # 802.1Q customer tag
ETH_TYPE_VLAN_8021AD = 0x88A8  # 802.1ad service tag (QinQ outer)
ETH_TYPE_IPV6 = 0x86DD
ETH_TYPE_MIN = 0x0600       # below this the field is an 802.3 length
DL_TYPE_NONE = 0x05FF       # OVS's dl_type for 802.2 frames without SNAP

# IP protocol numbers and IPv6 extension header types.
IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60
IPPROTO_SCTP = 132

# ICMPv6 Neighbor Discovery.
ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136
ND_OPT_SOURCE_LINKADDR = 1
ND_OPT_TARGET_LINKADDR = 2

# VLAN TCI bits: OVS uses the CFI bit in a flow key to mean "a tag is present".
VLAN_VID_MASK = 0x0FFF
VLAN_CFI = 0x1000
VLAN_PCP_MASK = 0xE000
VLAN_PCP_SHIFT = 13

# IPv4 fragment bits (in the 16-bit flags+offset word).
IP_MORE_FRAGMENTS = 0x2000
IP_DONT_FRAGMENT = 0x4000
IP_FRAG_OFF_MASK = 0x1FFF

# TCP flags that OVS's tcp_flags field covers (12 bits: the 9 defined + 3 reserved).
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR, TCP_NS = (
    0x001, 0x002, 0x004, 0x008, 0x010, 0x020, 0x040, 0x080, 0x100)
TCP_FLAGS_MASK = 0x0FFF


class ArpOp(enum.IntEnum):
    REQUEST = 1
    REPLY = 2
    RARP_REQUEST = 3
    RARP_REPLY = 4


def _struct(fmt: str, size: int) -> struct.Struct:
    s = struct.Struct(fmt)
    assert s.size == size, (fmt, s.size, size)
    return s


ETH = _struct("!6s6sH", 14)
VLAN = _struct("!HH", 4)             # TCI, then the encapsulated ethertype
LLC_SNAP = _struct("!BBB3sH", 8)     # DSAP, SSAP, control, OUI, type
ARP = _struct("!HHBBH6s4s6s4s", 28)
IPV4 = _struct("!BBHHHBBH4s4s", 20)
IPV6 = _struct("!IHBB16s16s", 40)
IPV6_EXT = _struct("!BB", 2)         # next header, length (hop-by-hop, routing, dstopts, AH)
IPV6_FRAG = _struct("!BBHI", 8)
TCP = _struct("!HHIIHHHH", 20)
UDP = _struct("!HHHH", 8)
SCTP = _struct("!HHII", 12)
ICMP = _struct("!BBHI", 8)
ICMPV6 = _struct("!BBH", 4)
ND_MSG = _struct("!I16s", 20)        # reserved/flags word, target address
ND_OPT = _struct("!BB", 2)


def mac_to_str(mac: int) -> str:
    return ":".join(f"{b:02x}" for b in mac.to_bytes(6, "big"))


def mac_from_str(s: str) -> int:
    parts = s.split(":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"{s}: invalid Ethernet address")
    try:
        return int.from_bytes(bytes(int(p, 16) for p in parts), "big")
    except ValueError:
        raise ValueError(f"{s}: invalid Ethernet address") from None


def _b6(mac: int) -> bytes:
    return mac.to_bytes(6, "big")


def _b4(ip: int) -> bytes:
    return ip.to_bytes(4, "big")


def _b16(ip: int) -> bytes:
    return ip.to_bytes(16, "big")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@dataclass(frozen=True, slots=True)
class Ethernet:
    dst: int
    src: int
    type: int

    def pack(self) -> bytes:
        return ETH.pack(_b6(self.dst), _b6(self.src), self.type)

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Ethernet:
        d, s, t = ETH.unpack_from(buf, offset)
        return cls(int.from_bytes(d, "big"), int.from_bytes(s, "big"), t)


@dataclass(frozen=True, slots=True)
class Vlan:
    """One 802.1Q/802.1ad tag; `tpid` is the ethertype that announced it."""
    vid: int
    pcp: int = 0
    dei: int = 0
    tpid: int = ETH_TYPE_VLAN

    @property
    def tci(self) -> int:
        return (self.pcp << VLAN_PCP_SHIFT) | (self.dei << 12) | self.vid


@dataclass(frozen=True, slots=True)
class Arp:
    op: int
    sha: int
    spa: int
    tha: int
    tpa: int
    hrd: int = 1
    pro: int = ETH_TYPE_IP
    hln: int = 6
    pln: int = 4

    def pack(self) -> bytes:
        return ARP.pack(self.hrd, self.pro, self.hln, self.pln, self.op,
                        _b6(self.sha), _b4(self.spa), _b6(self.tha), _b4(self.tpa))

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Arp:
        hrd, pro, hln, pln, op, sha, spa, tha, tpa = ARP.unpack_from(buf, offset)
        return cls(op, int.from_bytes(sha, "big"), int.from_bytes(spa, "big"),
                   int.from_bytes(tha, "big"), int.from_bytes(tpa, "big"), hrd, pro, hln, pln)


@dataclass(frozen=True, slots=True)
class IPv4:
    src: int
    dst: int
    proto: int
    tos: int = 0
    ttl: int = 64
    ident: int = 0
    frag: int = 0          # flags and fragment offset word
    total_length: int = 20
    ihl: int = 5
    csum: int | None = None  # None: computed by pack()

    def pack(self, options: bytes = b"") -> bytes:
        h = IPV4.pack((4 << 4) | self.ihl, self.tos, self.total_length, self.ident, self.frag,
                      self.ttl, self.proto, 0, _b4(self.src), _b4(self.dst)) + options
        c = checksum(h) if self.csum is None else self.csum
        return h[:10] + c.to_bytes(2, "big") + h[12:]

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> IPv4:
        vi, tos, tl, ident, frag, ttl, proto, csum, src, dst = IPV4.unpack_from(buf, offset)
        return cls(int.from_bytes(src, "big"), int.from_bytes(dst, "big"), proto, tos, ttl,
                   ident, frag, tl, vi & 0x0F, csum)


@dataclass(frozen=True, slots=True)
class IPv6:
    src: int
    dst: int
    next_header: int
    payload_length: int = 0
    traffic_class: int = 0
    flow_label: int = 0
    hop_limit: int = 64

    def pack(self) -> bytes:
        vtf = (6 << 28) | (self.traffic_class << 20) | self.flow_label
        return IPV6.pack(vtf, self.payload_length, self.next_header, self.hop_limit,
                         _b16(self.src), _b16(self.dst))

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> IPv6:
        vtf, plen, nxt, hlim, src, dst = IPV6.unpack_from(buf, offset)
        return cls(int.from_bytes(src, "big"), int.from_bytes(dst, "big"), nxt, plen,
                   (vtf >> 20) & 0xFF, vtf & 0xFFFFF, hlim)


@dataclass(frozen=True, slots=True)
class Tcp:
    src: int
    dst: int
    flags: int = TCP_SYN
    seq: int = 0
    ack: int = 0
    window: int = 65535
    data_offset: int = 5

    def pack(self) -> bytes:
        return TCP.pack(self.src, self.dst, self.seq, self.ack,
                        (self.data_offset << 12) | (self.flags & TCP_FLAGS_MASK), self.window, 0, 0)

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Tcp:
        src, dst, seq, ack, ctl, win, _, _ = TCP.unpack_from(buf, offset)
        return cls(src, dst, ctl & TCP_FLAGS_MASK, seq, ack, win, ctl >> 12)


@dataclass(frozen=True, slots=True)
class Udp:
    src: int
    dst: int
    length: int = 8

    def pack(self) -> bytes:
        return UDP.pack(self.src, self.dst, self.length, 0)

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Udp:
        src, dst, length, _ = UDP.unpack_from(buf, offset)
        return cls(src, dst, length)


@dataclass(frozen=True, slots=True)
class Sctp:
    src: int
    dst: int
    vtag: int = 0

    def pack(self) -> bytes:
        return SCTP.pack(self.src, self.dst, self.vtag, 0)

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Sctp:
        src, dst, vtag, _ = SCTP.unpack_from(buf, offset)
        return cls(src, dst, vtag)


@dataclass(frozen=True, slots=True)
class Icmp:
    """ICMPv4 (8 bytes with the rest-of-header word) or ICMPv6 (4 bytes)."""
    type: int
    code: int = 0
    rest: int = 0

    def pack(self) -> bytes:
        return ICMP.pack(self.type, self.code, 0, self.rest)

    def pack6(self) -> bytes:
        return ICMPV6.pack(self.type, self.code, 0)

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Icmp:
        t, c, _, rest = ICMP.unpack_from(buf, offset)
        return cls(t, c, rest)


@dataclass(frozen=True, slots=True)
class Ipv6Ext:
    """A hop-by-hop (0), routing (43) or destination-options (60) extension header; body is
    what follows its first two bytes (padded to a multiple of 8 bytes overall)."""
    next_header: int
    body: bytes = b"\0" * 6

    def pack(self) -> bytes:
        body = self.body + b"\0" * (-(len(self.body) + 2) % 8)
        return IPV6_EXT.pack(self.next_header, (len(body) + 2) // 8 - 1) + body

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Ipv6Ext:
        nxt, hlen = IPV6_EXT.unpack_from(buf, offset)
        body = bytes(buf[offset + 2:offset + (hlen + 1) * 8])
        if len(body) != (hlen + 1) * 8 - 2:
            raise ValueError("truncated IPv6 extension header")
        return cls(nxt, body)


@dataclass(frozen=True, slots=True)
class Ipv6Frag:
    """An IPv6 fragment header; offset in 8-byte units."""
    next_header: int
    offset: int = 0
    more: bool = False
    ident: int = 0

    def pack(self) -> bytes:
        return IPV6_FRAG.pack(self.next_header, 0, (self.offset << 3) | int(self.more), self.ident)

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> Ipv6Frag:
        nxt, _, offlg, ident = IPV6_FRAG.unpack_from(buf, offset)
        return cls(nxt, offlg >> 3, bool(offlg & 1), ident)


@dataclass(frozen=True, slots=True)
class NeighborDiscovery:
    """An ICMPv6 neighbor solicitation (135) or advertisement (136), from the ICMPv6 header
    on, with its source/target link-layer address options; `flags` is the word after the
    checksum (an advertisement's R, S, O bits are its top three).  The checksum is left zero
    for the IPv6 builder to fill in."""
    type: int
    target: int
    sll: int | None = None
    tll: int | None = None
    flags: int = 0

    def pack(self) -> bytes:
        body = ICMPV6.pack(self.type, 0, 0) + ND_MSG.pack(self.flags, _b16(self.target))
        if self.sll is not None:
            body += ND_OPT.pack(ND_OPT_SOURCE_LINKADDR, 1) + _b6(self.sll)
        if self.tll is not None:
            body += ND_OPT.pack(ND_OPT_TARGET_LINKADDR, 1) + _b6(self.tll)
        return body

    @classmethod
    def unpack(cls, buf, offset: int = 0, end: int | None = None) -> NeighborDiscovery:
        end = len(buf) if end is None else end
        type_, _, _ = ICMPV6.unpack_from(buf, offset)
        flags, target = ND_MSG.unpack_from(buf, offset + 4)
        sll = tll = None
        p = offset + 24
        while end - p >= 8:
            opt, n = ND_OPT.unpack_from(buf, p)
            if n == 0 or p + 8 * n > end:
                raise ValueError("malformed neighbor discovery option")
            if n == 1 and opt == ND_OPT_SOURCE_LINKADDR:
                sll = int.from_bytes(buf[p + 2:p + 8], "big")
            elif n == 1 and opt == ND_OPT_TARGET_LINKADDR:
                tll = int.from_bytes(buf[p + 2:p + 8], "big")
            p += 8 * n
        return cls(type_, int.from_bytes(target, "big"), sll, tll, flags)


# ---- frame builders (for tests, responders and packet-out) -----------------

def eth_frame(dst: int, src: int, eth_type: int, payload: bytes = b"",
              vlans: tuple[Vlan, ...] = ()) -> bytes:
    """An Ethernet frame; vlans are listed outermost first."""
    if not vlans:
        return ETH.pack(_b6(dst), _b6(src), eth_type) + payload
    tags = b""
    for i, v in enumerate(vlans):
        encapsulated = vlans[i + 1].tpid if i + 1 < len(vlans) else eth_type
        tags += VLAN.pack(v.tci, encapsulated)
    return ETH.pack(_b6(dst), _b6(src), vlans[0].tpid) + tags + payload


# Where the checksum sits in each transport header, and whether it covers a pseudo-header.
_L4_CSUM = {IPPROTO_TCP: (16, True), IPPROTO_UDP: (6, True), IPPROTO_ICMP: (2, False),
            IPPROTO_ICMPV6: (2, True)}


def with_l4_checksum(proto: int, src: bytes, dst: bytes, l4: bytes) -> bytes:
    """l4 with its TCP/UDP/ICMP/ICMPv6 checksum filled in, if it is zero and l4 holds it.

    src and dst are the IP addresses as bytes (4 or 16), for the pseudo-header."""
    where = _L4_CSUM.get(proto)
    if where is None or len(l4) < where[0] + 2 or l4[where[0]:where[0] + 2] != b"\0\0":
        return l4
    ofs, pseudo = where
    head = b""
    if pseudo:
        if len(src) == 4:
            head = src + dst + struct.pack("!BBH", 0, proto, len(l4))
        else:
            head = src + dst + struct.pack("!IxxxB", len(l4), proto)
    c = checksum(head + l4)
    if proto == IPPROTO_UDP and c == 0:
        c = 0xFFFF  # zero means "no checksum" in UDP
    return l4[:ofs] + c.to_bytes(2, "big") + l4[ofs + 2:]


def ipv4_packet(src: int, dst: int, proto: int, l4: bytes, *, tos: int = 0, ttl: int = 64,
                frag: int = 0, ident: int = 0) -> bytes:
    """An IPv4 packet; an unfragmented TCP/UDP/ICMP payload gets its checksum filled in."""
    if not frag & (IP_MORE_FRAGMENTS | IP_FRAG_OFF_MASK):
        l4 = with_l4_checksum(proto, _b4(src), _b4(dst), l4)
    return IPv4(src, dst, proto, tos, ttl, ident, frag, 20 + len(l4)).pack() + l4


def ipv6_packet(src: int, dst: int, next_header: int, payload: bytes, *, tclass: int = 0,
                label: int = 0, hlim: int = 64) -> bytes:
    """An IPv6 packet; a TCP/UDP/ICMPv6 payload right after the header gets its checksum."""
    payload = with_l4_checksum(next_header, _b16(src), _b16(dst), payload)
    return IPv6(src, dst, next_header, len(payload), tclass, label, hlim).pack() + payload


def ipv6_ext(next_header: int, body: bytes = b"\0" * 6) -> bytes:
    """A hop-by-hop, routing or destination-options header; body is padded to 8n-2 bytes."""
    return Ipv6Ext(next_header, body).pack()


def ipv6_frag(next_header: int, offset: int = 0, more: bool = False, ident: int = 0) -> bytes:
    return Ipv6Frag(next_header, offset, more, ident).pack()


def nd_packet(type_: int, target: int, sll: int | None = None, tll: int | None = None) -> bytes:
    """An ICMPv6 neighbor solicitation/advertisement with optional link-layer options."""
    return NeighborDiscovery(type_, target, sll, tll).pack()


def tcp_frame(dl_src: int, dl_dst: int, nw_src: int, nw_dst: int, tp_src: int, tp_dst: int,
              flags: int = TCP_SYN, payload: bytes = b"", vlans: tuple[Vlan, ...] = ()) -> bytes:
    l4 = Tcp(tp_src, tp_dst, flags).pack() + payload
    return eth_frame(dl_dst, dl_src, ETH_TYPE_IP, ipv4_packet(nw_src, nw_dst, IPPROTO_TCP, l4), vlans)


def udp_frame(dl_src: int, dl_dst: int, nw_src: int, nw_dst: int, tp_src: int, tp_dst: int,
              payload: bytes = b"", vlans: tuple[Vlan, ...] = ()) -> bytes:
    l4 = Udp(tp_src, tp_dst, 8 + len(payload)).pack() + payload
    return eth_frame(dl_dst, dl_src, ETH_TYPE_IP, ipv4_packet(nw_src, nw_dst, IPPROTO_UDP, l4), vlans)


def arp_frame(dl_src: int, dl_dst: int, op: int, sha: int, spa: int, tha: int, tpa: int,
              vlans: tuple[Vlan, ...] = ()) -> bytes:
    return eth_frame(dl_dst, dl_src, ETH_TYPE_ARP, Arp(op, sha, spa, tha, tpa).pack(), vlans)


def icmp_frame(dl_src: int, dl_dst: int, nw_src: int, nw_dst: int, type_: int = 8, code: int = 0,
               rest: int = 0, payload: bytes = b"") -> bytes:
    l4 = Icmp(type_, code, rest).pack() + payload
    return eth_frame(dl_dst, dl_src, ETH_TYPE_IP, ipv4_packet(nw_src, nw_dst, IPPROTO_ICMP, l4))


def nd_frame(dl_src: int, dl_dst: int, ipv6_src: int, ipv6_dst: int, type_: int, target: int,
             sll: int | None = None, tll: int | None = None) -> bytes:
    """A neighbor solicitation (135) or advertisement (136), hop limit 255 as ND requires."""
    body = nd_packet(type_, target, sll, tll)
    return eth_frame(dl_dst, dl_src, ETH_TYPE_IPV6,
                     ipv6_packet(ipv6_src, ipv6_dst, IPPROTO_ICMPV6, body, hlim=255))
