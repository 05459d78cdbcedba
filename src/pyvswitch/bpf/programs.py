"""The kernel fast path's two eBPF programs, sharing one key builder.

Both build the same 20-byte key from a frame (datapath/kfast.py documents the layout) on
the stack and look it up in the "kflows" hash map:

- the TC program (SCHED_CLS, attached at TCX ingress of a kernel port or TCX egress of an
  internal TAP) counts a hit on the entry and on the input port's "kports" counters, then
  runs the entry's steps in order: push/pop an 802.1Q tag (in the skb's metadata, as the
  kernel keeps accelerated tags), output (clone-redirect for every output but the last,
  redirect for the last, counting each on the output port).  An entry with no steps drops
  the frame.  A miss returns TCX_NEXT: the frame goes on as if nothing were attached.
- the socket filter (SOCKET_FILTER, on the port's AF_PACKET socket) answers "is this a hit?"
  the other way round: 0 bytes for a hit (the socket never sees a frame the kernel
  forwards), the whole frame for a miss.

IP fragments never hit (see `_no_fragments`).  Frames are read with bpf_skb_load_bytes,
which works in both program types and needs no packet-pointer bounds checks.  The step
loop is unrolled MAX_STEPS times; `put()` strips steps after the last output (they would
do nothing), so "the last step" is always an output and ends the program with the
redirect's verdict.  A clone output that fails (no such device) is skipped.
"""

from __future__ import annotations

from .asm import (ADD, AND, CLONE_REDIRECT, FP, KTIME_GET_NS, MAP_LOOKUP_ELEM, OR, R0, R1,
                  R2, R3, R4, R6, R7, R8, R9, REDIRECT, RSH, SKB_LOAD_BYTES, SKB_VLAN_POP,
                  SKB_VLAN_PUSH, Program)

# struct __sk_buff field offsets
SKB_LEN = 0
SKB_PKT_TYPE = 4
SKB_VLAN_PRESENT = 20
SKB_VLAN_TCI = 24
SKB_VLAN_PROTO = 28
SKB_IFINDEX = 40

PACKET_OUTGOING = 4
# TCX verdicts
TCX_NEXT = -1
TCX_PASS = 0
TCX_DROP = 2
TCX_REDIRECT = 7
BPF_F_INGRESS = 1

# Step operations
OUT = 1
OUT_INGRESS = 2
PUSH_VLAN = 3
POP_VLAN = 4
MAX_STEPS = 16

# Value layout: packets, bytes, used_ns (u64), n_steps, pad (u32), steps[16] of (op, arg)
VAL_PACKETS = 0
VAL_BYTES = 8
VAL_USED = 16
VAL_N_STEPS = 24
VAL_STEPS = 32
# kports value: rx_packets, rx_bytes, tx_packets, tx_bytes
PORT_RX = 0
PORT_TX = 16

# Stack: the key (20 bytes) at KEY, a u32 port key for kports lookups at PORT, header
# bytes read for checks at SCRATCH.
KEY = -24
PORT = -32
SCRATCH = -40

# EtherTypes as they read from the frame into a little-endian u16 (network byte order).
_ETH_8021Q_RAW = 0x0081
_ETH_8021AD_RAW = 0xA888
_ETH_IPV4_RAW = 0x0008
_ETH_IPV6_RAW = 0xDD86
# IPv4 flags and fragment offset (bytes 6-7 of the header) read the same way: MF | offset.
_IPV4_MF_OFFSET_RAW = 0xFF3F
_IPV6_EXT_HEADERS = (0, 43, 44, 51, 60)


def _key_lookup(p: Program, kflows_fd: int, miss: str) -> None:
    """Builds the key on the stack and looks it up: r0 = the entry, r6 = ctx kept.
    Jumps to `miss` for a short frame, an in-band or 802.1ad tag, or no entry."""
    p.mov(R6, R1, reg=True)
    p.ldx(4, R2, R6, SKB_LEN).jump("<", R2, 14, miss)
    p.ldx(4, R2, R6, SKB_IFINDEX).stx(4, FP, KEY, R2)
    # dl_dst, dl_src and the EtherType land at KEY+4..KEY+18; the EtherType then moves two
    # bytes on to make room for vlan_tci.
    p.mov(R1, R6, reg=True).mov(R2, 0).mov(R3, FP, reg=True).alu(ADD, R3, KEY + 4).mov(R4, 14)
    p.call(SKB_LOAD_BYTES).jump("!=", R0, 0, miss)
    p.ldx(2, R2, FP, KEY + 16)
    p.jump("==", R2, _ETH_8021Q_RAW, miss).jump("==", R2, _ETH_8021AD_RAW, miss)
    p.stx(2, FP, KEY + 18, R2)
    _no_fragments(p, miss)
    p.mov(R3, 0)
    p.ldx(4, R2, R6, SKB_VLAN_PRESENT).jump("==", R2, 0, "untagged")
    p.ldx(4, R2, R6, SKB_VLAN_PROTO).jump("!=", R2, _ETH_8021Q_RAW, miss)
    p.ldx(4, R3, R6, SKB_VLAN_TCI).alu(OR, R3, 0x1000)
    p.label("untagged")
    p.stx(2, FP, KEY + 16, R3)
    p.ld_map_fd(R1, kflows_fd).mov(R2, FP, reg=True).alu(ADD, R2, KEY)
    p.call(MAP_LOOKUP_ELEM).jump("==", R0, 0, miss)


def _load(p: Program, offset: int, size: int, miss: str) -> None:
    """r2 = size bytes of the frame at offset, as they read in little-endian order (via the
    SCRATCH stack slot); a frame too short for them misses."""
    p.mov(R1, R6, reg=True).mov(R2, offset).mov(R3, FP, reg=True).alu(ADD, R3, SCRATCH).mov(R4, size)
    p.call(SKB_LOAD_BYTES).jump("!=", R0, 0, miss)
    p.ldx(size, R2, FP, SCRATCH)


def _no_fragments(p: Program, miss: str) -> None:
    """IP fragments miss: a megaflow the kernel may carry matched non-fragments, and the key
    cannot tell a fragment apart.  r2 holds the EtherType as read.  IPv4: the MF flag or a
    fragment offset.  IPv6: a first extension header that is or may precede a Fragment
    header (hop-by-hop, routing, fragment, AH, destination options)."""
    p.jump("==", R2, _ETH_IPV4_RAW, "ipv4").jump("!=", R2, _ETH_IPV6_RAW, "not_fragment")
    _load(p, 14 + 6, 1, miss)
    for nexthdr in _IPV6_EXT_HEADERS:
        p.jump("==", R2, nexthdr, miss)
    p.goto("not_fragment")
    p.label("ipv4")
    _load(p, 14 + 6, 2, miss)
    p.jump("&", R2, _IPV4_MF_OFFSET_RAW, miss)
    p.label("not_fragment")


def _count(p: Program, counters: int, skip: str) -> None:
    """Adds one frame of ctx->len bytes to the u64 pair at r0 + counters (r0 may be NULL)."""
    p.jump("==", R0, 0, skip)
    p.mov(R1, 1).atomic_add(8, R0, counters, R1)
    p.ldx(4, R1, R6, SKB_LEN).atomic_add(8, R0, counters + 8, R1)
    p.label(skip)


def tc_program(kflows_fd: int, kports_fd: int) -> bytes:
    """The SCHED_CLS program for TCX ingress/egress."""
    p = Program()
    _key_lookup(p, kflows_fd, "miss")
    p.mov(R7, R0, reg=True)
    p.mov(R1, 1).atomic_add(8, R7, VAL_PACKETS, R1)
    p.ldx(4, R1, R6, SKB_LEN).atomic_add(8, R7, VAL_BYTES, R1)
    p.call(KTIME_GET_NS).stx(8, R7, VAL_USED, R0)
    p.ld_map_fd(R1, kports_fd).mov(R2, FP, reg=True).alu(ADD, R2, KEY).call(MAP_LOOKUP_ELEM)
    _count(p, PORT_RX, "rx_counted")
    p.ldx(4, R8, R7, VAL_N_STEPS)
    for i in range(MAX_STEPS):
        op, arg = VAL_STEPS + 8 * i, VAL_STEPS + 8 * i + 4
        p.label(f"step{i}")
        p.jump("<=", R8, i, "drop")
        p.ldx(4, R2, R7, arg).ldx(4, R1, R7, op)
        p.jump("==", R1, PUSH_VLAN, f"push{i}").jump("==", R1, POP_VLAN, f"pop{i}")
        p.mov(R9, 0).jump("==", R1, OUT, f"out{i}")
        p.mov(R9, BPF_F_INGRESS).jump("!=", R1, OUT_INGRESS, "drop")
        p.label(f"out{i}")
        p.stx(4, FP, PORT, R2)
        p.ld_map_fd(R1, kports_fd).mov(R2, FP, reg=True).alu(ADD, R2, PORT).call(MAP_LOOKUP_ELEM)
        _count(p, PORT_TX, f"tx_counted{i}")
        p.ldx(4, R2, FP, PORT)
        p.jump("==", R8, i + 1, f"last{i}")
        p.mov(R1, R6, reg=True).mov(R3, R9, reg=True).call(CLONE_REDIRECT).goto(f"step{i + 1}")
        p.label(f"last{i}")
        p.mov(R1, R2, reg=True).mov(R2, R9, reg=True).call(REDIRECT).exit()
        p.label(f"push{i}")
        p.mov(R3, R2, reg=True).alu(AND, R3, 0xFFFF).alu(RSH, R2, 16).be16(R2)
        p.mov(R1, R6, reg=True).call(SKB_VLAN_PUSH).goto(f"step{i + 1}")
        p.label(f"pop{i}")
        p.mov(R1, R6, reg=True).call(SKB_VLAN_POP).goto(f"step{i + 1}")
    p.label(f"step{MAX_STEPS}")
    p.label("drop").ret(TCX_DROP)
    p.label("miss").ret(TCX_NEXT)
    return p.assemble()


def socket_filter(kflows_fd: int) -> bytes:
    """The SOCKET_FILTER program: a hit keeps the frame from the socket, a miss passes it.
    Frames the port sends (PACKET_OUTGOING) always pass."""
    p = Program()
    p.ldx(4, R2, R1, SKB_PKT_TYPE).jump("==", R2, PACKET_OUTGOING, "pass")
    _key_lookup(p, kflows_fd, "miss")
    p.ret(0)
    p.label("miss").ldx(4, R0, R6, SKB_LEN).exit()
    p.label("pass").ldx(4, R0, R1, SKB_LEN).exit()
    return p.assemble()
