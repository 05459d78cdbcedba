"""OpenFlow 1.0 matches: byte for byte what `ovs-ofctl -F openflow10` sends, decoded as
`ovs-ofctl ofp-print` decodes (ofp10_match_golden.tsv: 252 matches captured from OVS 3.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.packet import ofp10_match
from pyvswitch.packet.fields import FieldError
from pyvswitch.packet.match import format_match, parse_match

ROWS = [line.split("\t") for line in
        Path(__file__).with_name("ofp10_match_golden.tsv").read_text().splitlines()
        if line and not line.startswith("#")]


def test_encode_is_byte_exact():
    assert [(t, h) for t, h, _ in ROWS] == [
        (t, ofp10_match.encode(parse_match(t)).hex()) for t, _, _ in ROWS]


def test_decode_like_ovs():
    assert [(t, d) for t, _, d in ROWS] == [
        (t, format_match(ofp10_match.decode(bytes.fromhex(h)))) for t, h, _ in ROWS]


def test_round_trip():
    for t, _, _ in ROWS:
        m = parse_match(t).normalized()
        if "vlan_tci=0x" not in format_match(m) or format_match(m).endswith("0x0000"):
            assert ofp10_match.decode(ofp10_match.encode(m)) == m, t


@pytest.mark.parametrize("text", [
    "ipv6,ipv6_src=::1", "dl_src=00:00:00:00:00:01/ff:ff:ff:00:00:00", "reg0=1", "ip,nw_ttl=5",
    "ip,nw_ecn=1", "vlan_tci=0x1005/0x1ff0", "metadata=1", "tcp,tp_dst=0x50/0xfff0",
    "ip,nw_src=10.0.0.1/255.0.255.0", "tun_id=5", "tcp,tcp_flags=+syn",
])
def test_what_does_not_fit(text):
    m = parse_match(text)
    assert not ofp10_match.fits(m)
    with pytest.raises(ValueError):
        ofp10_match.encode(m)


def test_short_input():
    with pytest.raises(FieldError) as e:
        ofp10_match.decode(b"\0" * 39)
    assert e.value.ofperr == "OFPBRC_BAD_LEN"


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=40, max_size=40))
def test_any_40_bytes_decode(data):
    m = ofp10_match.decode(data)
    assert m == m.normalized()
