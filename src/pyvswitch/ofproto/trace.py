"""ofproto/trace and the fdb/* commands: what a packet would do, and the MAC tables, as text.

`trace_text(bridge, flow, now, generate=...)` is OVS's `ofproto/trace` output:
the flow, then per bridge entered (patch ports lead into their peers) each
table visited with the rule that matched ("priority N", its match and
cookie) and its actions, NORMAL's reasoning on lines starting "->" (what it
did) or ">>" (why it dropped), and finally the "Final flow" (or
"unchanged"), the "Megaflow" the datapath would cache, and the "Datapath
actions".  A translation that fails says so on a last line.  Without
`-generate` (or a packet given in hex, whose headers then make the flow)
nothing is learned, as in OVS.  Megaflows print every masked
field, "vlan_tci=0x0000" included where OVS leaves it implicit.

The command takes a bridge and an OpenFlow flow, or a datapath flow (ODP
text, its in_port a datapath port, optionally after the datapath's name),
and optionally a packet in hex whose headers then make the flow.

`COMMANDS` maps the unixctl command names (`ofproto/trace`, `fdb/show`,
`fdb/flush`, `fdb/stats-show`, `fdb/add`, `fdb/del`, `dpif/show`, `dpif/dump-flows`,
`ofproto/list`, `bridge/dump-flows`) to functions `(bridges, args, now) ->
(ok, text)`, with OVS's argument handling and error words, for the
daemon's unixctl server to register.  `bridges` maps names to Bridges.
"""

from __future__ import annotations

import re
import uuid
from typing import Callable, Mapping

from pyvswitch.datapath.actions import format_actions as format_odp_actions
from pyvswitch.datapath.odp_text import format_key as format_odp_key
from pyvswitch.datapath.odp_text import format_tcp_flags
from pyvswitch.datapath.odp_text import parse_flow as parse_odp_flow
from pyvswitch.ofproto import xlate
from pyvswitch.ofproto.ofactions import format_actions, parse_port
from pyvswitch.packet.fields import BY_NAME, FieldError
from pyvswitch.packet.flow import FULL_MASK, INDEX, N_REGS, FlowKey, extract, packet_mask
from pyvswitch.packet.headers import mac_from_str
from pyvswitch.packet.match import Match, format_match, match_from_items, split_items


def format_flow(flow: FlowKey) -> str:
    """A packet's flow as ofproto/trace prints it (every field its protocol has, and the
    tunnel id, metadata and registers when they are not zero)."""
    mask = packet_mask(flow)
    extra = [i for i in _META_SLOTS if flow[i]]
    if extra:
        m = list(mask)
        for i in extra:
            m[i] = FULL_MASK[i]
        mask = FlowKey(*m)
    return format_match(Match(flow, mask))


_META_NAMES = ("tun_id", "metadata", *(f"reg{i}" for i in range(N_REGS)))
_META_SLOTS = tuple(INDEX[n] for n in _META_NAMES)


def parse_trace_flow(text: str) -> FlowKey:
    """The packet an ofproto/trace flow describes (unspecified fields are zero)."""
    try:
        items = split_items(text)
        seen = set()
        match = Match()
        for key, value in items:
            if key in seen and value is not None:
                raise FieldError(f"field {key} set multiple times")
            seen.add(key)
            if key == "in_port" and value is not None and parse_port(value) is None:
                raise FieldError(f"{value}: invalid or unknown port for in_port")
            # As OVS does, each field's prerequisites must be met by the items before it.
            fld = BY_NAME.get(key)
            if fld is not None and value is not None and not match.field_prereqs_ok(fld):
                raise FieldError(f"prerequisites not met for setting {key}")
            match = _add(match, key, value)
        return match.value
    except ValueError as e:         # FieldError, or a value the field parsers choke on
        msg = str(e).replace("unknown keyword", "unknown field")
        raise FieldError(f"Bad openflow flow syntax: {text}: {msg}") from None


def _add(match: Match, key: str, value: str | None) -> Match:
    one = match_from_items([(key, value)])
    v = tuple((a & ~m) | b for a, b, m in zip(match.value, one.value, one.mask))
    m = tuple(a | b for a, b in zip(match.mask, one.mask))
    return Match(FlowKey(*v), FlowKey(*m))


def trace_text(bridge, flow: FlowKey, now: float, *, generate: bool = False) -> str:
    """ofproto/trace output for flow (in_port an OpenFlow port) entering bridge.
    The caller holds the backer's lock."""
    res = xlate.translate(bridge.backer, bridge, flow, now=now, may_learn=generate, trace=True)
    if res.mac_changed or res.tables_changed:
        bridge.backer.need_revalidate = True
    lines = [f"Flow: {format_flow(flow)}", "", f'bridge("{bridge.name}")', "-------------"]
    render_tree(res.trace or [], 4, 0, lines)
    lines.append("")
    final = "unchanged" if res.final_flow == flow else format_flow(res.final_flow)
    lines.append(f"Final flow: {final}")
    lines.append(f"Megaflow: {xlate.megaflow_text(flow, res.mask)}")
    lines.append(f"Datapath actions: {format_odp_actions(res.actions)}")
    if res.error:
        lines.append(f"Translation failed ({res.error}), packet is dropped.")
    return "\n".join(lines) + "\n"


def render_tree(items: list, indent: int, table_indent: int, out: list[str]) -> None:
    """Lays out xlate's trace tree as OVS 3.1 indents it.  Actions of a frame sit at
    `indent`, notes one column further, its first table line at `table_indent` and any
    later one at indent - 4.  A nested translation (resubmit or patch port) that is the
    last thing in its frame continues in place; otherwise it is indented: a resubmit's
    table goes at the current action column and its actions 8 further; a patch port's
    bridge header at the action column, its tables 4 and its actions 8 further."""
    first = True
    last = len(items) - 1
    for i, item in enumerate(items):
        kind = item[0]
        if kind == "table":
            out.append(" " * (table_indent if first else indent - 4) + item[1])
            first = False
        elif kind == "action":
            out.append(" " * indent + item[1])
        elif kind == "detail":
            out.append(" " * (indent + 1) + item[1])
        else:
            _, what, bridge, sub = item
            tail = i == last
            if what == "patch":
                at = " " * (indent - 4 if tail else indent)
                out += ["", f'{at}bridge("{bridge}")', f"{at}-------------"]
                if tail:
                    render_tree(sub, indent, indent - 4, out)
                else:
                    render_tree(sub, indent + 8, indent + 4, out)
            elif tail:
                render_tree(sub, indent, indent - 4, out)
            else:
                render_tree(sub, indent + 8, indent, out)


Result = tuple[bool, str]


def cmd_trace(bridges: Mapping, args: list[str], now: float) -> Result:
    """`ofproto/trace BRIDGE BR_FLOW [-generate|PACKET]` or, with a datapath flow,
    `ofproto/trace [DP] ODP_FLOW [-generate|PACKET]` (its in_port a datapath port)."""
    if not args:
        return False, '"ofproto/trace" command requires at least 1 arguments'
    generate = "-generate" in args
    args = [a for a in args if a != "-generate"]
    if args[0] in bridges:
        if len(args) == 1:
            return False, f"syntax error at {args[0]} (or the bridge name was omitted)"
        br = bridges[args[0]]
        try:
            flow = parse_trace_flow(args[1])
        except FieldError as e:
            return False, str(e)
        rest = args[2:]
    elif len(args) >= 2 and "(" not in args[0] and "(" not in args[1]:
        return False, f"{args[0]}: unknown bridge"
    else:
        found = _odp_trace_flow(bridges, args)
        if isinstance(found, str):
            return False, found
        br, flow, rest = found
    if rest:
        # A packet in hex: its headers make the flow (the flow text gives in_port and
        # metadata), and like -generate it has side effects such as MAC learning.
        hexdata = rest[0]
        if len(hexdata) % 2 or re.fullmatch(r"[0-9a-fA-F]*", hexdata) is None:
            return False, "Trailing garbage in packet data"
        data = bytes.fromhex(hexdata)
        if len(data) < 14:
            return False, "Packet data too short for Ethernet"
        meta = {name: getattr(flow, name) for name in _META_NAMES}
        flow = extract(data, flow.in_port)._replace(**meta)
        generate = True
    return True, br.trace(flow, now, generate=generate)


def _odp_trace_flow(bridges: Mapping, args: list[str]):
    """(bridge, flow, remaining args) for a datapath flow, or an error message."""
    if "(" in args[0]:
        dp_name, text, rest = None, args[0], args[1:]
    else:
        dp_name, text, rest = args[0], args[1], args[2:]
    backers = list({id(br.backer): br.backer for br in bridges.values()}.values())
    if dp_name is not None:
        backers = [b for b in backers
                   if dp_name in (b.datapath.name, f"{b.datapath.type}@{b.datapath.name}")]
        if not backers:
            return "Cannot find the datapath"
    try:
        _, key = parse_odp_flow(text)
    except ValueError:
        return f"syntax error at {text} (or the bridge name was omitted)"
    for backer in backers:
        with backer.lock:
            found = backer.odp_ports.get(key.in_port)
        if found is not None:
            br, port = found
            return br, key._replace(in_port=port.ofport), rest
    return f"no OpenFlow port for datapath port {key.in_port}"


def cmd_fdb_show(bridges: Mapping, args: list[str], now: float) -> Result:
    if not args:
        return False, '"fdb/show" command requires at least 1 arguments'
    br = bridges.get(args[0])
    if br is None:
        return False, "no such bridge"
    return True, br.fdb_show(now)


def cmd_fdb_flush(bridges: Mapping, args: list[str], now: float) -> Result:
    if args:
        br = bridges.get(args[0])
        if br is None:
            return False, "no such bridge"
        targets = [br]
    else:
        targets = list(bridges.values())
    for br in targets:
        br.fdb_flush()
    return True, "table successfully flushed\n"


def _vlan_mac(vlan_s: str, mac_s: str) -> tuple[int, int] | None:
    try:
        mac = mac_from_str(mac_s)
    except ValueError:
        return None
    m = re.match(r"\s*[+-]?\d+", vlan_s)           # C's atoi: leading digits, else 0
    return (int(m.group()) if m else 0), mac


def cmd_fdb_add(bridges: Mapping, args: list[str], now: float) -> Result:
    if len(args) < 4:
        return False, '"fdb/add" command requires at least 4 arguments'
    br = bridges.get(args[0])
    if br is None:
        return False, "no such bridge"
    vm = _vlan_mac(args[2], args[3])
    if vm is None:
        return False, "bad MAC address"
    try:
        br.fdb_add(args[1], vm[0], vm[1], now)
    except KeyError:
        return False, "software error, odp port is present but no ofp port"
    return True, ""


def cmd_fdb_del(bridges: Mapping, args: list[str], now: float) -> Result:
    if len(args) < 3:
        return False, '"fdb/del" command requires at least 3 arguments'
    br = bridges.get(args[0])
    if br is None:
        return False, "no such bridge"
    vm = _vlan_mac(args[1], args[2])
    if vm is None:
        return False, "bad MAC address"
    if not br.fdb_del(*vm):
        return False, "could not find static mac entry"
    return True, ""


def cmd_fdb_stats_show(bridges: Mapping, args: list[str], now: float) -> Result:
    if not args:
        return False, '"fdb/stats-show" command requires at least 1 arguments'
    br = bridges.get(args[0])
    if br is None:
        return False, "no such bridge"
    return True, br.fdb_stats()


def cmd_dpif_show(bridges: Mapping, args: list[str], now: float) -> Result:
    if args:
        return False, '"dpif/show" command takes at most 0 arguments'
    backers: dict[int, list] = {}
    for br in bridges.values():
        backers.setdefault(id(br.backer), []).append(br)
    out = []
    for brs in backers.values():
        backer = brs[0].backer
        dp = backer.datapath
        st = dp.stats()
        out.append(f"{dp.type}@{dp.name}: hit:{st.hit} missed:{st.missed}")
        with backer.lock:
            for br in sorted(brs, key=lambda b: b.name):
                out.append(f"  {br.name}:")
                for port in sorted(br.ports.values(), key=lambda p: p.name):
                    odp = "none" if port.odp_port is None else str(port.odp_port)
                    if port.peer is not None:
                        kind = f"patch: peer={port.peer}"
                    else:
                        kind = port.type or getattr(port.netdev, "type", "") or "system"
                        if kind == "internal" and dp.type == "dummy":
                            kind = "dummy-internal"
                    out.append(f"    {port.name} {port.ofport}/{odp}: ({kind})")
        # Ours, after OVS's lines: the kernel tier below this datapath, as dpctl/show
        # words it (nothing until the datapath has a kernel-backed port).
        kernel = getattr(dp, "kernel_fastpath_status", None)
        status = kernel() if kernel is not None else None
        if status is not None:
            out.append(f"  kernel fast path: {status}")
    return True, "".join(line + "\n" for line in out)


def cmd_dpif_dump_flows(bridges: Mapping, args: list[str], now: float) -> Result:
    """`dpif/dump-flows [-m] [--names | --no-names] BRIDGE`: the datapath flows whose
    input port is one of the bridge's, in dpctl/dump-flows' format without its heading
    (and, as OVS has it, "ufid:U " before a verbose flow, no "dp:" attributes).  Ports
    are numbers, or names with -m or --names; --no-names wins.  The last argument is the
    bridge; other options are ignored, as OVS ignores them."""
    if not args:
        return False, '"dpif/dump-flows" command requires at least 1 arguments'
    br = bridges.get(args[-1])
    if br is None:
        return False, "no such bridge"
    opts = args[:-1]
    verbose = "-m" in opts
    named = (verbose or "--names" in opts) and "--no-names" not in opts
    dp = br.backer.datapath
    with br.backer.lock:
        in_ports = {p.odp_port for p in br.ports.values() if p.odp_port is not None}
    names = {no: d.name for no, d in dp.ports().items()} if named else None
    lines = []
    for f in sorted(dp.flow_dump(), key=lambda f: f.created):
        key = f.packet_key
        if key.in_port not in in_ports:
            continue
        head = f"ufid:{uuid.UUID(int=f.ufid)} " if verbose else ""
        used = f"{max(0.0, now - f.used):.3f}s" if f.used else "never"
        flags = f", flags:{format_tcp_flags(f.tcp_flags)}" if f.tcp_flags else ""
        lines.append(f"{head}{format_odp_key(key, f.mask, verbose=verbose, port_names=names)}, "
                     f"packets:{f.packets}, bytes:{f.bytes}, used:{used}{flags}, actions:"
                     f"{format_odp_actions(f.actions, names, key)}\n")
    return True, "".join(lines)


def cmd_ofproto_list(bridges: Mapping, args: list[str], now: float) -> Result:
    return True, "".join(f"{name}\n" for name in sorted(bridges))


def cmd_bridge_dump_flows(bridges: Mapping, args: list[str], now: float) -> Result:
    """Every flow of a bridge as `bridge/dump-flows` prints it (OVS's own hidden table-254
    flows have no counterpart here)."""
    if not args:
        return False, '"bridge/dump-flows" command requires at least 1 arguments'
    br = bridges.get(args[0])
    if br is None:
        return False, "Unknown bridge"
    lines = []
    for r in br.rules():
        head = f"table_id={r.table_id}, " if r.table_id else ""
        lines.append(f"{head}duration={int(max(0.0, now - r.created))}s, n_packets={r.n_packets}, "
                     f"n_bytes={r.n_bytes}, {format_match(r.match, r.priority)},actions="
                     f"{format_actions(r.actions)}\n")
    return True, "".join(lines)


COMMANDS: dict[str, Callable[[Mapping, list[str], float], Result]] = {
    "ofproto/trace": cmd_trace,
    "fdb/show": cmd_fdb_show,
    "fdb/flush": cmd_fdb_flush,
    "fdb/stats-show": cmd_fdb_stats_show,
    "fdb/add": cmd_fdb_add,
    "fdb/del": cmd_fdb_del,
    "dpif/show": cmd_dpif_show,
    "dpif/dump-flows": cmd_dpif_dump_flows,
    "ofproto/list": cmd_ofproto_list,
    "bridge/dump-flows": cmd_bridge_dump_flows,
}
