"""Bridges and their backer: the OpenFlow switches built on one shared datapath.

What: a `Backer` owns one datapath (dpif) for all bridges of a datapath type,
as OVS's ofproto-dpif backer does.  It numbers datapath ports, maps each
datapath port back to (bridge, OpenFlow port), answers the datapath's
upcalls by translating the packet in the right bridge (xlate.py), keeps the
installed megaflows in step with OpenFlow and MAC-table changes, and credits
megaflow statistics to the OpenFlow rules that produced them.  A `Bridge` is
one OpenFlow switch: its ports (ofport numbers, `ofport_request` honoured,
LOCAL = 65534 is the bridge's internal port), per-port VLAN configuration
(vlan.py), fail mode, flood_vlans, datapath-id, flow tables
(flow_table.py) and MAC table (mac_learning.py).  Patch ports
(`peer=NAME`) have no datapath port; xlate crosses them by continuing in the
peer's bridge.

API for the reconciler (all methods may be called from the control thread):

    backer = Backer(open_datapath("netdev", "ovs-netdev"), clock=time.monotonic,
                    wakeup=loop_waker)
    br = backer.create_bridge("br0", local_netdev=tap_or_dummy, fail_mode=None, now=now)
    br.set_config(fail_mode="secure", flood_vlans={10}, datapath_id=0x1,
                  mac_aging_time=300, mac_table_size=8192, now=now)
    ofport = br.add_port("p1", netdev, ofport_request=1, vlan=VlanConfig(tag=10))
    br.add_port("patch0", None, type="patch", peer="patch1")   # no datapath port
    br.set_port("p1", vlan=VlanConfig(trunks=frozenset({10, 20})), admin_up=True,
                flood=True, ofport_request=5) -> ofport
    br.remove_port("p1")
    br.add_flow("table=0,priority=10,ip,actions=NORMAL", now)   # ovs-ofctl add-flow text
    br.add_flow_parsed(match, priority, actions, table_id=0, cookie=0, idle_timeout=0,
                       hard_timeout=0, flags=0, now=now)        # FlowModError on refusal
    br.modify_flows(match, actions, strict=..., priority=..., table_id=..., now=now)
    br.delete_flows(match, strict=..., out_port=..., cookie=..., cookie_mask=...)
    br.dump_flows(now) -> ovs-ofctl dump-flows lines; br.rules(match, table_id=...) -> [Rule]
    br.packet_out(frame, in_port, actions, now) -> datapath actions executed
    br.trace("in_port=1,dl_dst=...", now, generate=False) -> ofproto/trace text
    br.fdb_show(now) / fdb_flush() / fdb_add(port, vlan, mac, now) / fdb_del(vlan, mac)
    br.fdb_stats() / port_stats() / stats()
    br.packet_ins: packets rules sent to the controller (for the OpenFlow layer to drain)
    br.flow_removed: rules that timed out with send_flow_rem (likewise)
    deadline = backer.run(now)        # timers: rule timeouts, MAC aging, stats, revalidation
    backer.destroy_bridge("br0"); backer.close()
    trace.COMMANDS: the unixctl commands (ofproto/trace, fdb/*, dpif/show, ...)

`run(now)` returns the time by which it wants to be called again; `now` must
come from the same clock as the backer's `clock` (used for upcalls, which have
no `now` of their own).  Learning a new MAC in the datapath thread also calls
`wakeup()` (given to the constructor), so the shell can run `run` promptly to
revalidate megaflows; so does a PDU queued for a bond (LACP), so that it is
taken in at once.  The default `priority=0 actions=NORMAL` flow is added
when a bridge starts in (or changes to) standalone mode and removed when it
changes to secure; reconfiguring with the same mode leaves the tables alone.

Locking: all bridge state is guarded by `backer.lock`.  The datapath calls
`upcall` from its own thread with the datapath's lock held; `upcall` then
takes `backer.lock`.  So the lock order is datapath lock, then backer lock,
and the control thread never calls into the datapath while it holds
`backer.lock`: methods change state under the lock, release it, and only
then add/remove datapath ports or revalidate.  Revalidation
(`datapath.revalidate`) runs from `run()` on the control thread and takes
the backer lock per megaflow, inside the datapath's lock.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Callable

from pyvswitch.idpool import IdPool
from pyvswitch.ofproto import trace, xlate
from pyvswitch.ofproto.flow_table import (
    OFPFF_CHECK_OVERLAP, OFPFF_NO_BYT_COUNTS, OFPFF_NO_PKT_COUNTS, OFPFF_RESET_COUNTS,
    OFPFF_SEND_FLOW_REM, FlowModError, FlowTables, Removed, Rule, format_rule,
)
from pyvswitch.ofproto.mac_learning import MacLearning
from pyvswitch.ofproto.ofactions import (
    OFPP_LOCAL, OFPP_MAX, OFPP_NORMAL, Action, GotoTable, Output, parse_actions,
)
from pyvswitch.ofproto.vlan import VlanConfig
from pyvswitch.packet.fields import FieldError, parse_int
from pyvswitch.netdev import Packet
from pyvswitch.packet.flow import FULL_MASK, FlowKey, extract
from pyvswitch.packet.match import OFP_DEFAULT_PRIORITY, Match, match_from_items, split_items

FAIL_STANDALONE = "standalone"
FAIL_SECURE = "secure"


@dataclass(slots=True)
class Port:
    name: str
    ofport: int
    type: str = ""
    netdev: object | None = None
    odp_port: int | None = None
    peer: str | None = None          # patch ports: the peer port's name
    vlan: VlanConfig = VlanConfig()
    admin_up: bool = True
    flood: bool = True


@dataclass(frozen=True, slots=True)
class PacketIn:
    """A packet a rule sent to the controller, waiting for the OpenFlow layer."""
    bridge: str
    reason: str
    max_len: int
    rule_cookie: int
    frame: bytes


class Bridge:
    def __init__(self, backer: "Backer", name: str):
        self.backer = backer
        self.name = name
        self.ports: dict[int, Port] = {}
        self._port_numbers = IdPool()          # a new port takes the lowest free number
        self.by_name: dict[str, Port] = {}
        self.tables = FlowTables()
        self.mac = MacLearning()
        self.fail_mode = FAIL_STANDALONE
        self.flood_vlans: frozenset[int] = frozenset()
        self.datapath_id = 0
        self.packet_ins: collections.deque[PacketIn] = collections.deque(maxlen=1024)
        # Rules that timed out with OFPFF_SEND_FLOW_REM set, for the OpenFlow layer to report.
        self.flow_removed: collections.deque[Removed] = collections.deque(maxlen=4096)
        self._ordered: list[Port] | None = None
        # Bonded ports: member interface name -> its bond.Bond (set by the reconciler);
        # NORMAL treats a bond's members as one port (xlate.py).
        self.bonds: dict[str, object] = {}

    def ports_in_order(self) -> list[Port]:
        if self._ordered is None:
            self._ordered = [p for _, p in sorted(self.ports.items()) if p.admin_up]
        return self._ordered

    # ---- configuration --------------------------------------------------------------

    def set_config(self, *, fail_mode: str | None = None, flood_vlans=None,
                   datapath_id: int | None = None, mac_aging_time: int | None = None,
                   mac_table_size: int | None = None, now: float = 0.0) -> None:
        with self.backer.lock:
            if fail_mode is not None:
                self._set_fail_mode(fail_mode or FAIL_STANDALONE, now)
            if flood_vlans is not None:
                self.flood_vlans = frozenset(flood_vlans)
            if datapath_id is not None:
                self.datapath_id = datapath_id
            if mac_aging_time is not None or mac_table_size is not None:
                self.mac.set_config(mac_aging_time, mac_table_size, now)
            self.backer.need_revalidate = True

    def _set_fail_mode(self, mode: str, now: float) -> None:
        if mode not in (FAIL_STANDALONE, FAIL_SECURE):
            raise ValueError(f"{mode}: unknown fail-mode")
        # Only a change of mode (or a new bridge) touches the default flow: reconfiguring with
        # the same mode leaves the tables alone, as OVS does.
        if mode == self.fail_mode:
            return
        self.fail_mode = mode
        default = (Match(), 0, (Output(OFPP_NORMAL),))
        existing = self.tables.tables[0].find_exactly(Match(), 0)
        if mode == FAIL_SECURE:
            if existing is not None and existing.actions == default[2]:
                self.tables.delete(Match(), priority=0, table_id=0, strict=True)
        elif existing is None:
            self.tables.add(*default, now=now)

    def add_port(self, name: str, netdev=None, *, ofport_request: int | None = None,
                 type: str = "", peer: str | None = None, vlan: VlanConfig = VlanConfig(),
                 admin_up: bool = True, flood: bool = True) -> int:
        """Adds a port (its netdev goes into the datapath unless it is a patch port);
        returns its OpenFlow port number."""
        with self.backer.lock:
            if name in self.by_name:
                raise ValueError(f"{name}: port already exists on bridge {self.name}")
            if name == self.name:
                ofport = OFPP_LOCAL
            elif ofport_request and 0 < ofport_request < OFPP_MAX and ofport_request not in self.ports:
                ofport = ofport_request
            else:
                ofport = self._port_numbers.alloc(self.ports)
            port = Port(name, ofport, type, netdev, None, peer, vlan, admin_up, flood)
        if netdev is not None and peer is None:
            try:
                port.odp_port = self.backer.datapath.port_add(netdev)
            except Exception:
                with self.backer.lock:
                    self._port_numbers.free(ofport)
                raise
        with self.backer.lock:
            self.ports[ofport] = port
            self.by_name[name] = port
            self._ordered = None
            if port.odp_port is not None:
                self.backer.odp_ports[port.odp_port] = (self, port)
            self.backer.need_revalidate = True
        return ofport

    def set_port(self, name: str, *, vlan: VlanConfig | None = None, peer: str | None = None,
                 admin_up: bool | None = None, flood: bool | None = None,
                 ofport_request: int | None = None) -> int:
        """Changes a port's configuration; returns its (possibly new) OpenFlow port number."""
        with self.backer.lock:
            port = self._port(name)
            if (ofport_request and ofport_request != port.ofport and 0 < ofport_request < OFPP_MAX
                    and ofport_request not in self.ports and port.ofport != OFPP_LOCAL):
                self.mac.flush(port=port.ofport)
                del self.ports[port.ofport]
                self._port_numbers.free(port.ofport)
                port.ofport = ofport_request
                self.ports[ofport_request] = port
            if vlan is not None and vlan != port.vlan:
                port.vlan = vlan
                self.mac.flush(port=port.ofport)
            if peer is not None:
                port.peer = peer
            if admin_up is not None:
                port.admin_up = admin_up
            if flood is not None:
                port.flood = flood
            self._ordered = None
            self.backer.need_revalidate = True
            return port.ofport

    def remove_port(self, name: str) -> None:
        with self.backer.lock:
            port = self._port(name)
            del self.ports[port.ofport]
            self._port_numbers.free(port.ofport)
            del self.by_name[name]
            self._ordered = None
            self.mac.flush(port=port.ofport)
            if port.odp_port is not None:
                self.backer.odp_ports.pop(port.odp_port, None)
            self.backer.need_revalidate = True
        if port.odp_port is not None:
            self.backer.datapath.port_del(port.odp_port)

    def _port(self, name: str) -> Port:
        port = self.by_name.get(name)
        if port is None:
            raise KeyError(f"{name}: no such port on bridge {self.name}")
        return port

    # ---- flows ----------------------------------------------------------------------

    def add_flow(self, text: str, now: float = 0.0) -> Rule:
        """Adds a flow in `ovs-ofctl add-flow` syntax."""
        spec = parse_flow(text)
        return self.add_flow_parsed(spec.match, spec.priority, spec.actions, table_id=spec.table_id,
                                    cookie=spec.cookie, idle_timeout=spec.idle_timeout,
                                    hard_timeout=spec.hard_timeout, flags=spec.flags, now=now)

    def add_flow_parsed(self, match: Match, priority: int, actions: tuple[Action, ...],
                        **kw) -> Rule:
        match.check_prerequisites()
        check_actions(actions, kw.get("table_id", 0))
        with self.backer.lock:
            rule = self.tables.add(match, priority, actions, **kw)
            self.backer.need_revalidate = True
            return rule

    def modify_flows(self, match: Match, actions: tuple[Action, ...], **kw) -> list[Rule]:
        if kw.get("table_id", 0xFF) != 0xFF:
            check_actions(actions, kw["table_id"])
        with self.backer.lock:
            rules = self.tables.modify(match, actions, **kw)
            self.backer.need_revalidate = True
            return rules

    def delete_flows(self, match: Match = Match(), **kw) -> list:
        with self.backer.lock:
            gone = self.tables.delete(match, **kw)
            if gone:
                self.backer.need_revalidate = True
            return gone

    def dump_flows(self, now: float | None = None, match: Match = Match(), **kw) -> str:
        """`ovs-ofctl dump-flows` lines (without the reply header)."""
        with self.backer.lock:
            return "".join(f" {format_rule(r, now)}\n" for r in self.tables.dump(match, **kw))

    def rules(self, match: Match = Match(), **kw) -> list[Rule]:
        """The selected rules (as dump_flows selects them), for the OpenFlow layer's replies."""
        with self.backer.lock:
            return self.tables.dump(match, **kw)

    def packet_out(self, frame: bytes, in_port: int, actions: tuple[Action, ...],
                   now: float = 0.0) -> tuple:
        """Executes actions on a frame as OpenFlow's packet-out does (output:TABLE runs the
        tables); returns the datapath actions used."""
        flow = extract(frame, in_port)
        with self.backer.lock:
            res = xlate.translate_actions(self.backer, self, flow, actions, now=now)
            if res.mac_changed or res.tables_changed:
                self.backer.need_revalidate = True
        if res.actions:
            self.backer.datapath.execute(Packet(bytes(frame)), res.actions)
        return res.actions

    # ---- inspection -----------------------------------------------------------------

    def port_name(self, ofport: int) -> str:
        return "LOCAL" if ofport == OFPP_LOCAL else str(ofport)

    def fdb_show(self, now: float) -> str:
        with self.backer.lock:
            return self.mac.format_show(now, self.port_name)

    def fdb_flush(self) -> str:
        with self.backer.lock:
            self.mac.flush()
            self.backer.need_revalidate = True
        return "table successfully flushed"

    def fdb_add(self, port_name: str, vlan: int, mac: int, now: float) -> None:
        """A static MAC entry (`fdb/add`); KeyError if there is no such port."""
        with self.backer.lock:
            self.mac.add_static(vlan, mac, self._port(port_name).ofport, now)
            self.backer.need_revalidate = True

    def fdb_del(self, vlan: int, mac: int) -> bool:
        with self.backer.lock:
            if not self.mac.del_static(vlan, mac):
                return False
            self.backer.need_revalidate = True
            return True

    def fdb_stats(self) -> str:
        with self.backer.lock:
            return self.mac.format_stats(self.name)

    def port_stats(self) -> dict[str, object]:
        """Netdev statistics by port name (patch ports have none)."""
        out = {}
        with self.backer.lock:
            ports = list(self.ports.values())
        for p in ports:
            if p.netdev is not None and hasattr(p.netdev, "stats"):
                out[p.name] = p.netdev.stats()
        return out

    def stats(self) -> dict[str, int]:
        """Per-bridge counters: flows per table in use, MAC entries, pending packet-ins."""
        with self.backer.lock:
            out = {f"table{i}_flows": len(t) for i, t in enumerate(self.tables.tables) if len(t)}
            out.update(flows=len(self.tables), mac_entries=len(self.mac),
                       packet_ins=len(self.packet_ins), ports=len(self.ports))
            return out

    def trace(self, flow: str | FlowKey, now: float, *, generate: bool = False) -> str:
        """ofproto/trace text for a flow (ovs-ofctl match syntax, or a FlowKey)."""
        if isinstance(flow, str):
            flow = trace.parse_trace_flow(flow)
        with self.backer.lock:
            return trace.trace_text(self, flow, now, generate=generate)


def check_actions(actions: tuple[Action, ...], table_id: int) -> None:
    """Refuses what a switch refuses: goto_table not forward, or not last."""
    for i, a in enumerate(actions):
        if isinstance(a, GotoTable):
            if a.table <= table_id:
                raise FlowModError("OFPBIC_BAD_TABLE_ID", f"goto_table:{a.table} from table {table_id}")
            if i != len(actions) - 1:
                raise FlowModError("OFPBAC_UNSUPPORTED_ORDER", "goto_table must be the last action")


@dataclass(frozen=True, slots=True)
class FlowSpec:
    match: Match
    priority: int
    actions: tuple[Action, ...]
    table_id: int = 0
    cookie: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    flags: int = 0


_FLOW_INTS = ("table", "priority", "cookie", "idle_timeout", "hard_timeout")
_FLOW_FLAGS = {"send_flow_rem": OFPFF_SEND_FLOW_REM, "check_overlap": OFPFF_CHECK_OVERLAP,
               "reset_counts": OFPFF_RESET_COUNTS, "no_packet_counts": OFPFF_NO_PKT_COUNTS,
               "no_byte_counts": OFPFF_NO_BYT_COUNTS}


def parse_flow(text: str) -> FlowSpec:
    """A flow in `ovs-ofctl add-flow` syntax: match items, flow-mod keywords, actions=..."""
    head, sep, acts = text.partition("actions=")
    if not sep:
        raise FieldError("must specify an action")
    items, ints, keep, flags = split_items(head), {}, [], 0
    for key, value in items:
        if key in _FLOW_FLAGS and value is None:
            flags |= _FLOW_FLAGS[key]
        elif key in _FLOW_INTS:
            v = parse_int(value or "")
            if v is None:
                raise FieldError(f"{value}: bad syntax for {key}")
            ints[key] = v
        else:
            keep.append((key, value))
    try:
        match = match_from_items(keep)
    except FieldError:
        raise
    except ValueError as e:         # a value the field parsers choke on
        raise FieldError(str(e)) from None
    return FlowSpec(match, ints.get("priority", OFP_DEFAULT_PRIORITY), parse_actions(acts),
                    ints.get("table", 0), ints.get("cookie", 0), ints.get("idle_timeout", 0),
                    ints.get("hard_timeout", 0), flags)


_IN_PORT_ONLY = FlowKey(in_port=FULL_MASK.in_port)


class Backer:
    def __init__(self, datapath, *, clock: Callable[[], float] = time.monotonic,
                 wakeup: Callable[[], None] | None = None):
        self.datapath = datapath
        self.lock = threading.RLock()
        self.bridges: dict[str, Bridge] = {}
        self.odp_ports: dict[int, tuple[Bridge, Port]] = {}
        self.need_revalidate = False
        self._clock = clock
        self._wakeup = wakeup
        self._mac_seq: dict[str, int] = {}
        # (mask, masked key) of an installed megaflow -> [rules, packets and bytes credited
        # so far, MAC entries it learned, the run() epoch it was made in, flows its learn
        # actions learned].
        self._xcache: dict[tuple[FlowKey, FlowKey], list] = {}
        self._epoch = 0
        self.last_error: Exception | None = None
        datapath.set_upcall_handler(self.upcall)
        if hasattr(datapath, "set_userspace_handler"):
            datapath.set_userspace_handler(self._userspace)

    # ---- bridges ------------------------------------------------------------------

    def create_bridge(self, name: str, *, local_netdev=None, fail_mode: str | None = None,
                      datapath_id: int = 0, now: float = 0.0) -> Bridge:
        with self.lock:
            if name in self.bridges:
                raise ValueError(f"{name}: bridge already exists")
            br = Bridge(self, name)
            br.datapath_id = datapath_id
            br.fail_mode = ""
            br._set_fail_mode(fail_mode or FAIL_STANDALONE, now)
            self.bridges[name] = br
        br.add_port(name, local_netdev, type="internal")
        return br

    def destroy_bridge(self, name: str) -> None:
        with self.lock:
            br = self.bridges.get(name)
            if br is None:
                raise KeyError(f"{name}: no such bridge")
            ports = list(br.by_name)
        for p in ports:
            br.remove_port(p)
        with self.lock:
            del self.bridges[name]
            self.need_revalidate = True

    def bridge(self, name: str) -> Bridge:
        br = self.bridges.get(name)
        if br is None:
            raise KeyError("no such bridge")
        return br

    def patch_peer(self, port: Port) -> tuple[Bridge, Port] | None:
        """The (bridge, port) a patch port leads to, if its peer exists and points back."""
        for br in self.bridges.values():
            peer = br.by_name.get(port.peer)
            if peer is not None and peer.peer == port.name:
                return br, peer
        return None

    def odp_names(self) -> dict[int, str]:
        return {n: p.name for n, (_, p) in self.odp_ports.items()}

    # ---- the slow path ------------------------------------------------------------

    def _translate_odp(self, key: FlowKey, *, may_learn: bool, now: float):
        found = self.odp_ports.get(key.in_port)
        if found is None:
            return None
        br, port = found
        flow = key._replace(in_port=port.ofport)
        return xlate.translate(self, br, flow, now=now, may_learn=may_learn)

    def upcall(self, key: FlowKey, pkt) -> tuple[tuple, FlowKey | None] | None:
        """The datapath's miss handler (datapath thread, datapath lock held)."""
        with self.lock:
            now = self._clock()
            res = self._translate_odp(key, may_learn=True, now=now)
            if res is None:         # a port no bridge owns (yet): cache a drop for it
                return (), _IN_PORT_ONLY
            mask = res.mask
            masked = tuple.__new__(FlowKey, tuple(k & m for k, m in zip(key, mask)))
            # The datapath counts this packet on the new megaflow; credit it to the rules now.
            size = len(pkt.frame)
            for r in res.rules:
                r.n_packets += 1
                r.n_bytes += size
                r.used = max(r.used, now)
            self._xcache[(mask, masked)] = [res.rules, 1, size, res.learned, self._epoch,
                                            res.learned_flows]
            changed = res.mac_changed or res.tables_changed
            if changed:
                self.need_revalidate = True
        if changed and self._wakeup is not None:
            self._wakeup()
        return res.actions, mask

    def _revalidate_one(self, key: FlowKey):
        with self.lock:
            if key.in_port not in self.odp_ports:
                return (), _IN_PORT_ONLY
            try:
                res = self._translate_odp(key, may_learn=False, now=self._clock())
            except Exception as e:      # a translation bug: drop the flow, keep running
                self.last_error = e
                return None
            if res is None or res.stale:
                return None
            entry = self._xcache.get((res.mask, key))
            if entry is not None:
                entry[0], entry[3], entry[5] = res.rules, res.learned, res.learned_flows
            return res.actions, res.mask

    def _userspace(self, cookie, pkt) -> None:
        if isinstance(cookie, xlate.ControllerCookie):
            with self.lock:
                br = self.bridges.get(cookie.bridge)
                if br is not None:
                    br.packet_ins.append(PacketIn(cookie.bridge, cookie.reason, cookie.max_len,
                                                  cookie.rule_cookie, bytes(pkt.frame)))
        elif isinstance(cookie, xlate.SlowPathCookie):
            cookie.sink((cookie.member, bytes(pkt.frame)))
            if self._wakeup is not None:    # a PDU for the control loop (LACP): now
                self._wakeup()

    # ---- timers -------------------------------------------------------------------

    def run(self, now: float) -> float:
        """Credits datapath statistics to rules, expires rules and MAC entries, and
        revalidates megaflows if anything they depend on changed; returns the next deadline."""
        with self.lock:
            self._epoch += 1
            epoch = self._epoch
        flows = self.datapath.flow_dump()
        with self.lock:
            seen = set()
            for f in flows:
                k = (f.mask, f.key)
                seen.add(k)
                entry = self._xcache.get(k)
                if entry is None:
                    continue
                dp, db = f.packets - entry[1], f.bytes - entry[2]
                if dp > 0:
                    for r in entry[0]:
                        r.n_packets += dp
                        r.n_bytes += db
                        if now > r.used:
                            r.used = now
                    for br, vlan, mac, ofport in entry[3]:
                        br.mac.refresh(vlan, mac, ofport, now)
                    # Learn actions run again for traffic the fast path carried (this
                    # restarts the learned flows' timeouts, as OVS's revalidators do).
                    for br, match, priority, acts, kw in entry[5]:
                        if br.tables.learn(match, priority, acts, now=now, **kw):
                            self.need_revalidate = True
                    entry[1], entry[2] = f.packets, f.bytes
            # Entries made after the dump began belong to flows it may not have seen yet.
            for k in [k for k, e in self._xcache.items() if k not in seen and e[4] < epoch]:
                del self._xcache[k]
            deadline = now + 1.0
            for br in self.bridges.values():
                removed = br.tables.run(now)
                if removed:
                    self.need_revalidate = True
                    br.flow_removed.extend(r for r in removed if r.rule.flags & OFPFF_SEND_FLOW_REM)
                t = br.tables.next_deadline()
                if t is not None:
                    deadline = min(deadline, t)
                t = br.mac.run(now)
                if t is not None:
                    deadline = min(deadline, t)
                if self._mac_seq.get(br.name) != br.mac.seq:
                    self._mac_seq[br.name] = br.mac.seq
                    self.need_revalidate = True
            reval = self.need_revalidate
            self.need_revalidate = False
        if reval:
            self.datapath.revalidate(self._revalidate_one)
        return deadline

    def close(self) -> None:
        self.datapath.set_upcall_handler(None)
