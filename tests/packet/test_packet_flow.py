"""Header codecs and flow-key extraction: every protocol, truncation, and a fuzzer."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings, strategies as st

from pyvswitch.packet.flow import FRAG_ANY, FRAG_LATER, FlowKey, extract
from pyvswitch.packet.headers import (
    DL_TYPE_NONE, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_VLAN_8021AD, IPPROTO_DSTOPTS,
    IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_ROUTING, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP, IP_MORE_FRAGMENTS, Arp, Ethernet, Icmp, IPv4, IPv6, Sctp, Tcp, Udp, Vlan,
    arp_frame, eth_frame, ipv4_packet, ipv6_ext, ipv6_frag, ipv6_packet, mac_from_str, mac_to_str,
    nd_packet, tcp_frame, udp_frame, checksum,
)

MAC1, MAC2 = 0x001122334455, 0x66778899AABB
IP1, IP2 = 0x0A000001, 0x0A000002
V6A = int(ipaddress.IPv6Address("2001:db8::1"))
V6B = int(ipaddress.IPv6Address("2001:db8::2"))


def test_codecs_round_trip():
    for h in (Ethernet(MAC1, MAC2, 0x0800), Arp(1, MAC1, IP1, 0, IP2), Tcp(1, 2, 0x12, 3, 4),
              Udp(5, 6, 20), Sctp(7, 8, 9), Icmp(8, 0, 0x12345678)):
        assert type(h).unpack(h.pack()) == h
    ip = IPv4.unpack(IPv4(IP1, IP2, 6, tos=0x10, ttl=3, total_length=40).pack())
    assert (ip.src, ip.dst, ip.proto, ip.tos, ip.ttl, ip.total_length) == (IP1, IP2, 6, 0x10, 3, 40)
    assert checksum(IPv4(IP1, IP2, 6).pack()) == 0
    h6 = IPv6(V6A, V6B, 17, 8, 0x20, 0x12345, 9)
    assert IPv6.unpack(h6.pack()) == h6
    assert mac_from_str(mac_to_str(MAC1)) == MAC1 and mac_to_str(MAC1) == "00:11:22:33:44:55"


def test_tcp():
    k = extract(tcp_frame(MAC1, MAC2, IP1, IP2, 1234, 80, flags=0x12), in_port=7)
    assert (k.in_port, k.dl_src, k.dl_dst, k.dl_type) == (7, MAC1, MAC2, ETH_TYPE_IP)
    assert (k.nw_src, k.nw_dst, k.nw_proto, k.nw_ttl) == (IP1, IP2, IPPROTO_TCP, 64)
    assert (k.tp_src, k.tp_dst, k.tcp_flags, k.vlan_tci) == (1234, 80, 0x12, 0)
    assert hash(k) == hash(FlowKey(*k))


def test_udp_sctp_icmp():
    k = extract(udp_frame(MAC1, MAC2, IP1, IP2, 53, 5353, b"x" * 10))
    assert (k.nw_proto, k.tp_src, k.tp_dst) == (IPPROTO_UDP, 53, 5353)
    k = extract(eth_frame(MAC2, MAC1, ETH_TYPE_IP, ipv4_packet(IP1, IP2, IPPROTO_SCTP, Sctp(9, 10).pack())))
    assert (k.nw_proto, k.tp_src, k.tp_dst) == (IPPROTO_SCTP, 9, 10)
    k = extract(eth_frame(MAC2, MAC1, ETH_TYPE_IP, ipv4_packet(IP1, IP2, IPPROTO_ICMP, Icmp(3, 1).pack())))
    assert (k.nw_proto, k.tp_src, k.tp_dst) == (IPPROTO_ICMP, 3, 1)


def test_vlan_and_qinq():
    k = extract(tcp_frame(MAC1, MAC2, IP1, IP2, 1, 2, vlans=(Vlan(10, pcp=5),)))
    assert k.vlan_tci == 0xB00A and k.vlan_tci2 == 0 and k.dl_type == ETH_TYPE_IP and k.tp_dst == 2
    k = extract(tcp_frame(MAC1, MAC2, IP1, IP2, 1, 2,
                          vlans=(Vlan(100, tpid=ETH_TYPE_VLAN_8021AD), Vlan(20))))
    assert (k.vlan_tci, k.vlan_tci2, k.dl_type, k.tp_src) == (0x1064, 0x1014, ETH_TYPE_IP, 1)


def test_llc_snap_and_802_3():
    snap = bytes([0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00])
    k = extract(eth_frame(MAC2, MAC1, 8 + 20 + 8, snap + ipv4_packet(IP1, IP2, 17, Udp(1, 2).pack())))
    assert k.dl_type == ETH_TYPE_IP and k.tp_dst == 2
    k = extract(eth_frame(MAC2, MAC1, 46, b"\x42\x42\x03" + b"\0" * 43))
    assert k.dl_type == DL_TYPE_NONE


def test_arp():
    k = extract(arp_frame(MAC1, 0xFFFFFFFFFFFF, 2, MAC1, IP1, MAC2, IP2))
    assert (k.dl_type, k.nw_proto, k.nw_src, k.nw_dst, k.arp_sha, k.arp_tha) == (
        ETH_TYPE_ARP, 2, IP1, IP2, MAC1, MAC2)
    bad = eth_frame(0, MAC1, ETH_TYPE_ARP, Arp(1, MAC1, IP1, 0, IP2, hrd=6).pack())
    assert extract(bad).nw_src == 0


def test_ipv4_fragments():
    l4 = Udp(1, 2).pack()
    first = extract(eth_frame(0, 0, ETH_TYPE_IP, ipv4_packet(IP1, IP2, 17, l4, frag=IP_MORE_FRAGMENTS)))
    assert (first.nw_frag, first.tp_src) == (FRAG_ANY, 1)
    later = extract(eth_frame(0, 0, ETH_TYPE_IP, ipv4_packet(IP1, IP2, 17, l4, frag=100)))
    assert (later.nw_frag, later.tp_src, later.nw_proto) == (FRAG_ANY | FRAG_LATER, 0, 17)


def test_ipv4_padding_and_bad_header():
    pkt = ipv4_packet(IP1, IP2, IPPROTO_TCP, b"")  # a TCP header would be in the padding
    k = extract(eth_frame(0, 0, ETH_TYPE_IP, pkt + Tcp(1, 2).pack()))
    assert k.nw_proto == IPPROTO_TCP and k.tp_src == 0
    bad_ihl = bytearray(pkt)
    bad_ihl[0] = 0x44
    k = extract(eth_frame(0, 0, ETH_TYPE_IP, bytes(bad_ihl)))
    assert (k.dl_type, k.nw_src, k.nw_proto) == (ETH_TYPE_IP, 0, 0)


def test_ipv6_and_extension_headers():
    tcp = Tcp(22, 2222, 0x10).pack()
    exts = (ipv6_ext(IPPROTO_ROUTING) + ipv6_ext(IPPROTO_DSTOPTS, b"\0" * 14)
            + ipv6_ext(IPPROTO_TCP))
    k = extract(eth_frame(0, 0, ETH_TYPE_IPV6,
                          ipv6_packet(V6A, V6B, IPPROTO_HOPOPTS, exts + tcp, tclass=0x21, label=0xABCDE,
                                      hlim=7)))
    assert (k.ipv6_src, k.ipv6_dst, k.ipv6_label, k.nw_tos, k.nw_ttl) == (V6A, V6B, 0xABCDE, 0x21, 7)
    assert (k.nw_proto, k.tp_src, k.tp_dst, k.tcp_flags, k.nw_frag) == (IPPROTO_TCP, 22, 2222, 0x10, 0)
    first = extract(eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(
        V6A, V6B, 44, ipv6_frag(IPPROTO_UDP, 0, True) + Udp(5, 6).pack())))
    assert (first.nw_frag, first.nw_proto, first.tp_dst) == (FRAG_ANY, IPPROTO_UDP, 6)
    later = extract(eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(
        V6A, V6B, 44, ipv6_frag(IPPROTO_UDP, 10) + Udp(5, 6).pack())))
    # A later fragment keeps the fragment header's type, as OVS does.
    assert (later.nw_frag, later.nw_proto, later.tp_dst) == (FRAG_ANY | FRAG_LATER, 44, 0)
    # A truncated extension header: addresses stay, the rest of L3 does not.
    k = extract(eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_HOPOPTS, b"\x06\x05",
                                                           label=5)))
    assert (k.ipv6_src, k.ipv6_label, k.nw_proto, k.nw_ttl) == (V6A, 0, 0, 0)


def test_neighbor_discovery():
    target = int(ipaddress.IPv6Address("fe80::1"))
    ns = extract(eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_ICMPV6,
                                                            nd_packet(135, target, sll=MAC1))))
    assert (ns.nw_proto, ns.tp_src, ns.tp_dst, ns.nd_target, ns.arp_sha, ns.arp_tha) == (
        IPPROTO_ICMPV6, 135, 0, target, MAC1, 0)
    na = extract(eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_ICMPV6,
                                                            nd_packet(136, target, tll=MAC2))))
    assert (na.tp_src, na.nd_target, na.arp_tha) == (136, target, MAC2)
    # A zero-length option ends the option list; the target stays.
    bad = nd_packet(135, target) + b"\x01\x00" + b"\0" * 6
    k = extract(eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_ICMPV6, bad)))
    assert (k.tp_src, k.nd_target, k.arp_sha) == (135, target, 0)
    # A repeated link-layer address option invalidates the message.
    dup = nd_packet(135, target, sll=MAC1) + b"\x01\x01" + MAC2.to_bytes(6, "big")
    k = extract(eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_ICMPV6, dup)))
    assert k.nd_target == 0


def test_every_truncation_is_a_prefix_of_knowledge():
    """Cutting a frame anywhere never raises and never invents fields."""
    frames = [
        tcp_frame(MAC1, MAC2, IP1, IP2, 1, 2, vlans=(Vlan(5), Vlan(6))),
        arp_frame(MAC1, MAC2, 1, MAC1, IP1, 0, IP2),
        eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_ICMPV6,
                                                   nd_packet(135, V6B, sll=MAC1))),
    ]
    for f in frames:
        full = extract(f)
        for n in range(len(f)):
            k = extract(f[:n])
            for name, got, want in zip(FlowKey._fields, k, full):
                # dl_type may be left at a VLAN TPID when a tag is cut.
                assert got in (0, want) or name == "dl_type", (n, name)


valid_frames = st.sampled_from([
    tcp_frame(MAC1, MAC2, IP1, IP2, 1, 2, vlans=(Vlan(5),)),
    udp_frame(MAC1, MAC2, IP1, IP2, 1, 2, b"abc"),
    arp_frame(MAC1, MAC2, 1, MAC1, IP1, 0, IP2),
    eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_HOPOPTS,
                                               ipv6_ext(44) + ipv6_frag(6) + Tcp(1, 2).pack())),
    eth_frame(0, 0, ETH_TYPE_IPV6, ipv6_packet(V6A, V6B, IPPROTO_ICMPV6,
                                               nd_packet(136, V6B, tll=MAC1))),
])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_fuzz_random_bytes_never_raise(data, port):
    k = extract(data, port)
    assert k.in_port == port
    extract(memoryview(data))


@settings(max_examples=300, deadline=None)
@given(valid_frames, st.lists(st.tuples(st.integers(0, 199), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))
def test_fuzz_mutated_frames_never_raise(frame, flips, cut):
    b = bytearray(frame)
    for pos, val in flips:
        if pos < len(b):
            b[pos] = val
    k = extract(bytes(b[:cut]))
    assert isinstance(k, FlowKey) and all(isinstance(v, int) for v in k)


def test_builders_fill_transport_checksums():
    import struct
    from pyvswitch.packet.headers import icmp_frame, nd_frame
    f = tcp_frame(MAC1, MAC2, IP1, IP2, 1234, 80, payload=b"hello")
    l4 = f[34:]
    assert checksum(f[26:34] + struct.pack("!BBH", 0, IPPROTO_TCP, len(l4)) + l4) == 0
    f = udp_frame(MAC1, MAC2, IP1, IP2, 5, 6, b"x")
    l4 = f[34:]
    assert checksum(f[26:34] + struct.pack("!BBH", 0, IPPROTO_UDP, len(l4)) + l4) == 0
    assert checksum(icmp_frame(MAC1, MAC2, IP1, IP2)[34:]) == 0
    f = nd_frame(MAC1, 0x3333FF000002, V6A, V6B, 135, V6B, sll=MAC1)
    l4 = f[54:]
    assert checksum(f[22:54] + struct.pack("!IxxxB", len(l4), IPPROTO_ICMPV6) + l4) == 0
    k = extract(f)
    assert (k.tp_src, k.nd_target, k.arp_sha, k.nw_ttl) == (135, V6B, MAC1, 255)


def test_extension_header_and_nd_codecs():
    from pyvswitch.packet.headers import Ipv6Ext, Ipv6Frag, NeighborDiscovery
    for h in (Ipv6Ext(6, b"\x01" * 14), Ipv6Frag(17, 100, True, 0xDEADBEEF),
              NeighborDiscovery(135, V6B, sll=MAC1), NeighborDiscovery(136, V6A, tll=MAC2,
                                                                        flags=0x60000000)):
        assert type(h).unpack(h.pack()) == h
    assert len(Ipv6Ext(0, b"").pack()) == 8 and ipv6_ext(6) == Ipv6Ext(6).pack()
    import pytest
    with pytest.raises(ValueError):
        NeighborDiscovery.unpack(nd_packet(135, V6B) + b"\x01\x00" + b"\0" * 6)
    with pytest.raises(ValueError):
        Ipv6Ext.unpack(Ipv6Ext(6, b"\0" * 14).pack()[:10])
