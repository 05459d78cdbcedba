"""Raw-header keys and a short flow-key extraction for the common frame: plain IPv4
TCP/UDP (no VLAN tag, a 20-byte IP header, not a fragment).

The raw key of such a frame is the tuple of its header bytes that decide its whole flow
key: Ethernet header, version/IHL and TOS, fragment bits, TTL and protocol, addresses
and ports, and for TCP the data offset and flags.  Lengths, IP id, checksums and TCP
sequence numbers are left out, so a microflow keeps one raw key while it flows.  The
datapath caches megaflows by raw key (userspace.py); the IP total length, which the key
leaves out, decides whether extraction would see the L4 header, so the cache checks it on
each hit against the minimum kept with the entry (`min_ip_len`).

`plain_key` builds the flow key of a plain frame with one struct unpack, or returns None
for anything else, which then goes through `flow.extract`.  For every frame it accepts it
returns exactly what `flow.extract` returns (a property test checks this on mangled
frames); it exists because a new microflow per frame (e.g. random source ports) is paid
in extraction, and the general extractor's branches cost twice as much here.
"""

from __future__ import annotations

import struct

from pyvswitch.packet.flow import FlowKey, INDEX

raw_udp = struct.Struct("16s4x4s2x12s").unpack_from       # bytes 0-15, 20-23, 26-37
raw_tcp = struct.Struct("16s4x4s2x12s8x2s").unpack_from   # ... and 46-47
RAW_MIN_UDP = 38
RAW_MIN_TCP = 48

# Ethernet dst/src as 16+32 bits, type; IPv4 version/IHL, TOS, total length, (id), fragment
# word, TTL, protocol, (checksum), addresses; L4 ports.
_plain = struct.Struct("!HIHIHBBH2xHBB2xIIHH").unpack_from
assert struct.calcsize("!HIHIHBBH2xHBB2xIIHH") == 38

_L2_L4_FIELDS = ("in_port", "dl_dst", "dl_src", "dl_type", "vlan_tci", "vlan_tci2", "nw_src",
                 "nw_dst", "ipv6_src", "ipv6_dst", "ipv6_label", "nw_proto", "nw_tos", "nw_ttl",
                 "nw_frag", "arp_sha", "arp_tha", "tp_src", "tp_dst", "tcp_flags", "nd_target")
assert FlowKey._fields[:len(_L2_L4_FIELDS)] == _L2_L4_FIELDS
_META_ZERO = (0,) * (len(FlowKey._fields) - len(_L2_L4_FIELDS))
assert INDEX["tun_id"] == len(_L2_L4_FIELDS)
_new = tuple.__new__


def min_ip_len(key: FlowKey, frame) -> int:
    """The smallest IP total length with which a frame of this raw key has its L4 header
    parsed: 28 for UDP, 20 + the TCP header's length for TCP."""
    return 28 if key.nw_proto == 17 else 20 + (frame[46] >> 4) * 4


def plain_key(frame, in_port: int) -> FlowKey | None:
    """The flow key of a plain IPv4 TCP/UDP frame, or None (then use flow.extract)."""
    size = len(frame)
    if size < 38:
        return None
    (dst_hi, dst_lo, src_hi, src_lo, dl_type, vihl, tos, tot_len, frag, ttl, proto, nw_src,
     nw_dst, tp_src, tp_dst) = _plain(frame)
    if dl_type != 0x0800 or vihl != 0x45 or frag & 0x3FFF or tot_len + 14 > size:
        return None
    if proto == 17:
        if tot_len < 28:
            return None
        flags = 0
    elif proto == 6:
        if tot_len < 40:
            return None
        off = frame[46]
        if off < 0x50 or tot_len < 20 + (off >> 4) * 4:
            return None
        flags = ((off << 8) | frame[47]) & 0x0FFF
    else:
        return None
    return _new(FlowKey, (in_port, (dst_hi << 32) | dst_lo, (src_hi << 32) | src_lo, 0x0800, 0, 0,
                          nw_src, nw_dst, 0, 0, 0, proto, tos, ttl, 0, 0, 0, tp_src, tp_dst, flags,
                          0) + _META_ZERO)
