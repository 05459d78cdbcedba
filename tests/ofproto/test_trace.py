"""ofproto/trace and fdb/* text: golden outputs in the reference's shape (captured from
ovs-vswitchd 3.1 for the same bridges; our megaflows also print vlan_tci=0x0000 and
datapath port numbers are ours)."""

from __future__ import annotations

import pytest

from ofproto_harness import Switch
from pyvswitch.datapath.actions import OUTPUT, PUSH_VLAN, SET, format_actions
from pyvswitch.ofproto.trace import COMMANDS


@pytest.fixture
def sw():
    s = Switch()
    br = s.bridge()
    s.port(br, "p1", 1)
    s.port(br, "p2", 2)
    s.port(br, "p3", 3, tag=10)
    s.port(br, "p4", 4, trunks=frozenset({10, 20}))
    yield s
    s.close()


def run(sw, *args):
    name, *rest = args
    return COMMANDS[name](sw.bridges, list(rest), sw.clock.t)


def test_trace_normal_flood_and_learn(sw):
    ok, text = run(sw, "ofproto/trace", "br0",
                   "in_port=4,dl_vlan=10,dl_src=00:00:00:00:00:04,dl_dst=ff:ff:ff:ff:ff:ff", "-generate")
    assert ok
    p1, p3, lo = sw.odp("p1"), sw.odp("p3"), sw.odp("br0")
    assert text == f"""\
Flow: in_port=4,dl_vlan=10,dl_vlan_pcp=0,vlan_tci1=0x0000,dl_src=00:00:00:00:00:04,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0000

bridge("br0")
-------------
 0. priority 0
    NORMAL
     -> learned that 00:00:00:00:00:04 is on port p4 in VLAN 10
     -> no learned MAC for destination, flooding

Final flow: unchanged
Megaflow: recirc_id=0,eth,in_port=4,dl_vlan=10,dl_vlan_pcp=0,dl_src=00:00:00:00:00:04,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0000
Datapath actions: {p1},{sw.odp("p2")},pop_vlan,{p3},push_vlan(vid=10,pcp=0),{lo}
"""
    ok, text = run(sw, "ofproto/trace", "br0", "in_port=3,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04")
    assert "     -> forwarding to learned port\n" in text
    assert text.endswith(f"Datapath actions: push_vlan(vid=10,pcp=0),{sw.odp('p4')}\n")


def test_trace_vlan_drops(sw):
    _, text = run(sw, "ofproto/trace", "br0", "in_port=4,dl_vlan=30,dl_dst=ff:ff:ff:ff:ff:ff")
    assert ("     >>>> dropping VLAN 30 packet received on port p4 not configured for trunking VLAN 30 <<<<\n"
            "     >> disallowed VLAN VID for this input port, dropping\n") in text
    _, text = run(sw, "ofproto/trace", "br0", "in_port=3,dl_vlan=5,dl_dst=ff:ff:ff:ff:ff:ff")
    assert ">>>> dropping VLAN 5 tagged packet received on port p3 configured as VLAN 10 access port <<<<" in text
    assert text.endswith("Datapath actions: drop\n")
    _, text = run(sw, "ofproto/trace", "br0", "in_port=9")
    assert ">>>> received packet on unknown port 9 <<<<\n     >> no input bundle, dropping" in text


def test_trace_tables(sw):
    br = sw.bridges["br0"]
    br.add_flow("table=0,priority=100,ip,actions=dec_ttl,mod_nw_dst:10.0.0.9,resubmit(,1)")
    br.add_flow("table=1,priority=10,ip,nw_dst=10.0.0.9,"
                "actions=set_field:00:00:00:00:00:09->eth_dst,output:2,goto_table:2")
    br.add_flow("table=2,actions=mod_vlan_vid:20,output:4,LOCAL")
    _, text = run(sw, "ofproto/trace", "br0", "in_port=1,tcp,dl_src=00:00:00:00:00:01,"
                  "dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80,nw_ttl=64")
    # The datapath's own printer writes the actions (its format is its business).
    odp = ((SET, "dl_dst", 0x09), (SET, "nw_dst", 0x0A000009), (SET, "nw_ttl", 63),
           (OUTPUT, sw.odp("p2")), (PUSH_VLAN, 0x8100, 20), (OUTPUT, sw.odp("p4")),
           (OUTPUT, sw.odp("br0")))
    assert text == f"""\
Flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0

bridge("br0")
-------------
 0. ip, priority 100
    dec_ttl
    mod_nw_dst:10.0.0.9
    resubmit(,1)
 1. ip,nw_dst=10.0.0.9, priority 10
    mod_dl_dst:00:00:00:00:00:09
    output:2
    goto_table:2
 2. priority 32768
    mod_vlan_vid:20
    output:4
    LOCAL

Final flow: tcp,in_port=1,dl_vlan=20,dl_vlan_pcp=0,vlan_tci1=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09,nw_src=10.0.0.1,nw_dst=10.0.0.9,nw_tos=0,nw_ecn=0,nw_ttl=63,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0
Megaflow: recirc_id=0,eth,tcp,in_port=1,vlan_tci=0x0000,dl_dst=00:00:00:00:00:02,nw_dst=10.0.0.2,nw_ttl=64,nw_frag=no
Datapath actions: {format_actions(odp)}
"""
    assert "set(eth(dst=00:00:00:00:00:09))" in text


def test_trace_misses_exceptions_and_recursion(sw):
    br = sw.bridges["br0"]
    br.delete_flows()
    br.add_flow("table=0,cookie=0x12,priority=100,ip,actions=dec_ttl,resubmit(,5)")
    br.add_flow("table=0,priority=70,dl_type=0x1234,actions=resubmit(2)")
    _, text = run(sw, "ofproto/trace", "br0", "in_port=1,tcp,nw_ttl=1")
    assert " 0. ip, priority 100, cookie 0x12\n    dec_ttl\n     >> IPv4 decrement TTL exception\n" in text
    assert "Datapath actions: userspace(pid=0,controller(reason=invalid_ttl,rule_cookie=0x12," in text
    _, text = run(sw, "ofproto/trace", "br0", "in_port=1,tcp,nw_ttl=5")
    assert " 5. No match.\n    drop\n" in text and "nw_ttl=4" in text
    _, text = run(sw, "ofproto/trace", "br0", "in_port=1,dl_type=0x1234")
    assert text.count("resubmit:2") == 65      # as in the reference
    assert text.endswith("     >>>> over max translation depth 64 <<<<\n\nFinal flow: unchanged\n"
                         "Megaflow: recirc_id=0,eth,in_port=1,dl_type=0x1234\nDatapath actions: drop\n"
                         "Translation failed (Recursion too deep), packet is dropped.\n")
    _, text = run(sw, "ofproto/trace", "br0", "in_port=1,dl_type=0x1235")
    assert " 0. No match.\n    drop\n" in text


def test_command_errors_in_ovs_words(sw):
    assert run(sw, "ofproto/trace") == (False, '"ofproto/trace" command requires at least 1 arguments')
    assert run(sw, "ofproto/trace", "br0") == (False, "syntax error at br0 (or the bridge name was omitted)")
    assert run(sw, "ofproto/trace", "br9", "in_port=1") == (False, "br9: unknown bridge")
    assert run(sw, "ofproto/trace", "br0", "foo=1") == (
        False, "Bad openflow flow syntax: foo=1: unknown field foo")
    assert run(sw, "fdb/show", "br9") == (False, "no such bridge")
    assert run(sw, "fdb/flush", "br9") == (False, "no such bridge")
    assert run(sw, "fdb/flush") == (True, "table successfully flushed\n")
    assert run(sw, "fdb/show", "br0") == (True, " port  VLAN  MAC                Age\n")
    ok, text = run(sw, "fdb/stats-show", "br0")
    assert text.startswith('Statistics for bridge "br0":\n  Current/maximum MAC entries in the table: 0/8192\n')


def test_trace_without_generate_does_not_learn(sw):
    run(sw, "ofproto/trace", "br0", "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff")
    assert len(sw.bridges["br0"].mac) == 0


def test_dpif_show(sw):
    br = sw.bridges["br0"]
    br.add_port("patch0", ofport_request=5, peer="patch1", type="patch")
    ok, text = run(sw, "dpif/show")
    lines = text.splitlines()
    assert ok and lines[0] == "dummy@test: hit:0 missed:0" and lines[1] == "  br0:"
    assert f"    br0 65534/{sw.odp('br0')}: (dummy-internal)" in lines
    assert f"    p1 1/{sw.odp('p1')}: (dummy)" in lines
    assert "    patch0 5/none: (patch: peer=patch1)" in lines
    assert run(sw, "dpif/show", "br0") == (False, '"dpif/show" command takes at most 0 arguments')


def test_static_fdb_entries(sw):
    br = sw.bridges["br0"]
    assert run(sw, "fdb/add", "br0", "p1", "0", "00:00:00:00:00:55") == (True, "")
    assert run(sw, "fdb/add", "br0", "p1", "5000", "00:00:00:00:00:56") == (True, "")
    assert run(sw, "fdb/add", "br0", "p9", "0", "00:00:00:00:00:56") == (
        False, "software error, odp port is present but no ofp port")
    assert run(sw, "fdb/add", "br0", "p1", "0", "zz") == (False, "bad MAC address")
    assert run(sw, "fdb/add", "br9", "p1", "0", "00:00:00:00:00:55") == (False, "no such bridge")
    assert run(sw, "fdb/add", "br0", "p1") == (False, '"fdb/add" command requires at least 4 arguments')
    # Learning does not move a static entry; flushing keeps it; it never ages.
    run(sw, "ofproto/trace", "br0", "in_port=2,dl_src=00:00:00:00:00:55,dl_dst=ff:ff:ff:ff:ff:ff", "-generate")
    run(sw, "ofproto/trace", "br0", "in_port=2,dl_src=00:00:00:00:00:66,dl_dst=00:00:00:00:00:55", "-generate")
    assert run(sw, "fdb/show", "br0")[1] == (
        " port  VLAN  MAC                Age\n"
        "    1     0  00:00:00:00:00:55  static\n"
        "    1  5000  00:00:00:00:00:56  static\n"
        "    2     0  00:00:00:00:00:66    0\n")
    run(sw, "fdb/flush", "br0")
    sw.run(10000)
    assert br.mac.lookup(0, 0x55) == 1 and len(br.mac) == 2
    assert "Current static MAC entries in the table : 2" in run(sw, "fdb/stats-show", "br0")[1]
    assert run(sw, "fdb/del", "br0", "0", "00:00:00:00:00:55") == (True, "")
    assert run(sw, "fdb/del", "br0", "0", "00:00:00:00:00:55") == (False, "could not find static mac entry")
    assert len(br.mac) == 1


def test_trace_a_packet(sw):
    pkt = "ffffffffffff0000000000770800450000140000000040110000c0a80001c0a80002"
    ok, text = run(sw, "ofproto/trace", "br0", "in_port=1", pkt)
    assert ok and text.startswith(
        "Flow: udp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:77,dl_dst=ff:ff:ff:ff:ff:ff,"
        "nw_src=192.168.0.1,nw_dst=192.168.0.2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=0,tp_dst=0\n")
    assert "     -> learned that 00:00:00:00:00:77 is on port p1 in VLAN 0\n" in text
    assert run(sw, "ofproto/trace", "br0", "in_port=1", "ff") == (False, "Packet data too short for Ethernet")
    assert run(sw, "ofproto/trace", "br0", "in_port=1", "zz") == (False, "Trailing garbage in packet data")


def test_nested_translations_indent_as_ovs_does(sw):
    """Captured from ovs-vswitchd 3.1: a resubmit that is not the last thing in its frame
    nests (its table at the action column, its actions 8 further); a last one continues."""
    br = sw.bridges["br0"]
    br.delete_flows()
    br.add_flow("table=0,actions=resubmit(,1),output:1")
    br.add_flow("table=1,actions=resubmit(,2),output:2,NORMAL")
    br.add_flow("table=2,actions=dec_ttl,output:4,resubmit(,3)")
    br.add_flow("table=3,actions=NORMAL")
    text = br.trace("in_port=3,dl_dst=ff:ff:ff:ff:ff:ff", sw.clock.t)
    assert text.split("\n\n")[1] == """\
bridge("br0")
-------------
 0. priority 32768
    resubmit(,1)
     1. priority 32768
            resubmit(,2)
             2. priority 32768
                    dec_ttl
                    output:4
                    resubmit(,3)
                 3. priority 32768
                    NORMAL
                     -> no learned MAC for destination, flooding
            output:2
            NORMAL
             -> no learned MAC for destination, flooding
    output:1"""


def test_patch_port_indentation(sw):
    br0 = sw.bridges["br0"]
    br1 = sw.bridge("br1")
    br0.add_port("patch0", ofport_request=10, peer="patch1", type="patch")
    sw.port(br1, "q1", 1)
    br1.add_port("patch1", ofport_request=2, peer="patch0", type="patch")
    br1.delete_flows()
    br1.add_flow("actions=resubmit(,1),output:1")
    br1.add_flow("table=1,actions=mod_vlan_vid:9")
    br0.delete_flows()
    br0.add_flow("table=0,actions=output:10,dec_ttl,resubmit(,1)")
    br0.add_flow("table=1,actions=output:10")
    text = br0.trace("in_port=3", sw.clock.t)
    assert text.split("\nFinal flow")[0].split("\n", 2)[2] == """\
bridge("br0")
-------------
 0. priority 32768
    output:10

    bridge("br1")
    -------------
         0. priority 32768
            resubmit(,1)
             1. priority 32768
                    mod_vlan_vid:9
            output:1
    dec_ttl
    resubmit(,1)
 1. priority 32768
    output:10

bridge("br1")
-------------
 0. priority 32768
    resubmit(,1)
     1. priority 32768
            mod_vlan_vid:9
    output:1
"""


def test_ofproto_list_and_bridge_dump_flows(sw):
    br = sw.bridges["br0"]
    br.delete_flows()
    br.add_flow("table=1,cookie=0x5,priority=7,ip,idle_timeout=50,actions=output:2", now=sw.clock.t)
    br.add_flow("actions=NORMAL", now=sw.clock.t)
    assert run(sw, "ofproto/list") == (True, "br0\n")
    ok, text = run(sw, "bridge/dump-flows", "br0")
    assert text == ("duration=0s, n_packets=0, n_bytes=0, ,actions=NORMAL\n"
                    "table_id=1, duration=0s, n_packets=0, n_bytes=0, priority=7,ip,actions=output:2\n")
    assert run(sw, "bridge/dump-flows", "br9") == (False, "Unknown bridge")


def test_trace_a_datapath_flow(sw):
    p3 = sw.odp("p3")
    odp = f"in_port({p3}),eth(src=00:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x1234)"
    ok, text = run(sw, "ofproto/trace", odp)
    assert ok and text.startswith(
        "Flow: in_port=3,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,"
        "dl_type=0x1234\n\nbridge(\"br0\")\n")
    assert run(sw, "ofproto/trace", "dummy@test", odp)[1] == text
    assert run(sw, "ofproto/trace", "test", odp)[1] == text
    assert run(sw, "ofproto/trace", "nodp", odp) == (False, "Cannot find the datapath")
    assert run(sw, "ofproto/trace", "in_port(77),eth_type(0x1234)") == (
        False, "no OpenFlow port for datapath port 77")
    assert run(sw, "ofproto/trace", "in_port(3),bogus(1)")[0] is False


def test_learn_in_trace(sw):
    """Lines captured from ovs-vswitchd 3.1 for the same flow and packet."""
    br = sw.bridges["br0"]
    br.delete_flows()
    br.add_flow("actions=learn(table=20,priority=1,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],"
                "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],"
                "load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:2")
    flow = "in_port=3,dl_src=00:00:00:00:00:07,dl_vlan=5,tun_id=9"
    assert "\n     >> suppressing side effects, so learn action ignored\n" in br.trace(flow, sw.clock.t)
    assert not br.rules(table_id=20)
    text = br.trace(flow, sw.clock.t, generate=True)
    assert ("\n     -> table=20 vlan_tci=0x0005/0x0fff,dl_dst=00:00:00:00:00:07 priority=1 hard=300 "
            "actions=load:0->NXM_OF_VLAN_TCI[],load:0x9->NXM_NX_TUN_ID[],output:3\n") in text
    assert br.dump_flows().splitlines()[-1] == (
        " table=20, hard_timeout=300, priority=1,vlan_tci=0x0005/0x0fff,dl_dst=00:00:00:00:00:07 "
        "actions=load:0->NXM_OF_VLAN_TCI[],load:0x9->NXM_NX_TUN_ID[],output:3")
