"""Translation ("xlate"): a packet's path through the OpenFlow tables, as datapath actions.

What: `translate(backer, bridge, flow, ...)` runs a flow key (in_port an
OpenFlow port number) through `bridge`'s tables from table 0 and returns an
`XlateResult`: the datapath (ODP) actions, the megaflow mask of every bit the
answer depended on, the rules visited (for statistics), whether MAC learning
changed anything, and, when asked, the ofproto/trace lines.

The mask is what makes the datapath's cache correct: any packet that agrees
with the translated one on the masked bits must get the same actions.  It is
the union of: in_port and dl_type always (and nw_frag for IP), the
classifier's wildcards for every lookup, the fields NORMAL reads (in_port,
dl_src, dl_dst, vlan_tci), the fields actions read (nw_ttl for dec_ttl,
source fields of move, prerequisites of set-field), and every field an
action rewrote (whether a datapath "set" is needed depends on its original
value).  Extra bits only make megaflows narrower, never wrong.

Design: the context keeps two flows: `flow`, the packet as OpenFlow sees it
now, and `base`, the packet as the datapath will have it after the actions
emitted so far.  Actions edit `flow`; every output first "commits" the
difference (set eth/ip/ports, pop and push VLAN tags) into datapath actions
and makes base equal to flow, so only real changes cost anything.

NORMAL follows OVS's xlate_normal: drop frames from unknown ports; find
the input VLAN from the port's VLAN mode (dropping what the port may not
carry); drop frames for reserved multicast (01:80:c2:00:00:0x); learn the source
(unless multicast, or the VLAN is in flood_vlans); send to the learned port
for a known unicast destination (dropping if that is the input port),
otherwise flood to every other port that carries the VLAN; each output gets
the tagging of its port (vlan.VlanConfig.output_tci).

Bonds (bond.py): NORMAL treats the members of a bonded Port as one port.
A frame arriving on a member first passes the bond's admissibility check
(active-backup drops what arrives on a backup member; balance-slb drops
multicast on all but the active member, and a frame whose source MAC was
learned on another port: our own flood coming back); its source is learned
on the bond's ofport (bond.Bond.ofport), not the member's; a flood sends one
copy per bond and none back into the input bond; output to a bond goes to
the member the bond chooses (the active one, or the one its hash bucket
holds, which for balance-slb depends only on dl_src and the VLAN, both in
NORMAL's mask; balance-tcp adds the 5-tuple to the mask).  OpenFlow output
actions to a member's ofport still use that member alone, as in OVS.

Patch ports: output to one continues translation in the peer's bridge (from
table 0, in_port the peer port, registers and metadata cleared), and
afterwards the flow is restored, as in OVS; they never reach the datapath.
Resubmits to the same or an earlier table nest at most 64 deep, and there
are at most 4096 resubmits in all; beyond that the translation fails and
the packet is dropped.

Pure: no locks, no clock (`now` is an argument), no I/O.  The caller holds
the lock that guards the bridges (see ofproto.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyvswitch.datapath.actions import OUTPUT, POP_VLAN, PUSH_VLAN, SET, USERSPACE
from pyvswitch.ofproto import ofactions as A
from pyvswitch.ofproto.bond import Verdict
from pyvswitch.ofproto.lacp import ETH_TYPE_SLOW, LACP_DST
from pyvswitch.packet.fields import BY_NAME, Prereq, c_hex, format_value, prereq_ok
from pyvswitch.packet.flow import FULL_MASK, INDEX, FlowKey, N_REGS
from pyvswitch.packet.headers import (
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP, VLAN_CFI, VLAN_PCP_MASK, mac_to_str,
)
from pyvswitch.packet.match import Match, format_match

MAX_DEPTH = 64
MAX_RESUBMITS = 4096

_I = INDEX
_IN_PORT, _DL_SRC, _DL_DST, _DL_TYPE = _I["in_port"], _I["dl_src"], _I["dl_dst"], _I["dl_type"]
_VLAN, _VLAN2, _NW_TTL, _NW_FRAG, _NW_PROTO = (_I["vlan_tci"], _I["vlan_tci2"], _I["nw_ttl"],
                                                _I["nw_frag"], _I["nw_proto"])
_TP_SRC, _TP_DST, _METADATA = _I["tp_src"], _I["tp_dst"], _I["metadata"]
_REGS = tuple(_I[f"reg{i}"] for i in range(N_REGS))
_L4_PORT_PREREQS = (Prereq.TCP, Prereq.UDP, Prereq.SCTP)
_TP_SLOTS = (_I["tp_src"], _I["tp_dst"])
# What balance-tcp hashes (bond.tcp_hash).
_L4_HASH_SLOTS = (_I["nw_src"], _I["nw_dst"], _I["ipv6_src"], _I["ipv6_dst"], _I["nw_proto"],
                  _I["tp_src"], _I["tp_dst"])
# Slots the datapath can rewrite, in the order sets are emitted.
_ETH_SETS = ("dl_src", "dl_dst")
_ARP_SETS = ("nw_proto", "arp_sha", "arp_tha")     # ARP's op, SHA and THA (SPA, TPA: nw_src/dst)
_L3_SETS = ("nw_src", "nw_dst", "ipv6_src", "ipv6_dst", "ipv6_label", "nw_tos", "nw_ttl",
            "tp_src", "tp_dst")


@dataclass(frozen=True, slots=True)
class ControllerCookie:
    """The userspace-action cookie of a packet-in (printed like OVS's)."""
    bridge: str
    reason: str
    max_len: int
    rule_cookie: int
    controller_id: int = 0

    def __str__(self) -> str:
        return (f"pid=0,controller(reason={self.reason},rule_cookie={self.rule_cookie:#x},"
                f"controller_id={self.controller_id},max_len={self.max_len})")


@dataclass(frozen=True, slots=True)
class SlowPathCookie:
    """The userspace-action cookie of a frame the switch itself consumes (an LACPDU on a
    bond member): the datapath hands (member, frame) to sink."""
    reason: str
    member: str
    sink: object = field(compare=False, repr=False, hash=False)

    def __str__(self) -> str:
        return f"pid=0,slow_path({self.reason})"


@dataclass(slots=True)
class XlateResult:
    actions: tuple
    mask: FlowKey
    final_flow: FlowKey
    rules: list = field(default_factory=list)
    mac_changed: bool = False
    error: str | None = None
    # The trace as a tree (see trace.py): ("table" | "action" | "detail", text) items and
    # ("block", "resubmit" | "patch", bridge name, items) for nested translations.
    trace: list | None = None
    # (bridge, vlan, mac, ofport) NORMAL learned (or would have): the owner re-learns them
    # while the megaflow is in use, so entries of fast-path traffic do not age out.
    learned: list = field(default_factory=list)
    # Without learning, whether learning would have changed the MAC table (so a cached
    # megaflow of this packet is stale and should go: its next packet must be learned).
    stale: bool = False
    # Whether learn actions changed the flow tables, and the flows they learn (or, without
    # side effects, would): (bridge, match, priority, actions, FlowTables.learn keywords),
    # for the owner to refresh while the megaflow is in use.
    tables_changed: bool = False
    learned_flows: list = field(default_factory=list)


def is_multicast(mac: int) -> bool:
    return bool(mac >> 40 & 1)


def is_reserved_multicast(mac: int) -> bool:
    return mac >> 4 == 0x0180C200000


class _Ctx:
    __slots__ = ("backer", "bridge", "flow", "base", "wc", "odp", "rules", "written", "depth",
                 "n_resubmits", "table_id", "now", "may_learn", "mac_changed", "error", "trace",
                 "rule", "learned", "stale", "in_port", "exit", "tables_changed",
                 "learned_flows")

    def __init__(self, backer, bridge, flow: FlowKey, now: float, may_learn: bool, trace: list | None):
        self.backer = backer
        self.bridge = bridge
        self.flow = flow
        self.base = flow
        self.wc = [0] * len(flow)
        self.odp: list[tuple] = []
        self.rules: list = []
        self.written: set[int] = set()
        self.depth = 0
        self.n_resubmits = 0
        self.table_id = 0
        self.now = now
        self.may_learn = may_learn
        self.mac_changed = False
        self.error: str | None = None
        self.trace = trace
        self.rule = None
        self.learned: list = []
        self.stale = False
        # The port the packet entered this bridge on: outputs, IN_PORT, FLOOD and NORMAL use
        # it even inside resubmit(port,...), whose port only changes lookups (as in OVS).
        self.in_port = flow[_IN_PORT]
        self.exit = False             # set by the exit action: stop everything
        self.tables_changed = False
        self.learned_flows: list = []

    # ---- helpers ------------------------------------------------------------------

    def note(self, text: str) -> None:
        if self.trace is not None:
            self.trace.append(("detail", text))

    def unmask(self, i: int, bits: int | None = None) -> None:
        self.wc[i] |= FULL_MASK[i] if bits is None else bits

    def set_slot(self, i: int, value: int) -> None:
        self.flow = tuple.__new__(FlowKey, self.flow[:i] + (value,) + self.flow[i + 1:])
        self.written.add(i)

    def commit(self) -> None:
        """Emits the datapath actions that make the packet look like `flow`."""
        flow, base, wc = self.flow, self.base, self.wc
        # Whether a rewritten field needs a datapath "set" depends on its original value.
        for i in self.written:
            wc[i] = FULL_MASK[i]
        if flow == base:
            return
        odp = self.odp
        for name in _ETH_SETS:
            i = _I[name]
            if flow[i] != base[i]:
                odp.append((SET, name, flow[i]))
        old = [t for t in (base[_VLAN], base[_VLAN2]) if t]
        new = [t for t in (flow[_VLAN], flow[_VLAN2]) if t]
        if old != new:
            keep = 0
            while keep < min(len(old), len(new)) and old[-1 - keep] == new[-1 - keep]:
                keep += 1
            for _ in range(len(old) - keep):
                odp.append((POP_VLAN,))
            for tci in reversed(new[:len(new) - keep]):
                odp.append((PUSH_VLAN, 0x8100, tci & ~VLAN_CFI))
        if flow[_DL_TYPE] in (ETH_TYPE_ARP, ETH_TYPE_RARP):
            for name in _ARP_SETS:
                i = _I[name]
                if flow[i] != base[i]:
                    odp.append((SET, name, flow[i]))
        for name in _L3_SETS:
            i = _I[name]
            if flow[i] != base[i]:
                if i in _TP_SLOTS:
                    wc[_NW_PROTO] = FULL_MASK[_NW_PROTO]
                    if flow[_NW_PROTO] not in (6, 17, 132):
                        continue
                odp.append((SET, name, flow[i]))
        self.base = flow

    # ---- tables -------------------------------------------------------------------

    def run_table(self, table_id: int) -> None:
        bridge = self.bridge
        if table_id >= len(bridge.tables.tables):
            return
        rule, wc = bridge.tables.tables[table_id].lookup(self.flow)
        acc = self.wc
        for i, m in enumerate(wc):
            if m:
                acc[i] |= m
        saved_table, saved_rule = self.table_id, self.rule
        self.table_id = table_id
        tr = self.trace
        if rule is None:
            if tr is not None:
                tr.append(("table", f"{table_id:2d}. No match."))
                tr.append(("action", "drop"))
            self.table_id = saved_table
            return
        self.rules.append(rule)
        if tr is not None:
            m = format_match(rule.match)
            head = f"{m}, priority {rule.priority}" if m else f"priority {rule.priority}"
            if rule.cookie:
                head += f", cookie {rule.cookie:#x}"
            tr.append(("table", f"{table_id:2d}. {head}"))
        self.rule = rule
        self.do_actions(rule.actions)
        self.table_id, self.rule = saved_table, saved_rule

    def do_actions(self, actions: tuple) -> None:
        tr = self.trace
        if tr is not None and not actions:
            tr.append(("action", "drop"))
        for a in actions:
            if self.error is not None or self.exit:
                return
            if tr is not None:
                tr.append(("action", A.format_action(a)))
            t = type(a)
            if t is A.Output:
                self.output(a.port)
            elif t is A.SetField:
                self.set_field(a)
            elif t is A.Resubmit:
                self.resubmit(a.port, self.table_id if a.table is None else a.table)
            elif t is A.GotoTable:
                self.resubmit(A.OFPP_IN_PORT, a.table)
            elif t is A.DecTtl:
                if not self.dec_ttl(a):
                    return
            elif t is A.SetVlanVid:
                tci = self.flow[_VLAN]
                if not tci & VLAN_CFI:
                    tci = VLAN_CFI
                self.set_slot(_VLAN, (tci & ~0x0FFF) | a.vid)
            elif t is A.SetVlanPcp:
                tci = self.flow[_VLAN]
                if not tci & VLAN_CFI:
                    tci = VLAN_CFI
                self.set_slot(_VLAN, (tci & ~VLAN_PCP_MASK) | (a.pcp << 13))
            elif t is A.StripVlan:
                inner = self.flow[_VLAN2]
                self.set_slot(_VLAN, inner)
                self.set_slot(_VLAN2, 0)
            elif t is A.PushVlan:
                outer = self.flow[_VLAN]
                self.set_slot(_VLAN2, outer)
                self.set_slot(_VLAN, outer | VLAN_CFI)
            elif t is A.Move:
                self.move(a)
            elif t is A.WriteMetadata:
                self.set_slot(_METADATA, (self.flow[_METADATA] & ~a.mask) | a.value)
            elif t is A.Controller:
                self.controller(a.reason, a.max_len, a.controller_id)
            elif t is A.Enqueue:
                self.output(a.port)
            elif t is A.OutputReg:
                fld = BY_NAME[a.field]
                bits = (1 << a.n_bits) - 1
                self.unmask(fld.index, ((bits << a.ofs) & fld.keep) << fld.shift)
                port = (fld.from_slot(self.flow[fld.index]) >> a.ofs) & bits
                self.note(f"-> output port is {port}")
                self.output(port)
            elif t is A.SetTunnel:
                self.set_slot(_I["tun_id"], a.tun_id)
            elif t is A.Clone:
                saved = self.flow
                self.do_actions(a.actions)
                self.flow = saved
            elif t is A.Exit:
                self.exit = True
                return
            elif t is A.Learn:
                self.learn(a)
            # SetQueue and Note change nothing a datapath sees.

    def resubmit(self, port: int, table_id: int) -> None:
        if self.depth >= MAX_DEPTH:
            self.note(f">>>> over max translation depth {MAX_DEPTH} <<<<")
            self.error = "Recursion too deep"
            return
        self.n_resubmits += 1
        if self.n_resubmits > MAX_RESUBMITS:
            self.error = "Too many resubmits"
            return
        old_in = self.flow[_IN_PORT]
        if port != A.OFPP_IN_PORT:
            self.flow = self.flow._replace(in_port=port)
        # Only a resubmit that does not move forward can loop, so only those count toward
        # the depth limit (as in OVS).
        deepens = table_id <= self.table_id
        self.depth += deepens
        outer = self.trace
        if outer is not None:
            self.trace = []
            outer.append(("block", "resubmit", None, self.trace))
        self.run_table(table_id)
        self.trace = outer
        self.depth -= deepens
        if self.flow[_IN_PORT] != old_in:
            self.flow = self.flow._replace(in_port=old_in)

    # ---- actions ------------------------------------------------------------------

    def set_field(self, a: A.SetField) -> None:
        fld = BY_NAME[a.field]
        if fld.prereq is not Prereq.NONE:
            self.unmask(_NW_PROTO)
            if fld.prereq in (Prereq.ND, Prereq.ND_SOLICIT, Prereq.ND_ADVERT):
                self.unmask(_TP_SRC)
                self.unmask(_TP_DST)
            if fld.prereq is Prereq.VLAN_VID:
                self.unmask(_VLAN)
            flow = self.flow
            if fld.prereq in _L4_PORT_PREREQS:
                # As OVS's mod_tp_src/dst: any IP packet but a later fragment; the datapath
                # rewrite happens only for TCP, UDP and SCTP (see commit).
                self.unmask(_NW_FRAG)
                ok = flow[_DL_TYPE] in (ETH_TYPE_IP, ETH_TYPE_IPV6) and not flow[_NW_FRAG] & 2
            else:
                ok = prereq_ok(fld.prereq, lambda slot: flow[_I[slot]])
            if not ok:          # silently, as OVS does
                return
        i = fld.index
        m = ((a.mask & fld.keep) << fld.shift)
        v = ((a.value & fld.keep) << fld.shift) & m
        self.set_slot(i, (self.flow[i] & ~m) | v | fld.present)

    def move(self, a: A.Move) -> None:
        src, dst = BY_NAME[a.src], BY_NAME[a.dst]
        bits = (1 << a.n_bits) - 1
        self.unmask(src.index, ((bits << a.src_ofs) & src.keep) << src.shift)
        value = (src.from_slot(self.flow[src.index]) >> a.src_ofs) & bits
        m = ((bits << a.dst_ofs) & dst.keep) << dst.shift
        v = ((value << a.dst_ofs) & dst.keep) << dst.shift
        self.set_slot(dst.index, (self.flow[dst.index] & ~m) | v)
        if self.trace is not None:
            whole = a.dst_ofs == 0 and a.n_bits == A.field_width(dst)
            text = format_value(dst, value) if whole else c_hex(value)
            self.note(f"-> {A.format_subfield(a.dst, a.dst_ofs, a.n_bits)} is now {text}")

    def learn(self, a: A.Learn) -> None:
        """Builds the flow a learn action describes from this packet and adds it."""
        flow = self.flow
        match = Match()
        actions: list = []
        for sp in a.specs:
            bits = (1 << sp.n_bits) - 1
            if sp.src is not None:
                sf = BY_NAME[sp.src]
                # Each new source value must reach the slow path to be learned.
                self.unmask(sf.index, ((bits << sp.src_ofs) & sf.keep) << sf.shift)
                value = (sf.from_slot(flow[sf.index]) >> sp.src_ofs) & bits
            else:
                value = sp.imm & bits
            if sp.kind == "output":
                actions.append(A.Output(value & 0xFFFF))
                continue
            df = BY_NAME[sp.dst]
            full = (1 << A.field_width(df)) - 1
            v, m = (value << sp.dst_ofs) & full, (bits << sp.dst_ofs) & full
            if sp.kind == "match":
                match = match.set_field(df, v, m)
            else:
                actions.append(A.SetField(df.name, v, m))
        kw = dict(table_id=a.table, cookie=a.cookie, idle_timeout=a.idle_timeout,
                  hard_timeout=a.hard_timeout, flags=1 if a.send_flow_rem else 0,
                  learned_by=self.rule, limit=a.limit)
        acts = tuple(actions)
        self.learned_flows.append((self.bridge, match, a.priority, acts, kw))
        tables = self.bridge.tables
        if not self.may_learn:
            self.note(">> suppressing side effects, so learn action ignored")
            # Without side effects the result is still what learning would give.
            result = tables.learn_allowed(match, a.priority, a.table, self.rule, a.limit) or None
        else:
            result = tables.learn(match, a.priority, acts, now=self.now, **kw)
            if result:
                self.tables_changed = True
        if a.result_dst is not None:
            rf = BY_NAME[a.result_dst[0]]
            bit = (1 << a.result_dst[1]) << rf.shift
            cur = self.flow[rf.index]
            self.set_slot(rf.index, (cur | bit) if result is not None else (cur & ~bit))
        if not self.may_learn:
            return
        if result is None:
            self.note(f">> learn limit ({a.limit}) reached")
            return
        if self.trace is not None:
            text = f"-> table={a.table} {format_match(match)} priority={a.priority}"
            if a.idle_timeout:
                text += f" idle={a.idle_timeout}"
            if a.hard_timeout:
                text += f" hard={a.hard_timeout}"
            self.note(f"{text} actions={A.format_actions(acts)}")

    def dec_ttl(self, a: A.DecTtl) -> bool:
        dl_type = self.flow[_DL_TYPE]
        if dl_type not in (ETH_TYPE_IP, ETH_TYPE_IPV6):
            return True
        self.unmask(_NW_TTL)
        ttl = self.flow[_NW_TTL]
        if ttl <= 1:
            self.note(">> IPv4 decrement TTL exception" if dl_type == ETH_TYPE_IP
                      else ">> IPv6 decrement TTL exception")
            for cid in a.controller_ids or (0,):
                self.controller("invalid_ttl", 65535, cid)
            return False
        self.set_slot(_NW_TTL, ttl - 1)
        return True

    def controller(self, reason: str, max_len: int, controller_id: int) -> None:
        self.commit()
        cookie = self.rule.cookie if self.rule is not None else 0
        self.odp.append((USERSPACE, ControllerCookie(self.bridge.name, reason, max_len, cookie,
                                                     controller_id)))

    def output(self, port: int) -> None:
        in_port = self.in_port
        if port < A.OFPP_MAX or port == A.OFPP_LOCAL:
            if port == in_port:
                self.note(">> skipping output to input port")
                return
            self.output_port(port)
        elif port == A.OFPP_IN_PORT:
            self.output_port(in_port)
        elif port == A.OFPP_NORMAL:
            self.normal()
        elif port in (A.OFPP_FLOOD, A.OFPP_ALL):
            for p in self.bridge.ports_in_order():
                if p.ofport != in_port and (port == A.OFPP_ALL or p.flood):
                    self.output_port(p.ofport)
        elif port == A.OFPP_CONTROLLER:
            self.controller("action", 65535, 0)
        elif port == A.OFPP_TABLE:
            self.resubmit(A.OFPP_IN_PORT, 0)

    def output_port(self, ofport: int) -> None:
        port = self.bridge.ports.get(ofport)
        if port is None:
            self.note(">> Nonexistent output port")
            return
        if not port.admin_up:
            self.note(f">> port {port.name} is down, dropping")
            return
        if port.peer is not None:
            self.patch_output(port)
            return
        if port.odp_port is None:
            self.note(f">> port {port.name} has no datapath port, dropping")
            return
        self.commit()
        self.odp.append((OUTPUT, port.odp_port))

    def patch_output(self, port) -> None:
        found = self.backer.patch_peer(port)
        if found is None:
            self.note(f">> patch port {port.name} has no peer, dropping")
            return
        peer_bridge, peer_port = found
        if self.depth >= MAX_DEPTH:
            self.note(f">>>> over max translation depth {MAX_DEPTH} <<<<")
            self.error = "Recursion too deep"
            return
        saved = (self.bridge, self.flow, self.table_id, self.rule, self.in_port)
        # The peer sees a fresh pipeline: its own in_port, no registers or metadata.
        fresh = list(self.flow)
        fresh[_IN_PORT] = peer_port.ofport
        fresh[_METADATA] = 0
        for i in _REGS:
            fresh[i] = 0
        self.flow = tuple.__new__(FlowKey, fresh)
        self.bridge = peer_bridge
        self.in_port = peer_port.ofport
        outer = self.trace
        if outer is not None:
            self.trace = []
            outer.append(("block", "patch", peer_bridge.name, self.trace))
        self.depth += 1
        self.run_table(0)
        self.depth -= 1
        self.trace = outer
        self.bridge, flow, self.table_id, self.rule, self.in_port = saved
        # Restore what OpenFlow sees; base (the datapath's view) keeps the peer's changes.
        self.flow = flow

    # ---- NORMAL -------------------------------------------------------------------

    def normal(self) -> None:
        bridge, flow = self.bridge, self.flow
        for i in (_IN_PORT, _DL_SRC, _DL_DST, _VLAN):
            self.unmask(i)
        in_ofport = self.in_port
        in_port = bridge.ports.get(in_ofport)
        if in_port is None:
            self.note(f">>>> received packet on unknown port {in_ofport} <<<<")
            self.note(">> no input bundle, dropping")
            return
        dl_dst, dl_src = flow[_DL_DST], flow[_DL_SRC]
        tci = flow[_VLAN]
        vid = tci & 0x0FFF if tci & VLAN_CFI else 0
        vlan = in_port.vlan.input_vlan(vid)
        if vlan is None:
            self.note(f">>>> {in_port.vlan.drop_reason(vid, in_port.name)} <<<<")
            self.note(">> disallowed VLAN VID for this input port, dropping")
            return
        if is_reserved_multicast(dl_dst):
            self.note("-> packet has reserved destination MAC, dropping")
            return
        bonds = bridge.bonds
        in_bond = bonds.get(in_port.name) if bonds else None
        if in_bond is not None:
            # A bond is one port: the MAC table knows it by one ofport.
            verdict = in_bond.admissibility(in_port.name, is_multicast(dl_dst))
            if verdict is Verdict.DROP:
                self.note("-> bonding refused admissibility, dropping")
                return
            if verdict is Verdict.DROP_IF_MOVED and \
                    bridge.mac.lookup(vlan, dl_src) not in (None, in_bond.ofport):
                self.note("-> SLB bond thinks this packet looped back, dropping")
                return
            in_ofport = in_bond.ofport
        flood_vlan = vlan in bridge.flood_vlans
        if not is_multicast(dl_src) and not flood_vlan:
            self.learned.append((bridge, vlan, dl_src, in_ofport))
            if not self.may_learn:
                if bridge.mac.lookup(vlan, dl_src) != in_ofport:
                    self.stale = True
            elif bridge.mac.learn(vlan, dl_src, in_ofport, self.now):
                self.mac_changed = True
                name = in_bond.name if in_bond is not None else in_port.name
                self.note(f"-> learned that {mac_to_str(dl_src)} is on port {name} in VLAN {vlan}")
        pcp = tci & VLAN_PCP_MASK
        out = None if is_multicast(dl_dst) or flood_vlan else bridge.mac.lookup(vlan, dl_dst)
        if out is None:
            self.note("-> no learned MAC for destination, flooding")
            done: set[int] = set()
            for p in bridge.ports_in_order():
                if p.ofport != in_ofport and p.flood and p.vlan.includes(vlan):
                    bond = bonds.get(p.name) if bonds else None
                    if bond is None:
                        self.output_normal(p, vlan, pcp)
                    elif bond is not in_bond and id(bond) not in done:
                        # One copy per bond, on the member the bond picks.
                        done.add(id(bond))
                        self.output_bond(bond, vlan, pcp)
        elif out == in_ofport:
            self.note("-> learned port is input port, dropping")
        else:
            p = bridge.ports.get(out)
            if p is None or not p.vlan.includes(vlan):
                self.note("-> learned port no longer carries this VLAN, dropping")
                return
            self.note("-> forwarding to learned port")
            bond = bonds.get(p.name) if bonds else None
            if bond is None:
                self.output_normal(p, vlan, pcp)
            else:
                self.output_bond(bond, vlan, pcp)

    def output_bond(self, bond, vlan: int, pcp: int) -> None:
        """Output to a bond: on the member its mode and the packet's hash pick."""
        flow = self.flow
        five = None
        if bond.uses_l4():
            for i in _L4_HASH_SLOTS:
                self.unmask(i)
            five = tuple(flow[i] for i in _L4_HASH_SLOTS)
        name = bond.choose_output(flow[_DL_SRC], vlan, five)
        member = self.bridge.by_name.get(name) if name is not None else None
        if member is None:
            self.note(f"-> no usable member in bond {bond.name}, dropping")
            return
        self.output_normal(member, vlan, pcp)

    def output_normal(self, port, vlan: int, pcp: int) -> None:
        saved = self.flow
        tci = port.vlan.output_tci(vlan, pcp)
        if tci != saved[_VLAN]:
            self.set_slot(_VLAN, tci)
        self.output_port(port.ofport)
        self.flow = saved


def translate(backer, bridge, flow: FlowKey, *, now: float = 0.0, may_learn: bool = True,
              trace: bool = False) -> XlateResult:
    """Runs flow (in_port an OpenFlow port of bridge) through bridge's pipeline."""
    ctx = _Ctx(backer, bridge, flow, now, may_learn, [] if trace else None)
    wc = ctx.wc
    wc[_IN_PORT] = FULL_MASK[_IN_PORT]
    wc[_DL_TYPE] = FULL_MASK[_DL_TYPE]
    if flow[_DL_TYPE] in (ETH_TYPE_IP, ETH_TYPE_IPV6):
        wc[_NW_FRAG] = FULL_MASK[_NW_FRAG]
    if not (bridge.bonds and flow[_DL_TYPE] == ETH_TYPE_SLOW and _lacp_pdu(ctx)):
        ctx.run_table(0)
    actions = () if ctx.error is not None else tuple(ctx.odp)
    return XlateResult(actions, tuple.__new__(FlowKey, wc), ctx.flow, ctx.rules, ctx.mac_changed,
                       ctx.error, ctx.trace, ctx.learned, ctx.stale, ctx.tables_changed,
                       ctx.learned_flows)


def _lacp_pdu(ctx: _Ctx) -> bool:
    """Consumes an LACPDU arriving on a member of a bond that runs LACP, before any
    OpenFlow table sees it (as OVS does); True if it was one."""
    port = ctx.bridge.ports.get(ctx.in_port)
    bond = ctx.bridge.bonds.get(port.name) if port is not None else None
    if bond is None or bond.lacp is None:
        return False
    ctx.unmask(_DL_DST)
    if ctx.flow[_DL_DST] != LACP_DST:
        return False
    if ctx.trace is not None:
        ctx.trace.append(("detail", "-> LACP packet, processed by the bond and dropped"))
    ctx.odp.append((USERSPACE, SlowPathCookie("lacp", port.name, bond.rx.append)))
    return True


def translate_actions(backer, bridge, flow: FlowKey, actions: tuple, *, now: float = 0.0,
                      may_learn: bool = True) -> XlateResult:
    """Runs an action list on flow (a packet-out): output:TABLE enters table 0."""
    ctx = _Ctx(backer, bridge, flow, now, may_learn, None)
    ctx.do_actions(actions)
    actions = () if ctx.error is not None else tuple(ctx.odp)
    return XlateResult(actions, None, ctx.flow, ctx.rules, ctx.mac_changed, ctx.error, None,
                       ctx.learned, ctx.stale, ctx.tables_changed, ctx.learned_flows)


def megaflow_text(key: FlowKey, mask: FlowKey) -> str:
    """The megaflow as ofproto/trace prints it."""
    return "recirc_id=0,eth," + format_match(Match(key, mask))
