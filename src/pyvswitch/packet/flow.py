"""Flow keys and their extraction from frames (OVS's `flow_extract`).

A `FlowKey` is everything the switch may match on for one packet: where it
came from (`in_port`, an OpenFlow port number), its parsed L2-L4 headers,
and the pipeline metadata (tunnel id, `metadata`, registers) that OpenFlow
processing sets later.  It is a `NamedTuple` of plain ints: hashable (it is
the exact-match cache key), indexable by position (the classifier masks it
slot by slot), and cheap to build.  Addresses are ints (MAC 48 bits, IPv4
32, IPv6 128).  `WIDTHS`/`FULL_MASK` give each slot's width and `INDEX` its
position.

Field storage follows OVS, so one key layout serves every protocol:
- `vlan_tci` / `vlan_tci2` hold the outer / inner 802.1Q TCI with the CFI bit
  (0x1000) set to mean "a tag is present"; 0 means untagged;
- ARP reuses `nw_src`/`nw_dst` for SPA/TPA and `nw_proto` for the opcode (when
  it fits in 8 bits); `arp_sha`/`arp_tha` double as ND's SLL/TLL;
- ICMP and ICMPv6 put type and code in `tp_src` / `tp_dst`;
- `nw_tos` is the whole TOS / traffic-class byte (DSCP and ECN);
- `nw_frag` is 0, `FRAG_ANY` (a first fragment) or `FRAG_ANY|FRAG_LATER`.

Extraction never raises.  A truncated or malformed frame yields the fields
parsed before the problem, exactly as OVS's extractor does (a test compares
the two on thousands of mangled frames through `ovs-ofctl parse-pcap`): a
short VLAN tag ends parsing, a bad IPv4 header leaves all L3 fields zero, a
bad IPv6 extension header leaves only the addresses, a short L4 header leaves
the ports zero, a later fragment keeps nw_proto from its fragment header, a
bad ND option ends the option list.  The L4 parse follows nw_proto whatever
the IP version (ICMP inside IPv6 still fills tp_src/tp_dst), as in OVS.
Frames are trimmed to the IP total length, so padding is never parsed as L4.
MPLS, NSH, tunnels' outer headers and IGMP's group address are not parsed.
This is the per-packet hot path: one function, local variables, explicit
length checks, precompiled structs that unpack addresses straight to ints, no
per-layer objects.  `extract_with_offsets` also returns where L3 and L4 start.

`packet_mask(key)` is the mask of the slots that describe a packet like key
(OVS's wildcards "for a packet"): what an exact-match megaflow covers.
"""

from __future__ import annotations

import struct
from operator import and_, itemgetter
from typing import Any, Callable, NamedTuple

from pyvswitch.packet.headers import (
    ARP, ETH, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_MIN, ETH_TYPE_RARP, ETH_TYPE_VLAN,
    ETH_TYPE_VLAN_8021AD, DL_TYPE_NONE, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT,
    IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IGMP, IPPROTO_ROUTING, IPPROTO_SCTP,
    IPPROTO_TCP, IPPROTO_UDP, IPV4, IPV6, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_OPT_SOURCE_LINKADDR,
    ND_OPT_TARGET_LINKADDR, TCP_FLAGS_MASK, VLAN_CFI,
)

FRAG_ANY = 1     # the packet is a fragment
FRAG_LATER = 2   # ... and not the first one
N_REGS = 16


class FlowKey(NamedTuple):
    in_port: int = 0
    dl_dst: int = 0
    dl_src: int = 0
    dl_type: int = 0
    vlan_tci: int = 0
    vlan_tci2: int = 0
    nw_src: int = 0
    nw_dst: int = 0
    ipv6_src: int = 0
    ipv6_dst: int = 0
    ipv6_label: int = 0
    nw_proto: int = 0
    nw_tos: int = 0
    nw_ttl: int = 0
    nw_frag: int = 0
    arp_sha: int = 0
    arp_tha: int = 0
    tp_src: int = 0
    tp_dst: int = 0
    tcp_flags: int = 0
    nd_target: int = 0
    tun_id: int = 0
    metadata: int = 0
    reg0: int = 0
    reg1: int = 0
    reg2: int = 0
    reg3: int = 0
    reg4: int = 0
    reg5: int = 0
    reg6: int = 0
    reg7: int = 0
    reg8: int = 0
    reg9: int = 0
    reg10: int = 0
    reg11: int = 0
    reg12: int = 0
    reg13: int = 0
    reg14: int = 0
    reg15: int = 0


# Bit width of each FlowKey slot, in order; a full mask for slot i is (1 << WIDTHS[i]) - 1.
WIDTHS: tuple[int, ...] = (16, 48, 48, 16, 16, 16, 32, 32, 128, 128, 20, 8, 8, 8, 2, 48, 48,
                           16, 16, 12, 128, 64, 64) + (32,) * N_REGS
assert len(WIDTHS) == len(FlowKey._fields)
FULL_MASK = FlowKey(*((1 << w) - 1 for w in WIDTHS))
INDEX = {name: i for i, name in enumerate(FlowKey._fields)}
_N_PACKET_FIELDS = INDEX["tun_id"]
_META_ZERO = (0,) * (len(FlowKey._fields) - _N_PACKET_FIELDS)
_new = tuple.__new__

_from_bytes = int.from_bytes


def _hot(fmt: str, like: struct.Struct) -> Callable:
    """The unpacker of a header laid out as like, with its addresses split into ints: one
    C call instead of slicing and int.from_bytes per address (twice as fast here)."""
    s = struct.Struct(fmt)
    assert s.size == like.size, fmt
    return s.unpack_from


_eth_unpack = _hot("!HIHIH", ETH)                 # dst hi/lo, src hi/lo, type
_ipv4_unpack = _hot("!BBHHHBBHII", IPV4)
_ipv6_unpack = _hot("!IHBBQQQQ", IPV6)            # addresses as two 64-bit halves
_arp_unpack = _hot("!HHBBHHIIHII", ARP)           # MACs as 16+32 bits
_ports_unpack = struct.Struct("!HH").unpack_from
_IPV6_EXT_HDRS = frozenset((IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_AH,
                            IPPROTO_FRAGMENT))


def extract(frame, in_port: int = 0) -> FlowKey:
    """The flow key of an Ethernet frame (bytes, bytearray or memoryview) received on in_port."""
    return extract_with_offsets(frame, in_port)[0]


def extract_with_offsets(frame, in_port: int = 0) -> tuple[FlowKey, int, int]:
    """(flow key, offset of the L3 header, offset of the L4 header); an offset is -1 when the
    frame has no such header that was parsed (what header editing needs)."""
    size = len(frame)
    dl_dst = dl_src = dl_type = vlan_tci = vlan_tci2 = 0
    nw_src = nw_dst = ipv6_src = ipv6_dst = ipv6_label = nw_proto = nw_tos = nw_ttl = nw_frag = 0
    arp_sha = arp_tha = tp_src = tp_dst = tcp_flags = nd_target = 0
    if size < 14:
        return _new(FlowKey, (in_port,) + (0,) * (_N_PACKET_FIELDS - 1) + _META_ZERO), -1, -1
    dst_hi, dst_lo, src_hi, src_lo, dl_type = _eth_unpack(frame, 0)
    dl_dst = (dst_hi << 32) | dst_lo
    dl_src = (src_hi << 32) | src_lo
    ofs = 14
    # Up to two VLAN tags; a truncated tag ends parsing with dl_type left at the TPID.
    if (dl_type == ETH_TYPE_VLAN or dl_type == ETH_TYPE_VLAN_8021AD) and size >= ofs + 4:
        vlan_tci = ((frame[ofs] << 8) | frame[ofs + 1]) | VLAN_CFI
        dl_type = (frame[ofs + 2] << 8) | frame[ofs + 3]
        ofs += 4
        if (dl_type == ETH_TYPE_VLAN or dl_type == ETH_TYPE_VLAN_8021AD) and size >= ofs + 4:
            vlan_tci2 = ((frame[ofs] << 8) | frame[ofs + 1]) | VLAN_CFI
            dl_type = (frame[ofs + 2] << 8) | frame[ofs + 3]
            ofs += 4
    if dl_type < ETH_TYPE_MIN:
        # 802.3 length: only LLC+SNAP with a zero OUI carries an ethertype.
        if (size >= ofs + 8 and frame[ofs] == 0xAA and frame[ofs + 1] == 0xAA
                and frame[ofs + 2] == 0x03 and frame[ofs + 3:ofs + 6] == b"\0\0\0"):
            dl_type = (frame[ofs + 6] << 8) | frame[ofs + 7]
            ofs += 8
            if dl_type < ETH_TYPE_MIN:
                dl_type = DL_TYPE_NONE
        else:
            dl_type = DL_TYPE_NONE

    l3 = -1  # offset of the L3 header, once it is parsed
    l4 = -1  # offset of the L4 header, if it is to be parsed
    end = size
    if dl_type == ETH_TYPE_IP:
        if size - ofs >= 20:
            vi, tos, tot_len, _, frag, ttl, proto, _, src, dst = _ipv4_unpack(frame, ofs)
            ihl = (vi & 0x0F) * 4
            if ihl >= 20 and tot_len >= ihl and ofs + tot_len <= size:
                end = ofs + tot_len
                l3 = ofs
                nw_src, nw_dst, nw_tos, nw_ttl, nw_proto = src, dst, tos, ttl, proto
                if frag & 0x3FFF:
                    nw_frag = FRAG_ANY
                    if frag & 0x1FFF:
                        nw_frag = FRAG_ANY | FRAG_LATER
                if nw_frag != FRAG_ANY | FRAG_LATER:
                    l4 = ofs + ihl
    elif dl_type == ETH_TYPE_IPV6:
        if size - ofs >= 40:
            vtf, plen, nxt, hlim, src_hi, src_lo, dst_hi, dst_lo = _ipv6_unpack(frame, ofs)
            if ofs + 40 + plen <= size:
                end = ofs + 40 + plen
                ipv6_src = (src_hi << 64) | src_lo
                ipv6_dst = (dst_hi << 64) | dst_lo
                p = ofs + 40
                ok = True
                while nxt in _IPV6_EXT_HDRS:
                    if end - p < 8:
                        ok = False
                        break
                    if nxt == IPPROTO_FRAGMENT:
                        # A later fragment keeps the fragment header's type as nw_proto.
                        offlg = (frame[p + 2] << 8) | frame[p + 3]
                        if offlg:  # OVS counts even reserved bits as "a fragment"
                            nw_frag = FRAG_ANY
                        if offlg & 0xFFF8:
                            nw_frag = FRAG_ANY | FRAG_LATER
                            break
                        nxt = frame[p]
                        p += 8
                        continue
                    hlen = (frame[p + 1] + 2) * 4 if nxt == IPPROTO_AH else (frame[p + 1] + 1) * 8
                    if end - p < hlen:
                        ok = False
                        break
                    nxt = frame[p]
                    p += hlen
                if ok:
                    l3 = ofs
                    ipv6_label = vtf & 0xFFFFF
                    nw_tos = (vtf >> 20) & 0xFF
                    nw_ttl = hlim
                    nw_proto = nxt
                    if nw_frag != FRAG_ANY | FRAG_LATER:
                        l4 = p
                else:
                    nw_frag = 0
    elif dl_type == ETH_TYPE_ARP or dl_type == ETH_TYPE_RARP:
        if size - ofs >= 28:
            hrd, pro, hln, pln, op, sha_hi, sha_lo, spa, tha_hi, tha_lo, tpa = _arp_unpack(
                frame, ofs)
            if hrd == 1 and pro == ETH_TYPE_IP and hln == 6 and pln == 4:
                l3 = ofs
                if op <= 0xFF:
                    nw_proto = op
                nw_src, nw_dst = spa, tpa
                arp_sha = (sha_hi << 32) | sha_lo
                arp_tha = (tha_hi << 32) | tha_lo

    if l4 >= 0:
        room = end - l4
        if nw_proto == IPPROTO_TCP:
            doff = frame[l4 + 12] >> 4 if room >= 20 else 0
            if doff >= 5 and doff * 4 <= room:
                tp_src, tp_dst = _ports_unpack(frame, l4)
                tcp_flags = ((frame[l4 + 12] << 8) | frame[l4 + 13]) & TCP_FLAGS_MASK
            else:
                l4 = -1
        elif nw_proto == IPPROTO_UDP or nw_proto == IPPROTO_SCTP:
            if room >= (8 if nw_proto == IPPROTO_UDP else 12):
                tp_src, tp_dst = _ports_unpack(frame, l4)
            else:
                l4 = -1
        elif nw_proto == IPPROTO_ICMP or nw_proto == IPPROTO_ICMPV6 or nw_proto == IPPROTO_IGMP:
            # As in OVS, the L4 parse follows nw_proto whatever the IP version.
            if room >= 8:
                tp_src = frame[l4]
                tp_dst = frame[l4 + 1]
                if (nw_proto == IPPROTO_ICMPV6 and dl_type == ETH_TYPE_IPV6 and tp_dst == 0
                        and (tp_src == ND_NEIGHBOR_SOLICIT or tp_src == ND_NEIGHBOR_ADVERT)):
                    nd_target, arp_sha, arp_tha = _parse_nd(frame, l4 + 4, end)
            else:
                l4 = -1
        else:
            l4 = -1

    key = _new(FlowKey, (in_port, dl_dst, dl_src, dl_type, vlan_tci, vlan_tci2, nw_src, nw_dst,
                         ipv6_src, ipv6_dst, ipv6_label, nw_proto, nw_tos, nw_ttl, nw_frag,
                         arp_sha, arp_tha, tp_src, tp_dst, tcp_flags, nd_target) + _META_ZERO)
    return key, l3, l4


def _parse_nd(frame, p: int, end: int) -> tuple[int, int, int]:
    """(target, sll, tll) of an ND message body at p.

    As OVS does, an option whose length is zero or overruns the message ends
    the option list (keeping what was found); a repeated link-layer address
    option makes the whole message invalid (all zero)."""
    if end - p < 20:
        return 0, 0, 0
    target = _from_bytes(frame[p + 4:p + 20], "big")
    sll = tll = 0
    p += 20
    while end - p >= 8:
        opt_type = frame[p]
        opt_len = frame[p + 1] * 8
        if opt_len == 0 or opt_len > end - p:
            break
        if opt_type == ND_OPT_SOURCE_LINKADDR and opt_len == 8:
            if sll:
                return 0, 0, 0
            sll = _from_bytes(frame[p + 2:p + 8], "big")
        elif opt_type == ND_OPT_TARGET_LINKADDR and opt_len == 8:
            if tll:
                return 0, 0, 0
            tll = _from_bytes(frame[p + 2:p + 8], "big")
        p += opt_len
    return target, sll, tll


_M = FULL_MASK
_MASK_L2 = {"in_port", "dl_dst", "dl_src", "dl_type", "vlan_tci"}
_MASK_IP = {"nw_proto", "nw_tos", "nw_ttl", "nw_frag"}
_MASK_BY_KIND = {
    "ipv4": frozenset(_MASK_L2 | _MASK_IP | {"nw_src", "nw_dst"}),
    "ipv6": frozenset(_MASK_L2 | _MASK_IP | {"ipv6_src", "ipv6_dst", "ipv6_label"}),
    "arp": frozenset(_MASK_L2 | {"nw_src", "nw_dst", "nw_proto", "arp_sha", "arp_tha"}),
    "other": frozenset(_MASK_L2),
}
_TP = ("tp_src", "tp_dst")
_L4_SLOTS = {IPPROTO_TCP: _TP + ("tcp_flags",), IPPROTO_UDP: _TP, IPPROTO_SCTP: _TP,
             IPPROTO_ICMP: _TP, IPPROTO_ICMPV6: _TP, IPPROTO_IGMP: _TP}


def packet_mask(key: FlowKey) -> FlowKey:
    """The mask of the slots that describe this packet (OVS's wildcards "for a packet"):
    an exact-match megaflow for key covers exactly these bits."""
    dl_type, nw_proto = key.dl_type, key.nw_proto
    if dl_type == ETH_TYPE_IP:
        slots = set(_MASK_BY_KIND["ipv4"])
    elif dl_type == ETH_TYPE_IPV6:
        slots = set(_MASK_BY_KIND["ipv6"])
    elif dl_type == ETH_TYPE_ARP or dl_type == ETH_TYPE_RARP:
        slots = set(_MASK_BY_KIND["arp"])
    else:
        slots = set(_MASK_BY_KIND["other"])
    if key.vlan_tci:
        slots.add("vlan_tci2")
    if "nw_frag" in slots and not key.nw_frag & FRAG_LATER:
        if nw_proto in _L4_SLOTS:
            slots.update(_L4_SLOTS[nw_proto])
            if (nw_proto == IPPROTO_ICMPV6 and dl_type == ETH_TYPE_IPV6 and key.tp_dst == 0
                    and key.tp_src in (ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT)):
                slots.update(("nd_target", "arp_sha", "arp_tha"))
    return _new(FlowKey, tuple(m if name in slots else 0 for name, m in zip(FlowKey._fields, _M)))


def with_metadata(key: FlowKey, **fields: int) -> FlowKey:
    """key with some fields replaced (e.g. in_port, tun_id, registers)."""
    return key._replace(**fields)


def key_function(mask: FlowKey) -> Callable[[FlowKey], Any]:
    """The function from a FlowKey to its hash key under mask (exact slots are not ANDed).

    Shared by the classifier's subtables and the datapath's megaflow table: both keep one
    dict per mask, keyed by what this returns."""
    pairs = [(i, m) for i, m in enumerate(mask) if m]
    if not pairs:
        return lambda key: ()
    idx = tuple(i for i, _ in pairs)
    masks = tuple(m for _, m in pairs)
    exact = all(m == FULL_MASK[i] for i, m in pairs)
    if len(pairs) == 1:
        (i, m), = pairs
        return itemgetter(i) if exact else (lambda key: key[i] & m)
    getter = itemgetter(*idx)
    if exact:
        return getter
    return lambda key: tuple(map(and_, getter(key), masks))
