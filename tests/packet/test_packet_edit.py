"""Header rewrites: an edited frame is byte for byte the frame built with the new values.

The property tests are derandomized: an incremental checksum update may legitimately give
0x0000 where a full computation gives 0xffff (RFC 1624), so byte equality could fail on a
rare random input while both frames are valid.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from pyvswitch.packet import edit
from pyvswitch.packet.flow import extract, extract_with_offsets
from pyvswitch.packet.headers import (
    ETH_TYPE_IPV6, ETH_TYPE_VLAN_8021AD, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, Icmp, Tcp, Udp,
    Vlan, arp_frame, eth_frame, icmp_frame, ipv4_packet, ipv6_packet, nd_frame, tcp_frame,
    udp_frame,
)

MAC1, MAC2, MAC3 = 0x001122334455, 0x66778899AABB, 0x020000000001
IP1, IP2, IP3 = 0x0A000001, 0x0A000002, 0xC0A80101
V6A, V6B, V6C = (0x20010DB8 << 96) | 1, (0x20010DB8 << 96) | 2, (0xFE80 << 112) | 0x1234

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def parse(frame):
    return extract_with_offsets(frame)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(src=u32, dst=u32, sport=u16, dport=u16, tos=st.integers(0, 255), ttl=st.integers(0, 255),
       tcp=st.booleans())
def test_ipv4_and_ports_rewrite_equals_rebuild(src, dst, sport, dport, tos, ttl, tcp):
    build = tcp_frame if tcp else udp_frame
    before = bytearray(build(MAC1, MAC2, IP1, IP2, 1000, 2000))
    key, l3, l4 = parse(before)
    edit.set_ipv4(before, l3, l4, src=src, dst=dst)
    edit.set_tp_ports(before, l4, key.nw_proto, src=sport, dst=dport)
    after = build(MAC1, MAC2, src, dst, sport, dport)
    assert bytes(before) == after
    edit.set_ipv4(before, l3, l4, tos=tos, ttl=ttl)
    k = extract(before)
    assert (k.nw_tos, k.nw_ttl, k.nw_src, k.tp_dst) == (tos, ttl, src, dport)
    from pyvswitch.packet.headers import checksum
    assert checksum(bytes(before[l3:l3 + 20])) == 0


def test_udp_without_checksum_stays_without():
    l4 = Udp(1, 2).pack()
    f = bytearray(eth_frame(MAC2, MAC1, 0x0800, ipv4_packet(IP1, IP2, IPPROTO_UDP, l4)))
    f[34 + 6:34 + 8] = b"\0\0"
    key, l3, l4o = parse(f)
    edit.set_ipv4(f, l3, l4o, src=IP3)
    edit.set_tp_ports(f, l4o, IPPROTO_UDP, dst=53)
    assert f[34 + 6:34 + 8] == b"\0\0" and extract(f).tp_dst == 53


@settings(max_examples=50, deadline=None, derandomize=True)
@given(src=st.integers(0, 2**128 - 1), dst=st.integers(0, 2**128 - 1),
       proto=st.sampled_from([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6]))
def test_ipv6_rewrite_equals_rebuild(src, dst, proto):
    body = {IPPROTO_TCP: Tcp(1, 2).pack(), IPPROTO_UDP: Udp(1, 2).pack(),
            IPPROTO_ICMPV6: Icmp(128).pack()}[proto]
    f = bytearray(eth_frame(MAC2, MAC1, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, proto, body)))
    key, l3, l4 = parse(f)
    edit.set_ipv6(f, l3, l4, key.nw_proto, src=src, dst=dst, tclass=0x2E, label=0x12345, hlim=9)
    want = eth_frame(MAC2, MAC1, ETH_TYPE_IPV6,
                     ipv6_packet(src, dst, proto, body, tclass=0x2E, label=0x12345, hlim=9))
    assert bytes(f) == want


def test_vlan_push_pop_and_eth():
    plain = tcp_frame(MAC1, MAC2, IP1, IP2, 1, 2)
    tagged = edit.push_vlan(bytearray(plain), 0x1000 | (5 << 13) | 10)
    assert bytes(tagged) == tcp_frame(MAC1, MAC2, IP1, IP2, 1, 2, vlans=(Vlan(10, 5),))
    qinq = edit.push_vlan(tagged, 100, ETH_TYPE_VLAN_8021AD)
    k = extract(qinq)
    assert (k.vlan_tci, k.vlan_tci2) == (0x1064, 0x1000 | (5 << 13) | 10)
    edit.set_vlan_tci(qinq, 200)
    assert extract(qinq).vlan_tci == 0x10C8
    assert bytes(edit.pop_vlan(edit.pop_vlan(qinq))) == plain
    assert edit.pop_vlan(bytearray(plain)) == bytearray(plain)
    f = bytearray(plain)
    edit.set_eth(f, src=MAC3, dst=MAC1)
    assert bytes(f) == tcp_frame(MAC3, MAC1, IP1, IP2, 1, 2)


def test_arp_icmp_nd():
    f = bytearray(arp_frame(MAC1, MAC2, 1, MAC1, IP1, 0, IP2))
    _, l3, _ = parse(f)
    edit.set_arp(f, l3, op=2, sha=MAC3, spa=IP2, tha=MAC1, tpa=IP1)
    assert bytes(f) == arp_frame(MAC1, MAC2, 2, MAC3, IP2, MAC1, IP1)
    # (A non-zero id/seq: for all-zero data an incremental update gives 0x0000 where a full
    # computation gives 0xffff; both are valid, but not byte-equal.)
    f = bytearray(icmp_frame(MAC1, MAC2, IP1, IP2, 8, 0, rest=0x12340001))
    key, l3, l4 = parse(f)
    edit.set_icmp(f, l4, type_=0)
    edit.set_ipv4(f, l3, l4, src=IP2, dst=IP1)
    assert bytes(f) == icmp_frame(MAC1, MAC2, IP2, IP1, 0, 0, rest=0x12340001)
    f = bytearray(nd_frame(MAC1, MAC2, V6A, V6B, 135, V6B, sll=MAC1))
    key, l3, l4 = parse(f)
    edit.set_ipv6(f, l3, l4, key.nw_proto, src=V6C)
    assert bytes(f) == nd_frame(MAC1, MAC2, V6C, V6B, 135, V6B, sll=MAC1)


def test_offsets():
    assert parse(tcp_frame(1, 2, 3, 4, 5, 6))[1:] == (14, 34)
    assert parse(tcp_frame(1, 2, 3, 4, 5, 6, vlans=(Vlan(1), Vlan(2))))[1:] == (22, 42)
    assert parse(arp_frame(1, 2, 1, 1, 2, 3, 4))[1:] == (14, -1)
    assert parse(tcp_frame(1, 2, 3, 4, 5, 6)[:40])[1:] == (-1, -1)
    assert parse(b"\0" * 60)[1:] == (-1, -1)
