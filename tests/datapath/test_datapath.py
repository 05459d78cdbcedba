"""The userspace datapath: flow cache, upcalls, actions, and forwarding between real
netdevs in namespaces."""

from __future__ import annotations

import struct
import subprocess

import pytest

from netns import Topology
from util import needs_root, wait_until
from pyvswitch.datapath import actions as A
from pyvswitch.datapath.flowtable import FlowTable
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev import Packet
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.packet import headers as H
from pyvswitch.packet.flow import FULL_MASK, FlowKey, extract

IN_PORT_ONLY = FlowKey(in_port=FULL_MASK.in_port)


def _udp_frame(sport=1000, dport=9, src=0x0A000001, dst=0x0A000002):
    udp = struct.pack("!HHHH", sport, dport, 8 + 4, 0) + b"data"
    ip = H.ipv4_packet(src, dst, H.IPPROTO_UDP, udp)
    return H.eth_frame(0x020000000002, 0x020000000001, H.ETH_TYPE_IP, ip)


def test_flowtable_emc_and_megaflow():
    t = FlowTable(emc_size=4)
    k1 = extract(_udp_frame(1000), 1)
    k2 = extract(_udp_frame(2000), 1)
    assert t.lookup(k1) is None
    f = t.put(IN_PORT_ONLY, k1, ((A.OUTPUT, 2),), now=0.0)
    assert t.lookup(k1) is f and t.lookup(k2) is f  # k2 hits the same megaflow
    assert f.outputs == (2,)
    assert t.remove(f) and t.lookup(k1) is None     # the EMC entry died with it
    assert t.n_flows == 0 and t.n_masks == 0


def test_flowtable_expiry():
    t = FlowTable()
    k = extract(_udp_frame(), 1)
    t.put(IN_PORT_ONLY, k, ((A.OUTPUT, 2),), now=0.0)
    assert t.expire(5.0, 10.0) == []
    assert len(t.expire(10.0, 10.0)) == 1


def test_actions_vlan_push_pop_and_set():
    frame = _udp_frame()
    outs, _ = A.execute(((A.PUSH_VLAN, 0x8100, 10), (A.OUTPUT, 3), (A.POP_VLAN,),
                         (A.SET, "nw_dst", 0x0A000009), (A.OUTPUT, 4)), Packet(frame))
    (p3, tagged), (p4, rewritten) = outs
    assert (p3, p4) == (3, 4)
    k = extract(tagged.frame)
    assert k.vlan_tci == 0x1000 | 10 and k.nw_dst == 0x0A000002
    k = extract(rewritten.frame)
    assert k.vlan_tci == 0 and k.nw_dst == 0x0A000009
    ip = rewritten.frame[14:34]
    assert H.checksum(ip) == 0  # the IPv4 header checksum was kept right
    assert A.format_actions(((A.PUSH_VLAN, 0x8100, 10), (A.OUTPUT, 3))) == "push_vlan(vid=10,pcp=0),3"
    assert A.format_actions(()) == "drop"


def _hub(dp):
    """An upcall handler that sends everything to the other port of a two-port datapath."""
    def handler(key, pkt):
        other = [p for p in dp.ports() if p != key.in_port]
        return tuple((A.OUTPUT, p) for p in other), IN_PORT_ONLY
    return handler


def test_dummy_ports_upcall_then_cache():
    dp = UserspaceDatapath("t")
    a, b = DummyNetdev("a"), DummyNetdev("b")
    pa, pb = dp.port_add(a), dp.port_add(b)
    dp.set_upcall_handler(_hub(dp))
    with dp.lock:
        dp.process(pa, [Packet(_udp_frame(1))])
        dp.process(pa, [Packet(_udp_frame(2)), Packet(_udp_frame(3))])
    assert len(b.transmitted) == 3
    s = dp.stats()
    assert (s.missed, s.hit, s.flows) == (1, 2, 1)
    dp.close()


def test_upcall_exception_is_counted_not_fatal():
    dp = UserspaceDatapath("t")
    a = DummyNetdev("a")
    pa = dp.port_add(a)

    def broken(key, pkt):
        raise RuntimeError("xlate bug")
    dp.set_upcall_handler(broken)
    with dp.lock:
        dp.process(pa, [Packet(_udp_frame())])
    assert dp.stats().lost == 1 and isinstance(dp.last_upcall_error, RuntimeError)
    dp.close()


def test_port_added_to_a_running_datapath_forwards_without_a_wakeup():
    """The forwarding thread, asleep in epoll, sees a port registered meanwhile."""
    dp = UserspaceDatapath("t")
    a, b = DummyNetdev("a"), DummyNetdev("b")
    dp.set_upcall_handler(_hub(dp))
    dp.start()
    try:
        wakes = []
        dp._wake = lambda: wakes.append(1)
        pa, _pb = dp.port_add(a), dp.port_add(b)
        a.inject(_udp_frame())
        wait_until(lambda: len(b.transmitted) == 1, 5, what="frame forwarded")
        assert wakes == []
        del dp._wake            # stop() wakes the thread for real
    finally:
        dp.close()


def test_port_numbers_lowest_free_first():
    dp = UserspaceDatapath("t")
    devs = [DummyNetdev(f"d{i}") for i in range(6)]
    assert [dp.port_add(d) for d in devs[:3]] == [1, 2, 3]
    assert dp.port_add(devs[3], 7) == 7
    dp.port_del(2)
    assert dp.port_add(devs[4]) == 2
    dp.port_del(1)
    dp.port_del(3)
    assert dp.port_add(devs[5]) == 1
    with pytest.raises(ValueError):
        dp.port_add(DummyNetdev("x"), 7)
    assert dp.port_add(DummyNetdev("y")) == 3
    assert [dp.port_add(DummyNetdev(f"z{i}")) for i in range(4)] == [4, 5, 6, 8]
    dp.close()


@needs_root
def test_forwarding_between_namespaces_with_tcp_offloads():
    from pyvswitch.netdev.afpacket import AfPacketNetdev
    with Topology("dp") as t:
        h1, p1 = t.host(1, "10.202.0.1/24")
        h2, p2 = t.host(2, "10.202.0.2/24")
        dp = UserspaceDatapath("t")
        dp.set_upcall_handler(_hub(dp))
        dp.port_add(AfPacketNetdev(p1))
        dp.port_add(AfPacketNetdev(p2))
        dp.start()
        try:
            r = t.run(h1, "ping", "-c", "3", "-i", "0.05", "-W", "2", "10.202.0.2")
            assert r.returncode == 0, r.stdout
            srv = t.popen(h2, "python3", "-c",
                          "import socket\ns=socket.socket(); s.bind(('10.202.0.2', 5556)); s.listen(1)\n"
                          "print('ready', flush=True)\nc,_=s.accept(); n=0\n"
                          "while (d := c.recv(1 << 20)): n += len(d)\nprint(n, flush=True)\n",
                          stdout=subprocess.PIPE, text=True)
            try:
                assert srv.stdout.readline().strip() == "ready"
                r = t.run(h1, "python3", "-c",
                          "import socket\ns=socket.create_connection(('10.202.0.2', 5556), timeout=20)\n"
                          "b=b'y'*(1<<20)\nfor _ in range(32): s.sendall(b)\ns.close()\n")
                assert r.returncode == 0, r.stderr
                assert srv.stdout.readline().strip() == str(32 << 20)
            finally:
                srv.kill()
                srv.wait(5)
            s = dp.stats()
            assert s.hit > s.missed and s.flows <= 2 and s.lost == 0
        finally:
            dp.close()
