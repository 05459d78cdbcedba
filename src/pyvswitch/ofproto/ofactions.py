"""OpenFlow actions: one version-independent model and ovs-ofctl's text syntax.

An action list is a tuple of the frozen dataclasses below; the empty tuple is
"drop".  Every OpenFlow version's wire codec (elsewhere) decodes into these
and encodes from them, and xlate interprets them.  The text parser accepts
what `ovs-ofctl add-flow` accepts for these actions (`output:1`, `1`,
`NORMAL`, `mod_vlan_vid:10`, `set_field:10.0.0.1->ip_dst`,
`load:0x5->NXM_NX_REG0[0..7]`, `resubmit(,2)`, ...) and the printer writes
what `ovs-ofctl dump-flows` (OpenFlow 1.0 with Nicira extensions, its
default) prints: a set-field that OpenFlow 1.0 can express prints as the
matching `mod_*` action, a register or other extension field as `load:`.
Errors are `ActionError` with ovs-ofctl's words.

Model notes:
- ports are OpenFlow 1.0 numbers; reserved ports use 0xfff8.. (`packet.fields.PORT_NAMES`);
- `SetField` holds a field of `packet.fields.FIELDS` by canonical name, with a value and a mask
  in the field's own units (a full mask writes the whole field); `pop_vlan` and `strip_vlan`
  are the same action;
- `goto_table` is an instruction in OpenFlow 1.1+; here it is simply the last action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyvswitch.packet.fields import (
    BY_NAME, NXM_NX, NXM_OF, PORT_NAMES, Field, FieldError, c_hex, format_value, parse_int,
    parse_port as _fields_parse_port, parse_value,
)

OFPP_MAX = 0xFF00
OFPP_IN_PORT = 0xFFF8
OFPP_TABLE = 0xFFF9
OFPP_NORMAL = 0xFFFA
OFPP_FLOOD = 0xFFFB
OFPP_ALL = 0xFFFC
OFPP_CONTROLLER = 0xFFFD
OFPP_LOCAL = 0xFFFE
OFPP_NONE = 0xFFFF
N_TABLES = 255


class ActionError(ValueError):
    """Actions ovs-ofctl (or a switch) would refuse; str() is the reason in OVS's words."""


@dataclass(frozen=True, slots=True)
class Output:
    port: int
    max_len: int = 0


@dataclass(frozen=True, slots=True)
class Controller:
    max_len: int = 65535
    reason: str = "action"
    controller_id: int = 0


@dataclass(frozen=True, slots=True)
class Enqueue:
    port: int
    queue: int


@dataclass(frozen=True, slots=True)
class SetQueue:
    queue: int


@dataclass(frozen=True, slots=True)
class SetVlanVid:
    vid: int


@dataclass(frozen=True, slots=True)
class SetVlanPcp:
    pcp: int


@dataclass(frozen=True, slots=True)
class StripVlan:
    pass


@dataclass(frozen=True, slots=True)
class PushVlan:
    tpid: int = 0x8100


@dataclass(frozen=True, slots=True)
class SetField:
    field: str       # canonical name in packet.fields
    value: int
    mask: int        # in the field's units; all ones writes the whole field


@dataclass(frozen=True, slots=True)
class Move:
    src: str
    src_ofs: int
    dst: str
    dst_ofs: int
    n_bits: int


@dataclass(frozen=True, slots=True)
class DecTtl:
    controller_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Resubmit:
    port: int = OFPP_IN_PORT       # OFPP_IN_PORT: keep the packet's in_port
    table: int | None = None       # None: the current table


@dataclass(frozen=True, slots=True)
class GotoTable:
    table: int


@dataclass(frozen=True, slots=True)
class WriteMetadata:
    value: int
    mask: int = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Note:
    data: bytes


@dataclass(frozen=True, slots=True)
class OutputReg:
    """Output to the port number held in a field (`output:NXM_NX_REG0[0..15]`)."""
    field: str
    ofs: int
    n_bits: int
    max_len: int = 0


@dataclass(frozen=True, slots=True)
class SetTunnel:
    tun_id: int
    wide: bool = False       # set_tunnel64 (always so for ids beyond 32 bits)


@dataclass(frozen=True, slots=True)
class Clone:
    """Actions run on a copy of the packet; afterwards the original flow continues."""
    actions: tuple


@dataclass(frozen=True, slots=True)
class Exit:
    """Stops all action processing (pending resubmits included)."""


@dataclass(frozen=True, slots=True)
class LearnSpec:
    """One part of a learned flow: a match on (`match`), a load into (`load`) the
    destination subfield, or an `output` to the port in the source subfield.  The value
    comes from the source subfield of the packet being translated, or is `imm`."""
    kind: str                      # "match" | "load" | "output"
    dst: str | None                # field name (None for output)
    dst_ofs: int
    n_bits: int
    src: str | None = None         # field name, or None for an immediate value
    src_ofs: int = 0
    imm: int = 0
    dst_name: str = ""             # the NXM/OXM names as written, for printing
    src_name: str = ""


@dataclass(frozen=True, slots=True)
class Learn:
    """Adds (or refreshes) a flow built from the packet: Nicira's learn action."""
    specs: tuple[LearnSpec, ...] = ()
    table: int = 1
    priority: int = 0x8000
    idle_timeout: int = 0
    hard_timeout: int = 0
    fin_idle_timeout: int = 0
    fin_hard_timeout: int = 0
    cookie: int = 0
    send_flow_rem: bool = False
    delete_learned: bool = False
    limit: int = 0                             # at most this many flows learned (0: no limit)
    result_dst: tuple[str, int, str] | None = None   # (field, bit, name): 1 if learned, else 0


Action = (Output | Controller | Enqueue | SetQueue | SetVlanVid | SetVlanPcp | StripVlan | PushVlan
          | SetField | Move | DecTtl | Resubmit | GotoTable | WriteMetadata | Note | OutputReg
          | SetTunnel | Clone | Exit | Learn)

# ---- NXM names (for load/move) ------------------------------------------------

_NXM_OF_NAMES = ("IN_PORT", "ETH_DST", "ETH_SRC", "ETH_TYPE", "VLAN_TCI", "IP_TOS", "IP_PROTO",
                 "IP_SRC", "IP_DST", "TCP_SRC", "TCP_DST", "UDP_SRC", "UDP_DST", "ICMP_TYPE",
                 "ICMP_CODE", "ARP_OP", "ARP_SPA", "ARP_TPA")
_NXM_NX_NAMES = {**{i: f"REG{i}" for i in range(16)}, 16: "TUN_ID", 17: "ARP_SHA", 18: "ARP_THA",
                 19: "IPV6_SRC", 20: "IPV6_DST", 21: "ICMPV6_TYPE", 22: "ICMPV6_CODE",
                 23: "ND_TARGET", 24: "ND_SLL", 25: "ND_TLL", 26: "IP_FRAG", 27: "IPV6_LABEL",
                 28: "IP_ECN", 29: "IP_TTL", 34: "TCP_FLAGS"}
NXM_NAME: dict[str, str] = {"metadata": "OXM_OF_METADATA"}
for _fld in BY_NAME.values():
    if _fld.nxm is None:
        continue
    cls, code = _fld.nxm
    if cls == NXM_OF and code < len(_NXM_OF_NAMES):
        NXM_NAME[_fld.name] = f"NXM_OF_{_NXM_OF_NAMES[code]}"
    elif cls == NXM_NX and code in _NXM_NX_NAMES:
        NXM_NAME[_fld.name] = f"NXM_NX_{_NXM_NX_NAMES[code]}"
FIELD_BY_NXM_NAME = {v: k for k, v in NXM_NAME.items()}
FIELD_BY_NXM_NAME["OXM_OF_IN_PORT"] = "in_port"       # OpenFlow 1.1+'s 32-bit in_port
_NAME_WIDTH = {"OXM_OF_IN_PORT": 32}

# Set-fields that OpenFlow 1.0 expresses as its own actions, and their text names.
_OF10_SET = {"eth_src": "mod_dl_src", "eth_dst": "mod_dl_dst", "ip_src": "mod_nw_src",
             "ip_dst": "mod_nw_dst", "tcp_src": "mod_tp_src", "tcp_dst": "mod_tp_dst",
             "udp_src": "mod_tp_src", "udp_dst": "mod_tp_dst"}
_LEGACY_SET = {"mod_dl_src": "eth_src", "mod_dl_dst": "eth_dst", "mod_nw_src": "ip_src",
               "mod_nw_dst": "ip_dst", "mod_tp_src": "tcp_src", "mod_tp_dst": "tcp_dst",
               "mod_nw_ttl": "nw_ttl", "mod_nw_ecn": "nw_ecn"}


def field_width(fld: Field) -> int:
    return 8 * fld.n_bytes


# ---- parsing --------------------------------------------------------------------

def _split_actions(text: str) -> list[tuple[str, str | None]]:
    """ovs-ofctl's action items: name, name:arg or name(args), separated by commas
    (commas inside parentheses belong to the argument)."""
    items: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in ", \t":
            i += 1
        if i >= n:
            break
        j = i
        while j < n and text[j] not in ",:( \t":
            j += 1
        name = text[i:j]
        arg = None
        if j < n and text[j] == "(":
            depth, k = 0, j
            while k < n:
                if text[k] == "(":
                    depth += 1
                elif text[k] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            arg = text[j + 1:k]
            j = k + 1
        elif j < n and text[j] == ":":
            k = j + 1
            depth = 0
            while k < n and (text[k] != "," or depth):
                if text[k] in "([":
                    depth += 1
                elif text[k] in ")]":
                    depth -= 1
                k += 1
            arg = text[j + 1:k]
            j = k
        items.append((name, arg))
        i = j
    return items


def parse_actions(text: str) -> tuple[Action, ...]:
    """Actions from ovs-ofctl's syntax ("output:1,mod_vlan_vid:10", "drop", "")."""
    items = _split_actions(text)
    if any(name.lower() == "drop" for name, _ in items):
        if len(items) > 1:
            raise ActionError('"drop" must not be accompanied by any other action or instruction')
        return ()
    return tuple(_parse_one(name, arg) for name, arg in items)


def parse_port(s: str) -> int | None:
    """An OpenFlow port number or name, or None (plain ASCII only: "¹" is no digit here)."""
    return _fields_parse_port(s) if s.isascii() else None


def _port(s: str) -> int:
    port = parse_port(s)
    if port is None or port in (OFPP_NONE, 0xFFF7) or (OFPP_MAX <= port < OFPP_IN_PORT):
        raise ActionError(f"{s}: output to unknown port")
    return port


def _output_for_port(port: int, max_len: int = 0) -> Action:
    if port == OFPP_CONTROLLER:
        return Controller(max_len or 65535)
    return Output(port, max_len)


def _int_arg(arg: str | None, what: str) -> int:
    v = parse_int(arg or "")
    if v is None:
        raise ActionError(f"{arg}: invalid {what}")
    return v


def _table(s: str) -> int:
    v = parse_int(s)
    if v is None:
        raise ActionError(f'unknown table "{s}"')
    if v >= N_TABLES:
        raise ActionError(f"{s}: resubmit to unknown table")
    return v


def _parse_one(name: str, arg: str | None) -> Action:
    lname = name.lower()
    if arg is None:
        port = parse_port(name)
        if port is not None and ((name.isascii() and name.isdigit()) or name.upper() in PORT_NAMES.values()):
            return _output_for_port(_port(name))
    if lname == "output":
        arg = arg or ""
        if "[" in arg:
            fld, ofs, n_bits = _parse_subfield(arg)
            return OutputReg(fld.name, ofs, n_bits)
        if "=" in arg:
            kv = dict(part.strip().partition("=")[::2] for part in arg.split(","))
            if "port" not in kv:
                raise ActionError(f"{arg}: missing port")
            return _output_for_port(_port(kv["port"]), _int_arg(kv.get("max_len", "0"), "max_len"))
        return _output_for_port(_port(arg))
    if lname == "exit":
        return Exit()
    if lname in ("set_tunnel", "set_tunnel64"):
        tun = _int_arg(arg, "tunnel id")
        return SetTunnel(tun, lname == "set_tunnel64" or tun > 0xFFFFFFFF)
    if lname == "clone":
        return Clone(parse_actions(arg or ""))
    if lname == "controller":
        return _parse_controller(arg)
    if lname == "enqueue":
        port_s, _, q = (arg or "").replace(",", ":").partition(":")
        return Enqueue(_port(port_s), _int_arg(q, "queue id"))
    if lname == "set_queue":
        return SetQueue(_int_arg(arg, "queue id"))
    if lname == "mod_vlan_vid":
        vid = parse_int(arg or "")
        if vid is None or vid > 0xFFF:
            raise ActionError(f"{arg}: not a valid VLAN VID")
        return SetVlanVid(vid)
    if lname == "mod_vlan_pcp":
        pcp = parse_int(arg or "")
        if pcp is None or pcp > 7:
            raise ActionError(f"{arg}: not a valid VLAN PCP")
        return SetVlanPcp(pcp)
    if lname in ("strip_vlan", "pop_vlan"):
        return StripVlan()
    if lname == "push_vlan":
        tpid = parse_int(arg or "")
        if tpid not in (0x8100, 0x88A8):
            raise ActionError(f"{arg}: not a valid VLAN TPID")
        return PushVlan(tpid)
    if lname == "mod_nw_tos":
        tos = parse_int(arg or "")
        if tos is None or tos > 0xFF or tos & 3:
            raise ActionError(f"{arg}: not a valid TOS")
        return SetField("nw_tos", tos, 0xFF)
    if lname in _LEGACY_SET:
        return _set_field(_LEGACY_SET[lname], arg or "")
    if lname == "set_field":
        value_s, arrow, fname = (arg or "").rpartition("->")
        if not arrow:
            raise ActionError(f"{arg}: missing `->'")
        fld = BY_NAME.get(fname)
        if fld is None:
            raise ActionError(f"{fname} is not a valid OXM field name")
        return _set_field(fld.name, value_s)
    if lname == "load":
        value_s, arrow, dst = (arg or "").partition("->")
        if not arrow:
            raise ActionError(f"{arg}: missing `->'")
        fld, ofs, n_bits = _parse_subfield(dst)
        value = parse_int(value_s)
        if value is None:
            raise ActionError(f"{value_s}: bad syntax for load value")
        if value >> n_bits:
            raise ActionError(f"{value_s}: value does not fit into {n_bits} bits")
        full = (1 << field_width(fld)) - 1
        return SetField(fld.name, (value << ofs) & full, (((1 << n_bits) - 1) << ofs) & full)
    if lname == "move":
        src, arrow, dst = (arg or "").partition("->")
        if not arrow:
            raise ActionError(f"{arg}: missing `->'")
        sf, so, sn = _parse_subfield(src)
        df, do, dn = _parse_subfield(dst)
        if sn != dn:
            raise ActionError(f"{arg}: source field is {sn} bits wide but destination is {dn} bits wide")
        return Move(sf.name, so, df.name, do, sn)
    if lname == "dec_ttl":
        ids = tuple(_int_arg(x, "controller id") for x in (arg or "").split(",") if x.strip())
        return DecTtl(ids)
    if lname == "resubmit":
        return _parse_resubmit(arg or "")
    if lname == "goto_table":
        return GotoTable(_table(arg or ""))
    if lname == "write_metadata":
        v_s, _, m_s = (arg or "").partition("/")
        value = _int_arg(v_s, "metadata")
        mask = _int_arg(m_s, "metadata mask") if m_s else (1 << 64) - 1
        return WriteMetadata(value & mask, mask)
    if lname == "note":
        return Note(_parse_note(arg or ""))
    if lname == "learn":
        return _parse_learn(arg or "")
    raise ActionError(f"unknown action {name}")


def _parse_controller(arg: str | None) -> Controller:
    if arg is None:
        return Controller()
    if "=" not in arg:
        return Controller(_int_arg(arg, "max_len"))
    max_len, reason, cid = 65535, "action", 0
    for part in arg.split(","):
        key, _, value = part.strip().partition("=")
        if key == "max_len":
            max_len = _int_arg(value, "max_len")
        elif key == "reason":
            if value not in ("action", "no_match", "invalid_ttl", "action_set", "group", "packet_out"):
                raise ActionError(f"unknown reason \"{value}\"")
            reason = value
        elif key == "id":
            cid = _int_arg(value, "controller id")
        elif key:
            raise ActionError(f'unknown key "{key}" parsing controller action')
    return Controller(max_len, reason, cid)


def _parse_resubmit(arg: str) -> Resubmit:
    if "," not in arg:
        if not arg:
            raise ActionError('at least one "in_port" or "table" must be specified on resubmit')
        port = parse_port(arg)
        if port is None:
            raise ActionError(f"{arg}: resubmit to unknown port")
        return Resubmit(port)
    port_s, _, table_s = arg.partition(",")
    table_s = table_s.split(",")[0]
    port = OFPP_IN_PORT
    if port_s:
        p = parse_port(port_s)
        if p is None:
            raise ActionError(f"{port_s}: resubmit to unknown port")
        port = p
    table = _table(table_s) if table_s else None
    if port == OFPP_IN_PORT and table is None:
        raise ActionError('at least one "in_port" or "table" must be specified on resubmit')
    return Resubmit(port, table)


def _parse_note(arg: str) -> bytes:
    hexdigits = arg.replace(".", "")
    if len(hexdigits) % 2 or re.fullmatch(r"[0-9a-fA-F]*", hexdigits) is None:
        raise ActionError("bad hex digit in `note' argument")
    return bytes.fromhex(hexdigits)


_LEARN_INTS = ("table", "priority", "idle_timeout", "hard_timeout", "fin_idle_timeout",
               "fin_hard_timeout", "cookie", "limit")


def _split_commas(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += (ch in "([") - (ch in ")]")
        cur += ch
    if cur:
        out.append(cur)
    return [x.strip() for x in out if x.strip()]


def _learn_src(text: str, n_bits: int, whole: str) -> tuple[str | None, int, int, str]:
    """(source field, offset, immediate, name as written) of a learn value: a subfield
    or an immediate that must fit n_bits."""
    if "[" in text or FIELD_BY_NXM_NAME.get(text) or (text in BY_NAME and parse_int(text) is None):
        fld, ofs, n, name = _parse_subfield_named(text if "[" in text else text + "[]")
        if n != n_bits:
            raise ActionError(f"{whole}: source field is {n} bits wide but destination is "
                              f"{n_bits} bits wide")
        return fld.name, ofs, 0, name
    v = parse_int(text)
    if v is None or v >> n_bits:
        raise ActionError(f"{whole}: value {text} does not fit into {n_bits} bits")
    return None, 0, v, ""


def _parse_learn(arg: str) -> Learn:
    kw: dict = {}
    specs: list[LearnSpec] = []
    for part in _split_commas(arg):
        key, eq, value = part.partition("=")
        if not eq and key in ("send_flow_rem", "delete_learned"):
            kw[key] = True
        elif eq and key == "result_dst":
            fld, ofs, n, name = _parse_subfield_named(value)
            if n != 1:
                raise ActionError(f"{part}: result_dst must be a 1-bit subfield")
            kw["result_dst"] = (fld.name, ofs, name)
        elif eq and key in _LEARN_INTS:
            v = parse_int(value)
            if v is None:
                raise ActionError(f"{part}: bad value for {key}")
            kw["table" if key == "table" else key] = v
        elif key.startswith("load:"):
            src_s, arrow, dst_s = part[5:].partition("->")
            if not arrow:
                raise ActionError(f"{part}: missing `->'")
            dst, dofs, n, dname = _parse_subfield_named(dst_s)
            src, sofs, imm, sname = _learn_src(src_s, n, part)
            specs.append(LearnSpec("load", dst.name, dofs, n, src, sofs, imm, dname, sname))
        elif key.startswith("output:"):
            src, sofs, n, sname = _parse_subfield_named(part[7:])
            specs.append(LearnSpec("output", None, 0, n, src.name, sofs, 0, "", sname))
        elif eq:
            if "[" in key:
                dst, dofs, n, dname = _parse_subfield_named(key)
                src, sofs, imm, sname = _learn_src(value, n, part)
                specs.append(LearnSpec("match", dst.name, dofs, n, src, sofs, imm, dname, sname))
                continue
            fld = BY_NAME.get(key) or BY_NAME.get(FIELD_BY_NXM_NAME.get(key, ""))
            if fld is None:
                raise ActionError(f"{part}: unknown keyword {key}")
            n = field_width(fld)
            src_is_field = "[" in value or value in BY_NAME or value in FIELD_BY_NXM_NAME
            if src_is_field and parse_int(value) is None:
                src, sofs, _, sname = _learn_src(value, n, part)
                specs.append(LearnSpec("match", fld.name, 0, n, src, sofs, 0,
                                       f"{NXM_NAME.get(fld.name, fld.name)}[]", sname))
            else:
                try:
                    v, _ = parse_value(fld, value)
                except FieldError as e:
                    raise ActionError(str(e)) from None
                specs.append(LearnSpec("match", fld.name, 0, n, None, 0, v, fld.name))
        else:
            bare = key.split("[")[0]
            if not (BY_NAME.get(bare) or FIELD_BY_NXM_NAME.get(bare.upper())):
                raise ActionError(f"{part}: unknown keyword {bare}")
            fld, ofs, n, name = _parse_subfield_named(key)
            specs.append(LearnSpec("match", fld.name, ofs, n, fld.name, ofs, 0, name, name))
    return Learn(tuple(specs), **kw)


_SUBFIELD = re.compile(r"([A-Za-z0-9_]+)\[(?:(\d+)(?:\.\.(\d+))?)?\]\Z")


def _parse_subfield(s: str) -> tuple[Field, int, int]:
    """(field, bit offset, number of bits) of "NXM_NX_REG0[]", "reg0[0..7]" or "NXM_NX_REG0[3]"."""
    return _parse_subfield_named(s)[:3]


def _parse_subfield_named(s: str) -> tuple[Field, int, int, str]:
    """_parse_subfield plus the subfield's text as OVS prints it back."""
    s = s.strip()
    m = _SUBFIELD.match(s if "[" in s else s + "[]")     # a bare name means the whole field
    if not m:
        raise ActionError(f"{s}: syntax error expecting field name")
    name, start, end = m.groups()
    fname = FIELD_BY_NXM_NAME.get(name.upper())
    fld = BY_NAME.get(fname or name)
    if fld is None:
        raise ActionError(f"{name}: unknown field")
    width = _NAME_WIDTH.get(name.upper(), field_width(fld))
    nxm = name.upper() if fname else NXM_NAME.get(fld.name, fld.name)
    lo = int(start) if start is not None else 0
    hi = (int(end) if end is not None else lo) if start is not None else width - 1
    if start is not None and (hi < lo or hi >= width):
        raise ActionError(f"{s}: starting bit {lo} and ending bit {hi} are not valid for a {width}-bit field")
    text = f"{nxm}[]" if lo == 0 and hi == width - 1 else (
        f"{nxm}[{lo}]" if lo == hi else f"{nxm}[{lo}..{hi}]")
    return fld, lo, hi - lo + 1, text


def _set_field(fname: str, text: str) -> SetField:
    fld = BY_NAME[fname]
    if not fld.writable:
        raise ActionError(f"{fld.name} is read-only")
    try:
        value, mask = parse_value(fld, text)
    except FieldError as e:
        raise ActionError(str(e)) from None
    return SetField(fld.name, value & mask, mask)


# ---- formatting -----------------------------------------------------------------

def format_port(port: int) -> str:
    return PORT_NAMES.get(port, str(port))


def format_subfield(fname: str, ofs: int, n_bits: int) -> str:
    fld = BY_NAME[fname]
    name = NXM_NAME.get(fld.name, fld.name)
    if ofs == 0 and n_bits == field_width(fld):
        return f"{name}[]"
    if n_bits == 1:
        return f"{name}[{ofs}]"
    return f"{name}[{ofs}..{ofs + n_bits - 1}]"


def _contiguous(mask: int) -> tuple[int, int] | None:
    if not mask:
        return None
    ofs = (mask & -mask).bit_length() - 1
    n = (mask >> ofs).bit_length()
    return (ofs, n) if mask >> ofs == (1 << n) - 1 else None


def format_action(a: Action) -> str:
    t = type(a)
    if t is Output:
        if a.max_len:
            return f"output(port={format_port(a.port)},max_len={a.max_len})"
        if a.port < OFPP_MAX:
            return f"output:{a.port}"
        return format_port(a.port)
    if t is OutputReg:
        return f"output:{format_subfield(a.field, a.ofs, a.n_bits)}"
    if t is SetTunnel:
        return f"set_tunnel{'64' if a.wide else ''}:{a.tun_id:#x}"
    if t is Clone:
        return f"clone({format_actions(a.actions)})"
    if t is Exit:
        return "exit"
    if t is Learn:
        return _format_learn(a)
    if t is Controller:
        if a.reason == "action" and a.controller_id == 0:
            return f"CONTROLLER:{a.max_len}"
        parts = []
        if a.reason != "action":
            parts.append(f"reason={a.reason}")
        if a.max_len != 65535:
            parts.append(f"max_len={a.max_len}")
        if a.controller_id:
            parts.append(f"id={a.controller_id}")
        return f"controller({','.join(parts)})"
    if t is Enqueue:
        return f"enqueue:{format_port(a.port)}:{a.queue}"
    if t is SetQueue:
        return f"set_queue:{a.queue}"
    if t is SetVlanVid:
        return f"mod_vlan_vid:{a.vid}"
    if t is SetVlanPcp:
        return f"mod_vlan_pcp:{a.pcp}"
    if t is StripVlan:
        return "strip_vlan"
    if t is PushVlan:
        return f"push_vlan:0x{a.tpid:x}"
    if t is SetField:
        return _format_set_field(a)
    if t is Move:
        return f"move:{format_subfield(a.src, a.src_ofs, a.n_bits)}->{format_subfield(a.dst, a.dst_ofs, a.n_bits)}"
    if t is DecTtl:
        return f"dec_ttl({','.join(map(str, a.controller_ids))})" if a.controller_ids else "dec_ttl"
    if t is Resubmit:
        if a.table is None:
            return f"resubmit:{format_port(a.port)}"
        port = "" if a.port == OFPP_IN_PORT else format_port(a.port)
        return f"resubmit({port},{a.table})"
    if t is GotoTable:
        return f"goto_table:{a.table}"
    if t is WriteMetadata:
        if a.mask == (1 << 64) - 1:
            return f"write_metadata:{c_hex(a.value)}"
        return f"write_metadata:{c_hex(a.value)}/{c_hex(a.mask)}"
    if t is Note:
        data = a.data + b"\0" * ((-(len(a.data) + 10)) % 8)
        return "note:" + ".".join(f"{b:02x}" for b in data)
    raise TypeError(f"not an action: {a!r}")


def _format_learn(a: Learn) -> str:
    parts = [f"table={a.table}"]
    for key in ("idle_timeout", "hard_timeout", "fin_idle_timeout", "fin_hard_timeout"):
        if getattr(a, key):
            parts.append(f"{key}={getattr(a, key)}")
    if a.priority != 0x8000:
        parts.append(f"priority={a.priority}")
    if a.send_flow_rem:
        parts.append("send_flow_rem")
    if a.delete_learned:
        parts.append("delete_learned")
    if a.cookie:
        parts.append(f"cookie={a.cookie:#x}")
    if a.limit:
        parts.append(f"limit={a.limit}")
    if a.result_dst is not None:
        parts.append(f"result_dst={a.result_dst[2]}")
    for sp in a.specs:
        if sp.kind == "output":
            parts.append(f"output:{sp.src_name}")
        elif sp.kind == "load":
            src = sp.src_name if sp.src is not None else c_hex(sp.imm)
            parts.append(f"load:{src}->{sp.dst_name}")
        elif sp.src is None:
            fld = BY_NAME[sp.dst]
            if sp.dst_ofs == 0 and sp.n_bits == field_width(fld):
                parts.append(f"{fld.name}={format_value(fld, sp.imm)}")
            else:
                parts.append(f"{sp.dst_name}={c_hex(sp.imm)}")
        elif sp.src_name == sp.dst_name:
            parts.append(sp.dst_name)
        else:
            parts.append(f"{sp.dst_name}={sp.src_name}")
    return f"learn({','.join(parts)})"


def _format_set_field(a: SetField) -> str:
    fld = BY_NAME[a.field]
    full = (1 << field_width(fld)) - 1
    if a.mask == full:
        if a.field in _OF10_SET:
            return f"{_OF10_SET[a.field]}:{format_value(fld, a.value)}"
        if a.field == "nw_tos":
            return f"mod_nw_tos:{a.value & 0xFC}"
        if a.field == "ip_dscp":
            return f"mod_nw_tos:{(a.value << 2) & 0xFC}"
        if a.field == "dl_vlan":
            return f"mod_vlan_vid:{a.value & 0xFFF}"
        if a.field == "dl_vlan_pcp":
            return f"mod_vlan_pcp:{a.value & 7}"
    bits = _contiguous(a.mask)
    if a.field in NXM_NAME and bits is not None:
        ofs, n = bits
        return f"load:{c_hex(a.value >> ofs)}->{format_subfield(a.field, ofs, n)}"
    if a.mask == full:
        return f"set_field:{format_value(fld, a.value)}->{a.field}"
    return f"set_field:{format_value(fld, a.value)}/{format_value(fld, a.mask)}->{a.field}"


def format_actions(actions: tuple[Action, ...]) -> str:
    """The actions as ovs-ofctl dump-flows prints them ("drop" for none)."""
    if not actions:
        return "drop"
    return ",".join(format_action(a) for a in actions)
