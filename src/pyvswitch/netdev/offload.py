"""The virtio-net header, and finishing its offloads in software.

Linux puts `struct virtio_net_hdr` (10 bytes, host byte order) in front of frames on
sockets and TAPs that ask for it.  It says two things the frame itself does not:
- NEEDS_CSUM: the L4 checksum at csum_start + csum_offset holds only the pseudo-header
  sum; the sum over bytes from csum_start on is still to be folded in;
- gso_type/gso_size: the frame is a super-frame to be cut into gso_size-byte segments.

A netdev that takes the header passes both on to the kernel, which does the work
(usually by not doing it at all: veth to veth, nothing is ever computed).  `finish()`
does the work in software for a netdev that cannot take it, giving wire-ready frames.
"""

from __future__ import annotations

import struct

VNET_HDR = struct.Struct("=BBHHHH")
assert VNET_HDR.size == 10

F_NEEDS_CSUM = 1
F_DATA_VALID = 2
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3
GSO_TCPV6 = 4
GSO_UDP_L4 = 5
GSO_ECN = 0x80

NO_OFFLOAD = VNET_HDR.pack(0, GSO_NONE, 0, 0, 0, 0)


def _csum(data: bytes | memoryview, initial: int = 0) -> int:
    """The Internet checksum's one's-complement sum (not yet inverted) over data."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    s = initial + sum(memoryview(data).cast("H"))  # native order; folded and swapped below
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _fold_store(buf: bytearray, start: int, offset: int) -> None:
    """Completes a partial checksum: sums buf[start:] (the pseudo-header sum is already in
    the checksum field) and stores the result, as the kernel's skb_checksum_help does."""
    s = _csum(memoryview(buf)[start:])
    value = ~s & 0xFFFF
    # The sum was taken in native (little-endian) order; store it back the same way.
    struct.pack_into("=H", buf, start + offset, value)


def needs_work(vnet: bytes | None) -> bool:
    if not vnet:
        return False
    flags, gso_type, *_ = VNET_HDR.unpack(vnet)
    return bool(flags & F_NEEDS_CSUM) or (gso_type & ~GSO_ECN) != GSO_NONE


def finish(vnet: bytes | None, frame: bytes) -> list[bytes]:
    """Wire-ready frames for `frame`: checksums filled in, super-frames segmented."""
    if not vnet:
        return [frame]
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = VNET_HDR.unpack(vnet)
    kind = gso_type & ~GSO_ECN
    if kind in (GSO_TCPV4, GSO_TCPV6) and gso_size and csum_start:
        return _segment_tcp(frame, csum_start, gso_size, kind == GSO_TCPV4)
    if flags & F_NEEDS_CSUM and csum_start + csum_offset + 2 <= len(frame):
        buf = bytearray(frame)
        _fold_store(buf, csum_start, csum_offset)
        return [bytes(buf)]
    return [frame]


def _segment_tcp(frame: bytes, l4: int, mss: int, v4: bool) -> list[bytes]:
    """Cuts a TCP super-frame into segments of at most mss payload bytes, fixing lengths,
    IPv4 ids and checksums, sequence numbers and flags (FIN/PSH only on the last)."""
    doff = (frame[l4 + 12] >> 4) * 4
    hdr_end = l4 + doff
    payload = memoryview(frame)[hdr_end:]
    l3 = _l3_offset(frame)
    seq = struct.unpack_from("!I", frame, l4 + 4)[0]
    flags = frame[l4 + 13]
    ip_id = struct.unpack_from("!H", frame, l3 + 4)[0] if v4 else 0
    out = []
    n = max(1, -(-len(payload) // mss))
    for i in range(n):
        chunk = payload[i * mss:(i + 1) * mss]
        seg = bytearray(frame[:hdr_end])
        seg += chunk
        last = i == n - 1
        seg[l4 + 13] = flags if last else flags & ~0x09  # clear FIN and PSH but on the last
        struct.pack_into("!I", seg, l4 + 4, (seq + i * mss) & 0xFFFFFFFF)
        l4_len = doff + len(chunk)
        if v4:
            struct.pack_into("!HH", seg, l3 + 2, l4 + l4_len - l3, (ip_id + i) & 0xFFFF)
            struct.pack_into("!H", seg, l3 + 10, 0)
            ihl = (seg[l3] & 0xF) * 4
            struct.pack_into("!H", seg, l3 + 10, _inet_checksum(seg[l3:l3 + ihl]))
            pseudo = bytes(seg[l3 + 12:l3 + 20]) + struct.pack("!BBH", 0, 6, l4_len)
        else:
            struct.pack_into("!H", seg, l3 + 4, l4 + l4_len - l3 - 40)
            pseudo = bytes(seg[l3 + 8:l3 + 40]) + struct.pack("!IxxxB", l4_len, 6)
        struct.pack_into("!H", seg, l4 + 16, 0)
        struct.pack_into("!H", seg, l4 + 16, _inet_checksum(pseudo + bytes(seg[l4:])))
        out.append(bytes(seg))
    return out


def _l3_offset(frame: bytes) -> int:
    off = 12
    while struct.unpack_from("!H", frame, off)[0] in (0x8100, 0x88A8):
        off += 4
    return off + 2


def _inet_checksum(data: bytes | bytearray) -> int:
    """The finished Internet checksum (RFC 1071) of data, in network order."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
