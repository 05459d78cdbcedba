"""The table of match fields (OVS's "meta-flow"): one declaration per field.

Each `Field` says what a user-visible field is (its name and aliases as in
`man ovs-fields`), where it lives in a `FlowKey` (a slot, a bit shift and the
bits of the value that are kept), whether it may be masked, which other
fields must be matched first (its prerequisite), how its value is written in
text, and its NXM/OXM class and field codes.  The text parser and printer in
`packet.match`, the OXM/NXM codecs, set-field actions and the classifier all
read this table rather than knowing fields themselves.

Several fields share storage, as in OVS: `tcp_src`, `udp_src`, `sctp_src`
and `icmp_type` are all `tp_src`; `arp_spa` is `nw_src`; `arp_op` is
`nw_proto`; `nd_sll` is `arp_sha`; `dl_vlan`, `dl_vlan_pcp`, `vlan_vid` and
`vlan_pcp` are views of `vlan_tci`.  A match is therefore a set of slot
values and masks; which field name to print for a slot depends on the
protocol it matches (see `match.format_match`).

Values are ints (MACs, IP addresses included); `parse_value`/`format_value`
convert from and to OVS's text, raising `FieldError` with ovs-ofctl's words.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pyvswitch.packet.flow import INDEX, N_REGS
from pyvswitch.packet.headers import (
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, VLAN_CFI,
    mac_from_str, mac_to_str,
)


class FieldError(ValueError):
    """A field name or value that ovs-ofctl would reject; str() is OVS's message."""


class Prereq(enum.Enum):
    """What must already be matched before a field may be (OVS's MFP_*)."""
    NONE = "none"
    VLAN_VID = "vlan_vid"
    ARP = "arp"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    IP_ANY = "ip_any"
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"
    ICMPV4 = "icmpv4"
    ICMPV6 = "icmpv6"
    ND = "nd"
    ND_SOLICIT = "nd_solicit"
    ND_ADVERT = "nd_advert"


class Kind(enum.Enum):
    """How a field's value is written in text."""
    DECIMAL = "decimal"
    HEX = "hexadecimal"
    MAC = "ethernet"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    PORT = "port"
    FRAG = "frag"
    TCP_FLAGS = "tcp_flags"


# OXM and NXM classes.
OFPXMC_OPENFLOW_BASIC = 0x8000
NXM_OF = 0x0000
NXM_NX = 0x0001
ERICOXM_OF = 0x1000  # Ericsson's class, of nd_options_type


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    aliases: tuple[str, ...]
    n_bytes: int          # the field's size in OpenFlow (and in ovs-ofctl's range errors)
    slot: str             # the FlowKey slot that stores it
    shift: int            # where the value's bits start within the slot
    keep: int             # the bits of a value that are stored (others silently dropped)
    maskable: bool
    prereq: Prereq
    kind: Kind
    nxm: tuple[int, int] | None = None   # (class, field)
    oxm: tuple[int, int] | None = None
    present: int = 0      # bits always set in value and mask (the VLAN CFI "tag present" bit)
    writable: bool = True  # whether set-field actions may write it

    def is_valid(self, value: int) -> bool:
        """Whether value is one a set-field may write (matches silently drop extra bits)."""
        return 0 <= value < (1 << (8 * self.n_bytes)) and not value & ~self.keep

    @property
    def index(self) -> int:
        return INDEX[self.slot]

    def to_slot(self, value: int, mask: int) -> tuple[int, int]:
        """(slot value, slot mask) for a field value and mask."""
        if mask == (1 << (8 * self.n_bytes)) - 1:
            mask = self.keep
        m = ((mask & self.keep) << self.shift) | self.present
        return (((value & self.keep) << self.shift) | self.present) & m, m

    def from_slot(self, slot_value: int) -> int:
        return (slot_value >> self.shift) & self.keep

    def read(self, key) -> int:
        """This field's value in a FlowKey."""
        return (key[INDEX[self.slot]] >> self.shift) & self.keep

    def write(self, key, value: int, mask: int | None = None):
        """A copy of a FlowKey with the bits of this field under mask set to value (what a
        set-field or load action does to the flow during translation)."""
        i = INDEX[self.slot]
        bits = self.keep if mask is None else mask & self.keep
        slot_bits = (bits << self.shift) | self.present
        new = (key[i] & ~slot_bits) | (((value & bits) << self.shift) | self.present)
        return key._replace(**{self.slot: new})


def _f(name, aliases, n_bytes, slot, prereq, kind, *, maskable=False, shift=0, keep=None,
       nxm=None, oxm=None, present=0, writable=True) -> Field:
    if keep is None:
        keep = (1 << (8 * n_bytes)) - 1
    return Field(name, tuple(aliases), n_bytes, slot, shift, keep, maskable, prereq, kind,
                 nxm, oxm, present, writable)


P, K = Prereq, Kind
_BASIC = OFPXMC_OPENFLOW_BASIC

FIELDS: tuple[Field, ...] = (
    _f("in_port", (), 2, "in_port", P.NONE, K.PORT, nxm=(NXM_OF, 0), oxm=(_BASIC, 0)),
    _f("metadata", (), 8, "metadata", P.NONE, K.HEX, maskable=True, oxm=(_BASIC, 2)),
    _f("tun_id", ("tunnel_id",), 8, "tun_id", P.NONE, K.HEX, maskable=True,
       nxm=(NXM_NX, 16), oxm=(_BASIC, 38)),
    *(_f(f"reg{i}", (), 4, f"reg{i}", P.NONE, K.HEX, maskable=True, nxm=(NXM_NX, i))
      for i in range(N_REGS)),
    _f("eth_src", ("dl_src",), 6, "dl_src", P.NONE, K.MAC, maskable=True,
       nxm=(NXM_OF, 2), oxm=(_BASIC, 4)),
    _f("eth_dst", ("dl_dst",), 6, "dl_dst", P.NONE, K.MAC, maskable=True,
       nxm=(NXM_OF, 1), oxm=(_BASIC, 3)),
    _f("eth_type", ("dl_type",), 2, "dl_type", P.NONE, K.HEX, nxm=(NXM_OF, 3), oxm=(_BASIC, 5),
       writable=False),
    _f("vlan_tci", (), 2, "vlan_tci", P.NONE, K.HEX, maskable=True, nxm=(NXM_OF, 4)),
    _f("dl_vlan", (), 2, "vlan_tci", P.NONE, K.DECIMAL, keep=0x0FFF, present=VLAN_CFI),
    _f("vlan_vid", (), 2, "vlan_tci", P.NONE, K.DECIMAL, maskable=True, keep=0x1FFF,
       oxm=(_BASIC, 6)),
    _f("dl_vlan_pcp", (), 1, "vlan_tci", P.NONE, K.DECIMAL, shift=13, keep=0x7, present=VLAN_CFI),
    _f("vlan_pcp", (), 1, "vlan_tci", P.VLAN_VID, K.DECIMAL, shift=13, keep=0x7,
       present=VLAN_CFI, oxm=(_BASIC, 7)),
    _f("ip_src", ("nw_src",), 4, "nw_src", P.IPV4, K.IPV4, maskable=True,
       nxm=(NXM_OF, 7), oxm=(_BASIC, 11)),
    _f("ip_dst", ("nw_dst",), 4, "nw_dst", P.IPV4, K.IPV4, maskable=True,
       nxm=(NXM_OF, 8), oxm=(_BASIC, 12)),
    _f("ipv6_src", (), 16, "ipv6_src", P.IPV6, K.IPV6, maskable=True,
       nxm=(NXM_NX, 19), oxm=(_BASIC, 26)),
    _f("ipv6_dst", (), 16, "ipv6_dst", P.IPV6, K.IPV6, maskable=True,
       nxm=(NXM_NX, 20), oxm=(_BASIC, 27)),
    _f("ipv6_label", (), 4, "ipv6_label", P.IPV6, K.HEX, maskable=True, keep=0xFFFFF,
       nxm=(NXM_NX, 27), oxm=(_BASIC, 28)),
    _f("nw_proto", ("ip_proto",), 1, "nw_proto", P.IP_ANY, K.DECIMAL,
       nxm=(NXM_OF, 6), oxm=(_BASIC, 10), writable=False),
    _f("nw_tos", (), 1, "nw_tos", P.IP_ANY, K.DECIMAL, keep=0xFC, nxm=(NXM_OF, 5)),
    _f("ip_dscp", ("nw_tos_shifted",), 1, "nw_tos", P.IP_ANY, K.DECIMAL, shift=2, keep=0x3F,
       oxm=(_BASIC, 8)),
    _f("nw_ecn", ("ip_ecn",), 1, "nw_tos", P.IP_ANY, K.DECIMAL, keep=0x3,
       nxm=(NXM_NX, 28), oxm=(_BASIC, 9)),
    _f("nw_ttl", (), 1, "nw_ttl", P.IP_ANY, K.DECIMAL, nxm=(NXM_NX, 29)),
    _f("ip_frag", ("nw_frag",), 1, "nw_frag", P.IP_ANY, K.FRAG, maskable=True, keep=0x3,
       nxm=(NXM_NX, 26), writable=False),
    _f("arp_op", (), 2, "nw_proto", P.ARP, K.DECIMAL, keep=0xFF, nxm=(NXM_OF, 15), oxm=(_BASIC, 21)),
    _f("arp_spa", (), 4, "nw_src", P.ARP, K.IPV4, maskable=True, nxm=(NXM_OF, 16), oxm=(_BASIC, 22)),
    _f("arp_tpa", (), 4, "nw_dst", P.ARP, K.IPV4, maskable=True, nxm=(NXM_OF, 17), oxm=(_BASIC, 23)),
    _f("arp_sha", (), 6, "arp_sha", P.ARP, K.MAC, maskable=True, nxm=(NXM_NX, 17), oxm=(_BASIC, 24)),
    _f("arp_tha", (), 6, "arp_tha", P.ARP, K.MAC, maskable=True, nxm=(NXM_NX, 18), oxm=(_BASIC, 25)),
    _f("tcp_src", ("tp_src",), 2, "tp_src", P.TCP, K.DECIMAL, maskable=True,
       nxm=(NXM_OF, 9), oxm=(_BASIC, 13)),
    _f("tcp_dst", ("tp_dst",), 2, "tp_dst", P.TCP, K.DECIMAL, maskable=True,
       nxm=(NXM_OF, 10), oxm=(_BASIC, 14)),
    _f("tcp_flags", (), 2, "tcp_flags", P.TCP, K.TCP_FLAGS, maskable=True, keep=0x0FFF,
       nxm=(NXM_NX, 34), writable=False),
    _f("udp_src", (), 2, "tp_src", P.UDP, K.DECIMAL, maskable=True,
       nxm=(NXM_OF, 11), oxm=(_BASIC, 15)),
    _f("udp_dst", (), 2, "tp_dst", P.UDP, K.DECIMAL, maskable=True,
       nxm=(NXM_OF, 12), oxm=(_BASIC, 16)),
    _f("sctp_src", (), 2, "tp_src", P.SCTP, K.DECIMAL, maskable=True, oxm=(_BASIC, 17)),
    _f("sctp_dst", (), 2, "tp_dst", P.SCTP, K.DECIMAL, maskable=True, oxm=(_BASIC, 18)),
    _f("icmp_type", (), 1, "tp_src", P.ICMPV4, K.DECIMAL, keep=0xFFFF, nxm=(NXM_OF, 13), oxm=(_BASIC, 19)),
    _f("icmp_code", (), 1, "tp_dst", P.ICMPV4, K.DECIMAL, keep=0xFFFF, nxm=(NXM_OF, 14), oxm=(_BASIC, 20)),
    _f("icmpv6_type", (), 1, "tp_src", P.ICMPV6, K.DECIMAL, keep=0xFFFF, nxm=(NXM_NX, 21), oxm=(_BASIC, 29)),
    _f("icmpv6_code", (), 1, "tp_dst", P.ICMPV6, K.DECIMAL, keep=0xFFFF, nxm=(NXM_NX, 22), oxm=(_BASIC, 30)),
    _f("nd_target", (), 16, "nd_target", P.ND, K.IPV6, maskable=True,
       nxm=(NXM_NX, 23), oxm=(_BASIC, 31)),
    _f("nd_sll", (), 6, "arp_sha", P.ND_SOLICIT, K.MAC, maskable=True,
       nxm=(NXM_NX, 24), oxm=(_BASIC, 32)),
    _f("nd_tll", (), 6, "arp_tha", P.ND_ADVERT, K.MAC, maskable=True,
       nxm=(NXM_NX, 25), oxm=(_BASIC, 33)),
    _f("nd_options_type", (), 1, "tcp_flags", P.ND, K.DECIMAL, nxm=(ERICOXM_OF, 2)),
)

# The NXM and OXM names of the fields' codes, as `man ovs-fields` lists them: what load, move
# and learn actions write ("NXM_OF_ETH_DST[]", "OXM_OF_METADATA[0..7]").
NXM_NAMES: dict[str, str] = {
    "in_port": "NXM_OF_IN_PORT", "tun_id": "NXM_NX_TUN_ID",
    **{f"reg{i}": f"NXM_NX_REG{i}" for i in range(N_REGS)},
    "eth_src": "NXM_OF_ETH_SRC", "eth_dst": "NXM_OF_ETH_DST", "eth_type": "NXM_OF_ETH_TYPE",
    "vlan_tci": "NXM_OF_VLAN_TCI", "ip_src": "NXM_OF_IP_SRC", "ip_dst": "NXM_OF_IP_DST",
    "ipv6_src": "NXM_NX_IPV6_SRC", "ipv6_dst": "NXM_NX_IPV6_DST",
    "ipv6_label": "NXM_NX_IPV6_LABEL", "nw_proto": "NXM_OF_IP_PROTO", "nw_tos": "NXM_OF_IP_TOS",
    "nw_ecn": "NXM_NX_IP_ECN", "nw_ttl": "NXM_NX_IP_TTL", "ip_frag": "NXM_NX_IP_FRAG",
    "arp_op": "NXM_OF_ARP_OP", "arp_spa": "NXM_OF_ARP_SPA", "arp_tpa": "NXM_OF_ARP_TPA",
    "arp_sha": "NXM_NX_ARP_SHA", "arp_tha": "NXM_NX_ARP_THA", "tcp_src": "NXM_OF_TCP_SRC",
    "tcp_dst": "NXM_OF_TCP_DST", "tcp_flags": "NXM_NX_TCP_FLAGS", "udp_src": "NXM_OF_UDP_SRC",
    "udp_dst": "NXM_OF_UDP_DST", "icmp_type": "NXM_OF_ICMP_TYPE", "icmp_code": "NXM_OF_ICMP_CODE",
    "icmpv6_type": "NXM_NX_ICMPV6_TYPE", "icmpv6_code": "NXM_NX_ICMPV6_CODE",
    "nd_target": "NXM_NX_ND_TARGET", "nd_sll": "NXM_NX_ND_SLL", "nd_tll": "NXM_NX_ND_TLL",
    "nd_options_type": "ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE",
}
OXM_NAMES: dict[str, str] = {
    "in_port": "OXM_OF_IN_PORT", "metadata": "OXM_OF_METADATA", "tun_id": "OXM_OF_TUNNEL_ID",
    "eth_src": "OXM_OF_ETH_SRC", "eth_dst": "OXM_OF_ETH_DST", "eth_type": "OXM_OF_ETH_TYPE",
    "vlan_vid": "OXM_OF_VLAN_VID", "vlan_pcp": "OXM_OF_VLAN_PCP", "ip_src": "OXM_OF_IPV4_SRC",
    "ip_dst": "OXM_OF_IPV4_DST", "ipv6_src": "OXM_OF_IPV6_SRC", "ipv6_dst": "OXM_OF_IPV6_DST",
    "ipv6_label": "OXM_OF_IPV6_FLABEL", "nw_proto": "OXM_OF_IP_PROTO", "ip_dscp": "OXM_OF_IP_DSCP",
    "nw_ecn": "OXM_OF_IP_ECN", "arp_op": "OXM_OF_ARP_OP", "arp_spa": "OXM_OF_ARP_SPA",
    "arp_tpa": "OXM_OF_ARP_TPA", "arp_sha": "OXM_OF_ARP_SHA", "arp_tha": "OXM_OF_ARP_THA",
    "tcp_src": "OXM_OF_TCP_SRC", "tcp_dst": "OXM_OF_TCP_DST", "tcp_flags": "ONFOXM_ET_TCP_FLAGS",
    "udp_src": "OXM_OF_UDP_SRC", "udp_dst": "OXM_OF_UDP_DST", "sctp_src": "OXM_OF_SCTP_SRC",
    "sctp_dst": "OXM_OF_SCTP_DST", "icmp_type": "OXM_OF_ICMPV4_TYPE",
    "icmp_code": "OXM_OF_ICMPV4_CODE", "icmpv6_type": "OXM_OF_ICMPV6_TYPE",
    "icmpv6_code": "OXM_OF_ICMPV6_CODE", "nd_target": "OXM_OF_IPV6_ND_TARGET",
    "nd_sll": "OXM_OF_IPV6_ND_SLL", "nd_tll": "OXM_OF_IPV6_ND_TLL",
}
BY_WIRE_NAME: dict[str, Field] = {}

BY_NAME: dict[str, Field] = {}
for _fld in FIELDS:
    for _n in (_fld.name, *_fld.aliases):
        assert _n not in BY_NAME, _n
        BY_NAME[_n] = _fld
for _names in (NXM_NAMES, OXM_NAMES):
    for _n, _wire in _names.items():
        BY_WIRE_NAME[_wire] = BY_NAME[_n]
BY_NXM: dict[tuple[int, int], Field] = {f.nxm: f for f in FIELDS if f.nxm}
BY_OXM: dict[tuple[int, int], Field] = {f.oxm: f for f in FIELDS if f.oxm}


# ---- prerequisites --------------------------------------------------------

_L4_ANY = {P.TCP: IPPROTO_TCP, P.UDP: IPPROTO_UDP, P.SCTP: IPPROTO_SCTP}
_FRAG_LATER = 2  # flow.FRAG_LATER


def prereq_ok(prereq: Prereq, get) -> bool:
    """Whether a match satisfies prereq; get(slot) is the match's (masked) value of a slot."""
    if prereq is P.NONE:
        return True
    dl_type = get("dl_type")
    if prereq is P.VLAN_VID:
        return bool(get("vlan_tci") & VLAN_CFI)
    if prereq is P.ARP:
        return dl_type in (ETH_TYPE_ARP, ETH_TYPE_RARP)
    if prereq is P.IPV4:
        return dl_type == ETH_TYPE_IP
    if prereq is P.IPV6:
        return dl_type == ETH_TYPE_IPV6
    if dl_type not in (ETH_TYPE_IP, ETH_TYPE_IPV6):
        return False
    if prereq is P.IP_ANY:
        return True
    proto = get("nw_proto")
    if prereq in _L4_ANY:
        # A later fragment has no TCP/UDP/SCTP header (but OVS lets ICMP fields be).
        return proto == _L4_ANY[prereq] and not get("nw_frag") & _FRAG_LATER
    if prereq is P.ICMPV4:
        return dl_type == ETH_TYPE_IP and proto == IPPROTO_ICMP
    if dl_type != ETH_TYPE_IPV6 or proto != IPPROTO_ICMPV6:
        return False
    if prereq is P.ICMPV6:
        return True
    icmp_type, icmp_code = get("tp_src"), get("tp_dst")
    if icmp_code != 0:
        return False
    if prereq is P.ND:
        return icmp_type in (ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT)
    if prereq is P.ND_SOLICIT:
        return icmp_type == ND_NEIGHBOR_SOLICIT
    return icmp_type == ND_NEIGHBOR_ADVERT


# ---- text: values ---------------------------------------------------------

# OpenFlow 1.0 reserved port numbers and their names (OpenFlow 1.1+ uses 0xffffffxx).
PORT_NAMES = {0xFFF7: "UNSET", 0xFFF8: "IN_PORT", 0xFFF9: "TABLE", 0xFFFA: "NORMAL",
              0xFFFB: "FLOOD", 0xFFFC: "ALL", 0xFFFD: "CONTROLLER", 0xFFFE: "LOCAL",
              0xFFFF: "ANY"}
PORT_NUMBERS = {name: num for num, name in PORT_NAMES.items()} | {"NONE": 0xFFFF}

FRAG_VALUES = {"no": (0, 3), "yes": (1, 1), "first": (1, 3), "later": (3, 3), "not_later": (0, 2)}
TCP_FLAG_NAMES = ("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns",
                  "[200]", "[400]", "[800]")


_C_INT = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]*)|0([0-7]*)|([1-9][0-9]*))\Z")
_C_INT_PREFIX = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def parse_int(s: str) -> int | None:
    """An integer as C's strtoull with base 0 reads it (0x hex, 0 octal, a minus sign wrapping
    modulo 2**64), or None if s is not one."""
    m = _C_INT.match(s)
    if not m:
        return None
    sign, hex_digits, oct_digits, dec_digits = m.groups()
    if hex_digits is not None:
        v = int(hex_digits, 16) if hex_digits else 0
    elif oct_digits is not None:
        v = int(oct_digits, 8) if oct_digits else 0
    else:
        v = int(dec_digits)
    return (-v) % (1 << 64) if sign == "-" else v


def parse_port(s: str, names: Mapping[str, int] | None = None) -> int | None:
    """An OpenFlow 1.0 port number from its text, as ovs-ofctl reads it, or None: a number,
    a reserved name (LOCAL, ...), or with names (port name -> number) a port's name, bare or
    in double quotes with JSON escapes (quoting makes a name that looks like a keyword or a
    number a name)."""
    if s.startswith('"'):
        try:
            name = json.loads(s)
        except ValueError:
            return None
        return names.get(name) if names and isinstance(name, str) else None
    if s.upper() in PORT_NUMBERS:
        return PORT_NUMBERS[s.upper()]
    if not (s.isascii() and s.isdigit()):  # "¹".isdigit() is true, int("¹") fails
        return names.get(s) if names else None
    n = int(s)
    if n <= 0xFFFF:
        return n
    if 0xFFFFFF00 <= n <= 0xFFFFFFFF:
        return n - 0xFFFF0000
    return None


_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")


def format_port(port: int, names: Mapping[int, str] | None = None) -> str:
    """A port as ovs-ofctl prints it: its name when names (number -> name) has one, in double
    quotes unless it is a letter followed by letters and digits; else a reserved name or the
    number."""
    name = names.get(port) if names else None
    if name is not None:
        return name if _PLAIN_NAME.match(name) else json.dumps(name)
    return PORT_NAMES.get(port, str(port))


_DOTTED_QUAD = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+)\Z")
_IPV6_CHARS = re.compile(r"[0-9a-fA-F:.]+\Z")
_LEADING_INT = re.compile(r"[+-]?\d+")


def _parse_ipv4(s: str, whole: str) -> int:
    m = _DOTTED_QUAD.match(s)
    if not m:
        raise FieldError(f"{whole}: invalid IP address")
    # Each octet is read like C's "%hhu", which wraps above 255.
    return int.from_bytes(bytes(int(g) & 0xFF for g in m.groups()), "big")


def _parse_ipv6(s: str, whole: str) -> int:
    try:
        if not _IPV6_CHARS.match(s):
            raise ValueError
        return int(ipaddress.IPv6Address(s))
    except ValueError:
        raise FieldError(f"{whole}: invalid IPv6 address") from None


def _parse_ip_mask(kind: Kind, mask_s: str, whole: str) -> int:
    """An IP mask written as an address or a prefix length, read the way OVS reads it: IPv4
    tries an address first; IPv6 takes any leading integer as a prefix length."""
    width, which = (32, "IPv4") if kind is Kind.IPV4 else (128, "IPv6")
    if kind is Kind.IPV4 and _DOTTED_QUAD.match(mask_s):
        return _parse_ipv4(mask_s, whole)
    m = _LEADING_INT.match(mask_s)
    if m:
        bits = int(m.group())
        if not 0 <= bits <= width:
            raise FieldError(f"{whole}: {which} network prefix bits not between 0 and {width}, "
                             "inclusive")
        if m.end() != len(mask_s):
            raise FieldError(f"{whole}: invalid {'IP' if width == 32 else 'IPv6'} address")
        return _prefix_mask(bits, width)
    if kind is Kind.IPV4:
        raise FieldError(f"{whole}: invalid IP address")
    return _parse_ipv6(mask_s, whole)


def _prefix_mask(bits: int, width: int) -> int:
    return ((1 << width) - 1) ^ ((1 << (width - bits)) - 1)


def prefix_len(mask: int, width: int) -> int | None:
    """The prefix length of a CIDR mask, or None if mask is not one."""
    inv = ~mask & ((1 << width) - 1)
    if inv & (inv + 1):
        return None
    return width - inv.bit_length()


def _parse_mac(s: str, whole: str) -> int:
    try:
        return mac_from_str(s)
    except ValueError:
        raise FieldError(f"{whole}: invalid Ethernet address") from None


def _parse_tcp_flags(s: str) -> tuple[int, int]:
    if s and s[0] in "+-":
        value = mask = 0
        for token in _split_flags(s):
            sign, name = token[0], token[1:]
            if name not in TCP_FLAG_NAMES:
                raise FieldError(f"{name}: unknown TCP flag(s)")
            bit = 1 << TCP_FLAG_NAMES.index(name)
            if mask & bit:
                raise FieldError(f"{name}: Each TCP flag can be specified only once")
            mask |= bit
            if sign == "+":
                value |= bit
        return value, mask
    if "|" in s or s in TCP_FLAG_NAMES:
        value = 0
        for name in s.split("|"):
            if name not in TCP_FLAG_NAMES:
                raise FieldError(f"{s}: unknown TCP flag(s)")
            value |= 1 << TCP_FLAG_NAMES.index(name)
        return value, 0x0FFF
    value_s, slash, mask_s = s.partition("/")
    value = parse_int(value_s)
    mask = 0x0FFF
    if slash:
        # ovs-ofctl reads the mask like strtoull, ignoring whatever follows the number.
        prefix = _C_INT_PREFIX.match(mask_s)
        mask = parse_int(prefix.group()) if prefix else None
    if value is None or mask is None or value < 0 or mask < 0 or (value | mask) & ~0x0FFF:
        raise FieldError(f"{s}: unknown TCP flag(s)")
    return value, mask


def _split_flags(s: str) -> list[str]:
    tokens, i = [], 0
    while i < len(s):
        j = i + 1
        while j < len(s) and s[j] not in "+-":
            j += 1
        tokens.append(s[i:j])
        i = j
    return tokens


def parse_value(fld: Field, s: str, port_names: Mapping[str, int] | None = None
                ) -> tuple[int, int]:
    """(value, mask) of a field from its text ("value" or "value/mask"), in the field's units;
    port_names (name -> number) lets ports be named."""
    full = (1 << (8 * fld.n_bytes)) - 1
    kind = fld.kind
    if kind is K.PORT:
        port = parse_port(s, port_names)
        if port is None:
            raise FieldError(f"{s}: invalid or unknown port for {fld.name}")
        return port, full
    if kind is K.FRAG:
        if s not in FRAG_VALUES:
            raise FieldError(f'{s}: unknown fragment type (valid types are "no", "yes", "first", '
                             f'"later", "not_later"')
        return FRAG_VALUES[s]
    if kind is K.TCP_FLAGS:
        return _parse_tcp_flags(s)
    value_s, slash, mask_s = s.partition("/")
    if kind is K.MAC:
        value = _parse_mac(value_s, s)
        mask = _parse_mac(mask_s, s) if slash else full
    elif kind in (K.IPV4, K.IPV6):
        value = (_parse_ipv4 if kind is K.IPV4 else _parse_ipv6)(value_s, s)
        mask = _parse_ip_mask(kind, mask_s, s) if slash else full
    else:
        value = parse_int(value_s)
        if value is None:
            raise FieldError(f"{s}: bad syntax for {fld.name} value")
        if value < 0 or value > full:
            raise FieldError(f"{s}: value too large for {fld.n_bytes}-byte field {fld.name}")
        if slash:
            mask = parse_int(mask_s)
            if mask is None:
                raise FieldError(f"{s}: bad syntax for {fld.name} mask")
            if mask < 0 or mask > full:
                raise FieldError(f"{s}: value too large for {fld.n_bytes}-byte field {fld.name}")
        else:
            mask = full
    if not fld.maskable and mask not in (0, full) and slash:
        raise FieldError(f"{s}: invalid mask for field {fld.name}")
    return value, mask


def format_ipv4(value: int, mask: int) -> str:
    text = str(ipaddress.IPv4Address(value))
    if mask == 0xFFFFFFFF:
        return text
    bits = prefix_len(mask, 32)
    return f"{text}/{bits}" if bits is not None else f"{text}/{ipaddress.IPv4Address(mask)}"


def ipv6_to_str(addr: int) -> str:
    """An IPv6 address as inet_ntop writes it (IPv4-mapped and -compatible forms included)."""
    high = addr >> 32
    if (high == 0xFFFF or (high == 0 and addr >> 16)):
        return f"::{'ffff:' if high else ''}{ipaddress.IPv4Address(addr & 0xFFFFFFFF)}"
    return str(ipaddress.IPv6Address(addr))


def format_ipv6(value: int, mask: int) -> str:
    text = ipv6_to_str(value)
    if mask == (1 << 128) - 1:
        return text
    bits = prefix_len(mask, 128)
    return f"{text}/{bits}" if bits is not None else f"{text}/{ipv6_to_str(mask)}"


def format_mac(value: int, mask: int) -> str:
    if mask == (1 << 48) - 1:
        return mac_to_str(value)
    return f"{mac_to_str(value)}/{mac_to_str(mask)}"


def format_tcp_flags(value: int, mask: int) -> str:
    if mask == 0x0FFF:
        if not value:
            return "0"
        return "|".join(n for i, n in enumerate(TCP_FLAG_NAMES) if value >> i & 1)
    return "".join(("+" if value >> i & 1 else "-") + n
                   for i, n in enumerate(TCP_FLAG_NAMES) if mask >> i & 1)


def format_value(fld: Field, value: int) -> str:
    """One value of fld as OVS writes it in actions ("set_field:VALUE->FIELD")."""
    kind = fld.kind
    if kind is K.DECIMAL:
        return str(value)
    if kind is K.HEX:
        return c_hex(value)
    if kind is K.MAC:
        return mac_to_str(value)
    if kind is K.IPV4:
        return str(ipaddress.IPv4Address(value))
    if kind is K.IPV6:
        return ipv6_to_str(value)
    if kind is K.PORT:
        return format_port(value)
    if kind is K.FRAG:
        return next((n for n, vm in FRAG_VALUES.items() if vm == (value, 3)), c_hex(value))
    return format_tcp_flags(value, 0x0FFF)


def c_hex(v: int) -> str:
    """C's "%#x": 0x-prefixed hex, except plain 0 for zero."""
    return f"{v:#x}" if v else "0"
