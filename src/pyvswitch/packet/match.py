"""Matches: flow-key values under masks, with ovs-ofctl's text syntax.

A `Match` is two `FlowKey`s, `value` and `mask`; a packet's key k matches
when `k[i] & mask[i] == value[i]` for every slot i.  The pair is kept
normalized (`value[i] & ~mask[i] == 0`), so equal matches compare and hash
equal, and a classifier can use `mask` directly as its subtable key.

Text (`parse_match`, `format_match`) follows `ovs-ofctl`: comma- or
space-separated `field=value[/mask]` items and the protocol shorthands
(`ip`, `tcp6`, `arp`, ...); values as `packet.fields` parses them.  Like
ovs-ofctl, parsing does not reject a field whose prerequisites are missing
(`ip,tp_dst=80` parses); `normalized()` drops such fields, as ovs-ofctl
does before sending a flow, and `check_prerequisites()` rejects them with
the error a switch returns (OFPBMC_BAD_PREREQ).  The printer writes fields
in OVS's canonical order, choosing the field name for a shared slot from
the protocol matched (`tp_src` or `icmp_type`, `nw_src` or `arp_spa`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field as dc_field
from itertools import compress
from operator import and_

from pyvswitch.packet.fields import (
    BY_NAME, FIELDS, Field, FieldError, c_hex, format_ipv4, format_ipv6, format_mac, format_port,
    format_tcp_flags, parse_value, prereq_ok,
)
from pyvswitch.packet.flow import FRAG_LATER, FULL_MASK, INDEX, N_REGS, FlowKey
from pyvswitch.packet.headers import (
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, VLAN_CFI,
    VLAN_PCP_MASK, VLAN_VID_MASK,
)

OFP_DEFAULT_PRIORITY = 0x8000
_ZERO = FlowKey()
_new = tuple.__new__
_SLOTS = range(len(FlowKey._fields))
_MASKS: dict[FlowKey, FlowKey] = {}
_MAX_SHARED_MASKS = 4096
_ETH_TYPE, _NW_PROTO_FIELD = BY_NAME["eth_type"], BY_NAME["nw_proto"]


class MatchError(FieldError):
    """A match a switch must refuse; `ofperr` names the OpenFlow error to send."""

    def __init__(self, message: str, ofperr: str = "OFPBMC_BAD_PREREQ"):
        super().__init__(message)
        self.ofperr = ofperr


@dataclass(frozen=True, slots=True)
class Match:
    value: FlowKey = _ZERO
    mask: FlowKey = _ZERO
    # (slot index, mask, value) for every matched slot: what matches() tests.
    checks: tuple[tuple[int, int, int], ...] = dc_field(default=(), compare=False, repr=False)

    def __post_init__(self):
        mask = self.mask
        if type(mask) is not FlowKey:
            mask = _new(FlowKey, mask)
        # Rules share a few masks: one object per mask saves a third of a rule's memory.
        shared = _MASKS.get(mask)
        if shared is None and len(_MASKS) < _MAX_SHARED_MASKS:
            shared = _MASKS[mask] = mask
        if shared is not None:
            mask = shared
        if mask is not self.mask:
            object.__setattr__(self, "mask", mask)
        value = tuple(map(and_, self.value, mask))
        if value != self.value or type(self.value) is not FlowKey:
            object.__setattr__(self, "value", _new(FlowKey, value))
        object.__setattr__(self, "checks", tuple(
            [(i, mask[i], value[i]) for i in compress(_SLOTS, mask)]))

    @classmethod
    def exact(cls, key: FlowKey) -> Match:
        """The match of exactly one flow key (every slot fully masked)."""
        return cls(key, FULL_MASK)

    @classmethod
    def from_slots(cls, **slots: int | tuple[int, int]) -> Match:
        """A match from slot=value (exact) or slot=(value, mask) keyword arguments."""
        value, mask = list(_ZERO), list(_ZERO)
        for name, vm in slots.items():
            i = INDEX[name]
            v, m = vm if isinstance(vm, tuple) else (vm, FULL_MASK[i])
            value[i], mask[i] = v & m, m
        return cls(FlowKey(*value), FlowKey(*mask))

    def get(self, slot: str) -> tuple[int, int]:
        """(value, mask) of a FlowKey slot."""
        i = INDEX[slot]
        return self.value[i], self.mask[i]

    def is_catchall(self) -> bool:
        return not self.checks

    def matches(self, key: FlowKey) -> bool:
        for i, m, v in self.checks:
            if key[i] & m != v:
                return False
        return True

    def set_field(self, fld: Field | str, value: int, mask: int | None = None) -> Match:
        """A copy with one field set to value under mask (exact when mask is None)."""
        v, m = list(self.value), list(self.mask)
        set_slots(v, m, BY_NAME[fld] if isinstance(fld, str) else fld, value, mask)
        return Match(_new(FlowKey, v), _new(FlowKey, m))

    def get_field(self, fld: Field | str) -> tuple[int, int]:
        """(value, mask) of a field, in the field's units."""
        if isinstance(fld, str):
            fld = BY_NAME[fld]
        v, m = self.value[fld.index], self.mask[fld.index]
        return fld.from_slot(v), fld.from_slot(m)

    def allowed_slots(self) -> frozenset[str]:
        """The slots whose prerequisites this match's protocol fields satisfy."""
        return _allowed_slots(self.value[_DL_TYPE] if self.mask[_DL_TYPE] else -1,
                              self.value[_NW_PROTO] if self.mask[_NW_PROTO] else -1,
                              self.value[_TP_SRC], self.value[_TP_DST])

    def normalized(self) -> Match:
        """This match without the slots whose prerequisites are unmet (as ovs-ofctl sends it)."""
        allowed = self.allowed_slots()
        if all(FlowKey._fields[i] in allowed for i, _, _ in self.checks):
            return self
        v, m = list(self.value), list(self.mask)
        for i, _, _ in self.checks:
            if FlowKey._fields[i] not in allowed:
                v[i] = m[i] = 0
        return Match(FlowKey(*v), FlowKey(*m))

    def check_prerequisites(self) -> None:
        """Raises MatchError naming the first matched field whose prerequisites are unmet
        (as a switch decoding it would: a TCP/UDP/SCTP field on later fragments is refused
        too, though ovs-ofctl's normalization keeps it)."""
        allowed = self.allowed_slots()
        later = self.value[_NW_FRAG] & FRAG_LATER and self.value[_NW_PROTO] in _NO_LATER
        for i, _, _ in self.checks:
            slot = FlowKey._fields[i]
            if slot not in allowed or (later and slot in _L4_SLOTS):
                raise MatchError(f"{_SLOT_FIELD[slot]} lacks correct prerequisites")

    def field_prereqs_ok(self, fld: Field | str) -> bool:
        """Whether this match satisfies fld's prerequisites (for NXM/OXM decoding, set-field)."""
        if isinstance(fld, str):
            fld = BY_NAME[fld]
        return prereq_ok(fld.prereq, lambda slot: self.value[INDEX[slot]])

    def __str__(self) -> str:
        return format_match(self)


def set_slots(v: list[int], m: list[int], fld: Field, value: int, mask: int | None) -> None:
    """Sets fld to value under mask in the slot lists v (values) and m (masks)."""
    if mask is None:
        mask = (1 << (8 * fld.n_bytes)) - 1
    i = fld.index
    bits = (fld.keep << fld.shift) | fld.present
    sv, sm = fld.to_slot(value, mask)
    if fld.name == "dl_vlan" and value == 0xFFFF:
        # OpenFlow 1.0's OFP_VLAN_NONE: match packets without a tag.
        sv, sm, bits = 0, 0xFFFF, 0xFFFF
    m[i] = (m[i] & ~bits) | sm
    v[i] = ((v[i] & ~bits) | sv) & m[i]


_DL_TYPE, _NW_PROTO, _TP_SRC, _TP_DST, _NW_FRAG = (
    INDEX[s] for s in ("dl_type", "nw_proto", "tp_src", "tp_dst", "nw_frag"))
_NO_LATER = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP)  # protocols a later fragment cannot match
_L4_SLOTS = frozenset(("tp_src", "tp_dst", "tcp_flags"))
# The field that names a slot in errors: the first one declared for it.
_SLOT_FIELD = {f.slot: f.name for f in reversed(FIELDS)}

_ALWAYS = frozenset(("in_port", "dl_src", "dl_dst", "dl_type", "vlan_tci", "vlan_tci2",
                     "tun_id", "metadata", *(f"reg{i}" for i in range(N_REGS))))
_IP_COMMON = _ALWAYS | {"nw_proto", "nw_tos", "nw_ttl", "nw_frag"}
_IPV4 = _IP_COMMON | {"nw_src", "nw_dst"}
_IPV6 = _IP_COMMON | {"ipv6_src", "ipv6_dst", "ipv6_label"}
_ARP = _ALWAYS | {"nw_src", "nw_dst", "nw_proto", "arp_sha", "arp_tha"}
_TP = frozenset(("tp_src", "tp_dst"))


def _allowed_slots(dl_type: int, nw_proto: int, tp_src: int, tp_dst: int) -> frozenset[str]:
    if dl_type == ETH_TYPE_IP:
        if nw_proto == IPPROTO_TCP:
            return _IPV4 | _TP | {"tcp_flags"}
        if nw_proto in (IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP):
            return _IPV4 | _TP
        return _IPV4
    if dl_type == ETH_TYPE_IPV6:
        if nw_proto == IPPROTO_TCP:
            return _IPV6 | _TP | {"tcp_flags"}
        if nw_proto in (IPPROTO_UDP, IPPROTO_SCTP):
            return _IPV6 | _TP
        if nw_proto == IPPROTO_ICMPV6:
            # ND's options type (nd_options_type) lives in the tcp_flags slot.
            if tp_dst == 0 and tp_src == ND_NEIGHBOR_SOLICIT:
                return _IPV6 | _TP | {"nd_target", "arp_sha", "tcp_flags"}
            if tp_dst == 0 and tp_src == ND_NEIGHBOR_ADVERT:
                return _IPV6 | _TP | {"nd_target", "arp_tha", "tcp_flags"}
            return _IPV6 | _TP
        return _IPV6
    if dl_type in (ETH_TYPE_ARP, ETH_TYPE_RARP):
        return _ARP
    return _ALWAYS


# ---- text syntax ------------------------------------------------------------

SHORTHANDS: dict[str, tuple[int, int | None]] = {
    "ip": (ETH_TYPE_IP, None), "ipv6": (ETH_TYPE_IPV6, None),
    "icmp": (ETH_TYPE_IP, IPPROTO_ICMP), "icmp6": (ETH_TYPE_IPV6, IPPROTO_ICMPV6),
    "tcp": (ETH_TYPE_IP, IPPROTO_TCP), "tcp6": (ETH_TYPE_IPV6, IPPROTO_TCP),
    "udp": (ETH_TYPE_IP, IPPROTO_UDP), "udp6": (ETH_TYPE_IPV6, IPPROTO_UDP),
    "sctp": (ETH_TYPE_IP, IPPROTO_SCTP), "sctp6": (ETH_TYPE_IPV6, IPPROTO_SCTP),
    "arp": (ETH_TYPE_ARP, None), "rarp": (ETH_TYPE_RARP, None),
}
_SHORTHAND_NAMES = {v: k for k, v in SHORTHANDS.items()}



_ITEM = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^,\s"])+')


def split_items(text: str) -> list[tuple[str, str | None]]:
    """ovs-ofctl's key[=value] items separated by commas or white space (a double-quoted
    port name may hold either)."""
    items = []
    for part in _ITEM.findall(text):
        key, eq, value = part.partition("=")
        items.append((key, value if eq else None))
    return items


def match_from_items(items: list[tuple[str, str | None]],
                     port_names: Mapping[str, int] | None = None) -> Match:
    """The match of parsed items (no priority, actions or other flow-mod keywords);
    port_names (name -> number) lets in_port name a port."""
    values, masks = list(_ZERO), list(_ZERO)
    for key, value in items:
        if key in SHORTHANDS and value is None:
            dl_type, nw_proto = SHORTHANDS[key]
            set_slots(values, masks, _ETH_TYPE, dl_type, None)
            if nw_proto is not None:
                set_slots(values, masks, _NW_PROTO_FIELD, nw_proto, None)
            continue
        fld = BY_NAME.get(key)
        if fld is None:
            if value is None:
                raise FieldError(f"field {key} missing value")
            raise FieldError(f"unknown keyword {key}")
        v, msk = parse_value(fld, value if value else "0/0", port_names)
        set_slots(values, masks, fld, v, msk)
    return Match(_new(FlowKey, values), _new(FlowKey, masks))


def parse_match(text: str, port_names: Mapping[str, int] | None = None) -> Match:
    """A match from ovs-ofctl's syntax, e.g. "tcp,nw_src=10.0.0.0/8,tp_dst=80"."""
    return match_from_items(split_items(text), port_names)


def format_match(match: Match, priority: int | None = None,
                 port_names: Mapping[int, str] | None = None) -> str:
    """The match as ovs-ofctl prints it (with "priority=N" first unless it is the default);
    with port_names (number -> name), as `ovs-ofctl --names` prints it."""
    out: list[str] = []
    val, msk = match.value, match.mask

    def get(slot: str) -> tuple[int, int]:
        i = INDEX[slot]
        return val[i], msk[i]

    if priority is not None and priority != OFP_DEFAULT_PRIORITY:
        out.append(f"priority={priority}")
    dl_type, dl_type_m = get("dl_type")
    nw_proto, nw_proto_m = get("nw_proto")
    is_ip = dl_type_m and dl_type in (ETH_TYPE_IP, ETH_TYPE_IPV6)
    is_arp = dl_type_m and dl_type in (ETH_TYPE_ARP, ETH_TYPE_RARP)
    skip_type = skip_proto = False
    if dl_type_m:
        name = _SHORTHAND_NAMES.get((dl_type, nw_proto if is_ip and nw_proto_m else None))
        if name is not None:
            skip_type, skip_proto = True, is_ip and bool(nw_proto_m)
            out.append(name)
        elif is_ip:
            skip_type = True
            out.append(_SHORTHAND_NAMES[(dl_type, None)])
    for i in range(N_REGS):
        v, m = get(f"reg{i}")
        if m:
            out.append(f"reg{i}={_hex_masked(v, m, 0xFFFFFFFF)}")
    for slot in ("tun_id", "metadata"):
        v, m = get(slot)
        if m:
            out.append(f"{slot}={_hex_masked(v, m, (1 << 64) - 1)}")
    v, m = get("in_port")
    if m:
        out.append(f"in_port={format_port(v, port_names)}")
    _format_vlan(out, *get("vlan_tci"))
    _format_vlan(out, *get("vlan_tci2"), suffix="1")
    for slot in ("dl_src", "dl_dst"):
        v, m = get(slot)
        if m:
            out.append(f"{slot}={format_mac(v, m)}")
    if dl_type_m and not skip_type:
        out.append(f"dl_type=0x{dl_type:04x}")
    if dl_type_m and dl_type == ETH_TYPE_IPV6:
        for slot in ("ipv6_src", "ipv6_dst"):
            v, m = get(slot)
            if m:
                out.append(f"{slot}={format_ipv6(v, m)}")
        v, m = get("ipv6_label")
        if m:
            out.append(f"ipv6_label=0x{v:05x}" if m == 0xFFFFF else f"ipv6_label=0x{v:05x}/0x{m:05x}")
    else:
        names = ("arp_spa", "arp_tpa") if is_arp else ("nw_src", "nw_dst")
        for slot, name in zip(("nw_src", "nw_dst"), names):
            v, m = get(slot)
            if m:
                out.append(f"{name}={format_ipv4(v, m)}")
    if nw_proto_m and not skip_proto:
        out.append(f"{'arp_op' if is_arp else 'nw_proto'}={nw_proto}")
    if is_arp:
        for slot in ("arp_sha", "arp_tha"):
            v, m = get(slot)
            if m:
                out.append(f"{slot}={format_mac(v, m)}")
    tos, tos_m = get("nw_tos")
    if tos_m & 0xFC:
        out.append(f"nw_tos={tos & 0xFC}")
    if tos_m & 0x03:
        out.append(f"nw_ecn={tos & 0x03}")
    v, m = get("nw_ttl")
    if m:
        out.append(f"nw_ttl={v}")
    v, m = get("nw_frag")
    if m:
        out.append("nw_frag=" + _FRAG_TEXT.get((v, m), f"{v:#x}/{m:#x}"))
    tp_src, tp_src_m = get("tp_src")
    tp_dst, tp_dst_m = get("tp_dst")
    is_icmp4 = dl_type_m and dl_type == ETH_TYPE_IP and nw_proto_m and nw_proto == IPPROTO_ICMP
    is_icmp6 = dl_type_m and dl_type == ETH_TYPE_IPV6 and nw_proto_m and nw_proto == IPPROTO_ICMPV6
    flags, flags_m = get("tcp_flags")
    if is_icmp4 or is_icmp6:
        # ICMP type and code are 8 bits wide; the slots are 16.
        if tp_src_m:
            out.append(f"icmp_type={tp_src & 0xFF}")
        if tp_dst_m:
            out.append(f"icmp_code={tp_dst & 0xFF}")
        if is_icmp6:
            v, m = get("nd_target")
            if m:
                out.append(f"nd_target={format_ipv6(v, m)}")
            for slot, name in (("arp_sha", "nd_sll"), ("arp_tha", "nd_tll")):
                v, m = get(slot)
                if m:
                    out.append(f"{name}={format_mac(v, m)}")
            if flags_m and tp_dst == 0 and tp_src in (ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT):
                out.append(f"nd_options_type={flags & 0xFF}")
                flags_m = 0
    else:
        for name, v, m in (("tp_src", tp_src, tp_src_m), ("tp_dst", tp_dst, tp_dst_m)):
            if m == 0xFFFF:
                out.append(f"{name}={v}")
            elif m:
                out.append(f"{name}=0x{v:x}/0x{m:x}")
    if flags_m:
        out.append(f"tcp_flags={format_tcp_flags(flags, flags_m)}")
    return ",".join(out)


_FRAG_TEXT = {(0, 3): "no", (1, 3): "first", (3, 3): "later", (1, 1): "yes", (0, 1): "no",
              (2, 2): "later", (0, 2): "not_later"}


def _hex_masked(v: int, m: int, full: int) -> str:
    return c_hex(v) if m == full else f"{c_hex(v)}/{c_hex(m)}"


def _format_vlan(out: list[str], tci: int, mask: int, suffix: str = "") -> None:
    if not mask:
        return
    vid_mask = mask & VLAN_VID_MASK
    pcp_mask = mask & VLAN_PCP_MASK
    if (mask & VLAN_CFI and tci & VLAN_CFI and vid_mask in (0, VLAN_VID_MASK)
            and pcp_mask in (0, VLAN_PCP_MASK) and (vid_mask or pcp_mask)):
        if vid_mask:
            out.append(f"dl_vlan{suffix}={tci & VLAN_VID_MASK}")
        if pcp_mask:
            out.append(f"dl_vlan_pcp{suffix}={tci >> 13}")
    elif mask == 0xFFFF:
        out.append(f"vlan_tci{suffix}=0x{tci:04x}")
    else:
        out.append(f"vlan_tci{suffix}=0x{tci:04x}/0x{mask:04x}")
