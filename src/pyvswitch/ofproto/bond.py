"""Bonds: one switch port (a "bundle") made of several interfaces ("members").

What: a `Bond` decides, for a bonded Port, which member a frame leaves on
(`choose_output`), whether a frame that arrived on a member may enter the
bridge at all (`admissibility`), and which members are usable (`enabled`).
It is the policy half of OVS's bond: pure, no I/O, no clock (`now` is an
argument, in seconds), no locks (the bridge's owner holds backer.lock).

Members are known by interface name.  A member is `may_enable` when its link
is up (the owner feeds carrier with `set_may_enable`); a new member starts
enabled or not as its first reported link is; after that it becomes
`enabled` bond_updelay ms after its link came up (at once if no member is
enabled: waiting would only prolong the outage) and stops being enabled
bond_downdelay ms after it went down, as in OVS (a link that flaps back
within the delay cancels the change).  `bond/disable-member` and
`bond/enable-member` force a member's enabled state until its link changes.

Modes (Port bond_mode):
- active-backup: everything leaves on the active member; frames arriving on
  any other member are dropped.  The active member changes only when it is
  disabled (or by `bond/set-active-member`, or to other_config:bond-primary
  when that member is enabled): a recovered member does not take over.
- balance-slb: a frame's member is chosen by a hash of its source MAC and
  VLAN into one of 256 buckets; each bucket is given to an enabled member
  (the one holding the fewest buckets) the first time it is used and keeps
  it until that member is disabled, so a failure moves only the failed
  member's sources.  Multicast and broadcast are received only on the
  active member (unless all-members-active), and a frame whose source was
  learned on another port is dropped (`DROP_IF_MOVED`): it is our own
  flood coming back.  Every bond-rebalance-interval ms (0: never) the
  buckets in use are evened out among the enabled members by count, so a
  member that came back gets its share again (OVS weighs buckets by their
  traffic; we count them).
- balance-tcp: as balance-slb, hashed on the L3/L4 5-tuple; OVS allows it only
  on a bond whose LACP partner has negotiated: balance-tcp without LACP
  carries nothing, as in OVS.

LACP (lacp=active|passive, lacp.py): a member may be enabled only when its
link is up and LACP says so (attached, partner in sync); while the partner
is silent (not negotiated) nothing is enabled, unless
other_config:lacp-fallback-ab is true, in which case the bond runs as
active-backup on the members whose link is up.  With LACP negotiated, a
frame is admitted on any enabled member.  PDUs that arrive are queued on
`rx` (from the datapath thread) and taken in by `run`; PDUs to send are left
on `tx` for the owner.

Every change of enabled members or of the active member returns True from
the call that made it, so the owner revalidates its megaflows (the datapath
actions of a flow through the bond depend on it), and appends a log line to
`events` in OVS's words for the owner to log.
"""

from __future__ import annotations

import collections
import enum
import zlib
from dataclasses import dataclass, field

from pyvswitch.ofproto.lacp import Lacp as LacpProtocol

N_BUCKETS = 256
DEFAULT_REBALANCE_INTERVAL = 10000      # ms


class BondMode(enum.Enum):
    ACTIVE_BACKUP = "active-backup"
    BALANCE_SLB = "balance-slb"
    BALANCE_TCP = "balance-tcp"


class Lacp(enum.Enum):
    OFF = "off"
    ACTIVE = "active"
    PASSIVE = "passive"


class Verdict(enum.Enum):
    ACCEPT = "accept"
    DROP = "drop"
    DROP_IF_MOVED = "drop-if-moved"     # drop if the source was learned on another port


class BondError(ValueError):
    """A bond/* command's refusal, in OVS's words ("no such member")."""


@dataclass(frozen=True, slots=True)
class BondSettings:
    """A bonded Port's configuration (Port bond_*, lacp, other_config)."""
    mode: BondMode = BondMode.ACTIVE_BACKUP
    updelay: int = 0                    # ms
    downdelay: int = 0                  # ms
    lacp: Lacp = Lacp.OFF
    lacp_fallback_ab: bool = False
    rebalance_interval: int = DEFAULT_REBALANCE_INTERVAL   # ms
    hash_basis: int = 0
    primary: str | None = None
    all_members_active: bool = False
    lacp_fast: bool = False             # other_config:lacp-time=fast
    lacp_system_priority: int = 65534
    lacp_system_id: bytes | None = None  # default: the bridge's MAC


@dataclass(slots=True)
class Member:
    name: str
    mac: bytes = bytes(6)
    may_enable: bool = False            # link up (and, with LACP, negotiated)
    enabled: bool = False
    delay_expires: float | None = None  # when may_enable's change takes effect
    link_up: bool = False
    link_known: bool = False            # whether any link state was reported yet


def slb_hash(mac: int, vlan: int, basis: int = 0) -> int:
    """The bucket of a source MAC and VLAN (balance-slb; also bond/hash)."""
    return zlib.crc32(mac.to_bytes(6, "big") + vlan.to_bytes(2, "big"), basis & 0xFFFFFFFF) \
        % N_BUCKETS


def tcp_hash(five_tuple: tuple, basis: int = 0) -> int:
    """The bucket of (nw_src, nw_dst, nw_proto, tp_src, tp_dst) (balance-tcp)."""
    data = b"".join(int(v).to_bytes(16, "big") for v in five_tuple)
    return zlib.crc32(data, basis & 0xFFFFFFFF) % N_BUCKETS


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


@dataclass(slots=True)
class Bond:
    name: str
    settings: BondSettings = BondSettings()
    members: dict[str, Member] = field(default_factory=dict)
    active: str | None = None
    buckets: list = field(default_factory=lambda: [None] * N_BUCKETS)
    next_rebalance: float | None = None
    events: list[str] = field(default_factory=list)
    # The OpenFlow port that stands for the whole bond in the MAC table (its first member's).
    ofport: int = 0
    # The MAC of the member to make active as soon as it is enabled (Port bond_active_slave
    # as a previous ovs-vswitchd left it, so a restart keeps the active member); the owner
    # clears it once the members' links have been read.
    preferred_mac: bytes | None = None
    lacp: LacpProtocol | None = None
    # (member, frame) PDUs received (appended by the datapath thread) and to send.
    rx: collections.deque = field(default_factory=lambda: collections.deque(maxlen=256))
    tx: list = field(default_factory=list)

    # ---- configuration --------------------------------------------------------------

    def reconfigure(self, settings: BondSettings, members: dict[str, bytes], now: float) -> bool:
        """Sets the configuration and the members (name -> MAC); new members start
        with their link down until told otherwise.  Returns True if anything changed."""
        changed = settings != self.settings
        self.settings = settings
        for name in [n for n in self.members if n not in members]:
            del self.members[name]
            changed = True
        for name, mac in members.items():
            m = self.members.get(name)
            if m is None:
                self.members[name] = Member(name, mac)
                changed = True
            elif m.mac != mac:
                m.mac = mac
        if changed:
            self.buckets = [None] * N_BUCKETS
            for m in self.members.values():
                self._update_may_enable(m, now)
        if not self.balanced or settings.rebalance_interval <= 0:
            self.next_rebalance = None
        elif self.next_rebalance is None:
            self.next_rebalance = now + settings.rebalance_interval / 1000
        self._choose_active()
        return changed

    def configure_lacp(self, sys_id: bytes, ports: dict[str, int], now: float) -> bool:
        """Starts, reconfigures or stops LACP (ports: member name -> OpenFlow port number,
        its LACP port id); True if forwarding may have changed."""
        s = self.settings
        if s.lacp is Lacp.OFF:
            if self.lacp is None:
                return False
            self.lacp = None
        else:
            if self.lacp is None:
                self.lacp = LacpProtocol(self.name)
            members = {n: (ports[n], self.members[n].mac) for n in self.members if n in ports}
            self.lacp.configure(s.lacp is Lacp.ACTIVE, s.lacp_fast,
                                s.lacp_system_id or sys_id, s.lacp_system_priority, members)
        return self._update_all(now)

    def _update_all(self, now: float) -> bool:
        changed = False
        for m in self.members.values():
            changed |= self._update_may_enable(m, now)
        return self._choose_active() or changed

    @property
    def negotiated(self) -> bool:
        return self.lacp is not None and self.lacp.negotiated

    @property
    def lacp_status(self) -> str:
        """"off" without LACP; "negotiated" once a partner spoke; else "configured"."""
        if self.settings.lacp is Lacp.OFF:
            return "off"
        return "negotiated" if self.negotiated else "configured"

    @property
    def effective_mode(self) -> BondMode:
        """The mode in force: active-backup when LACP failed and lacp-fallback-ab is set."""
        s = self.settings
        if s.lacp is not Lacp.OFF and s.lacp_fallback_ab and not self.negotiated:
            return BondMode.ACTIVE_BACKUP
        return s.mode

    @property
    def balanced(self) -> bool:
        return self.settings.mode is not BondMode.ACTIVE_BACKUP

    def _carries(self) -> bool:
        """Whether the bond may carry traffic at all (balance-tcp needs negotiated LACP)."""
        return self.effective_mode is not BondMode.BALANCE_TCP or self.negotiated

    # ---- link state and timers ------------------------------------------------------

    def set_may_enable(self, name: str, link_up: bool, now: float) -> bool:
        """Feeds a member's link state; returns True if the bond's forwarding changed."""
        m = self.members.get(name)
        if m is None or m.link_known and m.link_up == link_up:
            return False
        m.link_up = link_up
        if not m.link_known:
            # A new member starts as its link is, with no delay, as OVS registers one.
            m.link_known = True
            m.may_enable = self._may_enable(m)
            if m.may_enable == m.enabled:
                return False
            self._set_enabled(m, m.may_enable)
            self._choose_active()
            return True
        self.events.append(f"member {name}: link state {'up' if link_up else 'down'}")
        return self._update_may_enable(m, now)

    def _may_enable(self, m: Member) -> bool:
        s = self.settings
        if s.lacp is Lacp.OFF:
            lacp_ok = True
        elif self.negotiated:
            lacp_ok = self.lacp.may_enable(m.name)
        else:
            lacp_ok = s.lacp_fallback_ab
        return m.link_up and lacp_ok

    def _update_may_enable(self, m: Member, now: float, run: bool = True) -> bool:
        m.may_enable = self._may_enable(m)
        if m.may_enable == m.enabled:
            m.delay_expires = None
            return False
        s = self.settings
        delay = s.updelay if m.may_enable else s.downdelay
        if delay and m.may_enable and self.active is None:
            # Nothing carries traffic: waiting would only prolong the outage.
            self.events.append(f"bond {self.name}: active member is now {m.name}, skipping "
                               f"remaining {delay} ms updelay (since no member was enabled)")
            m.delay_expires = None
            self.active = m.name
            self._set_enabled(m, True)
            return True
        if delay and m.delay_expires is None:
            what = "enabled if it stays up" if m.may_enable else "disabled if it stays down"
            self.events.append(f"member {m.name}: will be {what} for {delay} ms")
        m.delay_expires = now + delay / 1000
        return self.run(now) if run else True

    def run(self, now: float) -> bool:
        """Takes in received PDUs, runs LACP, applies the up/down delays that have
        expired; True if forwarding changed.  PDUs to send are appended to `tx`."""
        changed = False
        if self.lacp is not None:
            was = self.lacp.negotiated
            lacp_changed = False
            while self.rx:
                member, frame = self.rx.popleft()
                lacp_changed |= self.lacp.receive(member, frame, now)
            timed_out, frames = self.lacp.run(now)
            self.tx += frames
            if lacp_changed or timed_out:
                # Negotiation starting or ending changes the mode in force (fallback),
                # admissibility and balance-tcp, whether or not members change.
                changed = self.lacp.negotiated != was
                for m in self.members.values():
                    changed |= self._update_may_enable(m, now, run=False)
        else:
            self.rx.clear()
        for m in self.members.values():
            if m.delay_expires is not None and now >= m.delay_expires:
                m.delay_expires = None
                if m.enabled != m.may_enable:
                    self._set_enabled(m, m.may_enable)
                    changed = True
        if self.next_rebalance is not None and now >= self.next_rebalance:
            self.next_rebalance = now + self.settings.rebalance_interval / 1000
            changed |= self._rebalance()
        return self._choose_active() or changed

    def _rebalance(self) -> bool:
        """Evens out the buckets in use among the enabled members (a member that came
        back gets its share again), moving as few as it takes; True if any moved."""
        held: dict[str, list[int]] = {n: [] for n, m in sorted(self.members.items())
                                      if m.enabled}
        if len(held) < 2:
            return False
        for b, name in enumerate(self.buckets):
            if name in held:
                held[name].append(b)
        moved = False
        while True:
            hi = max(held, key=lambda n: len(held[n]))
            lo = min(held, key=lambda n: len(held[n]))
            if len(held[hi]) - len(held[lo]) <= 1:
                return moved
            b = held[hi].pop()
            held[lo].append(b)
            self.buckets[b] = lo
            self.events.append(f"bond {self.name}: shift hash {b} from {hi} to {lo}")
            moved = True

    def deadline(self) -> float | None:
        """When `run` wants to be called next, or None."""
        times = [m.delay_expires for m in self.members.values() if m.delay_expires is not None]
        if self.next_rebalance is not None:
            times.append(self.next_rebalance)
        t = self.lacp.deadline() if self.lacp is not None else None
        if t is not None:
            times.append(t)
        return min(times) if times else None

    def _set_enabled(self, m: Member, enabled: bool) -> None:
        m.enabled = enabled
        self.events.append(f"member {m.name}: {'enabled' if enabled else 'disabled'}")
        if not enabled:
            self.buckets = [None if b == m.name else b for b in self.buckets]

    def _choose_active(self) -> bool:
        """Keeps an enabled active member (the primary if it is enabled); True if it moved."""
        cur = self.members.get(self.active) if self.active else None
        primary = self.members.get(self.settings.primary or "")
        preferred = [m for _, m in sorted(self.members.items())
                     if m.enabled and m.mac == self.preferred_mac]
        if primary is not None and primary.enabled:
            best = primary
        elif preferred:
            best = preferred[0]
            self.preferred_mac = None
        elif cur is not None and cur.enabled:
            return False
        else:
            enabled = sorted(n for n, m in self.members.items() if m.enabled)
            best = self.members[enabled[0]] if enabled else None
        new = best.name if best is not None else None
        if new == self.active:
            return False
        was = self.active
        self.active = new
        if new is not None:
            self.events.append(f"bond {self.name}: active member is now {new}")
        elif was is not None:
            self.events.append(f"bond {self.name}: all members disabled")
        return True

    # ---- commands -------------------------------------------------------------------

    def member(self, name: str) -> Member:
        m = self.members.get(name)
        if m is None:
            raise BondError("no such member")
        return m

    def set_active_member(self, name: str) -> str:
        """bond/set-active-member: "done", or "no change" if it already was."""
        m = self.member(name)
        if not m.enabled:
            raise BondError("cannot make disabled member active")
        if self.active == name:
            return "no change"
        self.active = name
        self.events.append(f"bond {self.name}: active member is now {name}")
        return "done"

    def enable_member(self, name: str, enable: bool) -> str:
        """bond/enable-member and bond/disable-member."""
        m = self.member(name)
        m.delay_expires = None
        if m.enabled != enable:
            self._set_enabled(m, enable)
            self._choose_active()
        return "enabled" if enable else "disabled"

    def migrate(self, bucket: int, name: str) -> str:
        """bond/migrate: gives a balance-slb hash bucket to a member."""
        if self.settings.mode is not BondMode.BALANCE_SLB:
            raise BondError("not an SLB bond")
        self.member(name)
        self.buckets[bucket % N_BUCKETS] = name
        return "migrated"

    # ---- forwarding -----------------------------------------------------------------

    def admissibility(self, member: str, dst_multicast: bool) -> Verdict:
        """Whether a frame received on member may enter the bridge."""
        m = self.members.get(member)
        if m is None or not self._carries():
            return Verdict.DROP
        if self.negotiated:
            # The partner knows the bond: it sends on any member it may use.
            return Verdict.ACCEPT if m.enabled else Verdict.DROP
        if self.settings.lacp is not Lacp.OFF and not self.settings.lacp_fallback_ab:
            return Verdict.DROP
        mode = self.effective_mode
        if mode is BondMode.ACTIVE_BACKUP:
            return Verdict.ACCEPT if member == self.active else Verdict.DROP
        if dst_multicast and member != self.active and not self.settings.all_members_active:
            return Verdict.DROP
        return Verdict.DROP_IF_MOVED

    def uses_l4(self) -> bool:
        """Whether choose_output reads the 5-tuple (the megaflow must match it)."""
        return self.effective_mode is BondMode.BALANCE_TCP

    def choose_output(self, src_mac: int, vlan: int, five_tuple: tuple | None = None) -> str | None:
        """The member a frame leaves on, or None if no member can carry it."""
        if not self._carries():
            return None
        mode = self.effective_mode
        if mode is BondMode.ACTIVE_BACKUP:
            return self.active
        basis = self.settings.hash_basis
        if mode is BondMode.BALANCE_TCP and five_tuple is not None:
            bucket = tcp_hash(five_tuple, basis)
        else:
            bucket = slb_hash(src_mac, vlan, basis)
        return self._bucket_member(bucket)

    def _bucket_member(self, bucket: int) -> str | None:
        name = self.buckets[bucket]
        if name is not None and self.members[name].enabled:
            return name
        load: dict[str, int] = {n: 0 for n, m in sorted(self.members.items()) if m.enabled}
        if not load:
            return None
        for b in self.buckets:
            if b in load:
                load[b] += 1
        name = min(load, key=lambda n: load[n])
        self.buckets[bucket] = name
        return name

    # ---- display --------------------------------------------------------------------

    def show(self, now: float) -> str:
        """bond/show's text for this bond, shaped like OVS's."""
        s = self.settings
        tcp = s.mode is BondMode.BALANCE_TCP
        out = [f"---- {self.name} ----", f"bond_mode: {s.mode.value}",
               f"bond may use recirculation: {'yes' if tcp else 'no'}, Recirc-ID : -1",
               f"bond-hash-basis: {s.hash_basis}",
               "lb_output action: disabled, bond-id: -1"]
        if s.mode is BondMode.BALANCE_SLB:
            out.append(f"all members active: {str(s.all_members_active).lower()}")
        out += [f"updelay: {s.updelay} ms", f"downdelay: {s.downdelay} ms"]
        if self.balanced and self.next_rebalance is not None:
            out.append(f"next rebalance: {max(0, int((self.next_rebalance - now) * 1000))} ms")
        active = self.members.get(self.active) if self.active else None
        out += [f"lacp_status: {self.lacp_status}",
                f"lacp_fallback_ab: {str(s.lacp_fallback_ab).lower()}",
                f"active-backup primary: {s.primary or '<none>'}",
                f"active member mac: {mac_text(active.mac) if active else '00:00:00:00:00:00'}"
                f"({active.name if active else 'none'})", ""]
        for name in sorted(self.members):
            m = self.members[name]
            state = "enabled" if m.enabled else "disabled"
            out.append(f"member {name}: {state}")
            if name == self.active:
                out.append("  active member")
            out.append(f"  may_enable: {str(m.may_enable).lower()}")
            if m.delay_expires is not None:
                kind = "updelay" if m.may_enable else "downdelay"
                left = max(0, int((m.delay_expires - now) * 1000))
                out.append(f"  {kind} expires in {left} ms")
            out.append("")
        return "\n".join(out)

    def active_mac(self) -> str | None:
        """Port bond_active_slave: the active member's MAC, or None."""
        m = self.members.get(self.active) if self.active else None
        return mac_text(m.mac) if m is not None else None



def install(bridge, bonds) -> None:
    """Makes `bonds` the bridge's bonds (caller holds backer.lock).  Each bond stands in
    the MAC table as its first member (by name) that the bridge has as a port; where a
    port's standing changes (bonded, unbonded, another first member), the MAC entries
    on its old and new ofport are flushed, and megaflows are revalidated."""
    old_rep = {name: b.ofport for name, b in bridge.bonds.items()}
    new: dict[str, Bond] = {}
    new_rep: dict[str, int] = {}
    for bond in bonds:
        ports = [bridge.by_name[n] for n in sorted(bond.members) if n in bridge.by_name]
        if not ports:
            continue
        bond.ofport = ports[0].ofport
        for p in ports:
            new[p.name] = bond
            new_rep[p.name] = bond.ofport
    for name in old_rep.keys() | new_rep.keys():
        if old_rep.get(name) != new_rep.get(name):
            port = bridge.by_name.get(name)
            for ofport in {old_rep.get(name), port.ofport if port else None} - {None}:
                bridge.mac.flush(port=ofport)
    bridge.bonds = new
    bridge.backer.need_revalidate = True
