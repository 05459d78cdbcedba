"""Software completion of virtio-net offloads: checksums and TCP segmentation."""

import struct

from pyvswitch.netdev import offload


def _ipv4_tcp(payload: bytes, flags: int = 0x18) -> tuple[bytes, int]:
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    tcp = struct.pack("!HHIIBBHHH", 1000, 80, 1, 0, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    iph = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 7, 0, 64, 6, 0,
                                bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
    struct.pack_into("!H", iph, 10, offload._inet_checksum(iph))
    return eth + bytes(iph) + tcp + payload, 14 + 20


def _tcp_ok(frame: bytes) -> bool:
    l3, l4 = 14, 34
    total = struct.unpack_from("!H", frame, l3 + 2)[0]
    seg = frame[l4:l3 + total]
    pseudo = frame[l3 + 12:l3 + 20] + struct.pack("!BBH", 0, 6, len(seg))
    return offload._inet_checksum(pseudo + seg) == 0 and offload._inet_checksum(frame[l3:l4]) == 0


def _partial(frame: bytes, l4: int) -> bytes:
    """What a sender with checksum offload leaves: the pseudo-header sum, not inverted."""
    buf = bytearray(frame)
    seg_len = len(frame) - l4
    pseudo = frame[26:34] + struct.pack("!BBH", 0, 6, seg_len)
    s = sum(struct.unpack("!6H", pseudo))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    struct.pack_into("!H", buf, l4 + 16, s)
    return bytes(buf)


def test_checksum_completion():
    frame, l4 = _ipv4_tcp(b"hello world!")
    vnet = offload.VNET_HDR.pack(offload.F_NEEDS_CSUM, 0, 0, 0, l4, 16)
    [out] = offload.finish(vnet, _partial(frame, l4))
    assert _tcp_ok(out)


def test_odd_length_checksum_completion():
    frame, l4 = _ipv4_tcp(b"odd")
    vnet = offload.VNET_HDR.pack(offload.F_NEEDS_CSUM, 0, 0, 0, l4, 16)
    [out] = offload.finish(vnet, _partial(frame, l4))
    assert _tcp_ok(out)


def test_tcp_segmentation():
    payload = bytes(range(256)) * 20  # 5120 bytes
    frame, l4 = _ipv4_tcp(payload, flags=0x19)  # FIN|PSH|ACK
    vnet = offload.VNET_HDR.pack(offload.F_NEEDS_CSUM, offload.GSO_TCPV4, 54, 1448, l4, 16)
    segs = offload.finish(vnet, frame)
    assert len(segs) == 4
    assert b"".join(s[54:] for s in segs) == payload
    for i, s in enumerate(segs):
        assert _tcp_ok(s)
        assert struct.unpack_from("!I", s, l4 + 4)[0] == 1 + i * 1448
        assert (s[l4 + 13] & 0x09 != 0) == (i == 3)  # FIN and PSH only on the last
        assert struct.unpack_from("!H", s, 18)[0] == 7 + i  # IPv4 ids advance


def test_no_header_means_nothing_to_do():
    assert offload.finish(None, b"abc") == [b"abc"]
    assert not offload.needs_work(offload.NO_OFFLOAD)
