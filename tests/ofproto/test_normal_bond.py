"""NORMAL with bonds: one copy per bond on flood, the active member or the hashed
member on output, admissibility on input, learning on the bond, failover."""

from __future__ import annotations

import pytest

from ofproto_harness import BCAST, Switch, frame, mac

from pyvswitch.ofproto import bond as B


@pytest.fixture
def sw():
    s = Switch()
    yield s
    s.close()


def bonded(sw, mode=B.BondMode.ACTIVE_BACKUP, members=("b1", "b2"), **kw):
    """br0 with access ports p1, p2 and a bond of members (link up)."""
    br = sw.bridge()
    sw.port(br, "p1", 1)
    sw.port(br, "p2", 2)
    for i, m in enumerate(members):
        sw.port(br, m, 10 + i)
    bond = B.Bond("bond0")
    bond.reconfigure(B.BondSettings(mode=mode, **kw), {m: bytes(6) for m in members},
                     sw.clock.t)
    for m in members:
        bond.set_may_enable(m, True, sw.clock.t)
    with sw.backer.lock:
        B.install(br, [bond])
    sw.run()
    return br, bond


def fail(sw, bond, member, up=False):
    with sw.backer.lock:
        if bond.set_may_enable(member, up, sw.clock.t):
            sw.backer.need_revalidate = True
    sw.run()


def test_flood_sends_one_copy_on_the_active_member(sw):
    br, bond = bonded(sw)
    out = sw.send("p1", frame(mac(1), BCAST))
    assert sorted(out) == ["b1", "br0", "p2"]


def test_active_backup_drops_input_on_backup_member(sw):
    br, bond = bonded(sw)
    assert sw.send("b2", frame(mac(5), BCAST)) == {}
    assert sw.send("b2", frame(mac(5), mac(1))) == {}
    assert sorted(sw.send("b1", frame(mac(5), BCAST))) == ["br0", "p1", "p2"]
    assert "bonding refused admissibility" in br.trace("in_port=11,dl_src=02:00:00:00:00:05,"
                                                       "dl_dst=ff:ff:ff:ff:ff:ff", sw.clock.t)


def test_learning_is_on_the_bond_and_unicast_goes_to_the_active_member(sw):
    br, bond = bonded(sw)
    sw.send("b1", frame(mac(5), BCAST))
    assert br.mac.lookup(0, mac(5)) == bond.ofport == 10
    sw.run()
    assert list(sw.send("p1", frame(mac(1), mac(5)))) == ["b1"]
    fail(sw, bond, "b1")
    assert bond.active == "b2"
    # The MAC stays learned on the bond; the megaflow now outputs on b2.
    assert list(sw.send("p1", frame(mac(1), mac(5)))) == ["b2"]
    assert sw.send("b1", frame(mac(5), BCAST)) == {}
    assert sorted(sw.send("b2", frame(mac(5), BCAST))) == ["br0", "p1", "p2"]
    assert br.mac.lookup(0, mac(5)) == 10 and br.mac.n_moved == 0
    fail(sw, bond, "b1", up=True)                      # back, but b2 stays active
    assert list(sw.send("p1", frame(mac(1), mac(5)))) == ["b2"]


def test_all_members_down_drops(sw):
    br, bond = bonded(sw)
    fail(sw, bond, "b1")
    fail(sw, bond, "b2")
    assert sorted(sw.send("p1", frame(mac(1), BCAST))) == ["br0", "p2"]


def test_balance_slb_spreads_sources_one_copy_each(sw):
    members = ("b1", "b2", "b3")
    br, bond = bonded(sw, B.BondMode.BALANCE_SLB, members)
    used = set()
    for i in range(1, 40):
        out = sw.send("p1", frame(mac(i), BCAST))
        on = [m for m in out if m in members]
        assert len(on) == 1 and len(out[on[0]]) == 1
        assert on[0] == bond.choose_output(mac(i), 0)
        used.update(on)
    assert used == set(members)


def test_balance_slb_input_rules(sw):
    br, bond = bonded(sw, B.BondMode.BALANCE_SLB)
    other = "b2" if bond.active == "b1" else "b1"
    assert sw.send(other, frame(mac(5), BCAST)) == {}               # multicast: active only
    assert sorted(sw.send(bond.active, frame(mac(5), BCAST))) == ["br0", "p1", "p2"]
    assert list(sw.send(other, frame(mac(5), mac(1)))) != []         # unicast on any member
    # A source learned on another port coming back through the bond: our own flood.
    sw.send("p1", frame(mac(1), BCAST))
    sw.run()
    assert sw.send(other, frame(mac(1), mac(5))) == {}
    assert br.mac.lookup(0, mac(1)) == 1
    assert "SLB bond thinks this packet looped back, dropping" in br.trace(
        f"in_port={br.by_name[other].ofport},dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:05",
        sw.clock.t)


def test_balance_slb_failover_moves_only_the_failed_member_sources(sw):
    members = ("b1", "b2", "b3")
    br, bond = bonded(sw, B.BondMode.BALANCE_SLB, members)
    before = {i: [m for m in sw.send("p1", frame(mac(i), BCAST)) if m in members][0]
              for i in range(1, 30)}
    fail(sw, bond, "b2")
    for i, m in before.items():
        on = [m for m in sw.send("p1", frame(mac(i), BCAST)) if m in members]
        assert len(on) == 1 and on[0] != "b2"
        if m != "b2":
            assert on[0] == m


def test_balance_tcp_without_lacp_carries_nothing(sw):
    br, bond = bonded(sw, B.BondMode.BALANCE_TCP)
    assert sorted(sw.send("p1", frame(mac(1), BCAST))) == ["br0", "p2"]
    assert sw.send("b1", frame(mac(5), BCAST)) == {}


def test_unbonding_flushes_the_bond_entries(sw):
    br, bond = bonded(sw)
    sw.send("b1", frame(mac(5), BCAST))
    assert br.mac.lookup(0, mac(5)) == 10
    with sw.backer.lock:
        B.install(br, [])
    assert br.mac.lookup(0, mac(5)) is None
    sw.run()
    assert sorted(sw.send("p1", frame(mac(1), BCAST))) == ["b1", "b2", "br0", "p2"]


def test_lacp_pdus_are_consumed_by_an_lacp_bond(sw):
    from pyvswitch.ofproto import lacp as L
    br, bond = bonded(sw, B.BondMode.BALANCE_TCP, lacp=B.Lacp.ACTIVE)
    with sw.backer.lock:
        bond.configure_lacp(bytes(6), {"b1": 10, "b2": 11}, sw.clock.t)
        B.install(br, [bond])
    sw.run()
    pdu = L.encode(bytes.fromhex("020000000099"), L.Info(1, bytes(6), 1, 1, 1, L.ACTIVITY),
                   L.Info())
    assert sw.send("b2", pdu) == {}
    assert [m for m, _f in bond.rx] == ["b2"] and bond.rx[0][1] == pdu
    assert "slow_path(lacp)" in br.trace("in_port=11,dl_dst=01:80:c2:00:00:02,dl_type=0x8809",
                                         sw.clock.t)
    # Without LACP the same frame is an ordinary reserved multicast: dropped by NORMAL.
    with sw.backer.lock:
        bond.reconfigure(B.BondSettings(), dict.fromkeys(bond.members, bytes(6)), sw.clock.t)
        bond.configure_lacp(bytes(6), {"b1": 10, "b2": 11}, sw.clock.t)
        B.install(br, [bond])
    sw.run()
    bond.rx.clear()
    assert sw.send(bond.active, pdu) == {} and not bond.rx
