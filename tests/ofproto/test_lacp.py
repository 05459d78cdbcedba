"""LACP (lacp.py): the PDU codec, two actors negotiating over a fake wire, timeouts,
passive actors, and the bond's use of it."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from pyvswitch.ofproto import lacp as L
from pyvswitch.ofproto.bond import Bond, BondMode, BondSettings, Lacp, Verdict

SYS_A, SYS_B = bytes.fromhex("020000000a0a"), bytes.fromhex("020000000b0b")


def actor(name, sys_id, ports, active=True, fast=False):
    a = L.Lacp(name)
    a.configure(active, fast, sys_id, 65534,
                {n: (p, bytes([2, 0, 0, 0, sys_id[-1], p])) for n, p in ports.items()})
    return a


def exchange(a, b, wire, now, rounds=4):
    """Runs both sides, delivering a's member m's PDUs to b's member wire[m] and back."""
    back = {v: k for k, v in wire.items()}
    for _ in range(rounds):
        for src, dst, table in ((a, b, wire), (b, a, back)):
            _changed, frames = src.run(now)
            for member, frame in frames:
                if member in table:
                    dst.receive(table[member], frame, now)


def test_codec_round_trip_and_layout():
    act = L.Info(65534, SYS_A, 5, 65535, 7, L.ACTIVITY | L.AGGREGATION)
    frame = L.encode(bytes(6), act, L.Info())
    assert len(frame) == 124 and frame[:6] == bytes.fromhex("0180c2000002")
    assert frame[12:16] == bytes.fromhex("88090101")          # slow protocols, LACP v1
    assert frame[16:18] == b"\x01\x14" and frame[36:38] == b"\x02\x14"   # TLVs, length 20
    assert L.decode(frame) == (act, L.Info())
    assert L.decode(frame[:40]) is None
    assert L.decode(frame[:14] + b"\x02" + frame[15:]) is None           # marker, not LACP


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decode_never_raises(data):
    frame = bytes.fromhex("0180c2000002") + bytes(6) + b"\x88\x09" + data
    assert L.decode(frame) is None or len(L.decode(frame)) == 2


def test_two_active_actors_negotiate_and_enable_members():
    a = actor("bondA", SYS_A, {"a1": 1, "a2": 2})
    b = actor("bondB", SYS_B, {"b1": 10, "b2": 11})
    assert not a.negotiated and not a.may_enable("a1")
    exchange(a, b, {"a1": "b1", "a2": "b2"}, 0.0)
    assert a.negotiated and b.negotiated
    assert all(a.may_enable(m) for m in ("a1", "a2"))
    assert all(b.may_enable(m) for m in ("b1", "b2"))
    assert a.members["a1"].partner.sys_id == SYS_B and a.key == 1 and b.key == 10
    text = a.show("active negotiated")
    assert "member: a1: current attached" in text
    assert "  partner state: activity aggregation synchronized collecting distributing" in text


def test_silent_partner_expires_then_defaults():
    a = actor("bondA", SYS_A, {"a1": 1})
    b = actor("bondB", SYS_B, {"b1": 10})
    exchange(a, b, {"a1": "b1"}, 0.0)
    assert a.may_enable("a1")
    changed, _ = a.run(L.SLOW_TIMEOUT + 1)
    assert changed and a.members["a1"].status is L.RxStatus.EXPIRED and not a.may_enable("a1")
    # Expired: the partner is asked for fast transmissions.
    assert a.members["a1"].partner.state & L.TIMEOUT
    a.run(2 * L.SLOW_TIMEOUT + 2)
    assert a.members["a1"].status is L.RxStatus.DEFAULTED and not a.negotiated


def test_periodic_transmission_and_passive_actors():
    a = actor("bondA", SYS_A, {"a1": 1})
    _, frames = a.run(0.0)
    assert [m for m, _f in frames] == ["a1"]
    assert a.run(1.0)[1] == []                     # nothing new to say, slow period
    assert a.run(L.SLOW_TX)[1] != []
    p = actor("bondP", SYS_B, {"p1": 1}, active=False)
    q = actor("bondQ", SYS_A, {"q1": 1}, active=False)
    exchange(p, q, {"p1": "q1"}, 0.0)
    assert not p.negotiated and not q.negotiated   # two passive ends never talk
    exchange(p, a, {"p1": "a1"}, 2 * L.SLOW_TX)    # a passive end answers an active one
    assert p.may_enable("p1") and a.may_enable("a1")


def test_members_of_different_partners_do_not_aggregate():
    a = actor("bondA", SYS_A, {"a1": 1, "a2": 2})
    b = actor("bondB", SYS_B, {"b1": 10})
    c = actor("bondC", bytes.fromhex("020000000c0c"), {"c1": 20})
    exchange(a, b, {"a1": "b1"}, 0.0)
    exchange(a, c, {"a2": "c1"}, 0.0)
    assert a.may_enable("a1") and not a.may_enable("a2")


def lacp_bond(fallback=False, mode=BondMode.BALANCE_TCP):
    bond = Bond("bond0")
    bond.reconfigure(BondSettings(mode=mode, lacp=Lacp.ACTIVE, lacp_fallback_ab=fallback),
                     {"a1": bytes(6), "a2": bytes(6)}, 0.0)
    bond.configure_lacp(SYS_A, {"a1": 1, "a2": 2}, 0.0)
    for m in ("a1", "a2"):
        bond.set_may_enable(m, True, 0.0)
    return bond


def test_bond_with_negotiated_lacp_balances_tcp():
    bond = lacp_bond()
    assert bond.lacp_status == "configured" and bond.choose_output(1, 0, (1, 2, 6, 3, 4)) is None
    partner = actor("bondB", SYS_B, {"b1": 10, "b2": 11})
    for _ in range(3):
        bond.run(0.0)
        for member, frame in bond.tx:
            partner.receive({"a1": "b1", "a2": "b2"}[member], frame, 0.0)
        bond.tx.clear()
        for member, frame in partner.run(0.0)[1]:
            bond.rx.append(({"b1": "a1", "b2": "a2"}[member], frame))
    bond.run(0.0)
    assert bond.lacp_status == "negotiated"
    assert all(m.enabled for m in bond.members.values())
    assert bond.admissibility("a2", True) is Verdict.ACCEPT
    outs = {bond.choose_output(1, 0, (1, 2, 6, sport, 80)) for sport in range(1000, 1100)}
    assert outs == {"a1", "a2"}
    bond.run(L.SLOW_TIMEOUT + 1)                  # partner gone silent: expired
    assert not any(m.enabled for m in bond.members.values())
    bond.run(2 * L.SLOW_TIMEOUT + 2)              # then defaulted
    assert bond.lacp_status == "configured" and not any(m.enabled for m in bond.members.values())


def test_bond_lacp_fallback_to_active_backup():
    bond = lacp_bond(fallback=True)
    assert bond.lacp_status == "configured" and bond.effective_mode is BondMode.ACTIVE_BACKUP
    assert bond.active in ("a1", "a2") and bond.choose_output(1, 0, (1, 2, 6, 3, 4)) == bond.active


def test_negotiation_with_fallback_changes_forwarding_even_with_the_same_members():
    bond = lacp_bond(fallback=True)
    assert bond.effective_mode is BondMode.ACTIVE_BACKUP
    partner = actor("bondB", SYS_B, {"b1": 10, "b2": 11})
    changed = False
    for _ in range(3):
        changed |= bond.run(0.0)
        for member, frame in bond.tx:
            partner.receive({"a1": "b1", "a2": "b2"}[member], frame, 0.0)
        bond.tx.clear()
        for member, frame in partner.run(0.0)[1]:
            bond.rx.append(({"b1": "a1", "b2": "a2"}[member], frame))
    changed |= bond.run(0.0)
    assert changed and bond.effective_mode is BondMode.BALANCE_TCP
