"""ODP flow text: golden lines printed by ovs-vswitchd 3.1 (dpctl/dump-flows, netdev
datapath, dummy ports) for the same megaflows, and parsing back."""

from __future__ import annotations

import pytest

from pyvswitch.datapath import actions as A
from pyvswitch.datapath.flowtable import Megaflow
from pyvswitch.datapath.odp_text import (
    OdpParseError, format_flow, format_key, format_tcp_flags, parse_actions, parse_flow,
)
from pyvswitch.packet.flow import FULL_MASK, FlowKey

F = FULL_MASK
MAC1, MAC2 = 0x505400000001, 0x505400000002


def mask(**slots) -> FlowKey:
    """A mask: slot=True for exact, slot=int for partial."""
    return FlowKey(**{k: (getattr(F, k) if v is True else v) for k, v in slots.items()})


def flow(key: FlowKey, m: FlowKey, actions=((A.OUTPUT, 2),), packets=0, bytes_=0, used=0.0,
         tcp_flags=0) -> Megaflow:
    masked = FlowKey(*(k & mm for k, mm in zip(key, m)))
    f = Megaflow(m, masked, actions, now=0.0, ufid=0x7155a4258f134a4c954551aeec7e3338,
                 packet_key=key)
    f.packets, f.bytes, f.used, f.tcp_flags = packets, bytes_, used, tcp_flags
    return f


UDP = FlowKey(in_port=1, dl_src=MAC1, dl_dst=MAC2, dl_type=0x0800, nw_src=0x0A000001,
              nw_dst=0x0A000002, nw_proto=17, nw_ttl=64, tp_src=1000, tp_dst=9)
NORMAL_IP = mask(in_port=True, dl_src=True, dl_dst=True, dl_type=True, nw_frag=True)


def test_normal_megaflow_golden():
    assert format_flow(flow(UDP, NORMAL_IP), 0.0) == (
        "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01,"
        "dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(frag=no), packets:0, bytes:0, "
        "used:never, actions:2")
    f = flow(UDP._replace(in_port=2), NORMAL_IP, ((A.OUTPUT, 1),), 1, 118, used=10.0)
    assert format_flow(f, 10.013).endswith(", packets:1, bytes:118, used:0.013s, actions:1")


def test_verbose_golden():
    names = {1: "p2", 2: "p1"}
    assert format_flow(flow(UDP, NORMAL_IP, ((A.OUTPUT, 2),)), 0.0, verbose=True,
                       port_names=names) == (
        "ufid:7155a425-8f13-4a4c-9545-51aeec7e3338, skb_priority(0/0),skb_mark(0/0),"
        "ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),dp_hash(0/0),"
        "in_port(p2),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),"
        "eth_type(0x0800),ipv4(src=10.0.0.1/0.0.0.0,dst=10.0.0.2/0.0.0.0,proto=17/0,tos=0/0,"
        "ttl=64/0,frag=no),udp(src=1000/0,dst=9/0), packets:0, bytes:0, used:never, dp:ovs, "
        "actions:p1")


def test_partial_masks_golden():
    tcp = UDP._replace(nw_proto=6, tp_dst=80)
    m = mask(in_port=True, dl_type=True, nw_src=True, nw_dst=0xFF000000, nw_proto=True,
             nw_frag=True, tp_dst=True)
    assert format_key(tcp, m) == ("recirc_id(0),in_port(1),packet_type(ns=0,id=0),"
                                  "eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2/255.0.0.0,"
                                  "proto=6,frag=no),tcp(dst=80)")
    icmp = UDP._replace(nw_proto=1, tp_src=8, tp_dst=0)
    m = mask(in_port=True, dl_type=True, nw_dst=0xFF000000, nw_proto=True, nw_tos=0xFC,
             nw_ttl=True, nw_frag=True)
    assert format_key(icmp, m).endswith(
        "eth_type(0x0800),ipv4(dst=10.0.0.2/255.0.0.0,proto=1,tos=0/0xfc,ttl=64,frag=no)")
    src_prefix = mask(in_port=True, dl_src=0xFFFFFF000000, dl_type=True, nw_proto=True,
                      nw_ttl=True, nw_frag=True)
    later = UDP._replace(nw_ttl=9, nw_frag=3)
    assert format_key(later, src_prefix) == (
        "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01/"
        "ff:ff:ff:00:00:00),eth_type(0x0800),ipv4(proto=17,ttl=9,frag=later)")


def test_vlan_arp_ipv6_golden():
    k = FlowKey(in_port=2, dl_src=MAC2, dl_dst=MAC1, dl_type=0x0800, vlan_tci=0x1000 | 3 << 13 | 7,
                nw_src=0x0A000002, nw_dst=0x0A000001, nw_proto=6, nw_ttl=64, tp_src=1, tp_dst=2)
    m = mask(in_port=True, dl_src=True, dl_dst=True, dl_type=True, vlan_tci=0x1FFF,
             nw_dst=0xFF000000, nw_proto=True, nw_frag=True, tp_dst=0xFFC0)
    assert format_key(k, m) == (
        "recirc_id(0),in_port(2),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:02,"
        "dst=50:54:00:00:00:01),eth_type(0x8100),vlan(vid=7,pcp=3/0x0),encap(eth_type(0x0800),"
        "ipv4(dst=10.0.0.1/255.0.0.0,proto=6,frag=no),tcp(dst=2/0xffc0))")
    arp = FlowKey(in_port=2, dl_src=MAC2, dl_dst=0xFFFFFFFFFFFF, dl_type=0x0806,
                  nw_src=0x0A000002, nw_dst=0x0A000001, nw_proto=1, arp_sha=MAC2)
    m = mask(in_port=True, dl_src=True, dl_dst=True, dl_type=True, nw_src=True, nw_dst=True,
             nw_proto=True)
    assert format_flow(flow(arp, m, ((A.OUTPUT, 3), (A.OUTPUT, 1))), 0.0) == (
        "recirc_id(0),in_port(2),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:02,"
        "dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),arp(sip=10.0.0.2,tip=10.0.0.1,op=1), "
        "packets:0, bytes:0, used:never, actions:3,1")
    assert format_key(arp, mask(in_port=True, dl_type=True)) == (
        "recirc_id(0),in_port(2),packet_type(ns=0,id=0),eth_type(0x0806)")
    v6 = FlowKey(in_port=1, dl_type=0x86DD, ipv6_src=0x20010DB8 << 96 | 1,
                 ipv6_dst=0x20010DB8 << 96 | 2, nw_proto=17, nw_ttl=64, tp_src=1000, tp_dst=80)
    m = mask(in_port=True, dl_type=True, ipv6_dst=True, nw_proto=True, nw_frag=True, tp_dst=True)
    f = flow(v6, m, ((A.SET, "ipv6_dst", 0x20010DB8 << 96 | 9), (A.SET, "tp_dst", 53),
                     (A.OUTPUT, 2)))
    assert format_flow(f, 0.0) == (
        "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x86dd),ipv6(dst=2001:db8::2,"
        "proto=17,frag=no),udp(dst=80), packets:0, bytes:0, used:never, "
        "actions:set(ipv6(dst=2001:db8::9)),set(udp(dst=53)),2")


def test_tcp_flags_golden():
    k = FlowKey(in_port=1, dl_type=0x0800, nw_proto=6, nw_ttl=64, tp_dst=80, tcp_flags=0x002)
    m = mask(in_port=True, dl_type=True, nw_proto=True, nw_frag=True, tcp_flags=0x012)
    f = flow(k, m, (), 1, 54, used=1.0, tcp_flags=0x002)
    assert format_flow(f, 1.115) == (
        "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(proto=6,frag=no),"
        "tcp_flags(+syn-ack), packets:1, bytes:54, used:0.115s, flags:S, actions:drop")
    assert format_tcp_flags(0x01 | 0x08 | 0x10 | 0x20 | 0x04 | 0x40 | 0x80) == "FPRU.EC"


def test_actions_text():
    acts = ((A.PUSH_VLAN, 0x8100, 10), (A.OUTPUT, 1), (A.POP_VLAN,), (A.SET, "nw_tos", 0x10),
            (A.SET, "nw_ttl", 3), (A.OUTPUT, 2))
    text = A.format_actions(acts)
    assert text == "push_vlan(vid=10,pcp=0),1,pop_vlan,set(ipv4(tos=0x10,ttl=3)),2"
    assert parse_actions(text) == acts
    assert parse_actions("drop") == ()
    assert parse_actions("p1,p2", {"p1": 2, "p2": 1}) == ((A.OUTPUT, 2), (A.OUTPUT, 1))


@pytest.mark.parametrize("text", [
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01,"
    "dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(frag=no)",
    "recirc_id(0),in_port(2),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:02,"
    "dst=50:54:00:00:00:01),eth_type(0x8100),vlan(vid=7,pcp=3/0x0),encap(eth_type(0x0800),"
    "ipv4(dst=10.0.0.1/255.0.0.0,proto=6,frag=no),tcp(dst=0/0xffc0))",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x86dd),ipv6(dst=2001:db8::2,"
    "proto=17,frag=no),udp(dst=80)",
    "recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(proto=6,frag=no),"
    "tcp_flags(+syn-ack)",
])
def test_parse_round_trip(text):
    m, k = parse_flow(text)
    assert format_key(k, m) == text
    assert parse_flow(format_key(k, m, verbose=True)) == (m, k)


def test_parse_errors():
    with pytest.raises(OdpParseError, match="syntax error at garbage"):
        parse_flow("garbage(")
    with pytest.raises(OdpParseError):
        parse_flow("in_port(1),ipv4(src=1.2.3)")
    with pytest.raises(OdpParseError):
        parse_actions("frobnicate(1)")
