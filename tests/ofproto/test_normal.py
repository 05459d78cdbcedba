"""NORMAL switching: learning, flooding, moves, aging, the table bound, VLAN modes."""

from __future__ import annotations

import pytest

from ofproto_harness import BCAST, Switch, frame, mac, out_vlans, vlan_of


@pytest.fixture
def sw():
    s = Switch()
    yield s
    s.close()


def test_flood_then_learn_then_unicast(sw):
    br = sw.bridge()
    for i in (1, 2, 3):
        sw.port(br, f"p{i}", i)
    out = sw.send("p1", frame(mac(1), mac(2)))            # unknown destination: flood
    assert sorted(out) == ["br0", "p2", "p3"]
    out = sw.send("p2", frame(mac(2), mac(1)))            # known: unicast to p1 only
    assert list(out) == ["p1"]
    sw.run()                                              # revalidate: mac(2) is now known
    out = sw.send("p1", frame(mac(1), mac(2)))
    assert list(out) == ["p2"]
    assert "    1     0  02:00:00:00:00:01    0" in br.fdb_show(sw.clock.t)


def test_broadcast_floods_everywhere_but_input(sw):
    br = sw.bridge()
    for i in (1, 2, 3):
        sw.port(br, f"p{i}", i)
    sw.send("p2", frame(mac(2), mac(9)))
    out = sw.send("p1", frame(mac(1), BCAST))
    assert sorted(out) == ["br0", "p2", "p3"]
    assert sorted(sw.send("p1", frame(mac(1), 0x010000000005))) == ["br0", "p2", "p3"]


def test_reserved_multicast_dropped_and_multicast_source_not_learned(sw):
    br = sw.bridge()
    sw.port(br, "p1", 1)
    sw.port(br, "p2", 2)
    assert sw.send("p1", frame(mac(1), 0x0180C2000000)) == {}
    sw.send("p1", frame(0x010000000001, BCAST))
    assert len(br.mac) == 0


def test_mac_move(sw):
    br = sw.bridge()
    for i in (1, 2, 3):
        sw.port(br, f"p{i}", i)
    sw.send("p1", frame(mac(1), BCAST))
    assert list(sw.send("p3", frame(mac(3), mac(1)))) == ["p1"]
    sw.send("p2", frame(mac(1), BCAST))                   # mac(1) moved to p2
    assert sw.wakeups >= 1
    sw.run()
    assert list(sw.send("p3", frame(mac(3), mac(1)))) == ["p2"]
    assert br.mac.n_moved == 1


def test_aging_with_fake_clock(sw):
    br = sw.bridge()
    sw.port(br, "p1", 1)
    sw.port(br, "p2", 2)
    br.set_config(mac_aging_time=20)
    sw.send("p1", frame(mac(1), BCAST))
    sw.run()
    assert list(sw.send("p2", frame(mac(2), mac(1)))) == ["p1"]
    sw.run(15)
    assert br.mac.lookup(0, mac(1)) == 1
    deadline = sw.run(6)                                  # 21 s after learning
    assert br.mac.lookup(0, mac(1)) is None
    assert deadline > sw.clock.t
    assert sorted(sw.send("p2", frame(mac(2), mac(1)))) == ["br0", "p1"]


def test_table_size_bound_evicts_from_busiest_port(sw):
    br = sw.bridge()
    for i in (1, 2, 3):
        sw.port(br, f"p{i}", i)
    br.set_config(mac_table_size=4)
    sw.send("p1", frame(mac(100), BCAST))
    for n in range(10):
        sw.send("p2", frame(mac(n), BCAST))
    assert len(br.mac) == 4
    assert br.mac.lookup(0, mac(100)) == 1                # p1's station survived
    assert br.mac.n_evicted == 7


def test_access_ports_isolate_vlans(sw):
    br = sw.bridge()
    sw.port(br, "a10", 1, tag=10)
    sw.port(br, "b10", 2, tag=10)
    sw.port(br, "c20", 3, tag=20)
    sw.port(br, "trunk", 4)
    out = out_vlans(sw.send("a10", frame(mac(1), BCAST)))
    assert out == {"b10": [None], "trunk": [10], "br0": [10]}
    # A tagged frame on an access port is dropped; a priority-tagged one is accepted.
    assert sw.send("a10", frame(mac(1), BCAST, vid=20)) == {}
    out = sw.send("a10", frame(mac(1), BCAST, vid=0, pcp=5))
    assert vlan_of(out["b10"][0]) is None and vlan_of(out["trunk"][0]) == 10
    assert out["trunk"][0][14] >> 5 == 5                  # the priority is kept


def test_trunk_carries_listed_vlans_tagged(sw):
    br = sw.bridge()
    sw.port(br, "t", 1, trunks=frozenset({10, 20}))
    sw.port(br, "a10", 2, tag=10)
    sw.port(br, "a30", 3, tag=30)
    sw.port(br, "all", 4)
    assert out_vlans(sw.send("t", frame(mac(1), BCAST, vid=10))) == {
        "a10": [None], "all": [10], "br0": [10]}
    assert sw.send("t", frame(mac(1), BCAST, vid=30)) == {}      # not trunked
    assert sw.send("t", frame(mac(1), BCAST)) == {}              # VLAN 0 not trunked
    assert out_vlans(sw.send("a30", frame(mac(3), BCAST))) == {"all": [30], "br0": [30]}


def test_native_tagged_and_untagged(sw):
    br = sw.bridge()
    sw.port(br, "nt", 1, tag=10, trunks=frozenset({20}), vlan_mode="native-tagged")
    sw.port(br, "nu", 2, tag=10, trunks=frozenset({20}), vlan_mode="native-untagged")
    sw.port(br, "a10", 3, tag=10)
    sw.port(br, "a20", 4, tag=20)
    # Untagged input on a native port is in the native VLAN.
    assert out_vlans(sw.send("nt", frame(mac(1), BCAST))) == {
        "nu": [None], "a10": [None], "br0": [10]}
    # Egress: native-tagged tags the native VLAN, native-untagged does not.
    assert out_vlans(sw.send("a10", frame(mac(3), BCAST))) == {
        "nt": [10], "nu": [None], "br0": [10]}
    assert out_vlans(sw.send("a20", frame(mac(4), BCAST))) == {
        "nt": [20], "nu": [20], "br0": [20]}
    assert out_vlans(sw.send("nu", frame(mac(2), BCAST, vid=20))) == {
        "nt": [20], "a20": [None], "br0": [20]}
    assert sw.send("nu", frame(mac(2), BCAST, vid=30)) == {}


def test_flood_vlans_disable_learning(sw):
    br = sw.bridge()
    sw.port(br, "a", 1, tag=10)
    sw.port(br, "b", 2, tag=10)
    sw.port(br, "c", 3, tag=10)
    br.set_config(flood_vlans={10})
    sw.send("a", frame(mac(1), BCAST))
    assert len(br.mac) == 0
    assert sorted(sw.send("b", frame(mac(2), mac(1)))) == ["a", "br0", "c"]


def test_learned_port_is_input_port_drops(sw):
    br = sw.bridge()
    sw.port(br, "p1", 1)
    sw.port(br, "p2", 2)
    sw.send("p1", frame(mac(1), BCAST))
    assert sw.send("p1", frame(mac(5), mac(1))) == {}


def test_fdb_show_and_flush(sw):
    br = sw.bridge()
    sw.port(br, "p1", 1)
    sw.port(br, "p4", 4, trunks=frozenset({10, 20}))
    sw.send("p1", frame(mac(1), BCAST))
    sw.clock.t += 15
    sw.send("p4", frame(0xAA0000000001, BCAST, vid=20))
    sw.send("br0", frame(0xAA0000000002, BCAST))
    assert br.fdb_show(sw.clock.t) == (
        " port  VLAN  MAC                Age\n"
        "    1     0  02:00:00:00:00:01   15\n"
        "    4    20  aa:00:00:00:00:01    0\n"
        "LOCAL     0  aa:00:00:00:00:02    0\n")
    assert br.fdb_flush() == "table successfully flushed"
    assert br.fdb_show(sw.clock.t) == " port  VLAN  MAC                Age\n"
    assert "Total number of learned MAC entries     : 3" in br.fdb_stats()


def test_fast_path_traffic_keeps_mac_entries_alive(sw):
    br = sw.bridge()
    sw.port(br, "p1", 1)
    sw.port(br, "p2", 2)
    br.set_config(mac_aging_time=20)
    sw.send("p2", frame(mac(2), BCAST))
    sw.run()
    for _ in range(6):                                    # 60 s of traffic, all cache hits
        assert sorted(sw.send("p1", frame(mac(1), BCAST))) == ["br0", "p2"]
        sw.run(10)
    assert sw.dp.stats().hit >= 5
    assert br.mac.lookup(0, mac(1)) == 1
    assert br.mac.lookup(0, mac(2)) is None               # p2 went quiet: aged out


def test_station_moving_back_is_relearned_despite_cached_flows(sw):
    br = sw.bridge()
    sw.port(br, "a", 1, tag=1)
    sw.port(br, "t", 2)
    assert sw.send("a", frame(mac(1), mac(1))) == {}      # learned on a, sent to itself
    sw.run()
    assert sw.send("t", frame(mac(1), mac(1), vid=1)) == {}   # moved to t
    sw.run()
    assert sw.send("a", frame(mac(1), mac(1))) == {}      # moved back: not sent to t
    assert br.mac.lookup(1, mac(1)) == 1
