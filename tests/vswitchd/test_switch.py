"""The switch shell in process, on dummy netdevs: effects applied to ofproto and the
userspace datapath, frames forwarded, status read back; no daemon, no privileges."""

from __future__ import annotations

import pytest

from test_reconcile import Snapshot
from pyvswitch.vswitchd.config import Dummy
from pyvswitch.vswitchd.reconcile import reconcile
from pyvswitch.vswitchd.switch import Switch
from util import wait_until

BCAST = bytes.fromhex("ffffffffffff")


def frame(src: int, dst: bytes = BCAST) -> bytes:
    return dst + bytes([2, 0, 0, 0, 0, src]) + b"\x08\x00" + bytes(46)


@pytest.fixture
def switch():
    sw = Switch(Dummy.OVERRIDE)
    yield sw
    sw.close()


def converge(sw: Switch, snap: Snapshot) -> list:
    effects = reconcile(sw.running, snap.state(Dummy.OVERRIDE))
    sw.apply(effects, 0.0)
    # What is left is retrying the interfaces that failed, as OVS does on each change.
    left = reconcile(sw.running, snap.state(Dummy.OVERRIDE))
    assert all(e.config.name in sw.errors for e in left)
    return effects


def test_ports_forward_and_report_status(switch):
    s = Snapshot()
    s.bridge("br0", datapath_type="netdev")
    s.port("br0", "p1", type="dummy", ofport_request=(7,))
    s.port("br0", "p2", type="dummy")
    s.port("br0", "p3", type="vxlan-nope")
    converge(switch, s)
    p1, p2 = switch.netdevs["p1"], switch.netdevs["p2"]
    p1.inject(frame(1))
    wait_until(lambda: p2.transmitted, 5, what="flooded frame on p2")
    assert p2.transmitted[0] == frame(1)

    ifaces, bridges = switch.status(with_stats=True)
    assert ifaces["p1"].ofport == 7 and ifaces["p1"].error is None
    assert ifaces["p2"].ofport == 1
    assert ifaces["br0"].ofport == 65534
    assert ifaces["p3"].ofport == -1
    assert ifaces["p3"].error == "could not open network device p3 (Address family not supported by protocol)"
    assert dict(ifaces["p1"].statistics)["rx_packets"] == 1
    assert dict(ifaces["p2"].statistics)["tx_packets"] == 1
    assert f"{bridges['br0'].datapath_id:012x}" == switch.mac("br0").hex()


def test_adding_a_port_keeps_the_others(switch):
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "p1", type="dummy")
    converge(switch, s)
    p1 = switch.netdevs["p1"]
    s.port("br0", "p2", type="dummy")
    converge(switch, s)
    assert switch.netdevs["p1"] is p1            # not reopened
    s.drop_port("p1")
    converge(switch, s)
    assert "p1" not in switch.netdevs and "p2" in switch.netdevs


def test_patch_ports_join_bridges(switch):
    s = Snapshot()
    s.bridge("br0")
    s.bridge("br1")
    s.port("br0", "pa", type="patch", options=(("peer", "pb"),))
    s.port("br0", "p1", type="dummy")
    converge(switch, s)
    ifaces, _ = switch.status(False)
    assert ifaces["pa"].error == "No usable peer 'pb' exists in 'system' datapath."
    s.port("br1", "pb", type="patch", options=(("peer", "pa"),))
    s.port("br1", "p2", type="dummy")
    converge(switch, s)
    ifaces, _ = switch.status(False)
    assert ifaces["pa"].error is None and ifaces["pb"].error is None
    switch.netdevs["p1"].inject(frame(1))
    wait_until(lambda: switch.netdevs["p2"].transmitted, 5, what="frame across the patch")


def test_dummy_type_needs_enable_dummy():
    sw = Switch(Dummy.OFF)
    try:
        assert "dummy" not in sw.registry.types() and "dummy" not in sw.iface_types()
        assert sw.datapath_types() == ("netdev", "system")
    finally:
        sw.close()
    sw = Switch(Dummy.ON)
    try:
        assert "dummy" in sw.iface_types() and "dummy" in sw.datapath_types()
    finally:
        sw.close()


def test_requested_mac_and_mtu_and_forgotten_errors(switch):
    s = Snapshot()
    s.bridge("br0", other_config=(("hwaddr", "02:00:00:00:00:aa"),))
    s.port("br0", "p1", type="dummy", mac=("02:11:22:33:44:55",), mtu_request=(9000,))
    s.port("br0", "p9", type="nope")
    converge(switch, s)
    ifaces, bridges = switch.status(False)
    assert ifaces["p1"].mac_in_use == "02:11:22:33:44:55" and ifaces["p1"].mtu == 9000
    assert ifaces["br0"].mac_in_use == "02:00:00:00:00:aa"
    assert bridges["br0"].datapath_id == 0x0200000000aa
    assert "p9" in switch.errors
    s.drop_port("p9")
    converge(switch, s)
    switch.forget_errors(s.state(Dummy.OVERRIDE).interface_names())
    assert "p9" not in switch.errors


def test_bridge_settings_follow_the_database(switch):
    s = Snapshot()
    u = s.bridge("br0", fail_mode=("secure",),
                 other_config=(("mac-aging-time", "60"), ("mac-table-size", "100")))
    converge(switch, s)
    br = switch.bridge("br0")
    assert (br.fail_mode, br.mac.idle_time, br.mac.max_entries) == ("secure", 60, 100)
    s.tables["Bridge"][u].update(fail_mode=(), other_config=(), flood_vlans=(5,))
    converge(switch, s)
    assert (br.fail_mode, br.mac.idle_time, br.mac.max_entries) == ("standalone", 300, 8192)
    assert br.flood_vlans == frozenset({5})
