"""Datapath (ODP) actions: what a megaflow does to a packet, and doing it.

An action list is a tuple of action tuples, hashable so that identical lists are
shared and compared cheaply:

    (OUTPUT, port_no)                 send a copy of the packet as it is now
    (PUSH_VLAN, tpid, tci)            insert an 802.1Q/802.1ad tag (wire TCI: PCP|DEI|VID)
    (POP_VLAN,)                       remove the outermost tag
    (SET, slot, value)                rewrite one header field, named as in FlowKey
    (USERSPACE, cookie)               hand a copy up to the slow path (controller, sampling)

An empty tuple drops the packet.  `execute` is pure: it takes a Packet and returns the
(port, Packet) pairs to send and the packets for userspace; the datapath shell does the
sending.  Rewrites keep checksums right incrementally (RFC 1624), including when the L4
checksum is still partial because the sender offloaded it (virtio NEEDS_CSUM: the field
then holds the folded pseudo-header sum, not its complement); a tag pushed or popped
moves the header's csum_start so offloads stay valid.
"""

from __future__ import annotations

import struct

from pyvswitch.netdev import Packet
from pyvswitch.netdev.offload import F_NEEDS_CSUM, VNET_HDR

OUTPUT = 1
PUSH_VLAN = 2
POP_VLAN = 3
SET = 4
USERSPACE = 5

_H = struct.Struct("!H")
_I = struct.Struct("!I")
_VLAN_TPIDS = (0x8100, 0x88A8)
_IP_SLOTS = {"nw_src": 12, "nw_dst": 16}
_IP6_SLOTS = {"ipv6_src": 8, "ipv6_dst": 24}
_ARP_SLOTS = {"nw_proto": (6, 2), "arp_sha": (8, 6), "nw_src": (14, 4), "arp_tha": (18, 6),
              "nw_dst": (24, 4)}   # FlowKey slot -> (offset in the ARP header, size)

Actions = tuple


def execute(actions: Actions, pkt: Packet) -> tuple[list[tuple[int, Packet]], list[tuple[object, Packet]]]:
    """Applies actions to pkt; returns (outputs, userspace) in action order."""
    out: list[tuple[int, Packet]] = []
    up: list[tuple[object, Packet]] = []
    cur = pkt
    buf: bytearray | None = None  # set while the packet is being modified
    vnet = pkt.vnet
    for act in actions:
        op = act[0]
        if op == OUTPUT:
            if buf is not None:
                cur = Packet(bytes(buf), vnet)
                buf = None
            out.append((act[1], cur))
        elif op == USERSPACE:
            if buf is not None:
                cur = Packet(bytes(buf), vnet)
                buf = None
            up.append((act[1], cur))
        else:
            if buf is None:
                buf = bytearray(cur.frame)
            if op == PUSH_VLAN:
                buf[12:12] = struct.pack("!HH", act[1], act[2])
                vnet = _shift_vnet(vnet, 4)
            elif op == POP_VLAN:
                if len(buf) >= 18 and _H.unpack_from(buf, 12)[0] in _VLAN_TPIDS:
                    del buf[12:16]
                    vnet = _shift_vnet(vnet, -4)
            elif op == SET:
                _set_field(buf, act[1], act[2], vnet)
    return out, up


def _shift_vnet(vnet: bytes | None, delta: int) -> bytes | None:
    if not vnet:
        return vnet
    flags, gso_type, hdr_len, gso_size, csum_start, csum_off = VNET_HDR.unpack(vnet)
    return VNET_HDR.pack(flags, gso_type, hdr_len + delta if hdr_len else 0, gso_size,
                         csum_start + delta if csum_start else 0, csum_off)


def _l3(buf: bytearray) -> tuple[int, int]:
    """(offset of the L3 header, ethertype)."""
    off = 12
    while len(buf) >= off + 2:
        t = _H.unpack_from(buf, off)[0]
        if t in _VLAN_TPIDS:
            off += 4
            continue
        return off + 2, t
    return len(buf), 0


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _update_csum(buf: bytearray, at: int, old: bytes, new: bytes, partial: bool) -> None:
    """RFC 1624 incremental update of the 16-bit checksum at `at` for old -> new bytes.
    A partial (offloaded) checksum holds the pseudo-header sum uncomplemented."""
    if at + 2 > len(buf):
        return
    c = _H.unpack_from(buf, at)[0]
    s = c if partial else ~c & 0xFFFF
    for i in range(0, len(old), 2):
        s += (~_H.unpack_from(old, i)[0] & 0xFFFF) + _H.unpack_from(new, i)[0]
    s = _fold(s)
    _H.pack_into(buf, at, s if partial else ~s & 0xFFFF)


def _l4_csum_at(buf: bytearray, l4: int, proto: int) -> int | None:
    if proto == 6:
        return l4 + 16
    if proto == 17:
        return None if _H.unpack_from(buf, l4 + 6)[0] == 0 else l4 + 6  # no UDP checksum
    if proto == 58:
        return l4 + 2
    return None


def _set_field(buf: bytearray, slot: str, value: int, vnet: bytes | None) -> None:
    if slot == "dl_dst":
        buf[0:6] = value.to_bytes(6, "big")
        return
    if slot == "dl_src":
        buf[6:12] = value.to_bytes(6, "big")
        return
    if slot == "vlan_tci":
        if len(buf) >= 16 and _H.unpack_from(buf, 12)[0] in _VLAN_TPIDS:
            _H.pack_into(buf, 14, value & 0xEFFF)
        return
    partial = bool(vnet and vnet[0] & F_NEEDS_CSUM)
    l3, eth_type = _l3(buf)
    if eth_type in (0x0806, 0x8035):
        # ARP for IPv4 over Ethernet: op, SHA, SPA, THA, TPA (an ARP responder's rewrites).
        at = _ARP_SLOTS.get(slot)
        if at is not None and len(buf) >= l3 + 28:
            off, n = at
            buf[l3 + off:l3 + off + n] = value.to_bytes(n, "big")
        return
    if eth_type == 0x0800 and len(buf) >= l3 + 20:
        ihl = (buf[l3] & 0xF) * 4
        proto = buf[l3 + 9]
        l4 = l3 + ihl
        if slot in _IP_SLOTS:
            at = l3 + _IP_SLOTS[slot]
            old = bytes(buf[at:at + 4])
            new = value.to_bytes(4, "big")
            buf[at:at + 4] = new
            _update_csum(buf, l3 + 10, old, new, False)
            c = _l4_csum_at(buf, l4, proto)
            if c is not None and not _is_later_fragment(buf, l3):
                _update_csum(buf, c, old, new, partial)
        elif slot == "nw_tos":
            old = bytes(buf[l3:l3 + 2])
            buf[l3 + 1] = value & 0xFF
            _update_csum(buf, l3 + 10, old, bytes(buf[l3:l3 + 2]), False)
        elif slot == "nw_ttl":
            old = bytes(buf[l3 + 8:l3 + 10])
            buf[l3 + 8] = value & 0xFF
            _update_csum(buf, l3 + 10, old, bytes(buf[l3 + 8:l3 + 10]), False)
        elif slot in ("tp_src", "tp_dst"):
            _set_port(buf, l4, proto, slot, value, partial)
        return
    if eth_type == 0x86DD and len(buf) >= l3 + 40:
        proto = buf[l3 + 6]
        l4 = l3 + 40  # extension headers are not walked for rewrites
        if slot in _IP6_SLOTS:
            at = l3 + _IP6_SLOTS[slot]
            old = bytes(buf[at:at + 16])
            new = value.to_bytes(16, "big")
            buf[at:at + 16] = new
            c = _l4_csum_at(buf, l4, proto)
            if c is not None:
                _update_csum(buf, c, old, new, partial)
        elif slot == "nw_ttl":
            buf[l3 + 7] = value & 0xFF
        elif slot == "nw_tos":
            word = _I.unpack_from(buf, l3)[0]
            _I.pack_into(buf, l3, (word & 0xF00FFFFF) | ((value & 0xFF) << 20))
        elif slot == "ipv6_label":
            word = _I.unpack_from(buf, l3)[0]
            _I.pack_into(buf, l3, (word & 0xFFF00000) | (value & 0xFFFFF))
        elif slot in ("tp_src", "tp_dst"):
            _set_port(buf, l4, proto, slot, value, partial)


def _is_later_fragment(buf: bytearray, l3: int) -> bool:
    return bool(_H.unpack_from(buf, l3 + 6)[0] & 0x1FFF)


def _set_port(buf: bytearray, l4: int, proto: int, slot: str, value: int, partial: bool) -> None:
    if proto not in (6, 17, 132) or len(buf) < l4 + 4:
        return
    at = l4 if slot == "tp_src" else l4 + 2
    old = bytes(buf[at:at + 2])
    new = _H.pack(value & 0xFFFF)
    buf[at:at + 2] = new
    c = _l4_csum_at(buf, l4, proto) if proto != 132 else None
    # Ports are not in the pseudo-header: a partial checksum does not cover them yet.
    if c is not None and not partial:
        _update_csum(buf, c, old, new, False)


def format_actions(actions: Actions, port_names: dict[int, str] | None = None,
                   key=None) -> str:
    """Actions as `ovs-dpctl dump-flows` prints them: "2,push_vlan(vid=10,pcp=0),3" or "drop"
    (odp_text.py; `key` names the L4 header of a port rewrite)."""
    from .odp_text import format_actions as odp_format
    return odp_format(actions, port_names, key)
