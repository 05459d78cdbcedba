"""The system netdev's rings on a root-namespace veth pair: frames lent from the RX ring
until released, and the TX ring across many wrap-arounds, in order and intact."""

from __future__ import annotations

import os
import socket
import struct

import pytest

from netns import ip
from util import needs_root, wait_until
from pyvswitch.netdev import Packet

ETH_P_ALL = 3


def _frame(i: int, size: int = 60) -> bytes:
    head = bytes.fromhex("020000000002020000000001") + struct.pack("!HI", 0x88B5, i)
    return head + bytes(size - len(head))


@pytest.fixture
def veth():
    tag = f"ar{os.getpid() % 10000}"
    a, b = f"{tag}a", f"{tag}b"
    ip("link", "add", a, "type", "veth", "peer", "name", b)
    try:
        for n in (a, b):
            # No IPv6 on the pair: its multicast listener reports would land in the rings.
            with open(f"/proc/sys/net/ipv6/conf/{n}/disable_ipv6", "w") as f:
                f.write("1")
            ip("link", "set", n, "up")
        yield a, b
    finally:
        ip("link", "del", a, check=False)


@needs_root
def test_views_until_release_then_copies(veth):
    from pyvswitch.netdev.afpacket import AfPacketNetdev
    a, b = veth
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((a, 0))
    dev = AfPacketNetdev(b, slots=8, tx_slots=0)
    try:
        for i in range(3):
            tx.send(_frame(i))
        views = wait_until(lambda: dev.recv_views(8), 5, what="frames")
        while len(views) < 3:
            views += dev.recv_views(8)
        assert [bytes(p.frame) for p in views] == [_frame(i) for i in range(3)]
        assert isinstance(views[0].frame, memoryview)
        # Held slots are not handed out again; after release the ring goes on.
        for i in range(3, 12):
            tx.send(_frame(i))
        more = wait_until(lambda: dev.recv_views(8), 5, what="more frames")
        # 5 free slots took frames 3-7; 8-11 found the ring full and were dropped.
        assert [bytes(p.frame) for p in more] == [_frame(i) for i in range(3, 8)]
        assert dev.recv_views(8) == []
        dev.release()
        del views, more
        for i in (12, 13):
            tx.send(_frame(i))
        got = []
        wait_until(lambda: got.extend(p.frame for p in dev.recv_batch(8)) or len(got) >= 2, 5,
                   what="frames after release")
        assert got == [_frame(12), _frame(13)] and all(type(f) is bytes for f in got)
        assert dev.stats().rx_packets == 10
    finally:
        dev.close()
        tx.close()


@needs_root
def test_tx_ring_wraps_in_order(veth):
    from pyvswitch.netdev.afpacket import AfPacketNetdev
    a, b = veth
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.bind((a, ETH_P_ALL))
    rx.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)   # SO_RCVBUFFORCE
    rx.settimeout(5)
    dev = AfPacketNetdev(b, slots=4, tx_slots=8)
    try:
        n = 0
        for burst in range(10):
            frames = [_frame(n + i, 60 + 97 * ((n + i) % 13)) for i in range(20)]
            assert dev.send_batch([Packet(f) for f in frames]) == 20
            for f in frames:
                while True:
                    got = rx.recv(4096)
                    if got[12:14] == b"\x88\xb5":
                        break
                assert got == f
            n += 20
        s = dev.stats()
        assert (s.tx_packets, s.tx_dropped, s.tx_errors) == (200, 0, 0)
    finally:
        dev.close()
        rx.close()


@needs_root
def test_a_slot_the_kernel_never_filled_is_stepped_over(veth, monkeypatch):
    from pyvswitch.netdev import afpacket
    a, b = veth
    monkeypatch.setattr(afpacket, "HOLE_SECONDS", 0.02)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((a, 0))
    dev = afpacket.AfPacketNetdev(b, slots=8, tx_slots=0)
    try:
        for i in range(3):
            tx.send(_frame(i))
        ring_status = lambda slot: struct.unpack_from("=I", dev._ring, slot * afpacket.SLOT_SIZE)[0]
        wait_until(lambda: ring_status(2) & 1, 5, what="three frames in the ring")
        struct.pack_into("=I", dev._ring, 0, 0)         # slot 0: taken, never filled
        assert dev.recv_views(8) == []                  # could still be filling: wait
        got = wait_until(lambda: dev.recv_views(8), 5, what="reading past the hole")
        assert [bytes(p.frame) for p in got] == [_frame(1), _frame(2)]
        dev.release()
        assert dev.stats().rx_dropped == 1
        tx.send(_frame(3))
        got = wait_until(lambda: dev.recv_batch(8), 5, what="the ring goes on")
        assert [p.frame for p in got] == [_frame(3)]
    finally:
        dev.close()
        tx.close()
