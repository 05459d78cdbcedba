"""Random matches, parsed and printed by us and by the reference `ovs-ofctl`.

Thousands of random flows built from the field table's names and every value
syntax (decimal, hex, masks, prefixes, names) go through one `ovs-ofctl
parse-flows` run; we must print each one's match identically.  The ones we
reject are checked one by one to fail in ovs-ofctl too, with the same words.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess

from util import needs_reference, ref

from pyvswitch.packet.fields import FieldError
from pyvswitch.packet.match import format_match, parse_match

PROTOS = ["", "ip", "ipv6", "tcp", "tcp6", "udp", "udp6", "sctp", "sctp6", "icmp", "icmp6", "arp",
          "rarp", "dl_type=0x0800", "dl_type=0x86dd", "dl_type=0x88cc", "ip,nw_proto=99",
          "ipv6,nw_proto=1", "icmp6,icmp_type=135", "icmp6,icmp_type=136,icmp_code=0"]


def _mac(r):
    return ":".join(f"{r.getrandbits(8):02x}" for _ in range(6))


def _v4(r):
    return str(ipaddress.IPv4Address(r.getrandbits(32)))


def _v6(r):
    return str(ipaddress.IPv6Address(
        r.getrandbits(128) if r.random() < .5 else (0x20010DB8 << 96) | r.getrandbits(16)))


def _int(r, bits, maskable=True):
    v = r.getrandbits(bits)
    s = str(v) if r.random() < .5 else hex(v)
    if maskable and r.random() < .4:
        s += "/" + hex(r.getrandbits(bits))
    return s


def random_match(r: random.Random) -> str:
    c = r.choice
    fields = [
        ("in_port", lambda: c([str(r.randrange(1, 65280)), "LOCAL", "CONTROLLER", "NORMAL", "ANY"])),
        ("dl_src", lambda: _mac(r) + c(["", "", "/" + _mac(r)])),
        ("dl_dst", lambda: _mac(r) + c(["", "/01:00:00:00:00:00", "/ff:ff:ff:00:00:00"])),
        ("dl_vlan", lambda: str(c([r.randrange(4096), 0xFFFF]))),
        ("dl_vlan_pcp", lambda: str(r.randrange(8))),
        ("vlan_tci", lambda: _int(r, 16)),
        ("nw_src", lambda: _v4(r) + c(["", f"/{r.randrange(33)}", "/" + _v4(r)])),
        ("nw_dst", lambda: _v4(r) + c(["", f"/{r.randrange(33)}"])),
        ("ipv6_src", lambda: _v6(r) + c(["", f"/{r.randrange(129)}", "/ffff:0:ffff::"])),
        ("ipv6_dst", lambda: _v6(r) + c(["", f"/{r.randrange(129)}", "/::ffff"])),
        ("ipv6_label", lambda: _int(r, 20)),
        ("nw_tos", lambda: str(r.randrange(256))),
        ("ip_dscp", lambda: str(r.randrange(64))),
        ("nw_ecn", lambda: str(r.randrange(4))),
        ("nw_ttl", lambda: str(r.randrange(256))),
        ("ip_frag", lambda: c(["no", "yes", "first", "later", "not_later"])),
        ("nw_proto", lambda: str(c([1, 6, 17, 58, 132, r.randrange(256)]))),
        ("arp_op", lambda: str(r.randrange(5))),
        ("arp_spa", lambda: _v4(r) + c(["", "/24"])),
        ("arp_tpa", lambda: _v4(r)),
        ("arp_sha", lambda: _mac(r)),
        ("arp_tha", lambda: _mac(r) + c(["", "/ff:ff:ff:ff:ff:00"])),
        (c(["tp_src", "tcp_src", "udp_src", "sctp_src"]), lambda: _int(r, 16)),
        (c(["tp_dst", "tcp_dst", "udp_dst", "sctp_dst"]), lambda: _int(r, 16)),
        ("tcp_flags", lambda: c(["+syn", "-ack+fin", "syn|ack", "+ns-cwr", hex(r.getrandbits(12)),
                                 f"{hex(r.getrandbits(12))}/{hex(r.getrandbits(12))}"])),
        (c(["icmp_type", "icmpv6_type"]), lambda: str(c([135, 136, 128, r.randrange(256)]))),
        (c(["icmp_code", "icmpv6_code"]), lambda: str(c([0, 0, 1, r.randrange(256)]))),
        ("nd_target", lambda: _v6(r)),
        ("nd_sll", lambda: _mac(r)),
        ("nd_tll", lambda: _mac(r)),
        (c(["tun_id", "tunnel_id"]), lambda: _int(r, 64)),
        ("metadata", lambda: _int(r, 64)),
        (f"reg{r.randrange(16)}", lambda: _int(r, 32)),
        (f"reg{r.randrange(16)}", lambda: _int(r, 32)),
    ]
    items = [c(PROTOS)] if r.random() < .8 else []
    items += [f"{name}={value()}" for name, value in r.sample(fields, r.randrange(0, 7))]
    r.shuffle(items)
    return ",".join(i for i in items if i)


def corrupt(r: random.Random, text: str) -> str:
    """text with one item spoiled the ways users spoil them."""
    items = text.split(",") if text else ["ip"]
    i = r.randrange(len(items))
    name, eq, value = items[i].partition("=")
    how = r.randrange(6)
    if how == 0 or not eq:
        items[i] = f"{name}x={value}" if eq else f"{name}x"
    elif how == 1:
        items[i] = f"{name}={value}x"
    elif how == 2:
        items[i] = f"{name}=0x1{'f' * 33}"
    elif how == 3:
        items[i] = f"{name}={value}/33" if "." in value else f"{name}=-1"
    elif how == 4:
        items[i] = f"{name}={value}/129" if ":" in value else f"{name}=zz"
    else:
        items[i] = f"{name}=1.2.3.4.5"
    return ",".join(items)


def _ref_error(text: str) -> str:
    p = subprocess.run([ref("ovs-ofctl"), "parse-flow", f"{text},actions=drop"],
                       capture_output=True, text=True, timeout=30)
    return p.stderr.strip().splitlines()[-1].removeprefix("ovs-ofctl: ") if p.returncode else ""


@needs_reference
def test_random_matches_print_like_ovs(tmp_path):
    r = random.Random(31)
    accepted, rejected = [], []
    for i in range(3060):
        text = random_match(r)
        if i >= 3000:
            text = corrupt(r, text)
        try:
            accepted.append((text, format_match(parse_match(text).normalized())))
        except FieldError as e:
            rejected.append((text, str(e)))
    path = tmp_path / "flows.txt"
    path.write_text("".join(f"{t},actions=drop\n" if t else "actions=drop\n" for t, _ in accepted))
    p = subprocess.run([ref("ovs-ofctl"), "-O", "OpenFlow10,OpenFlow13", "parse-flows", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-500:]
    printed = [line.split("ADD ", 1)[1][:-len("actions=drop")].rstrip(" ") if "ADD " in line
               else line for line in p.stdout.splitlines() if "_FLOW_MOD" in line]
    assert len(printed) == len(accepted)
    # ovs-ofctl cannot encode a few matches it accepts (ipv6_label kept without IPv6);
    # it prints a decode error for those, and they are left out.
    assert [(t, want) for (t, _), want in zip(accepted, printed) if "decode error" not in want] == [
        (t, ours) for (t, ours), want in zip(accepted, printed) if "decode error" not in want]
    assert len(rejected) >= 30
    for text, message in rejected:
        assert _ref_error(text) == message, text
