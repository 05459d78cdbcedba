"""OpenFlow 1.0's fixed 40-byte `ofp_match`, to and from `Match`.

OpenFlow 1.0 matches a fixed set of fields, each either exactly or not at all
(a wildcard bit), except the IPv4 addresses, which take a prefix (a count of
wildcarded low bits).  MAC addresses, ports and the TOS byte cannot be
masked, there is no ECN, TTL, IPv6 or register.  `fits(match)` says whether
a match can be said in it; `encode` refuses (ValueError) one that cannot.

The VLAN is two fields: `dl_vlan` (a VID, or 0xffff for "no VLAN") and
`dl_vlan_pcp`.  OVS writes "no VLAN" with both fields matched and the PCP 0,
and fills every wildcarded field with zeros; `encode` does the same, byte
for byte (checked against what `ovs-ofctl -F openflow10` sends).  `decode`
reads a match as OVS does, including dropping fields whose prerequisites the
match lacks (a TCP port in a match on UDP); any 40 bytes are some match.
"""

from __future__ import annotations

import struct

from pyvswitch.packet.fields import prefix_len
from pyvswitch.packet.flow import FULL_MASK, FlowKey
from pyvswitch.packet.headers import VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK
from pyvswitch.packet.match import Match, MatchError

OFP10_MATCH = struct.Struct("!IH6s6sHBxHBBxxIIHH")
assert OFP10_MATCH.size == 40

OFPFW10_IN_PORT = 1 << 0
OFPFW10_DL_VLAN = 1 << 1
OFPFW10_DL_SRC = 1 << 2
OFPFW10_DL_DST = 1 << 3
OFPFW10_DL_TYPE = 1 << 4
OFPFW10_NW_PROTO = 1 << 5
OFPFW10_TP_SRC = 1 << 6
OFPFW10_TP_DST = 1 << 7
OFPFW10_NW_SRC_SHIFT = 8
OFPFW10_NW_DST_SHIFT = 14
OFPFW10_DL_VLAN_PCP = 1 << 20
OFPFW10_NW_TOS = 1 << 21
OFP10_VLAN_NONE = 0xFFFF

# The slots OpenFlow 1.0 can match exactly (and nothing else), with their wildcard bits.
_EXACT = (("in_port", OFPFW10_IN_PORT), ("dl_src", OFPFW10_DL_SRC), ("dl_dst", OFPFW10_DL_DST),
          ("dl_type", OFPFW10_DL_TYPE), ("nw_proto", OFPFW10_NW_PROTO),
          ("tp_src", OFPFW10_TP_SRC), ("tp_dst", OFPFW10_TP_DST))
_OTHER_SLOTS = frozenset(FlowKey._fields) - {name for name, _ in _EXACT} - {
    "vlan_tci", "nw_src", "nw_dst", "nw_tos"}


def fits(match: Match) -> bool:
    """Whether OpenFlow 1.0's match can say match (once normalized)."""
    m = match.normalized()
    v, k = m.value, m.mask
    if any(getattr(k, name) for name in _OTHER_SLOTS):
        return False
    if any(getattr(k, name) not in (0, getattr(FULL_MASK, name)) for name, _ in _EXACT):
        return False
    if k.nw_tos not in (0, 0xFC) or None in (prefix_len(k.nw_src, 32), prefix_len(k.nw_dst, 32)):
        return False
    tci = k.vlan_tci
    if tci & VLAN_CFI and not v.vlan_tci & VLAN_CFI:
        return tci == 0xFFFF  # "no VLAN"
    return not tci or (tci & VLAN_CFI and tci & VLAN_VID_MASK in (0, VLAN_VID_MASK)
                       and tci & VLAN_PCP_MASK in (0, VLAN_PCP_MASK))


def encode(match: Match) -> bytes:
    """The 40-byte OpenFlow 1.0 match of match; ValueError if it does not fit."""
    if not fits(match):
        raise ValueError("match cannot be expressed in OpenFlow 1.0")
    m = match.normalized()
    v, k = m.value, m.mask
    wildcards = 0
    for name, bit in _EXACT:
        if not getattr(k, name):
            wildcards |= bit
    wildcards |= (32 - prefix_len(k.nw_src, 32)) << OFPFW10_NW_SRC_SHIFT
    wildcards |= (32 - prefix_len(k.nw_dst, 32)) << OFPFW10_NW_DST_SHIFT
    if not k.nw_tos:
        wildcards |= OFPFW10_NW_TOS
    dl_vlan = pcp = 0
    if k.vlan_tci and not v.vlan_tci & VLAN_CFI:
        dl_vlan = OFP10_VLAN_NONE
    else:
        if k.vlan_tci & VLAN_VID_MASK:
            dl_vlan = v.vlan_tci & VLAN_VID_MASK
        else:
            wildcards |= OFPFW10_DL_VLAN
        if k.vlan_tci & VLAN_PCP_MASK:
            pcp = v.vlan_tci >> 13
        else:
            wildcards |= OFPFW10_DL_VLAN_PCP
    return OFP10_MATCH.pack(wildcards, v.in_port, v.dl_src.to_bytes(6, "big"),
                            v.dl_dst.to_bytes(6, "big"), dl_vlan, pcp, v.dl_type, v.nw_tos,
                            v.nw_proto, v.nw_src, v.nw_dst, v.tp_src, v.tp_dst)


def decode(data: bytes) -> Match:
    """The match 40 bytes of OpenFlow 1.0 describe, normalized as OVS reads them."""
    if len(data) < OFP10_MATCH.size:
        raise MatchError("OpenFlow 1.0 match shorter than 40 bytes", "OFPBRC_BAD_LEN")
    (wildcards, in_port, dl_src, dl_dst, dl_vlan, pcp, dl_type, tos, nw_proto, nw_src, nw_dst,
     tp_src, tp_dst) = OFP10_MATCH.unpack_from(data)
    slots: dict[str, int | tuple[int, int]] = {}
    values = {"in_port": in_port, "dl_src": int.from_bytes(dl_src, "big"),
              "dl_dst": int.from_bytes(dl_dst, "big"), "dl_type": dl_type,
              "nw_proto": nw_proto, "tp_src": tp_src, "tp_dst": tp_dst}
    for name, bit in _EXACT:
        if not wildcards & bit:
            slots[name] = values[name]
    for name, shift, addr in (("nw_src", OFPFW10_NW_SRC_SHIFT, nw_src),
                              ("nw_dst", OFPFW10_NW_DST_SHIFT, nw_dst)):
        n = (wildcards >> shift) & 0x3F
        if n < 32:
            mask = (0xFFFFFFFF << n) & 0xFFFFFFFF
            slots[name] = (addr & mask, mask)
    if not wildcards & OFPFW10_NW_TOS:
        slots["nw_tos"] = (tos & 0xFC, 0xFC)
    if not wildcards & OFPFW10_DL_VLAN and dl_vlan == OFP10_VLAN_NONE:
        slots["vlan_tci"] = (0, 0xFFFF)
    else:
        tci = tci_mask = 0
        if not wildcards & OFPFW10_DL_VLAN:
            tci |= VLAN_CFI | (dl_vlan & VLAN_VID_MASK)
            tci_mask |= VLAN_CFI | VLAN_VID_MASK
        if not wildcards & OFPFW10_DL_VLAN_PCP:
            tci |= VLAN_CFI | ((pcp & 7) << 13)
            tci_mask |= VLAN_CFI | VLAN_PCP_MASK
        if tci_mask:
            slots["vlan_tci"] = (tci, tci_mask)
    return Match.from_slots(**slots).normalized()
