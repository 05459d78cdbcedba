"""The kernel fast path forwarding real frames between namespace hosts, with no userspace
forwarder at all: only entries put by the test.

Three hosts h1..h3 wired by veths to root-side ports p1..p3; the TC program runs at TCX
ingress of the root-side ports.  Frames are raw Ethernet with an experimental EtherType and
a per-test marker; the receiving veth moves a VLAN tag into metadata, which PACKET_AUXDATA
reports.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import time

import pytest

import kfastnet as kn
from netns import Topology, ip
from util import needs_root, wait_until
from pyvswitch.bpf import syscall
from pyvswitch.datapath import kfast
from pyvswitch.datapath.kfast import OUT, OUT_INGRESS, POP_VLAN, PUSH_VLAN

pytestmark = needs_root

ETH_EXP = 0x88B5
A = bytes.fromhex("020000000a01")
B = bytes.fromhex("020000000b02")


def k(port: str, dst: bytes, src: bytes, dl_type: int = ETH_EXP, tci: int = 0) -> bytes:
    return kfast.key(kn.ifindex(port), int.from_bytes(dst, "big"), int.from_bytes(src, "big"), tci, dl_type)


@pytest.fixture(scope="module")
def net():
    with Topology("kf") as t:
        hosts = [t.host(i, f"10.77.0.{i}/24") for i in (1, 2, 3)]
        yield t, hosts


@pytest.fixture
def fp(net):
    _t, hosts = net
    f = kfast.KernelFastPath.open(max_flows=1024)
    try:
        for _ns, port in hosts:
            f.attach_ingress(kn.ifindex(port))
        yield f
    finally:
        f.close()


@pytest.fixture
def socks(net):
    """A socket on each host's eth0: [h1, h2, h3]."""
    _t, hosts = net
    ss = [kn.ns_socket(ns, "eth0") for ns, _port in hosts]
    yield ss
    for s in ss:
        s.close()


def ports(net) -> list[str]:
    return [port for _ns, port in net[1]]


def test_ping_with_kernel_entries_only(net, fp, socks):
    t, hosts = net
    (ns1, p1), (ns2, p2), _ = hosts
    m1, m2 = kn.mac(socks[0]), kn.mac(socks[1])
    bcast = b"\xff" * 6
    for ty in (0x0800, 0x0806):
        assert fp.put(k(p1, m2, m1, ty), [(OUT, kn.ifindex(p2))])
        assert fp.put(k(p2, m1, m2, ty), [(OUT, kn.ifindex(p1))])
    assert fp.put(k(p1, bcast, m1, 0x0806), [(OUT, kn.ifindex(p2))])
    assert fp.put(k(p2, bcast, m2, 0x0806), [(OUT, kn.ifindex(p1))])
    r = t.run(ns1, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2")
    assert r.returncode == 0, r.stdout + r.stderr
    stats = {key: (p, b) for key, p, b, _used in fp.dump()}
    assert stats[k(p1, m2, m1, 0x0800)][0] >= 3 and stats[k(p2, m1, m2, 0x0800)][0] >= 3
    assert stats[k(p1, m2, m1, 0x0800)][1] >= 3 * 98             # 84-byte IP packets + Ethernet
    rx_p, rx_b, tx_p, tx_b = fp.counters(kn.ifindex(p1))
    total_p, total_b = (sum(p for key, (p, _b) in stats.items() if key[:4] == k(p1, A, A)[:4]),
                        sum(b for key, (_p, b) in stats.items() if key[:4] == k(p1, A, A)[:4]))
    assert (rx_p, rx_b) == (total_p, total_b)
    assert tx_p >= 3 and tx_b >= 3 * 98                          # the replies went out on p1
    used = max(u for _k, _p, _b, u in fp.dump())
    assert 0 < time.monotonic_ns() - used < 10 * 10 ** 9


def test_push_vlan_tags_the_frame(net, fp, socks):
    p1, p2, _ = ports(net)
    assert fp.put(k(p1, B, A), [(PUSH_VLAN, 0x8100 << 16 | 100), (OUT, kn.ifindex(p2))])
    (got,), _n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"push-me"), [socks[1]], b"push-me")
    assert got is not None and got[1] == 100
    assert got[0][12:14] == ETH_EXP.to_bytes(2, "big")


def test_pop_vlan_untags_the_frame(net, fp, socks):
    p1, p2, _ = ports(net)
    # The tag arrives in the frame; p1 moves it to metadata, so the key carries it.
    assert fp.put(k(p1, B, A, tci=0x1000 | 300), [(POP_VLAN, 0), (OUT, kn.ifindex(p2))])
    (got,), _n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"pop-me", vlan=300), [socks[1]],
                                        b"pop-me")
    assert got is not None and got[1] is None
    assert got[0][12:14] == ETH_EXP.to_bytes(2, "big")


def test_tagged_frame_misses_an_untagged_entry(net, fp, socks):
    p1, p2, _ = ports(net)
    assert fp.put(k(p1, B, A), [(OUT, kn.ifindex(p2))])
    socks[0].send(kn.frame(B, A, ETH_EXP, b"tagged-miss", vlan=5))
    assert kn.received(socks[1], b"tagged-miss", timeout=0.3) is None


def test_clone_to_several_outputs(net, fp, socks):
    p1, p2, p3 = ports(net)
    assert fp.put(k(p1, B, A), [(OUT, kn.ifindex(p2)), (PUSH_VLAN, 0x8100 << 16 | 7), (OUT, kn.ifindex(p3))])
    (got2, got3), n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"to-both"),
                                             [socks[1], socks[2]], b"to-both")
    assert got2 is not None and got2[1] is None           # output before the push: untagged
    assert got3 is not None and got3[1] == 7
    wait_until(lambda: fp.counters(kn.ifindex(p1))[0] == n, what="every frame sent counted")
    assert fp.counters(kn.ifindex(p2))[2:] == (n, 60 * n) and fp.counters(kn.ifindex(p3))[2] == n


def test_output_to_in_port_and_ingress_delivery(net, fp, socks):
    p1, p2, _ = ports(net)
    assert fp.put(k(p1, B, A), [(OUT, kn.ifindex(p1)), (OUT_INGRESS, kn.ifindex(p2))])
    root_p2 = kn.ns_socket(None, p2)
    try:
        # Back to the sender; and OUT_INGRESS: p2 receives it, as if it had come from h2
        # (it never reaches h2).
        got, _n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"hairpin"), [socks[0], root_p2],
                                         b"hairpin")
        assert None not in got
        assert kn.received(socks[1], b"hairpin", timeout=0.3) is None
    finally:
        root_p2.close()


def test_drop_entry_and_delete(net, fp, socks):
    p1, p2, _ = ports(net)
    key = k(p1, B, A)
    assert fp.put(key, [(OUT, kn.ifindex(p2))])
    (got,), n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"first"), [socks[1]], b"first")
    assert got is not None
    wait_until(lambda: fp.dump()[0][1] == n, what="the entry's hits")
    assert fp.put(key, [])
    socks[0].send(kn.frame(B, A, ETH_EXP, b"dropped"))
    wait_until(lambda: fp.dump()[0][1] == n + 1, what="the drop entry's hit")
    assert kn.received(socks[1], b"dropped", timeout=0.3) is None
    assert fp.delete(key)
    root_p1 = kn.ns_socket(None, p1)
    try:
        (got,), _n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"missed"), [root_p1], b"missed")
        assert got is not None
        assert fp.counters(kn.ifindex(p1))[0] == n + 1
    finally:
        root_p1.close()


def test_socket_filter_hides_hits_and_shows_misses(net, fp, socks):
    p1, p2, _ = ports(net)
    root_p1 = kn.ns_socket(None, p1)
    try:
        fp.filter_socket(root_p1.fileno())
        kn.drain(root_p1)
        assert fp.put(k(p1, B, A), [(OUT, kn.ifindex(p2))])
        (got,), _n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"hit-hidden"), [socks[1]],
                                            b"hit-hidden")
        assert got is not None
        (got,), _n = kn.send_until_received(socks[0], kn.frame(A, B, ETH_EXP, b"miss-shown"), [root_p1],
                                            b"miss-shown")
        assert got is not None
        assert kn.received(root_p1, b"hit-hidden", timeout=0.3) is None
    finally:
        root_p1.close()


def test_detach_makes_frames_miss(net, fp, socks):
    p1, p2, _ = ports(net)
    assert fp.put(k(p1, B, A), [(OUT, kn.ifindex(p2))])
    fp.attach_ingress(kn.ifindex(p1))                     # idempotent
    assert len(syscall.prog_query(kn.ifindex(p1), syscall.TCX_INGRESS)) == 1
    (got,), _n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"attached"), [socks[1]], b"attached")
    assert got is not None
    fp.detach(kn.ifindex(p1))
    fp.detach(kn.ifindex(p1))
    assert syscall.prog_query(kn.ifindex(p1), syscall.TCX_INGRESS) == []
    socks[0].send(kn.frame(B, A, ETH_EXP, b"detached"))
    assert kn.received(socks[1], b"detached", timeout=0.3) is None


CHILD = """
import sys
from pyvswitch.bpf import syscall
from pyvswitch.datapath import kfast
fp = kfast.KernelFastPath.open()
src, dst = int(sys.argv[1]), int(sys.argv[2])
fp.attach_ingress(src)
fp.put(kfast.key(src, 0x020000000b02, 0x020000000a01, 0, 0x88B5), [(kfast.OUT, dst)])
print("ready", flush=True)
sys.stdin.read()
"""


def test_links_die_with_the_process(net, socks):
    p1, p2, _ = ports(net)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(kn.ifindex(p1)), str(kn.ifindex(p2))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        (got,), _n = kn.send_until_received(socks[0], kn.frame(B, A, ETH_EXP, b"child-alive"), [socks[1]],
                                            b"child-alive")
        assert got is not None
    finally:
        child.kill()
        child.wait()
    wait_until(lambda: syscall.prog_query(kn.ifindex(p1), syscall.TCX_INGRESS) == [],
               what="the child's link to go with it")
    socks[0].send(kn.frame(B, A, ETH_EXP, b"child-gone"))
    assert kn.received(socks[1], b"child-gone", timeout=0.3) is None


@pytest.fixture
def tap():
    """A TAP device in this namespace (gone when its fd closes), as internal ports are."""
    name = f"kft{os.getpid() % 10000}"
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", name.encode(), 0x0002 | 0x1000))  # TAP, NO_PI
        ip("link", "set", name, "up")
        yield name
    finally:
        os.close(fd)


def test_internal_port_carries_the_hosts_traffic(net, fp, socks, tap):
    """A namespace host pings an address on a TAP: frames into the host's stack are
    OUT_INGRESS to the TAP, frames the host sends through the TAP are caught at its TCX
    egress."""
    t, hosts = net
    (ns1, p1) = hosts[0]
    subnet = f"10.231.{os.getpid() % 250}"
    ip("addr", "add", f"{subnet}.1/24", "dev", tap)
    ip("-n", ns1, "addr", "add", f"{subnet}.2/24", "dev", "eth0")
    try:
        fp.attach_egress(kn.ifindex(tap))
        m1 = kn.mac(socks[0])
        mt = bytes.fromhex(open(f"/sys/class/net/{tap}/address").read().strip().replace(":", ""))
        bcast = b"\xff" * 6
        for ty in (0x0800, 0x0806):
            assert fp.put(k(p1, mt, m1, ty), [(OUT_INGRESS, kn.ifindex(tap))])
            assert fp.put(k(tap, m1, mt, ty), [(OUT, kn.ifindex(p1))])
        assert fp.put(k(p1, bcast, m1, 0x0806), [(OUT_INGRESS, kn.ifindex(tap))])
        assert fp.put(k(tap, bcast, mt, 0x0806), [(OUT, kn.ifindex(p1))])
        r = t.run(ns1, "ping", "-c", "2", "-i", "0.2", "-W", "2", f"{subnet}.1")
        assert r.returncode == 0, r.stdout + r.stderr
        assert fp.counters(kn.ifindex(tap))[0] >= 2           # the replies, caught at egress
        assert fp.counters(kn.ifindex(tap))[2] >= 2           # the requests, delivered to it
    finally:
        ip("-n", ns1, "addr", "del", f"{subnet}.2/24", "dev", "eth0", check=False)
