"""The bond core (bond.py): member state from link state and delays, the active
member, hashing, admissibility, commands and bond/show's shape."""

from __future__ import annotations

import pytest

from pyvswitch.ofproto.bond import (
    N_BUCKETS, Bond, BondError, BondMode, BondSettings, Lacp, Verdict, slb_hash, tcp_hash,
)

MACS = {"p1": bytes.fromhex("aa55aa550001"), "p2": bytes.fromhex("aa55aa550002"),
        "p3": bytes.fromhex("aa55aa550003")}


def bond(mode=BondMode.ACTIVE_BACKUP, members=("p1", "p2"), up=True, now=0.0, **kw) -> Bond:
    b = Bond("bond0")
    b.reconfigure(BondSettings(mode=mode, **kw), {n: MACS[n] for n in members}, now)
    if up:
        for n in members:
            b.set_may_enable(n, True, now)
    return b


def test_members_start_down_and_enable_with_link():
    b = bond(up=False)
    assert b.active is None and not any(m.enabled for m in b.members.values())
    assert b.choose_output(1, 0) is None
    assert b.set_may_enable("p1", True, 0.0)
    assert b.members["p1"].enabled and b.active == "p1"
    assert b.events[-2:] == ["member p1: enabled", "bond bond0: active member is now p1"]


def test_active_backup_fails_over_and_does_not_fail_back():
    b = bond()
    assert b.active == "p1"
    assert b.set_may_enable("p1", False, 1.0)
    assert b.active == "p2" and b.choose_output(5, 0) == "p2"
    assert b.set_may_enable("p1", True, 2.0)           # enabled again, but stays backup
    assert b.active == "p2"
    b.set_may_enable("p2", False, 3.0)
    assert b.active == "p1"
    b.set_may_enable("p1", False, 4.0)
    assert b.active is None and b.events[-1] == "bond bond0: all members disabled"
    assert b.choose_output(5, 0) is None


def test_primary_takes_over_when_enabled():
    b = bond(primary="p2")
    assert b.active == "p2"
    b.set_may_enable("p2", False, 1.0)
    assert b.active == "p1"
    b.set_may_enable("p2", True, 2.0)
    assert b.active == "p2"


def test_updelay_and_downdelay():
    b = bond(updelay=200, downdelay=100)        # first link reports: enabled at once
    assert b.members["p1"].enabled and b.members["p2"].enabled and b.active == "p1"
    b.set_may_enable("p2", False, 0.0)
    assert b.members["p2"].enabled
    assert b.events[-1] == "member p2: will be disabled if it stays down for 100 ms"
    assert b.deadline() == pytest.approx(0.1)
    assert b.run(0.1) and not b.members["p2"].enabled
    b.set_may_enable("p2", True, 1.0)
    assert not b.members["p2"].enabled
    assert b.events[-1] == "member p2: will be enabled if it stays up for 200 ms"
    assert not b.run(1.1)
    assert b.run(1.2) and b.members["p2"].enabled
    b.set_may_enable("p1", False, 2.0)
    assert b.members["p1"].enabled and b.active == "p1"      # downdelay not over yet
    b.set_may_enable("p1", True, 2.05)                       # flapped back: nothing happens
    assert b.deadline() is None
    assert not b.run(3.0) and b.members["p1"].enabled


def test_updelay_is_skipped_when_no_member_is_enabled():
    b = bond(updelay=5000)
    for m in ("p1", "p2"):
        b.set_may_enable(m, False, 1.0)
    assert b.active is None
    assert b.set_may_enable("p2", True, 2.0)
    assert b.active == "p2" and b.members["p2"].enabled
    assert b.events[-2:] == ["bond bond0: active member is now p2, skipping remaining 5000 ms "
                             "updelay (since no member was enabled)", "member p2: enabled"]
    b.set_may_enable("p1", True, 3.0)                        # p2 carries: p1 waits
    assert not b.members["p1"].enabled


def test_balance_slb_spreads_and_moves_only_failed_buckets():
    b = bond(BondMode.BALANCE_SLB, ("p1", "p2", "p3"))
    out = {mac: b.choose_output(mac, 0) for mac in range(1, 200)}
    assert set(out.values()) == {"p1", "p2", "p3"}
    assert all(b.choose_output(m, 0) == o for m, o in out.items())     # stable
    b.set_may_enable("p2", False, 1.0)
    after = {mac: b.choose_output(mac, 0) for mac in out}
    assert "p2" not in after.values()
    assert all(after[m] == o for m, o in out.items() if o != "p2")


def test_hashes_are_buckets_and_depend_on_basis():
    assert all(0 <= slb_hash(m, v) < N_BUCKETS for m in range(50) for v in (0, 10))
    assert len({slb_hash(m, 0) for m in range(1000)}) > 200
    assert [slb_hash(m, 0, 1) for m in range(20)] != [slb_hash(m, 0, 0) for m in range(20)]
    assert 0 <= tcp_hash((1, 2, 6, 3, 4)) < N_BUCKETS


def test_admissibility():
    ab = bond()
    assert ab.admissibility("p1", False) is Verdict.ACCEPT
    assert ab.admissibility("p2", False) is Verdict.DROP
    slb = bond(BondMode.BALANCE_SLB)
    assert slb.admissibility("p1", True) is Verdict.DROP_IF_MOVED
    assert slb.admissibility("p2", True) is Verdict.DROP        # multicast on a non-active
    assert slb.admissibility("p2", False) is Verdict.DROP_IF_MOVED
    all_active = bond(BondMode.BALANCE_SLB, all_members_active=True)
    assert all_active.admissibility("p2", True) is Verdict.DROP_IF_MOVED


def test_balance_tcp_needs_lacp_and_lacp_never_negotiates():
    tcp = bond(BondMode.BALANCE_TCP)
    assert tcp.admissibility("p1", False) is Verdict.DROP
    assert tcp.choose_output(1, 0, (1, 2, 6, 3, 4)) is None
    lacp = bond(BondMode.BALANCE_TCP, lacp=Lacp.ACTIVE)
    assert lacp.lacp_status == "configured"
    assert not any(m.may_enable or m.enabled for m in lacp.members.values())
    fallback = bond(BondMode.BALANCE_TCP, lacp=Lacp.ACTIVE, lacp_fallback_ab=True)
    assert fallback.effective_mode is BondMode.ACTIVE_BACKUP
    assert fallback.admissibility("p1", False) is Verdict.ACCEPT
    assert fallback.choose_output(1, 0, (1, 2, 6, 3, 4)) == "p1"


def test_commands():
    b = bond()
    assert b.set_active_member("p2") == "done"
    assert b.set_active_member("p2") == "no change"
    with pytest.raises(BondError, match="no such member"):
        b.set_active_member("zz")
    assert b.enable_member("p2", False) == "disabled"
    assert b.active == "p1"
    with pytest.raises(BondError, match="cannot make disabled member active"):
        b.set_active_member("p2")
    assert b.enable_member("p2", True) == "enabled" and b.members["p2"].enabled


def test_reconfigure_removes_members_and_keeps_state():
    b = bond(BondMode.BALANCE_SLB, ("p1", "p2", "p3"))
    assert not b.reconfigure(b.settings, {n: MACS[n] for n in ("p1", "p2", "p3")}, 1.0)
    b.set_active_member("p3")
    assert b.reconfigure(b.settings, {"p1": MACS["p1"], "p2": MACS["p2"]}, 1.0)
    assert set(b.members) == {"p1", "p2"} and b.active in ("p1", "p2")
    assert all(b.choose_output(m, 0) in ("p1", "p2") for m in range(50))


def test_show_is_shaped_like_ovs():
    b = bond()
    assert b.show(0.0) == "\n".join([
        "---- bond0 ----",
        "bond_mode: active-backup",
        "bond may use recirculation: no, Recirc-ID : -1",
        "bond-hash-basis: 0",
        "lb_output action: disabled, bond-id: -1",
        "updelay: 0 ms",
        "downdelay: 0 ms",
        "lacp_status: off",
        "lacp_fallback_ab: false",
        "active-backup primary: <none>",
        "active member mac: aa:55:aa:55:00:01(p1)",
        "",
        "member p1: enabled",
        "  active member",
        "  may_enable: true",
        "",
        "member p2: enabled",
        "  may_enable: true",
        ""])
    slb = bond(BondMode.BALANCE_SLB, now=0.0)
    text = slb.show(1.5)
    assert ("all members active: false\nupdelay: 0 ms\ndowndelay: 0 ms\n"
            "next rebalance: 8500 ms\n") in text
    down = bond(up=False)
    assert "active member mac: 00:00:00:00:00:00(none)" in down.show(0.0)
    assert "member p1: disabled\n  may_enable: false\n" in down.show(0.0)
    assert bond().active_mac() == "aa:55:aa:55:00:01" and down.active_mac() is None


def test_preferred_member_is_made_active_first():
    b = Bond("bond0", preferred_mac=MACS["p2"])
    b.reconfigure(BondSettings(), {n: MACS[n] for n in ("p1", "p2")}, 0.0)
    b.set_may_enable("p1", True, 0.0)
    assert b.active == "p1"            # the preferred one is not up yet
    b.set_may_enable("p2", True, 0.0)
    assert b.active == "p2" and b.preferred_mac is None


def test_migrate_moves_a_bucket():
    b = bond(BondMode.BALANCE_SLB)
    src = 0x020000000001
    bucket = slb_hash(src, 0)
    other = "p2" if b.choose_output(src, 0) == "p1" else "p1"
    assert b.migrate(bucket + N_BUCKETS, other) == "migrated"
    assert b.choose_output(src, 0) == other
    b.set_may_enable(other, False, 1.0)            # a disabled member's buckets move
    assert b.choose_output(src, 0) != other
    with pytest.raises(BondError, match="no such member"):
        b.migrate(1, "zz")
    with pytest.raises(BondError, match="not an SLB bond"):
        bond().migrate(1, "p1")


def test_rebalance_gives_a_recovered_member_its_share():
    b = bond(BondMode.BALANCE_SLB, now=0.0)
    srcs = range(1, 60)
    b.set_may_enable("p2", False, 1.0)
    assert {b.choose_output(m, 0) for m in srcs} == {"p1"}
    b.set_may_enable("p2", True, 2.0)
    assert {b.choose_output(m, 0) for m in srcs} == {"p1"}      # buckets stay until...
    before = {m: b.choose_output(m, 0) for m in srcs}
    assert b.run(10.0)                                          # ...the rebalance
    after = {m: b.choose_output(m, 0) for m in srcs}
    used = [n for n in b.buckets if n is not None]
    assert abs(used.count("p1") - used.count("p2")) <= 1
    assert any(e.startswith("bond bond0: shift hash ") for e in b.events)
    assert not b.run(20.0)                                      # balanced: nothing moves
    assert {m: b.choose_output(m, 0) for m in srcs} == after != before


def test_rebalance_interval_zero_disables_it():
    b = bond(BondMode.BALANCE_SLB, rebalance_interval=0)
    assert b.next_rebalance is None and "next rebalance" not in b.show(0.0)
    assert bond().next_rebalance is None                        # active-backup
