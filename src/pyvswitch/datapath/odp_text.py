"""ODP flow text: megaflows as `ovs-appctl dpctl/dump-flows` prints them, and back.

A megaflow is a (mask, key) pair of FlowKeys.  Its text is a list of nested key
attributes in OVS's fixed order,

    recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth(src=..,dst=..),eth_type(0x0800),
    ipv4(src=..,dst=../255.0.0.0,proto=6,frag=no),tcp(dst=80),tcp_flags(+syn-ack)

with a VLAN-tagged flow's inner headers inside `eth_type(0x8100),vlan(..),encap(..)`.
A field is printed as `name=value` when its mask is exact, `name=value/mask` when
partial, and is left out when its mask is zero; an attribute whose fields are all left
out is left out too.  `verbose` (dump-flows -m) prints every field, zero masks as `/0`,
and the metadata attributes this datapath always leaves wildcarded.  The formats of
values and masks follow the reference (checked against ovs-vswitchd 3.1 output in the
tests): integer masks in hex as C's "%#x" prints them (so a zero mask is "/0"), VLAN
masks always "0x..", addresses as addresses.

`parse_flow` reads the same syntax (as `dpctl/add-flow` takes it) into (mask, key): a
field given without a mask is exact, an attribute left out is wildcarded.  `parse_actions`
reads the datapath actions this datapath executes.

Pure: no I/O; the dump's "used" age comes from the caller's `now`.
"""

from __future__ import annotations

import ipaddress
import re
import uuid

from pyvswitch.packet.flow import FRAG_ANY, FRAG_LATER, FULL_MASK, INDEX, FlowKey
from pyvswitch.packet.headers import mac_from_str, mac_to_str

from . import actions as A

ETH_TYPE_VLAN = 0x8100
VLAN_CFI = 0x1000
_TCP_FLAG_NAMES = ("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns")
# Stats "flags:" letters in the order OVS prints them.
_TCP_FLAG_LETTERS = ((0x002, "S"), (0x001, "F"), (0x008, "P"), (0x004, "R"), (0x020, "U"),
                     (0x010, "."), (0x040, "E"), (0x080, "C"), (0x100, "N"))
_FRAG_NAMES = {0: "no", FRAG_ANY: "first", FRAG_ANY | FRAG_LATER: "later"}
_VERBOSE_PREFIX = ("skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),"
                   "ct_label(0/0),recirc_id(0),dp_hash(0/0)")


class OdpParseError(ValueError):
    """Text that is not an ODP flow or action list; str() is OVS's wording."""


# ---- printing ----------------------------------------------------------------------


def _int(name: str, v: int, m: int, full: int, verbose: bool) -> str | None:
    if m == full:
        return f"{name}={v}"
    if m == 0:
        return f"{name}={v}/0" if verbose else None
    return f"{name}={v}/{m:#x}"


def _hex(name: str, v: int, m: int, full: int, verbose: bool) -> str | None:
    """A field printed in hex like C's %#x (0 stays "0")."""
    vs = f"{v:#x}" if v else "0"
    if m == full:
        return f"{name}={vs}"
    if m == 0:
        return f"{name}={vs}/0" if verbose else None
    return f"{name}={vs}/{m:#x}"


def _addr(name: str, v: int, m: int, full: int, verbose: bool, fmt) -> str | None:
    if m == full:
        return f"{name}={fmt(v)}"
    if m == 0 and not verbose:
        return None
    return f"{name}={fmt(v)}/{fmt(m)}"


def _ip4(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


def _ip6(v: int) -> str:
    return str(ipaddress.IPv6Address(v))


def _attr(name: str, fields: list[str | None], verbose: bool, always: bool = False) -> str | None:
    shown = [f for f in fields if f is not None]
    if not shown and not (verbose or always):
        return None
    return f"{name}({','.join(shown)})"


def _vlan(tci: int, mask: int, verbose: bool) -> str:
    parts = []
    vid, vmask = tci & 0xFFF, mask & 0xFFF
    if verbose or vid or vmask:
        parts.append(f"vid={vid}" + ("" if vmask == 0xFFF else f"/0x{vmask:x}"))
    pcp, pmask = tci >> 13, (mask >> 13) & 7
    if verbose or pcp or pmask:
        parts.append(f"pcp={pcp}" + ("" if pmask == 7 else f"/0x{pmask:x}"))
    if not tci & VLAN_CFI:
        parts.append("cfi=0")
    return f"vlan({','.join(parts)})"


def _tcp_flags(v: int, m: int, verbose: bool) -> str | None:
    if m == 0:
        return "tcp_flags(0/0)" if verbose else None
    if m == FULL_MASK.tcp_flags:
        names = [n for i, n in enumerate(_TCP_FLAG_NAMES) if v >> i & 1]
        return f"tcp_flags({'|'.join(names) or '0'})"
    return "tcp_flags(" + "".join(("+" if v >> i & 1 else "-") + n
                                  for i, n in enumerate(_TCP_FLAG_NAMES) if m >> i & 1) + ")"


def _l3_l4(key: FlowKey, mask: FlowKey, verbose: bool) -> list[str]:
    out: list[str] = [f"eth_type(0x{key.dl_type:04x})"]
    f = FULL_MASK
    frag = None
    if mask.nw_frag or verbose:
        frag = f"frag={_FRAG_NAMES.get(key.nw_frag, 'no')}"
        if mask.nw_frag not in (0, f.nw_frag) or (verbose and not mask.nw_frag):
            frag += f"/{mask.nw_frag:#x}" if mask.nw_frag else "/0"
    l4 = True
    if key.dl_type == 0x0800:
        a = _attr("ipv4", [
            _addr("src", key.nw_src, mask.nw_src, f.nw_src, verbose, _ip4),
            _addr("dst", key.nw_dst, mask.nw_dst, f.nw_dst, verbose, _ip4),
            _int("proto", key.nw_proto, mask.nw_proto, f.nw_proto, verbose),
            _hex("tos", key.nw_tos, mask.nw_tos, f.nw_tos, verbose),
            _int("ttl", key.nw_ttl, mask.nw_ttl, f.nw_ttl, verbose), frag], verbose)
    elif key.dl_type == 0x86DD:
        a = _attr("ipv6", [
            _addr("src", key.ipv6_src, mask.ipv6_src, f.ipv6_src, verbose, _ip6),
            _addr("dst", key.ipv6_dst, mask.ipv6_dst, f.ipv6_dst, verbose, _ip6),
            _hex("label", key.ipv6_label, mask.ipv6_label, f.ipv6_label, verbose),
            _int("proto", key.nw_proto, mask.nw_proto, f.nw_proto, verbose),
            _hex("tclass", key.nw_tos, mask.nw_tos, f.nw_tos, verbose),
            _int("hlimit", key.nw_ttl, mask.nw_ttl, f.nw_ttl, verbose), frag], verbose)
    elif key.dl_type in (0x0806, 0x8035):
        a = _attr("arp", [
            _addr("sip", key.nw_src, mask.nw_src, f.nw_src, verbose, _ip4),
            _addr("tip", key.nw_dst, mask.nw_dst, f.nw_dst, verbose, _ip4),
            _int("op", key.nw_proto, mask.nw_proto, f.nw_proto, verbose),
            _addr("sha", key.arp_sha, mask.arp_sha, f.arp_sha, verbose, mac_to_str),
            _addr("tha", key.arp_tha, mask.arp_tha, f.arp_tha, verbose, mac_to_str)], verbose)
        l4 = False
    else:
        return out
    if a:
        out.append(a)
    if not l4 or key.nw_frag & FRAG_LATER:
        return out
    proto = key.nw_proto
    ports = [_int("src", key.tp_src, mask.tp_src, f.tp_src, verbose),
             _int("dst", key.tp_dst, mask.tp_dst, f.tp_dst, verbose)]
    if proto in (6, 17, 132):
        a = _attr({6: "tcp", 17: "udp", 132: "sctp"}[proto], ports, verbose)
    elif proto == 1 and key.dl_type == 0x0800 or proto == 58 and key.dl_type == 0x86DD:
        ports = [_int("type", key.tp_src, mask.tp_src, 0xFF, verbose),
                 _int("code", key.tp_dst, mask.tp_dst, 0xFF, verbose)]
        a = _attr("icmp" if proto == 1 else "icmpv6", ports, verbose)
    else:
        return out
    if a:
        out.append(a)
    if proto == 6:
        t = _tcp_flags(key.tcp_flags, mask.tcp_flags, verbose)
        if t:
            out.append(t)
    elif proto == 58 and key.tp_dst == 0 and key.tp_src in (135, 136):
        a = _attr("nd", [
            _addr("target", key.nd_target, mask.nd_target, f.nd_target, verbose, _ip6),
            _addr("sll", key.arp_sha, mask.arp_sha, f.arp_sha, verbose, mac_to_str),
            _addr("tll", key.arp_tha, mask.arp_tha, f.arp_tha, verbose, mac_to_str)], verbose)
        if a:
            out.append(a)
    return out


def format_key(key: FlowKey, mask: FlowKey, *, verbose: bool = False,
               port_names: dict[int, str] | None = None) -> str:
    """The ODP text of a megaflow's match."""
    port = port_names.get(key.in_port, str(key.in_port)) if port_names else str(key.in_port)
    parts = [_VERBOSE_PREFIX if verbose else "recirc_id(0)", f"in_port({port})",
             "packet_type(ns=0,id=0)"]
    f = FULL_MASK
    eth = _attr("eth", [_addr("src", key.dl_src, mask.dl_src, f.dl_src, verbose, mac_to_str),
                        _addr("dst", key.dl_dst, mask.dl_dst, f.dl_dst, verbose, mac_to_str)],
                verbose)
    if eth:
        parts.append(eth)
    if key.vlan_tci & VLAN_CFI and mask.vlan_tci:
        inner = _l3_l4(key, mask, verbose)
        if key.vlan_tci2 & VLAN_CFI and mask.vlan_tci2:
            inner = [f"eth_type(0x{ETH_TYPE_VLAN:04x})", _vlan(key.vlan_tci2, mask.vlan_tci2, verbose),
                     f"encap({','.join(inner)})"]
        parts += [f"eth_type(0x{ETH_TYPE_VLAN:04x})", _vlan(key.vlan_tci, mask.vlan_tci, verbose),
                  f"encap({','.join(inner)})"]
    else:
        parts += _l3_l4(key, mask, verbose)
    return ",".join(parts)


def format_tcp_flags(flags: int) -> str:
    """A megaflow's seen TCP flags as the dump's "flags:" prints them ("SP.")."""
    return "".join(c for bit, c in _TCP_FLAG_LETTERS if flags & bit)


def format_flow(flow, now: float, *, verbose: bool = False,
                port_names: dict[int, str] | None = None) -> str:
    """One dump-flows line for a Megaflow (flowtable.py); ports by name if port_names."""
    text = format_key(flow.packet_key, flow.mask, verbose=verbose, port_names=port_names)
    if verbose:
        text = f"ufid:{uuid.UUID(int=flow.ufid)}, {text}"
    used = "never" if not flow.used else f"{max(0.0, now - flow.used):.3f}s"
    text += f", packets:{flow.packets}, bytes:{flow.bytes}, used:{used}"
    if flow.tcp_flags:
        text += f", flags:{format_tcp_flags(flow.tcp_flags)}"
    if verbose:
        # Flows with kernel fast-path entries read as OVS's TC-offloaded ones.
        text += ", offloaded:yes, dp:tc" if getattr(flow, "kkeys", None) else ", dp:ovs"
    return text + ", actions:" + format_actions(flow.actions, port_names, flow.packet_key)


_SET_LAYERS = {
    "dl_src": ("eth", "src"), "dl_dst": ("eth", "dst"),
    "nw_src": ("ipv4", "src"), "nw_dst": ("ipv4", "dst"),
    "ipv6_src": ("ipv6", "src"), "ipv6_dst": ("ipv6", "dst"), "ipv6_label": ("ipv6", "label"),
    "tp_src": (None, "src"), "tp_dst": (None, "dst"),
}
_SET_ORDER = {"eth": ("src", "dst"), "ipv4": ("src", "dst", "proto", "tos", "ttl"),
              "ipv6": ("src", "dst", "label", "proto", "tclass", "hlimit")}


def _set_layer(slot: str, key: FlowKey | None) -> tuple[str, str]:
    if slot in ("nw_tos", "nw_ttl"):
        v6 = key is not None and key.dl_type == 0x86DD
        return ("ipv6", "tclass" if slot == "nw_tos" else "hlimit") if v6 else \
            ("ipv4", "tos" if slot == "nw_tos" else "ttl")
    layer, field = _SET_LAYERS.get(slot, (slot, slot))
    if layer is None:
        layer = {17: "udp", 132: "sctp"}.get(key.nw_proto if key is not None else 6, "tcp")
    return layer, field


def _set_value(layer: str, field: str, value: int) -> str:
    if layer == "eth":
        return mac_to_str(value)
    if layer == "ipv4" and field in ("src", "dst"):
        return _ip4(value)
    if layer == "ipv6" and field in ("src", "dst"):
        return _ip6(value)
    if field in ("tos", "tclass", "label"):
        return f"{value:#x}" if value else "0"
    return str(value)


def format_actions(actions: tuple, port_names: dict[int, str] | None = None,
                   key: FlowKey | None = None) -> str:
    """Datapath actions as OVS prints them: "push_vlan(vid=10,pcp=0),2", "drop".
    Consecutive rewrites of one header merge into one set(...), as in OVS."""
    if not actions:
        return "drop"
    parts: list[str] = []
    pending: tuple[str, dict[str, str]] | None = None

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            layer, fields = pending
            order = _SET_ORDER.get(layer, ("src", "dst"))
            inner = ",".join(f"{k}={fields[k]}" for k in sorted(
                fields, key=lambda k: order.index(k) if k in order else len(order)))
            parts.append(f"set({layer}({inner}))")
            pending = None

    for act in actions:
        op = act[0]
        if op == A.SET:
            layer, field = _set_layer(act[1], key)
            if pending is not None and (pending[0] != layer or field in pending[1]):
                flush()
            if pending is None:
                pending = (layer, {})
            pending[1][field] = _set_value(layer, field, act[2])
            continue
        flush()
        if op == A.OUTPUT:
            parts.append(port_names.get(act[1], str(act[1])) if port_names else str(act[1]))
        elif op == A.PUSH_VLAN:
            tpid, tci = act[1], act[2]
            pre = "" if tpid == ETH_TYPE_VLAN else f"tpid=0x{tpid:x},"
            parts.append(f"push_vlan({pre}vid={tci & 0xFFF},pcp={tci >> 13})")
        elif op == A.POP_VLAN:
            parts.append("pop_vlan")
        elif op == A.USERSPACE:
            parts.append(f"userspace({act[1]})")
    flush()
    return ",".join(parts)


# ---- parsing -----------------------------------------------------------------------


def _split_top(text: str) -> list[tuple[str, str]]:
    """"a(x),b(y(z))" -> [("a", "x"), ("b", "y(z)")]."""
    out = []
    i, n = 0, len(text)
    while i < n:
        m = re.compile(r"\s*([a-z0-9_]+)\(").match(text, i)
        if not m:
            raise OdpParseError(f"syntax error at {text[i:]}")
        depth, j = 1, m.end()
        while j < n and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        if depth:
            raise OdpParseError(f"syntax error at {text[i:]}")
        out.append((m.group(1), text[m.end():j - 1]))
        i = j
        while i < n and text[i] in ", ":
            i += 1
    return out


def _fields(body: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in body.split(","))):
        name, eq, value = part.partition("=")
        if not eq:
            raise OdpParseError(f"syntax error at {part}")
        out[name] = value
    return out


def _num(s: str) -> int:
    return int(s, 0)


_PARSERS = {
    "ip4": lambda s: int(ipaddress.IPv4Address(s)),
    "ip6": lambda s: int(ipaddress.IPv6Address(s)),
    "mac": mac_from_str,
    "int": _num,
}
# attribute -> {field: (FlowKey slot, value kind)}
_FIELDS = {
    "eth": {"src": ("dl_src", "mac"), "dst": ("dl_dst", "mac")},
    "ipv4": {"src": ("nw_src", "ip4"), "dst": ("nw_dst", "ip4"), "proto": ("nw_proto", "int"),
             "tos": ("nw_tos", "int"), "ttl": ("nw_ttl", "int")},
    "ipv6": {"src": ("ipv6_src", "ip6"), "dst": ("ipv6_dst", "ip6"),
             "label": ("ipv6_label", "int"), "proto": ("nw_proto", "int"),
             "tclass": ("nw_tos", "int"), "hlimit": ("nw_ttl", "int")},
    "arp": {"sip": ("nw_src", "ip4"), "tip": ("nw_dst", "ip4"), "op": ("nw_proto", "int"),
            "sha": ("arp_sha", "mac"), "tha": ("arp_tha", "mac")},
    "tcp": {"src": ("tp_src", "int"), "dst": ("tp_dst", "int")},
    "icmp": {"type": ("tp_src", "int"), "code": ("tp_dst", "int")},
    "nd": {"target": ("nd_target", "ip6"), "sll": ("arp_sha", "mac"), "tll": ("arp_tha", "mac")},
}
_FIELDS["udp"] = _FIELDS["sctp"] = _FIELDS["tcp"]
_FIELDS["icmpv6"] = _FIELDS["icmp"]
_IGNORED = {"recirc_id", "packet_type", "skb_priority", "skb_mark", "ct_state", "ct_zone",
            "ct_mark", "ct_label", "dp_hash"}


def parse_flow(text: str, port_numbers: dict[str, int] | None = None) -> tuple[FlowKey, FlowKey]:
    """(mask, key) of ODP flow text; the key holds the values as written (unmasked)."""
    key = [0] * len(FlowKey._fields)
    mask = [0] * len(FlowKey._fields)
    full = FULL_MASK

    def put(slot: str, value: int, m: int | None) -> None:
        i = INDEX[slot]
        m = full[i] if m is None else m & full[i]
        key[i], mask[i] = value & full[i], m

    def walk(attrs: list[tuple[str, str]], outer_vlan: bool) -> None:
        for name, body in attrs:
            if name in _IGNORED:
                continue
            if name == "in_port":
                v = body.strip()
                put("in_port", port_numbers[v] if port_numbers and v in port_numbers else _num(v),
                    None)
            elif name == "eth_type":
                put("dl_type", _num(body.split("/")[0]), None)
            elif name == "vlan":
                f = _fields(body)
                vid, _, vm = f.get("vid", "0").partition("/")
                pcp, _, pm = f.get("pcp", "0").partition("/")
                tci = _num(vid) | _num(pcp) << 13 | VLAN_CFI
                m = (_num(vm) if vm else (0xFFF if "vid" in f else 0)) | \
                    (_num(pm) if pm else (7 if "pcp" in f else 0)) << 13 | VLAN_CFI
                put("vlan_tci2" if not outer_vlan else "vlan_tci", tci, m)
                outer_vlan = False
            elif name == "encap":
                walk(_split_top(body), outer_vlan)
            elif name == "tcp_flags":
                put("tcp_flags", *_parse_tcp_flags(body))
            elif name in _FIELDS:
                table = _FIELDS[name]
                for fname, value in _fields(body).items():
                    if name in ("ipv4", "ipv6") and fname == "frag":
                        v, _, m = value.partition("/")
                        rev = {n: k for k, n in _FRAG_NAMES.items()}
                        if v not in rev:
                            raise OdpParseError(f"syntax error at frag={value}")
                        put("nw_frag", rev[v], _num(m) if m else None)
                        continue
                    if fname not in table:
                        raise OdpParseError(f"syntax error at {name}({body})")
                    slot, kind = table[fname]
                    v, _, m = value.partition("/")
                    try:
                        put(slot, _PARSERS[kind](v), _PARSERS[kind](m) if m else None)
                    except ValueError:
                        raise OdpParseError(f"syntax error at {fname}={value}") from None
            else:
                raise OdpParseError(f"syntax error at {name}({body})")

    try:
        walk(_split_top(text), True)
    except (ValueError, KeyError) as e:
        if isinstance(e, OdpParseError):
            raise
        raise OdpParseError(f"syntax error at {text}") from None
    return FlowKey(*mask), FlowKey(*key)


def _parse_tcp_flags(body: str) -> tuple[int, int | None]:
    body = body.strip()
    if body and body[0] in "+-":
        v = m = 0
        for sign, name in re.findall(r"([+-])([a-z]+)", body):
            bit = 1 << _TCP_FLAG_NAMES.index(name)
            m |= bit
            if sign == "+":
                v |= bit
        return v, m
    value, _, m = body.partition("/")
    if re.fullmatch(r"[0-9x]+", value):
        return _num(value), _num(m) if m else None
    v = 0
    for name in value.split("|"):
        v |= 1 << _TCP_FLAG_NAMES.index(name)
    return v, None


_SET_SLOTS = {
    ("eth", "src"): "dl_src", ("eth", "dst"): "dl_dst",
    ("ipv4", "src"): "nw_src", ("ipv4", "dst"): "nw_dst", ("ipv4", "tos"): "nw_tos",
    ("ipv4", "ttl"): "nw_ttl", ("ipv6", "src"): "ipv6_src", ("ipv6", "dst"): "ipv6_dst",
    ("ipv6", "label"): "ipv6_label", ("ipv6", "tclass"): "nw_tos", ("ipv6", "hlimit"): "nw_ttl",
}


def parse_actions(text: str, port_numbers: dict[str, int] | None = None) -> tuple:
    """Datapath actions from their text ("2,push_vlan(vid=10,pcp=0),3", "drop")."""
    text = text.strip()
    if text in ("drop", ""):
        return ()
    out: list[tuple] = []
    i = 0
    while i < len(text):
        m = re.compile(r"\s*([A-Za-z0-9_.-]+)").match(text, i)
        if not m:
            raise OdpParseError(f"syntax error at {text[i:]}")
        word, j = m.group(1), m.end()
        body = None
        if j < len(text) and text[j] == "(":
            depth, k = 1, j + 1
            while k < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[k], 0)
                k += 1
            body, j = text[j + 1:k - 1], k
        if body is None and word == "pop_vlan":
            out.append((A.POP_VLAN,))
        elif body is None and word.isdigit():
            out.append((A.OUTPUT, int(word)))
        elif body is None and port_numbers and word in port_numbers:
            out.append((A.OUTPUT, port_numbers[word]))
        elif word == "push_vlan" and body is not None:
            f = _fields(body)
            tpid = _num(f.get("tpid", "0x8100"))
            out.append((A.PUSH_VLAN, tpid, _num(f.get("vid", "0")) | _num(f.get("pcp", "0")) << 13))
        elif word == "set" and body is not None:
            for layer, inner in _split_top(body):
                for fname, value in _fields(inner).items():
                    slot = _SET_SLOTS.get((layer, fname))
                    if slot is None and layer in ("tcp", "udp", "sctp") and fname in ("src", "dst"):
                        slot = "tp_" + fname
                    if slot is None:
                        raise OdpParseError(f"syntax error at set({body})")
                    kind = _FIELDS.get(layer, {}).get(fname, (None, "int"))[1]
                    out.append((A.SET, slot, _PARSERS[kind](value.partition("/")[0])))
        else:
            raise OdpParseError(f"syntax error at {text[i:]}")
        i = j
        while i < len(text) and text[i] in ", ":
            i += 1
    return tuple(out)
