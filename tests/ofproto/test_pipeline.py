"""OpenFlow pipelines through the real datapath: priorities, resubmit, goto_table, set
fields, dec_ttl, patch ports, fail_mode, timeouts, counters and megaflow masks."""

from __future__ import annotations

import pytest

from ofproto_harness import BCAST, Switch, frame, mac, out_vlans
from pyvswitch.ofproto.flow_table import FlowModError, FlowTables, OFPFF_CHECK_OVERLAP, RemovedReason
from pyvswitch.ofproto import ofactions as A
from pyvswitch.ofproto.ofactions import Output, parse_actions
from pyvswitch.ofproto.vlan import VlanConfig
from pyvswitch.packet import headers as H
from pyvswitch.packet.flow import extract
from pyvswitch.packet.match import parse_match


@pytest.fixture
def sw():
    s = Switch()
    yield s
    s.close()


def udp(src=1, dst=2, nw_dst=0x0A000002, ttl=64, dport=53, vid=None):
    f = H.udp_frame(mac(src), mac(dst), 0x0A000001, nw_dst, 1000, dport, b"hello")
    if vid is not None:
        f = f[:12] + (0x8100).to_bytes(2, "big") + vid.to_bytes(2, "big") + f[12:]
    if ttl != 64:
        k = bytearray(f)
        k[22] = ttl
        k[24:26] = b"\0\0"
        k[24:26] = H.checksum(bytes(k[14:34])).to_bytes(2, "big")
        f = bytes(k)
    return f


def three_ports(sw, **kw):
    br = sw.bridge(**kw)
    for i in (1, 2, 3):
        sw.port(br, f"p{i}", i)
    return br


def test_priorities_choose_the_rule(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("priority=10,actions=output:2")
    br.add_flow("priority=20,udp,tp_dst=53,actions=output:3")
    assert list(sw.send("p1", udp(dport=53))) == ["p3"]
    assert list(sw.send("p1", udp(dport=54))) == ["p2"]
    br.add_flow("priority=30,in_port=1,actions=drop")
    sw.run()
    assert sw.send("p1", udp(dport=53)) == {}


def test_resubmit_goto_and_set_fields(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("table=0,in_port=1,ip,actions=mod_nw_dst:10.0.0.9,mod_dl_dst:02:00:00:00:00:09,"
                "dec_ttl,resubmit(,1)")
    br.add_flow("table=1,ip,nw_dst=10.0.0.9,actions=load:0x2->NXM_NX_REG0[],goto_table:2")
    br.add_flow("table=2,reg0=2,actions=output:2,mod_vlan_vid:7,output:3")
    out = sw.send("p1", udp())
    k2, k3 = extract(out["p2"][0]), extract(out["p3"][0])
    assert (k2.nw_dst, k2.dl_dst, k2.nw_ttl, k2.vlan_tci) == (0x0A000009, mac(9), 63, 0)
    assert k3.vlan_tci == 0x1000 | 7 and k3.nw_dst == 0x0A000009
    ip = out["p2"][0][14:34]
    assert H.checksum(ip) == 0                       # the IP checksum was kept right


def test_dec_ttl_expiry_goes_to_controller(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("ip,actions=dec_ttl,output:2")
    assert sw.send("p1", udp(ttl=1)) == {}
    assert br.packet_ins and br.packet_ins[-1].reason == "invalid_ttl"
    assert list(sw.send("p1", udp(ttl=2))) == ["p2"]


def test_flood_all_in_port_local(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("in_port=1,actions=FLOOD")
    br.add_flow("in_port=2,actions=ALL")
    br.add_flow("in_port=3,actions=IN_PORT,LOCAL")
    assert sorted(sw.send("p1", udp())) == ["br0", "p2", "p3"]
    assert sorted(sw.send("p2", udp())) == ["br0", "p1", "p3"]
    assert sorted(sw.send("p3", udp())) == ["br0", "p3"]
    br.set_port("p3", flood=False)
    sw.run()
    assert sorted(sw.send("p1", udp())) == ["br0", "p2"]


def test_output_to_in_port_is_skipped(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("actions=output:1,output:2")
    assert list(sw.send("p1", udp())) == ["p2"]


def test_fail_mode_secure_drops_until_a_flow_is_added(sw):
    br = three_ports(sw, fail_mode="secure")
    assert br.dump_flows() == ""
    assert sw.send("p1", frame(mac(1), BCAST)) == {}
    br.add_flow("actions=NORMAL")
    sw.run()
    assert sorted(sw.send("p1", frame(mac(1), BCAST))) == ["br0", "p2", "p3"]
    br.set_config(fail_mode="standalone")
    assert "priority=0 actions=NORMAL" in br.dump_flows()


def test_standalone_default_flow_goes_with_secure(sw):
    br = three_ports(sw)
    assert br.dump_flows() == " priority=0 actions=NORMAL\n"
    br.set_config(fail_mode="secure")
    assert br.dump_flows() == ""


def test_patch_ports_join_two_bridges(sw):
    br0 = sw.bridge("br0")
    br1 = sw.bridge("br1")
    sw.port(br0, "a", 1, tag=10)
    sw.port(br1, "b", 1)
    # VLAN 10 of br0 leaves untagged through an access patch port into br1's VLAN 0.
    br0.add_port("patch0", ofport_request=5, peer="patch1", type="patch", vlan=VlanConfig(tag=10))
    br1.add_port("patch1", ofport_request=2, peer="patch0", type="patch")
    out = out_vlans(sw.send("a", frame(mac(1), BCAST)))
    assert out == {"br0": [10], "br1": [None], "b": [None]}
    # Learning happened in both bridges, on the right ports.
    assert br0.mac.lookup(10, mac(1)) == 1 and br1.mac.lookup(0, mac(1)) == 2
    out = sw.send("b", frame(mac(2), mac(1)))
    assert list(out) == ["a"]
    text = br0.trace("in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02", sw.clock.t)
    assert '\nbridge("br1")\n-------------\n 0. priority 0\n    NORMAL\n' in text
    assert f"Datapath actions: {sw.odp('b')}\n" in text


def test_patch_port_without_peer_drops(sw):
    br0 = sw.bridge("br0")
    sw.port(br0, "a", 1)
    br0.add_port("patch0", peer="nowhere", type="patch")
    assert list(sw.send("a", frame(mac(1), BCAST))) == ["br0"]


def test_megaflow_mask_covers_what_normal_read(sw):
    br = three_ports(sw)
    sw.send("p2", frame(mac(2), BCAST))
    sw.run()
    sw.send("p1", udp(1, 2, dport=53))
    sw.send("p1", udp(1, 2, dport=54))                # differs outside the mask: a hit
    st = sw.dp.stats()
    assert (st.hit, st.flows) == (1, 2)
    (f,) = [f for f in sw.dp.flow_dump() if f.key.in_port == sw.odp("p1")]
    assert f.mask.tp_dst == 0 and f.mask.nw_dst == 0
    assert f.mask.dl_src and f.mask.dl_dst and f.mask.vlan_tci and f.mask.in_port
    sw.send("p1", udp(3, 2))                          # a new source: a miss, and it is learned
    assert br.mac.lookup(0, mac(3)) == 1


def test_megaflow_mask_includes_classifier_wildcards(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("priority=20,udp,tp_dst=53,actions=output:3")
    br.add_flow("priority=10,actions=output:2")
    sw.send("p1", udp(dport=53))
    sw.send("p1", udp(dport=54))
    sw.send("p1", udp(src=7, dport=54))              # dl_src is outside every mask: a hit
    assert sw.dp.stats().hit == 1
    masks = {f.mask.tp_dst for f in sw.dp.flow_dump()}
    assert masks == {0xFFFF}


def test_flow_changes_revalidate_megaflows(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("actions=output:2")
    assert list(sw.send("p1", udp())) == ["p2"]
    br.modify_flows(parse_match(""), (Output(3),))
    sw.run()
    assert list(sw.send("p1", udp())) == ["p3"]
    br.delete_flows()
    sw.run()
    assert sw.send("p1", udp()) == {}


def test_rule_counters_and_idle_timeout_follow_the_datapath(sw):
    br = three_ports(sw)
    br.delete_flows()
    rule = br.add_flow("idle_timeout=10,actions=output:2", now=sw.clock.t)
    for _ in range(3):
        sw.send("p1", udp())
    sw.run(5)
    assert (rule.n_packets, rule.used) == (3, sw.clock.t)
    sw.send("p1", udp())
    sw.run(8)                                         # used 8 s ago: still there
    assert rule.n_packets == 4 and len(br.tables) == 1
    sw.run(11)
    assert len(br.tables) == 0
    assert sw.send("p1", udp()) == {}


def test_hard_timeout_and_deadline(sw):
    br = three_ports(sw)
    br.add_flow("priority=5,hard_timeout=30,actions=drop", now=sw.clock.t)
    assert sw.run(0) <= sw.clock.t + 1.0
    sw.run(29)
    assert len(br.tables) == 2
    sw.run(1)
    assert len(br.tables) == 1


# ---- flow-mod semantics, directly on FlowTables ----------------------------------

def test_flow_mod_semantics():
    t = FlowTables()
    m_ip, m_tcp = parse_match("ip"), parse_match("tcp")
    a1, a2 = parse_actions("output:1"), parse_actions("output:2")
    r_ip = t.add(m_ip, 10, a1, cookie=1)
    r_tcp = t.add(m_tcp, 20, a1, cookie=2)
    t.add(m_tcp, 20, a2, table_id=1)
    # Loose modify touches every rule at least as specific; strict only the exact one.
    assert set(t.modify(m_ip, a2, table_id=0)) == {r_ip, r_tcp}
    assert t.modify(m_ip, a1, priority=10, strict=True, table_id=0) == [r_ip]
    assert r_ip.actions == a1 and r_tcp.actions == a2
    # Cookies select.
    assert t.modify(parse_match(""), a1, cookie=2, cookie_mask=0xFF) == [r_tcp]
    # Adding an identical rule replaces it.
    r_new = t.add(m_ip, 10, a2)
    assert len(t) == 3 and t.tables[0].find_exactly(m_ip, 10) is r_new
    with pytest.raises(FlowModError) as e:
        t.add(parse_match("ip,nw_src=1.2.3.4"), 10, a1, flags=OFPFF_CHECK_OVERLAP)
    assert e.value.ofperr == "OFPFMFC_OVERLAP"
    # Delete by out_port, then strictly.
    gone = t.delete(parse_match(""), out_port=2)
    assert {r.rule.table_id for r in gone} == {0, 1} and all(r.reason is RemovedReason.DELETE for r in gone)
    assert len(t) == 1
    assert t.delete(m_tcp, priority=20, strict=True, table_id=0)
    assert len(t) == 0
    # Modify with nothing to modify adds (OpenFlow 1.0), unless told not to.
    assert t.modify(m_ip, a1, may_add=False) == []
    assert len(t.modify(m_ip, a1)) == 1 and len(t) == 1


def test_admin_down_port_gets_nothing_and_stats(sw):
    br = three_ports(sw)
    br.set_port("p3", admin_up=False)
    assert sorted(sw.send("p1", frame(mac(1), BCAST))) == ["br0", "p2"]
    br.delete_flows()
    br.add_flow("actions=output:3,output:2")
    sw.run()
    assert list(sw.send("p1", udp())) == ["p2"]
    st = br.stats()
    assert st["flows"] == 1 and st["table0_flows"] == 1 and st["ports"] == 4
    assert br.port_stats()["p2"].tx_packets == 2


def test_flow_removed_queue_and_action_checks(sw):
    br = three_ports(sw)
    br.add_flow("priority=9,idle_timeout=5,send_flow_rem,actions=drop", now=sw.clock.t)
    br.add_flow("priority=8,idle_timeout=5,actions=drop", now=sw.clock.t)
    sw.run(6)
    (removed,) = br.flow_removed
    assert removed.rule.priority == 9 and removed.reason is RemovedReason.IDLE_TIMEOUT
    with pytest.raises(FlowModError) as e:
        br.add_flow("table=3,actions=goto_table:2")
    assert e.value.ofperr == "OFPBIC_BAD_TABLE_ID"
    with pytest.raises(FlowModError):
        br.add_flow("table=1,actions=goto_table:2,output:1")


def test_xcache_keeps_entries_of_flows_installed_during_a_dump(sw):
    br = three_ports(sw)
    real_dump = sw.dp.flow_dump

    def dump_then_upcall():
        flows = real_dump()
        sw.send("p1", frame(mac(1), BCAST))         # a new megaflow the dump did not see
        return flows

    sw.dp.flow_dump = dump_then_upcall
    sw.run()
    sw.dp.flow_dump = real_dump
    sw.send("p1", frame(mac(1), BCAST))             # a hit
    rule = br.tables.tables[0].find_exactly(parse_match(""), 0)
    sw.run()
    assert rule.n_packets == 2


def test_packet_out(sw):
    br = three_ports(sw)
    for d in sw.devs.values():
        d.transmitted.clear()
    assert br.packet_out(udp(), 0xFFFD, parse_actions("output:2,mod_vlan_vid:4,output:3")) == (
        (1, sw.odp("p2")), (2, 0x8100, 4), (1, sw.odp("p3")))
    assert len(sw.devs["p2"].transmitted) == 1 and len(sw.devs["p3"].transmitted) == 1
    br.packet_out(frame(mac(7), BCAST), 1, parse_actions("output:TABLE"))     # through NORMAL
    assert br.mac.lookup(0, mac(7)) == 1 and len(sw.devs["p3"].transmitted) == 2


def test_ofport_request_change_renumbers(sw):
    br = three_ports(sw)
    sw.send("p3", frame(mac(3), BCAST))
    assert br.set_port("p3", ofport_request=7) == 7
    assert br.set_port("p3", ofport_request=1) == 7          # taken: unchanged
    assert br.mac.lookup(0, mac(3)) is None
    br.delete_flows()
    br.add_flow("in_port=7,actions=output:1")
    sw.run()
    assert list(sw.send("p3", udp())) == ["p1"]


def test_new_ports_take_the_lowest_free_ofport(sw):
    br = sw.bridge()
    assert [sw.port(br, f"p{i}") for i in (1, 2, 3)] == [1, 2, 3]
    assert sw.port(br, "p5", 5) == 5
    br.remove_port("p2")
    assert br.set_port("p3", ofport_request=9) == 9         # 3 is free again
    assert [sw.port(br, n) for n in ("a", "b", "c", "d")] == [2, 3, 4, 6]
    br.remove_port("p1")
    assert sw.port(br, "e", 1) == 1                        # asked for: taken as is
    assert sw.port(br, "f") == 7


def test_a_port_the_datapath_refuses_leaves_its_ofport_free(sw, monkeypatch):
    br = three_ports(sw)
    br.remove_port("p2")

    def refuse(netdev, port_no=None):
        raise OSError("refused")
    monkeypatch.setattr(sw.dp, "port_add", refuse)
    with pytest.raises(OSError):
        sw.port(br, "x")
    monkeypatch.undo()
    assert sw.port(br, "y") == 2


def test_reconfiguring_the_same_fail_mode_leaves_flows_alone(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.set_config(fail_mode="standalone")
    assert br.dump_flows() == ""
    br.add_flow("priority=0,actions=drop")
    br.set_config(fail_mode="standalone")
    assert br.dump_flows() == " priority=0 actions=drop\n"


def test_a_translation_bug_during_revalidation_drops_the_flow(sw, monkeypatch):
    br = three_ports(sw)
    sw.send("p1", frame(mac(1), BCAST))
    assert sw.dp.stats().flows == 1

    def broken(*a, **kw):
        raise RuntimeError("bug")

    monkeypatch.setattr("pyvswitch.ofproto.xlate.translate", broken)
    br.add_flow("priority=5,actions=drop")
    sw.run()
    assert sw.dp.stats().flows == 0 and isinstance(sw.backer.last_error, RuntimeError)


def test_packets_from_a_port_no_bridge_owns_are_dropped_in_the_cache(sw):
    from pyvswitch.netdev import Packet
    from pyvswitch.netdev.dummy import DummyNetdev
    three_ports(sw)
    stray = DummyNetdev("stray")
    try:
        n = sw.dp.port_add(stray)
        for _ in range(2):
            with sw.dp.lock:
                sw.dp.process(n, [Packet(udp())])
        st = sw.dp.stats()
        assert (st.flows, st.hit, st.missed) == (1, 1, 1)
        sw.backer.need_revalidate = True
        sw.run()
        assert sw.dp.stats().flows == 1
    finally:
        sw.dp.port_del(n)
        stray.close()


def test_clone_exit_output_reg_set_tunnel(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("table=0,actions=clone(mod_vlan_vid:5,output:2),load:3->NXM_NX_REG1[0..15],"
                "set_tunnel:7,resubmit(,1),output:2")
    br.add_flow("table=1,tun_id=7,actions=output:NXM_NX_REG1[0..15],exit")
    out = out_vlans(sw.send("p1", udp()))
    # The clone's tag stays in the clone; exit inside table 1 stops the final output:2 too.
    assert out == {"p2": [5], "p3": [None]}


RESPONDER = ("arp,arp_op=1,arp_tpa=10.0.0.9,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
             "mod_dl_src:02:00:00:00:00:09,load:0x2->NXM_OF_ARP_OP[],"
             "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],load:0x020000000009->NXM_NX_ARP_SHA[],"
             "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x0a000009->NXM_OF_ARP_SPA[],IN_PORT")


def test_arp_responder(sw):
    br = three_ports(sw)
    br.add_flow("priority=100," + RESPONDER)
    req = H.arp_frame(mac(1), BCAST, 1, mac(1), 0x0A000001, 0, 0x0A000009)
    out = sw.send("p1", req)
    assert list(out) == ["p1"]
    k = extract(out["p1"][0])
    assert (k.dl_src, k.dl_dst, k.nw_proto) == (mac(9), mac(1), 2)
    assert (k.arp_sha, k.nw_src, k.arp_tha, k.nw_dst) == (mac(9), 0x0A000009, mac(1), 0x0A000001)
    # Another requester hits the same megaflow?  No: the reply depends on its addresses.
    out = sw.send("p2", H.arp_frame(mac(2), BCAST, 1, mac(2), 0x0A000002, 0, 0x0A000009))
    k = extract(out["p2"][0])
    assert (k.dl_dst, k.arp_tha, k.nw_dst) == (mac(2), mac(2), 0x0A000002)


NEUTRON_LEARN = ("learn(table=20,priority=1,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],"
                 "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],"
                 "load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[])")


def test_learn_action_builds_flows_and_keeps_them_alive(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow(f"table=0,in_port=1,actions={NEUTRON_LEARN},output:2", now=sw.clock.t)
    br.add_flow("table=0,in_port=2,actions=resubmit(,20)")
    sw.send("p1", frame(mac(1), BCAST, vid=5))
    (learned,) = br.rules(table_id=20)
    assert str(learned.match) == "vlan_tci=0x0005/0x0fff,dl_dst=02:00:00:00:00:01"
    assert A.format_actions(learned.actions) == "load:0->NXM_OF_VLAN_TCI[],load:0->NXM_NX_TUN_ID[],output:1"
    # The learned flow forwards replies; each new source is learned (the megaflow is exact
    # on it), and traffic carried by the fast path keeps the learned flows alive.
    sw.run()
    assert list(sw.send("p2", frame(mac(2), mac(1), vid=5))) == ["p1"]
    sw.send("p1", frame(mac(3), BCAST, vid=5))
    assert len(br.rules(table_id=20)) == 2
    for _ in range(4):
        sw.send("p1", frame(mac(1), BCAST, vid=5))
        sw.run(100)
    assert {str(r.match) for r in br.rules(table_id=20)} == {"vlan_tci=0x0005/0x0fff,dl_dst=02:00:00:00:00:01"}


def test_delete_learned(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("table=0,in_port=1,actions=learn(table=5,delete_learned,NXM_OF_ETH_DST[]="
                "NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:2")
    br.add_flow("table=0,in_port=2,actions=learn(table=6,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],"
                "output:NXM_OF_IN_PORT[]),output:1")
    for n in (1, 2):
        sw.send("p1", frame(mac(n), BCAST))
    sw.send("p2", frame(mac(3), BCAST))
    assert len(br.rules(table_id=5)) == 2 and len(br.rules(table_id=6)) == 1
    gone = br.delete_flows(parse_match("in_port=1"), table_id=0)
    assert len(gone) == 3 and not br.rules(table_id=5)
    br.delete_flows(parse_match("in_port=2"), table_id=0)
    assert len(br.rules(table_id=6)) == 1           # learned without delete_learned: stays


def test_learn_limit_and_result_dst(sw):
    br = three_ports(sw)
    br.delete_flows()
    br.add_flow("table=0,in_port=1,actions=learn(table=5,limit=2,result_dst=reg0[0],"
                "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,1)")
    br.add_flow("table=1,reg0=1,actions=output:2")
    br.add_flow("table=1,reg0=0,actions=output:3")
    assert [list(sw.send("p1", frame(mac(n), BCAST))) for n in (1, 2, 3, 1)] == [
        ["p2"], ["p2"], ["p3"], ["p2"]]        # the third source is over the limit
    assert len(br.rules(table_id=5)) == 2
    sw.run()                                  # revalidation keeps every decision
    assert [list(sw.send("p1", frame(mac(n), BCAST))) for n in (1, 2, 3)] == [["p2"], ["p2"], ["p3"]]
