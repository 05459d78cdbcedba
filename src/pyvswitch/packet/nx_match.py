"""NXM and OXM: matches on the wire (Nicira extensible match, OpenFlow 1.2+ OXM).

Both are a sequence of type-length-value entries.  Each entry starts with a
32-bit header: class (16 bits), field (7), has-mask (1), length (8); then
the value, and the mask when has-mask is set (the length covers both).  The
class and field of every match field come from the field table
(`packet.fields`); NXM flows may carry OXM-class entries for fields NXM has
no code for (`metadata`, SCTP ports) and OXM matches carry NXM-class entries
for fields OpenFlow has none for (`nw_ttl`, `ip_frag`, registers).

The format depends on the OpenFlow version (`version`: `NXM` for NXM, else
the wire version, 3 for OpenFlow 1.2 ... 6 for 1.5): `tun_id` is OXM's
TUNNEL_ID from 1.3 on (NXM's before); `tcp_flags` is NXM's in 1.2, an ONF
experimenter OXM in 1.3 and 1.4, and OXM's TCP_FLAGS in 1.5; OpenFlow 1.5
carries registers in pairs as 64-bit "xregs" (class 0x8001).

`encode(match, version)` writes the entries of a match in the order OVS
writes them (checked byte for byte against what `ovs-ofctl` sends in every
version), so that what we send reads like what OVS sends.  It encodes what
a match's protocol fields allow (the match is normalized first, as OVS
does).  In OXM, the VLAN is `vlan_vid` (with the 0x1000 "present" bit) plus
`vlan_pcp`; a VLAN match OXM cannot say (a priority with no VID bit) is left
out, as OVS does.  `encode_ofp_match`/`decode_ofp_match` add OpenFlow 1.2+'s
`ofp_match` wrapper (type, length, padding).

`decode(data, version)` reads entries into a `Match`, refusing what a switch
refuses with the OpenFlow error OVS sends: an unknown field
(OFPBMC_BAD_FIELD), a bad length (OFPBMC_BAD_LEN), a mask on a field that
takes none (OFPBMC_BAD_MASK), value bits outside the mask
(OFPBMC_BAD_WILDCARDS), a repeated field (OFPBMC_DUP_FIELD), a field whose
prerequisites the entries before it do not satisfy (OFPBMC_BAD_PREREQ), a
value the field cannot hold (OFPBMC_BAD_VALUE).  It never raises anything
else, whatever the bytes.
"""

from __future__ import annotations

import struct

from pyvswitch.packet.fields import BY_NAME, BY_NXM, BY_OXM, OFPXMC_OPENFLOW_BASIC, Field
from pyvswitch.packet.flow import INDEX, N_REGS, FlowKey
from pyvswitch.packet.headers import (
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT,
)
from pyvswitch.packet.match import Match, MatchError, set_slots

_HEADER = struct.Struct("!I")
assert _HEADER.size == 4

NXM = 0  # not an OpenFlow version: NXM, as in Nicira-extended OpenFlow 1.0
OFP12, OFP13, OFP14, OFP15 = 3, 4, 5, 6
OFPXMC_PACKET_REGS = 0x8001     # OpenFlow 1.5's 64-bit register pairs
OFPXMC_EXPERIMENTER = 0xFFFF
ONF_EXPERIMENTER = 0x4F4E4600   # "ONF\0"
OXM_TCP_FLAGS = 42              # a basic OXM field in 1.5, an ONF experimenter one before
OFPVID_PRESENT = 0x1000
_VID_BITS = OFPVID_PRESENT | 0x0FFF  # OXM's vlan_vid: the VID and the "present" bit (CFI)
OFPP_MAX = 0xFF00  # OpenFlow 1.0 ports at or above this are reserved; 1.1+ puts them at 0xffffffxx
_TCP_FLAGS = BY_NAME["tcp_flags"]


def _code(fld: Field, version: int) -> tuple[int, int, int | None]:
    """(class, field, experimenter id or None) of fld in version's format."""
    if version != NXM:
        if fld is _TCP_FLAGS and version >= OFP13:
            if version >= OFP15:
                return OFPXMC_OPENFLOW_BASIC, OXM_TCP_FLAGS, None
            return OFPXMC_EXPERIMENTER, OXM_TCP_FLAGS, ONF_EXPERIMENTER
        if fld.name == "tun_id" and version < OFP13:
            return (*fld.nxm, None)
    cls, field = (fld.nxm or fld.oxm) if version == NXM else (fld.oxm or fld.nxm)
    return cls, field, None


def _wire_len(fld: Field, cls: int) -> int:
    # OpenFlow 1.1+ port numbers are 32 bits; NXM's in_port is OpenFlow 1.0's 16.
    return 4 if fld.name == "in_port" and cls == OFPXMC_OPENFLOW_BASIC else fld.n_bytes


def _put(out: list[bytes], cls: int, field: int, exp: int | None, n: int, value: int,
         mask: int | None) -> None:
    body = value.to_bytes(n, "big") + (mask.to_bytes(n, "big") if mask is not None else b"")
    if exp is not None:
        body = exp.to_bytes(4, "big") + body
    out.append(_HEADER.pack((cls << 16) | (field << 9) | (0x100 if mask is not None else 0)
                            | len(body)) + body)


def _entry(out: list[bytes], name: str, value: int, mask: int, version: int) -> None:
    """Appends one entry of field name (exact when mask covers all the field's bits)."""
    if not mask:
        return
    fld = BY_NAME[name]
    cls, field, exp = _code(fld, version)
    n = _wire_len(fld, cls)
    if name == "in_port" and n == 4 and value >= OFPP_MAX:
        value += 0xFFFF0000
    _put(out, cls, field, exp, n, value, None if mask & fld.keep == fld.keep else mask)


def encode(match: Match, version: int = NXM) -> bytes:
    """The entries of match in version's format (NXM by default), in OVS's order, unpadded."""
    m = match.normalized()
    v, k = m.value, m.mask
    out: list[bytes] = []
    _entry(out, "in_port", v.in_port, k.in_port, version)
    _entry(out, "eth_src", v.dl_src, k.dl_src, version)
    _entry(out, "eth_dst", v.dl_dst, k.dl_dst, version)
    _entry(out, "eth_type", v.dl_type, k.dl_type, version)
    if version == NXM:
        _entry(out, "vlan_tci", v.vlan_tci, k.vlan_tci, version)
    elif k.vlan_tci & _VID_BITS:
        # OXM says a VLAN as VID (with the "present" bit) and PCP.  Like OVS, send the PCP
        # (unmaskable: exact) when any of its bits is matched, unless the VID says "no VLAN"
        # (0, exactly); send nothing when no VID bit is matched.
        vid, vid_mask = v.vlan_tci & _VID_BITS, k.vlan_tci & _VID_BITS
        _entry(out, "vlan_vid", vid, vid_mask, version)
        if k.vlan_tci & 0xE000 and (vid or vid_mask != _VID_BITS):
            _entry(out, "vlan_pcp", v.vlan_tci >> 13, 0x7, version)
    dl_type = v.dl_type if k.dl_type else -1
    if dl_type in (ETH_TYPE_IP, ETH_TYPE_IPV6):
        if dl_type == ETH_TYPE_IP:
            _entry(out, "ip_src", v.nw_src, k.nw_src, version)
            _entry(out, "ip_dst", v.nw_dst, k.nw_dst, version)
        else:
            _entry(out, "ipv6_src", v.ipv6_src, k.ipv6_src, version)
            _entry(out, "ipv6_dst", v.ipv6_dst, k.ipv6_dst, version)
        _entry(out, "ip_frag", v.nw_frag, k.nw_frag, version)
        if k.nw_tos & 0xFC:
            if version == NXM:
                _entry(out, "nw_tos", v.nw_tos & 0xFC, 0xFC, version)
            else:
                _entry(out, "ip_dscp", v.nw_tos >> 2, 0x3F, version)
        _entry(out, "nw_ecn", v.nw_tos & 0x3, 0x3 if k.nw_tos & 0x3 else 0, version)
        _entry(out, "nw_ttl", v.nw_ttl, k.nw_ttl, version)
        if dl_type == ETH_TYPE_IPV6:
            _entry(out, "ipv6_label", v.ipv6_label, k.ipv6_label, version)
        _entry(out, "nw_proto", v.nw_proto, k.nw_proto, version)
        _encode_l4(out, v, k, dl_type, v.nw_proto if k.nw_proto else -1, version)
    elif dl_type in (ETH_TYPE_ARP, ETH_TYPE_RARP):
        _entry(out, "arp_op", v.nw_proto, k.nw_proto, version)
        _entry(out, "arp_spa", v.nw_src, k.nw_src, version)
        _entry(out, "arp_tpa", v.nw_dst, k.nw_dst, version)
        _entry(out, "arp_sha", v.arp_sha, k.arp_sha, version)
        _entry(out, "arp_tha", v.arp_tha, k.arp_tha, version)
    _entry(out, "tun_id", v.tun_id, k.tun_id, version)
    if version >= OFP15:
        for j in range(N_REGS // 2):
            hi, lo = INDEX[f"reg{2 * j}"], INDEX[f"reg{2 * j + 1}"]
            xmask = (k[hi] << 32) | k[lo]
            if xmask:
                _put(out, OFPXMC_PACKET_REGS, j, None, 8, (v[hi] << 32) | v[lo],
                     None if xmask == (1 << 64) - 1 else xmask)
    else:
        for i in range(N_REGS):
            _entry(out, f"reg{i}", v[INDEX[f"reg{i}"]], k[INDEX[f"reg{i}"]], version)
    _entry(out, "metadata", v.metadata, k.metadata, version)
    return b"".join(out)


_L4_NAMES = {IPPROTO_TCP: ("tcp_src", "tcp_dst"), IPPROTO_UDP: ("udp_src", "udp_dst"),
             IPPROTO_SCTP: ("sctp_src", "sctp_dst")}


def _encode_l4(out: list[bytes], v: FlowKey, k: FlowKey, dl_type: int, proto: int,
               version: int) -> None:
    if proto in _L4_NAMES:
        src, dst = _L4_NAMES[proto]
        _entry(out, src, v.tp_src, k.tp_src, version)
        _entry(out, dst, v.tp_dst, k.tp_dst, version)
        if proto == IPPROTO_TCP:
            _entry(out, "tcp_flags", v.tcp_flags, k.tcp_flags, version)
    elif proto == IPPROTO_ICMP and dl_type == ETH_TYPE_IP:
        _entry(out, "icmp_type", v.tp_src, k.tp_src, version)
        _entry(out, "icmp_code", v.tp_dst, k.tp_dst, version)
    elif proto == IPPROTO_ICMPV6 and dl_type == ETH_TYPE_IPV6:
        _entry(out, "icmpv6_type", v.tp_src, k.tp_src, version)
        _entry(out, "icmpv6_code", v.tp_dst, k.tp_dst, version)
        if v.tp_dst == 0 and v.tp_src in (ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT):
            _entry(out, "nd_target", v.nd_target, k.nd_target, version)
            _entry(out, "nd_options_type", v.tcp_flags, k.tcp_flags, version)
            if v.tp_src == ND_NEIGHBOR_SOLICIT:
                _entry(out, "nd_sll", v.arp_sha, k.arp_sha, version)
            else:
                _entry(out, "nd_tll", v.arp_tha, k.arp_tha, version)


# ---- decoding -------------------------------------------------------------------------

def _field_of(cls: int, field: int, exp: int | None) -> Field | None:
    if cls == OFPXMC_EXPERIMENTER:
        return _TCP_FLAGS if (exp, field) == (ONF_EXPERIMENTER, OXM_TCP_FLAGS) else None
    if cls == OFPXMC_OPENFLOW_BASIC:
        return _TCP_FLAGS if field == OXM_TCP_FLAGS else BY_OXM.get((cls, field))
    return BY_NXM.get((cls, field))


def decode(data: bytes, version: int = NXM) -> Match:
    """The match that entries in version's format describe; raises MatchError.  Any known
    entry is accepted in any version, as OVS does."""
    values, masks = list(FlowKey()), list(FlowKey())
    seen: set[str] = set()
    ofs, size = 0, len(data)
    while ofs < size:
        if size - ofs < 4:
            raise MatchError("truncated NXM/OXM entry header", "OFPBMC_BAD_LEN")
        header = _HEADER.unpack_from(data, ofs)[0]
        cls, field, has_mask, length = header >> 16, (header >> 9) & 0x7F, header >> 8 & 1, header & 0xFF
        if size - ofs - 4 < length:
            raise MatchError("NXM/OXM entry overruns the match", "OFPBMC_BAD_LEN")
        body = data[ofs + 4:ofs + 4 + length]
        ofs += 4 + length
        exp = None
        if cls == OFPXMC_EXPERIMENTER:
            if length < 4:
                raise MatchError("experimenter OXM entry without experimenter", "OFPBMC_BAD_LEN")
            exp, body = int.from_bytes(body[:4], "big"), body[4:]
        if cls == OFPXMC_PACKET_REGS and field < N_REGS // 2:
            names = (f"reg{2 * field}", f"reg{2 * field + 1}")
            n = 8
        else:
            fld = _field_of(cls, field, exp)
            if fld is None:
                raise MatchError(f"unknown NXM/OXM field {cls:#x}:{field}", "OFPBMC_BAD_FIELD")
            names = (fld.name,)
            n = _wire_len(fld, cls)
        if len(body) != (2 * n if has_mask else n):
            raise MatchError(f"{names[0]}: bad NXM/OXM entry length {length}", "OFPBMC_BAD_LEN")
        value = int.from_bytes(body[:n], "big")
        full = (1 << (8 * n)) - 1
        mask = int.from_bytes(body[n:], "big") if has_mask else full
        if value & ~mask:
            raise MatchError(f"{names[0]}: value has 1-bits outside its mask",
                             "OFPBMC_BAD_WILDCARDS")
        if seen.intersection(names):
            raise MatchError(f"{names[0]} appears twice", "OFPBMC_DUP_FIELD")
        seen.update(names)
        if len(names) == 2:  # an OpenFlow 1.5 register pair
            for name, shift in zip(names, (32, 0)):
                set_slots(values, masks, BY_NAME[name], (value >> shift) & 0xFFFFFFFF,
                          (mask >> shift) & 0xFFFFFFFF)
            continue
        if has_mask and not fld.maskable:
            raise MatchError(f"{fld.name} cannot be masked", "OFPBMC_BAD_MASK")
        if not Match(FlowKey(*values), FlowKey(*masks)).field_prereqs_ok(fld):
            raise MatchError(f"{fld.name} lacks correct prerequisites", "OFPBMC_BAD_PREREQ")
        value, mask = _to_field_units(fld, value, mask, n)
        set_slots(values, masks, fld, value, mask)
    return Match(FlowKey(*values), FlowKey(*masks))


def _to_field_units(fld: Field, value: int, mask: int, n: int) -> tuple[int, int]:
    """Checks an entry's value and turns OpenFlow 1.1+ port numbers into 1.0's."""
    if fld.name == "in_port" and n == 4:
        if value >= 0xFFFFFF00:
            value -= 0xFFFF0000
        elif value >= OFPP_MAX:
            raise MatchError(f"in_port {value:#x} is not a valid port", "OFPBMC_BAD_VALUE")
        return value, 0xFFFF
    if value & ~fld.keep or (mask != (1 << (8 * n)) - 1 and mask & ~fld.keep):
        raise MatchError(f"{value:#x} is not a valid value for field {fld.name}",
                         "OFPBMC_BAD_VALUE")
    return value, mask


# ---- the OpenFlow 1.2+ `ofp_match` wrapper ---------------------------------------------

OFPMT_OXM = 1
_OFP_MATCH_HEADER = struct.Struct("!HH")
assert _OFP_MATCH_HEADER.size == 4


def encode_ofp_match(match: Match, version: int) -> bytes:
    """An OpenFlow 1.2+ `ofp_match`: type OFPMT_OXM, length, the OXM entries, padding to 8."""
    entries = encode(match, version)
    body = _OFP_MATCH_HEADER.pack(OFPMT_OXM, 4 + len(entries)) + entries
    return body + b"\0" * (-len(body) % 8)


def decode_ofp_match(data: bytes, version: int) -> tuple[Match, int]:
    """(the match of the `ofp_match` at the start of data, the bytes it takes with padding)."""
    if len(data) < 4:
        raise MatchError("ofp_match shorter than its header", "OFPBMC_BAD_LEN")
    mtype, length = _OFP_MATCH_HEADER.unpack_from(data)
    if mtype != OFPMT_OXM:
        raise MatchError(f"ofp_match type {mtype} is not OXM", "OFPBMC_BAD_TYPE")
    padded = (length + 7) // 8 * 8
    if length < 4 or len(data) < padded:
        raise MatchError(f"ofp_match length {length} overruns the message", "OFPBMC_BAD_LEN")
    return decode(data[4:length], version), padded
