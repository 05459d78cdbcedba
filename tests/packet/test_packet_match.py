"""Matches: ovs-ofctl text syntax (golden against the reference), normalization, matching."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from util import needs_reference, ref

from pyvswitch.packet.fields import BY_NAME, FIELDS, FieldError, format_value, parse_value
from pyvswitch.packet.flow import FlowKey, extract
from pyvswitch.packet.headers import (
    ETH_TYPE_IP, IPPROTO_TCP, TCP_ACK, TCP_SYN, Vlan, arp_frame, tcp_frame, udp_frame,
)
from pyvswitch.packet.match import Match, MatchError, format_match, parse_match, split_items

GOLDEN = Path(__file__).with_name("parse_flow_golden.tsv")


def _cases():
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            text, expected = line.split("\t")
            yield text, expected


def ours(text: str) -> str:
    """What we print for a flow's match, as `ovs-ofctl parse-flow` would (priority included)."""
    items = [(k, v) for k, v in split_items(text) if k != "priority"]
    priority = [int(v) for k, v in split_items(text) if k == "priority"]
    try:
        m = parse_match(",".join(k if v is None else f"{k}={v}" for k, v in items))
    except FieldError as e:
        return f"error: {e}"
    return format_match(m.normalized(), priority[0] if priority else None)


@pytest.mark.parametrize("text,expected", list(_cases()))
def test_golden_parse_flow(text, expected):
    assert ours(text) == expected


def test_golden_round_trip():
    """Printed matches parse back to the same match."""
    for _, expected in _cases():
        if expected.startswith("error:") or "priority" in expected:
            continue
        m = parse_match(expected)
        assert format_match(m) == expected
        assert parse_match(format_match(m)) == m


@needs_reference
def test_golden_file_matches_reference():
    """The golden file still says what the installed ovs-ofctl says (a sample of it)."""
    for text, expected in list(_cases())[::7]:
        r = subprocess.run([ref("ovs-ofctl"), "parse-flow", f"{text},actions=drop"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode:
            got = "error: " + r.stderr.strip().splitlines()[-1].removeprefix("ovs-ofctl: ")
        else:
            got = r.stdout.strip().splitlines()[-1].split("ADD ", 1)[1][:-len("actions=drop")]
        assert got.rstrip(" ") == expected, text


def test_match_semantics():
    m = parse_match("tcp,nw_src=10.0.0.0/8,tp_dst=80")
    hit = extract(tcp_frame(1, 2, 0x0A010203, 0x0B000001, 5555, 80))
    assert m.matches(hit)
    assert not m.matches(extract(tcp_frame(1, 2, 0x0B010203, 0x0B000001, 5555, 80)))
    assert not m.matches(extract(tcp_frame(1, 2, 0x0A010203, 0x0B000001, 5555, 81)))
    assert not m.matches(extract(udp_frame(1, 2, 0x0A010203, 0x0B000001, 5555, 80)))
    assert Match().matches(hit)
    assert Match.exact(hit).matches(hit)
    assert not Match.exact(hit).matches(hit._replace(in_port=9))


def test_vlan_matching():
    tagged = extract(tcp_frame(1, 2, 3, 4, 5, 6, vlans=(Vlan(10, pcp=3),)))
    untagged = extract(tcp_frame(1, 2, 3, 4, 5, 6))
    assert parse_match("dl_vlan=10").matches(tagged)
    assert not parse_match("dl_vlan=10").matches(untagged)
    assert parse_match("dl_vlan=0xffff").matches(untagged)
    assert not parse_match("dl_vlan=0xffff").matches(tagged)
    assert parse_match("dl_vlan_pcp=3").matches(tagged)
    assert parse_match("vlan_tci=0x1000/0x1000").matches(tagged)
    assert not parse_match("vlan_tci=0x1000/0x1000").matches(untagged)


def test_tcp_flags_and_arp():
    syn = extract(tcp_frame(1, 2, 3, 4, 5, 6, flags=TCP_SYN))
    synack = extract(tcp_frame(1, 2, 3, 4, 5, 6, flags=TCP_SYN | TCP_ACK))
    m = parse_match("tcp,tcp_flags=+syn-ack")
    assert m.matches(syn) and not m.matches(synack)
    arp = extract(arp_frame(1, 0xFFFFFFFFFFFF, 1, 1, 0x0A000001, 0, 0x0A000002))
    assert parse_match("arp,arp_tpa=10.0.0.2,arp_op=1").matches(arp)
    assert not parse_match("arp,arp_tpa=10.0.0.3").matches(arp)


def test_set_field_views_share_storage():
    m = Match().set_field("nw_tos", 0x10).set_field("nw_ecn", 1)
    assert m.get("nw_tos") == (0x11, 0xFF)
    assert m.get_field("ip_dscp") == (4, 0x3F)
    m = Match().set_field("dl_vlan", 10).set_field("dl_vlan_pcp", 5)
    assert m.get("vlan_tci") == (0xB00A, 0xFFFF)
    assert format_match(m) == "dl_vlan=10,dl_vlan_pcp=5"
    # icmp_type and tcp_src are the same slot
    assert parse_match("icmp,icmp_type=8").get("tp_src") == parse_match("icmp,tcp_src=8").get("tp_src")


def test_normalization_and_prerequisites():
    m = parse_match("ip,tp_dst=80")
    with pytest.raises(MatchError) as e:
        m.check_prerequisites()
    assert e.value.ofperr == "OFPBMC_BAD_PREREQ"
    assert str(e.value) == "tcp_dst lacks correct prerequisites"
    assert m.normalized() == parse_match("ip")
    parse_match("udp,tp_dst=80").check_prerequisites()
    parse_match("icmp6,icmp_type=135,nd_target=::1,nd_sll=00:00:00:00:00:01").check_prerequisites()
    with pytest.raises(MatchError):
        parse_match("icmp6,icmp_type=136,nd_sll=00:00:00:00:00:01").check_prerequisites()
    assert parse_match("tcp").field_prereqs_ok("tcp_src")
    assert not parse_match("udp").field_prereqs_ok("tcp_src")
    assert parse_match("udp").field_prereqs_ok("udp_src")
    assert parse_match("arp").field_prereqs_ok("arp_op")
    assert not parse_match("ip").field_prereqs_ok("ipv6_src")
    assert parse_match("dl_vlan=3").field_prereqs_ok("vlan_pcp")
    assert not Match().field_prereqs_ok("vlan_pcp")


def test_field_table_is_consistent():
    seen_nxm, seen_oxm = set(), set()
    for f in FIELDS:
        assert BY_NAME[f.name] is f
        assert f.slot in FlowKey._fields
        for code, seen in ((f.nxm, seen_nxm), (f.oxm, seen_oxm)):
            if code:
                assert code not in seen, f.name
                seen.add(code)
    assert BY_NAME["dl_src"] is BY_NAME["eth_src"]
    assert BY_NAME["tp_dst"] is BY_NAME["tcp_dst"]
    assert parse_value(BY_NAME["nw_src"], "10.0.0.0/8") == (0x0A000000, 0xFF000000)
    assert parse_value(BY_NAME["ipv6_src"], "fe80::/10") == (
        int(ipaddress.IPv6Address("fe80::")), ((1 << 10) - 1) << 118)


_ipv4 = st.integers(0, 2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(src=_ipv4, dst=_ipv4, sport=st.integers(0, 65535), dport=st.integers(0, 65535),
       plen=st.integers(0, 32), proto=st.sampled_from(["tcp", "udp"]))
def test_text_round_trip_property(src, dst, sport, dport, plen, proto):
    text = (f"{proto},nw_src={ipaddress.IPv4Address(src)}/{plen},"
            f"nw_dst={ipaddress.IPv4Address(dst)},tp_src={sport},tp_dst=0x{dport:x}/0xff00")
    m = parse_match(text)
    assert parse_match(format_match(m)) == m
    key = FlowKey(dl_type=ETH_TYPE_IP, nw_proto=IPPROTO_TCP if proto == "tcp" else 17,
                  nw_src=src, nw_dst=dst, tp_src=sport, tp_dst=dport)
    assert m.matches(key)


def test_set_field_values_print_as_ovs():
    """What `ovs-ofctl parse-flow "...,actions=set_field:V->F"` prints back for V (OVS 3.1)."""
    cases = [("reg0", "5", "0x5"), ("nw_dst", "10.0.0.1", "10.0.0.1"),
             ("eth_dst", "00:11:22:33:44:55", "00:11:22:33:44:55"), ("tcp_dst", "80", "80"),
             ("in_port", "LOCAL", "LOCAL"), ("in_port", "1", "1"), ("ipv6_src", "::1", "::1"),
             ("ipv6_label", "5", "0x5"), ("ip_dscp", "3", "3"), ("nw_tos", "16", "16"),
             ("tun_id", "0x1234", "0x1234"), ("metadata", "0", "0"), ("vlan_tci", "0x1005", "0x1005")]
    for name, text, printed in cases:
        fld = BY_NAME[name]
        value, _ = parse_value(fld, text)
        assert format_value(fld, value) == printed
    assert not BY_NAME["eth_type"].writable and not BY_NAME["tcp_flags"].writable
    assert BY_NAME["nw_dst"].writable
    assert not BY_NAME["nw_ecn"].is_valid(5) and BY_NAME["nw_ecn"].is_valid(3)
    assert not BY_NAME["nw_tos"].is_valid(17) and BY_NAME["ipv6_label"].is_valid(0xFFFFF)


def test_read_and_write_fields_of_a_flow_key():
    k = extract(tcp_frame(1, 2, 0x0A000001, 0x0A000002, 5555, 80, vlans=(Vlan(10, pcp=2),)))
    assert BY_NAME["dl_vlan"].read(k) == 10 and BY_NAME["dl_vlan_pcp"].read(k) == 2
    k2 = BY_NAME["dl_vlan"].write(k, 20)
    assert k2.vlan_tci == 0x1000 | (2 << 13) | 20
    k3 = BY_NAME["ip_dscp"].write(BY_NAME["nw_ecn"].write(k, 3), 10)
    assert k3.nw_tos == (10 << 2) | 3
    assert BY_NAME["tcp_dst"].write(k, 0x1234, 0xFF00).tp_dst == 0x1250
    assert BY_NAME["reg3"].write(k, 7).reg3 == 7 and BY_NAME["reg3"].read(k) == 0
    assert parse_match("tcp,tp_dst=443").matches(BY_NAME["tp_dst"].write(k, 443))


def test_port_names():
    """`man ovs-ofctl`: names are accepted bare or in double quotes (JSON escapes), and
    printed quoted unless they are a letter followed by letters and digits."""
    names = {"p1": 1, "eth-0": 2, "my port": 3, "LOCAL": 7, "42": 9}
    numbers = {v: k for k, v in names.items()}
    cases = [('in_port=p1,tcp', 1, "tcp,in_port=p1"),
             ('in_port="eth-0",ip', 2, 'ip,in_port="eth-0"'),
             ('in_port="my port" tcp', 3, 'tcp,in_port="my port"'),
             ('in_port="LOCAL"', 7, "in_port=LOCAL"),     # quoted: the port named LOCAL
             ('in_port=LOCAL', 0xFFFE, "in_port=LOCAL"),  # bare: the keyword
             ('in_port="42"', 9, 'in_port="42"'),
             ('in_port=42', 42, "in_port=42"),
             ('in_port="\\u0070\\u0031"', 1, "in_port=p1")]
    for text, port, printed in cases:
        m = parse_match(text, names)
        assert m.get("in_port") == (port, 0xFFFF), text
        assert format_match(m, port_names=numbers) == printed
    with pytest.raises(FieldError, match="p9: invalid or unknown port for in_port"):
        parse_match("in_port=p9", names)
    with pytest.raises(FieldError):
        parse_match("in_port=p1")
    assert split_items('a=1, b="x, y" c') == [("a", "1"), ("b", '"x, y"'), ("c", None)]
