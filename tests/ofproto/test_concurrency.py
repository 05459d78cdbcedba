"""The datapath thread forwarding (and calling upcalls) while the control thread changes
flows, ports and VLANs, runs timers and traces: no deadlock, no upcall errors, and the
switch still forwards correctly afterwards (the locking described in ofproto.py)."""

from __future__ import annotations

import threading
import time

from ofproto_harness import BCAST, frame, mac
from util import wait_until
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.ofproto.ofproto import Backer
from pyvswitch.ofproto.vlan import VlanConfig


def test_control_changes_while_forwarding():
    dp = UserspaceDatapath("c")
    backer = Backer(dp)
    local = DummyNetdev("br0")
    br = backer.create_bridge("br0", local_netdev=local)
    devs = {f"p{i}": DummyNetdev(f"p{i}") for i in (1, 2, 3)}
    for i, (name, dev) in enumerate(devs.items(), 1):
        br.add_port(name, dev, ofport_request=i)
    dp.start()
    stop = threading.Event()

    def traffic():
        n = 0
        while not stop.is_set():
            n += 1
            devs["p1"].inject(frame(mac(n % 50), BCAST if n % 3 else mac(7)))
            devs["p2"].inject(frame(mac(7), mac(n % 50)))
            if n % 64 == 0:
                time.sleep(0.001)

    th = threading.Thread(target=traffic, daemon=True)
    th.start()
    try:
        end = time.monotonic() + 1.5
        i = 0
        while time.monotonic() < end:
            i += 1
            now = time.monotonic()
            br.add_flow(f"priority={i % 7 + 1},dl_type=0x{0x1000 + i % 5:04x},actions=output:3", now)
            if i % 3 == 0:
                br.delete_flows()
                br.add_flow("priority=0,actions=NORMAL", now)
            if i % 5 == 0:
                br.set_port("p3", vlan=VlanConfig(tag=10 if i % 2 else None))
            if i % 7 == 0:
                br.fdb_flush()
            br.trace("in_port=1,dl_dst=ff:ff:ff:ff:ff:ff", now)
            backer.run(now)
        assert dp.last_upcall_error is None, dp.last_upcall_error
    finally:
        stop.set()
        th.join(5)
    try:
        br.delete_flows()
        br.add_flow("priority=0,actions=NORMAL")
        br.set_port("p3", vlan=VlanConfig())
        backer.run(time.monotonic())
        for d in devs.values():
            d.transmitted.clear()
        devs["p3"].inject(frame(mac(99), BCAST))
        wait_until(lambda: devs["p1"].transmitted and devs["p2"].transmitted, what="flood")
        assert backer.last_error is None
    finally:
        dp.close()
        backer.close()
        local.close()
        for d in devs.values():
            d.close()
