"""A real bridge between namespace hosts: MAC learning, then unicast only to the right
port, and VLAN isolation, through AF_PACKET netdevs and the threaded userspace datapath."""

from __future__ import annotations

import threading
import time

from netns import Topology
from util import needs_root, wait_until
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.ofproto.ofproto import Backer
from pyvswitch.ofproto.vlan import VlanConfig


def host_mac(t: Topology, ns: str) -> int:
    out = t.run(ns, "cat", "/sys/class/net/eth0/address").stdout.strip()
    return int(out.replace(":", ""), 16)


@needs_root
def test_learning_unicast_and_vlan_isolation_between_namespaces():
    from pyvswitch.netdev.afpacket import AfPacketNetdev
    with Topology("of") as t:
        h1, p1 = t.host(1, "10.203.0.1/24")
        h2, p2 = t.host(2, "10.203.0.2/24")
        h3, p3 = t.host(3, "10.203.0.3/24")
        h4, p4 = t.host(4, "10.203.0.4/24")
        dp = UserspaceDatapath("t")
        wake = threading.Event()
        backer = Backer(dp, wakeup=wake.set)
        local = DummyNetdev("br0")
        br = backer.create_bridge("br0", local_netdev=local)
        devs = {}
        for i, (name, tag) in enumerate(((p1, 10), (p2, 10), (p3, 10), (p4, 20)), 1):
            devs[name] = AfPacketNetdev(name)
            br.add_port(name, devs[name], ofport_request=i, vlan=VlanConfig(tag=tag))
        stop = threading.Event()

        def control_loop():       # what vswitchd's main loop does: run() at its deadlines
            deadline = 0.0
            while not stop.is_set():
                wake.wait(max(0.0, min(0.05, deadline - time.monotonic())))
                wake.clear()
                deadline = backer.run(time.monotonic())

        ctl = threading.Thread(target=control_loop, daemon=True)
        dp.start()
        ctl.start()
        try:
            r = t.run(h1, "ping", "-c", "2", "-i", "0.05", "-W", "2", "10.203.0.2")
            assert r.returncode == 0, r.stdout
            for ns, ofport in ((h1, 1), (h2, 2)):
                assert br.mac.lookup(10, host_mac(t, ns)) == ofport, br.fdb_show(time.monotonic())
            wait_until(lambda: backer.need_revalidate is False, what="revalidation")
            before = devs[p3].stats().tx_packets
            r = t.run(h1, "ping", "-c", "20", "-i", "0.01", "-W", "2", "10.203.0.2")
            assert r.returncode == 0, r.stdout
            # Unicast went to p2 only: nothing reached h3, in the same VLAN.
            assert devs[p3].stats().tx_packets == before
            assert t.run(h1, "ping", "-c", "1", "-W", "2", "10.203.0.3").returncode == 0
            # h4 is in VLAN 20: unreachable, and it never saw VLAN 10's broadcasts.
            assert t.run(h1, "ping", "-c", "1", "-W", "1", "10.203.0.4").returncode != 0
            assert devs[p4].stats().tx_packets == 0
            assert dp.stats().hit > 0
        finally:
            stop.set()
            wake.set()
            ctl.join(5)
            dp.close()
            backer.close()
            local.close()
            for d in devs.values():
                d.close()
