"""dpctl commands against an in-process userspace datapath with dummy ports; outputs and
errors as ovs-vswitchd 3.1 prints them."""

from __future__ import annotations

import struct

from pyvswitch.datapath import actions as A
from pyvswitch.datapath import dpctl
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev import Packet
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.packet import headers as H
from pyvswitch.packet.flow import FULL_MASK, FlowKey

MAC1, MAC2 = 0x505400000001, 0x505400000002
NORMAL_IP = FlowKey(in_port=FULL_MASK.in_port, dl_src=FULL_MASK.dl_src, dl_dst=FULL_MASK.dl_dst,
                    dl_type=FULL_MASK.dl_type, nw_frag=FULL_MASK.nw_frag)


def _udp(src_mac=MAC1, dst_mac=MAC2):
    udp = struct.pack("!HHHH", 1000, 9, 12, 0) + b"data"
    ip = H.ipv4_packet(0x0A000001, 0x0A000002, H.IPPROTO_UDP, udp)
    return H.eth_frame(dst_mac, src_mac, H.ETH_TYPE_IP, ip)


class Clock:
    t = 100.0

    def __call__(self):
        return self.t


def _dp():
    clock = Clock()
    dp = UserspaceDatapath("ovs-netdev", "netdev", clock=clock)
    p1, p2 = DummyNetdev("p2"), DummyNetdev("p1")
    dp.port_add(p1, 1)
    dp.port_add(p2, 2)
    dp.set_upcall_handler(lambda key, pkt: (((A.OUTPUT, 3 - key.in_port),), NORMAL_IP))
    return dp, clock, p1, p2


def run(dp, name, *args, now=100.0):
    return dpctl.run(name, [dp] if dp else [], list(args), now)


def test_show_and_dump_flows():
    dp, clock, p1, p2 = _dp()
    try:
        assert run(dp, "show") == (True, "netdev@ovs-netdev:\n  lookups: hit:0 missed:0 lost:0\n"
                                   "  flows: 0\n  port 1: p2 (dummy)\n  port 2: p1 (dummy)\n")
        assert run(dp, "dump-flows") == (True, "")
        dp.process(1, [Packet(_udp())])
        ok, text = run(dp, "dump-flows", now=100.013)
        assert ok and text == (
            "flow-dump from the main thread:\n"
            "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01,"
            "dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(frag=no), packets:1, bytes:46, "
            "used:0.013s, actions:2\n")
        ok, text = run(dp, "dump-flows", "-m", now=100.013)
        assert "in_port(p2)" in text and text.rstrip().endswith("dp:ovs, actions:p1")
        ok, text = run(dp, "dump-flows", "--names", "netdev@ovs-netdev", now=100.013)
        assert "in_port(p2)" in text and "actions:p1" in text and "skb_mark" not in text
        ok, text = run(dp, "show", "-s")
        assert "  lookups: hit:0 missed:1 lost:0\n  flows: 1\n  port 1: p2 (dummy)\n" \
               "    RX packets:0 errors:? dropped:? overruns:? frame:?\n" in text
        assert run(dp, "dump-dps") == (True, "netdev@ovs-netdev\n")
        assert run(dp, "del-flows") == (True, "")
        assert run(dp, "dump-flows") == (True, "")
    finally:
        dp.close()


def test_add_mod_del_flow():
    dp, clock, p1, p2 = _dp()
    flow = "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.0/255.0.0.0,frag=no)"
    try:
        assert run(dp, "add-flow", flow, "2") == (True, "")
        assert run(dp, "add-flow", flow, "2") == (
            False, "ovs-vswitchd: updating flow table (File exists)\n")
        ok, text = run(dp, "dump-flows")
        assert text.splitlines()[1] == (
            "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),"
            "ipv4(dst=10.0.0.0/255.0.0.0,frag=no), packets:0, bytes:0, used:never, actions:2")
        assert run(dp, "mod-flow", flow, "push_vlan(vid=5,pcp=0),2") == (True, "")
        assert run(dp, "dump-flows")[1].rstrip().endswith("actions:push_vlan(vid=5,pcp=0),2")
        # The installed flow forwards without an upcall.
        dp.process(1, [Packet(_udp())])
        assert dp.stats().hit == 1 and len(p2.transmitted) == 1
        assert run(dp, "del-flow", flow) == (True, "")
        assert run(dp, "del-flow", flow) == (
            False, "ovs-vswitchd: deleting flow (No such file or directory)\n"
                   "Perhaps you need to specify a UFID?\n")
        assert run(dp, "mod-flow", flow, "2") == (
            False, "ovs-vswitchd: updating flow table (No such file or directory)\n")
        assert run(dp, "mod-flow", "--may-create", flow, "2") == (True, "")
        assert run(dp, "add-flow", "garbage(", "2") == (
            False, "ovs-vswitchd: parsing flow key (syntax error at garbage() (Invalid argument)\n")
    finally:
        dp.close()


def test_two_datapaths_need_a_name():
    a, *_ = _dp()
    b = UserspaceDatapath("ovs-system", "system")
    try:
        assert dpctl.run("dump-flows", [a, b], [], 0.0) == (
            False, "ovs-vswitchd: multiple datapaths, specify one\n"
                   "ovs-vswitchd: datapath not found (Invalid argument)\n")
        assert dpctl.run("dump-dps", [b, a], [], 0.0) == (
            True, "netdev@ovs-netdev\nsystem@ovs-system\n")
        ok, text = dpctl.run("show", [a, b], [], 0.0)
        assert text.index("netdev@ovs-netdev:") < text.index("system@ovs-system:\n  lookups:")
    finally:
        a.close()
        b.close()


def test_errors_without_datapaths():
    assert run(None, "show") == (False, "ovs-vswitchd: no datapaths exist\n")
    assert run(None, "dump-flows") == (False, "ovs-vswitchd: datapath not found (Invalid argument)\n")
    dp, *_ = _dp()
    try:
        assert run(dp, "dump-flows", "system@ovs-system") == (
            False, "ovs-vswitchd: datapath not found (Invalid argument)\n")
        assert run(dp, "show", "nosuch") == (
            False, "ovs-vswitchd: opening datapath nosuch failed (No such device)\n")
    finally:
        dp.close()
