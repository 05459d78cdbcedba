"""The field table's NXM and OXM codes, checked by the reference decoder.

For every field with a code, we encode a one-field match (plus the entries
its prerequisites need, also from the table) into an NXT_FLOW_MOD (NXM) or
an OpenFlow 1.3 OFPT_FLOW_MOD (OXM), let `ovs-ofctl ofp-print` decode it,
and require the match it prints to be the one we print for the same fields.
A wrong class, field number, width or value encoding shows up as a decode
error or a different field.
"""

from __future__ import annotations

import struct
import subprocess

import pytest

from util import needs_reference, ref

from pyvswitch.packet.fields import BY_NAME, FIELDS, OFPXMC_OPENFLOW_BASIC, Prereq as P
from pyvswitch.packet.match import Match, format_match

_IP, _IP6 = ("eth_type", 0x0800), ("eth_type", 0x86DD)
PREREQ_ENTRIES = {
    P.NONE: [], P.VLAN_VID: [("vlan_vid", 0x1005)], P.ARP: [("eth_type", 0x0806)],
    P.IPV4: [_IP], P.IPV6: [_IP6], P.IP_ANY: [_IP],
    P.TCP: [_IP, ("nw_proto", 6)], P.UDP: [_IP, ("nw_proto", 17)],
    P.SCTP: [_IP, ("nw_proto", 132)], P.ICMPV4: [_IP, ("nw_proto", 1)],
    P.ICMPV6: [_IP6, ("nw_proto", 58)],
    P.ND: [_IP6, ("nw_proto", 58), ("icmpv6_type", 135), ("icmpv6_code", 0)],
    P.ND_SOLICIT: [_IP6, ("nw_proto", 58), ("icmpv6_type", 135), ("icmpv6_code", 0)],
    P.ND_ADVERT: [_IP6, ("nw_proto", 58), ("icmpv6_type", 136), ("icmpv6_code", 0)],
}
SAMPLE = {"vlan_vid": 0x1005, "vlan_pcp": 3, "ip_frag": 1, "nw_tos": 0x10, "ip_dscp": 5,
          "nw_ecn": 1, "ipv6_label": 0x12345, "in_port": 7, "vlan_tci": 0x1005,
          "tcp_flags": 0x12, "arp_op": 2}


def _entry(name: str, value: int, oxm: bool) -> bytes:
    fld = BY_NAME[name]
    cls, field = (fld.oxm or fld.nxm) if oxm else (fld.nxm or fld.oxm)
    # OpenFlow 1.1+ port numbers are 32 bits; everything else has its own width.
    n = 4 if (fld.name == "in_port" and cls == OFPXMC_OPENFLOW_BASIC) else fld.n_bytes
    return struct.pack("!I", (cls << 16) | (field << 9) | n) + value.to_bytes(n, "big")


def _pad8(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 8)


def _nxt_flow_mod(nx_match: bytes) -> bytes:
    body = struct.pack("!IIQHHHHIHHH6x", 0x2320, 13, 0, 0, 0, 0, 0x8000, 0xFFFFFFFF, 0xFFFF, 0,
                       len(nx_match)) + _pad8(nx_match)
    return struct.pack("!BBHI", 1, 4, 8 + len(body), 1) + body


def _ofp13_flow_mod(oxm: bytes) -> bytes:
    match = _pad8(struct.pack("!HH", 1, 4 + len(oxm)) + oxm)
    body = struct.pack("!QQBBHHHIIIH2x", 0, 0, 0, 0, 0, 0, 0x8000, 0xFFFFFFFF, 0xFFFFFFFF,
                       0xFFFFFFFF, 0) + match
    return struct.pack("!BBHI", 4, 14, 8 + len(body), 1) + body


CASES = [(f.name, oxm) for oxm in (False, True) for f in FIELDS if (f.oxm if oxm else f.nxm)]


@needs_reference
@pytest.mark.parametrize("name,oxm", CASES)
def test_field_code_decodes_in_ovs(name, oxm):
    fld = BY_NAME[name]
    pairs = PREREQ_ENTRIES[fld.prereq] + [(name, SAMPLE.get(name, 1))]
    wire = b"".join(_entry(n, v, oxm) for n, v in pairs)
    msg = _ofp13_flow_mod(wire) if oxm else _nxt_flow_mod(wire)
    p = subprocess.run([ref("ovs-ofctl"), "ofp-print", msg.hex()], capture_output=True, text=True,
                       timeout=30)
    first = p.stdout.strip().splitlines()[0]
    assert "ADD " in first, p.stdout
    m = Match()
    for n, v in pairs:
        m = m.set_field(n, v)
    assert first.split("ADD ", 1)[1].rsplit(" actions=", 1)[0] == format_match(m)


def _man_ovs_fields() -> str:
    try:
        p = subprocess.run(["man", "ovs-fields"], capture_output=True, text=True, timeout=30,
                           env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "MAN_KEEP_FORMATTING": ""})
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return ""
    return p.stdout if p.returncode == 0 else ""


def test_names_and_codes_agree_with_the_manual():
    """`man ovs-fields` (OVS 3.1) lists each field's NXM and OXM names and numbers."""
    import re
    from pyvswitch.packet.fields import NXM_NAMES, OXM_NAMES
    text = re.sub(r".\x08", "", _man_ovs_fields())
    if "Name:" not in text:
        pytest.skip("man ovs-fields is not installed")
    checked = 0
    for block in re.split(r"\n\s+Name:\s+", text)[1:]:
        name = block.split()[0]
        if name not in BY_NAME or BY_NAME[name].name != name:
            continue
        fld = BY_NAME[name]
        for kind, names, code in (("NXM", NXM_NAMES, fld.nxm), ("OXM", OXM_NAMES, fld.oxm)):
            m = re.search(kind + r":\s+([A-Z_0-9]+|none)(?:\s+\((\d+)\))?", block)
            if m is None or m.group(1) == "none":
                continue
            assert names.get(name) == m.group(1), (name, kind)
            if code is not None:
                assert code[1] == int(m.group(2)), (name, kind)
            checked += 1
    assert checked >= 50
