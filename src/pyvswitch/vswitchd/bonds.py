"""The vswitchd side of bonds: configuration, link state, timers, status, commands.

`Bonds` keeps one ofproto/bond.py `Bond` per bonded Port (config.BondConfig)
of every running bridge and installs them into the bridge (bond.install),
reusing a Bond across reconfigurations so its state (enabled members, the
active member, hash buckets) survives.  A member whose netdev is a Linux
interface is up when it has carrier (the kernel's flag, which is off for a
device set down); any other member (a dummy) is always up.  Link state is
not polled: it comes from the kernel's link notifications (the switch's
linkstate.LinkMonitor, `Switch.poll_links`), whose socket the daemon's
event loop watches while some bond has a Linux member (`linux_members`); a
notification that changes a member's carrier (`stale`) runs the loop at
once, so traffic moves as soon as the kernel reports the link down, and an
idle daemon with bonds wakes no more often than one without.  `run(now)`
reads the notifications, feeds the members' link states to their bonds,
applies up/down delays and returns its next deadline (the bonds' own timers:
delays, LACP, rebalancing), and sends the LACPDUs the bonds ask for
(Bridge.packet_out to the member's port).  Anything that changes forwarding
marks the backer for revalidation; the bond's own log lines ("member p1:
disabled", "bond bond0: active member is now p2") go to the "bond" log
module, as OVS's do.

`active_members()` gives Port bond_active_slave (the active member's MAC) and
`lacp_current()` Interface lacp_current, for `port_updates` to write;
`register(table, bonds)` adds bond/list, bond/show, bond/set-active-member,
bond/enable-member, bond/disable-member, bond/hash, bond/migrate and lacp/show.
"""

from __future__ import annotations

import time

from pyvswitch import vlog
from pyvswitch.netdev import linux
from pyvswitch.ofproto.bond import Bond, BondError, BondMode, install, slb_hash
from pyvswitch.ofproto.lacp import RxStatus
from pyvswitch.ofproto.ofactions import OFPP_NONE, Output

from .config import SwitchConfig

log = vlog.module("bond")
_RL = vlog.RateLimit(5, 5)


class Bonds:
    def __init__(self, switch) -> None:
        self.switch = switch
        self.by_bridge: dict[str, dict[str, Bond]] = {}
        self._carrier: dict[str, bool] = {}    # Linux member -> carrier as last fed

    def _bridges(self):
        """(bridge name, ofproto Bridge, its bonds) for every running bridge with bonds."""
        for bname, bonds in self.by_bridge.items():
            br = self.switch.bridge(bname)
            if br is not None:
                yield bname, br, bonds

    def sync(self, desired: SwitchConfig, now: float) -> None:
        """Makes every bridge's bonds those desired (call after each reconfiguration)."""
        for bname in list(self.by_bridge):
            if bname not in desired.bridges:
                del self.by_bridge[bname]
        for bname, cfg in desired.bridges.items():
            br = self.switch.bridge(bname)
            if br is None:
                self.by_bridge.pop(bname, None)
                continue
            old = self.by_bridge.get(bname, {})
            if not cfg.bonds and not old:
                continue
            new: dict[str, Bond] = {}
            for name, bc in cfg.bonds.items():
                bond = old.get(name)
                if bond is None:
                    bond = Bond(name, preferred_mac=bc.active_hint)
                macs = {m: self.switch.mac(m) for m in bc.members if m in br.by_name}
                with br.backer.lock:
                    bond.reconfigure(bc.settings, macs, now)
                new[name] = bond
            sys_id = self.switch.mac(bname)
            with br.backer.lock:
                install(br, new.values())
                for bond in new.values():
                    ports = {m: br.by_name[m].ofport for m in bond.members if m in br.by_name}
                    bond.configure_lacp(sys_id, ports, now)
            self.by_bridge[bname] = new
        self.run(now)
        for _, br, bonds in self._bridges():
            with br.backer.lock:
                for bond in bonds.values():
                    bond.preferred_mac = None

    def linux_members(self) -> set[str]:
        """The members of every bond whose netdev is a Linux device."""
        out = set()
        for bonds in self.by_bridge.values():
            for bond in bonds.values():
                for m in bond.members:
                    nd = self.switch.netdevs.get(m)
                    if getattr(nd, "type", "") in ("system", "internal", "tap"):
                        out.add(m)
        return out

    def stale(self) -> bool:
        """Whether some Linux member's carrier changed since `run` last fed it."""
        carrier = self.switch.carrier
        return any(carrier(m) != up for m, up in self._carrier.items())

    def _link_up(self, name: str, linux_members: set[str]) -> bool:
        if name in linux_members:
            up = self._carrier[name] = self.switch.carrier(name)
            return up
        return name in self.switch.netdevs

    def run(self, now: float) -> float:
        """Feeds members' link states and runs the bonds' timers; returns the next
        deadline."""
        deadline = now + 1.0
        linux_members = self.linux_members()
        self._carrier = {}
        if linux_members:
            try:
                self.switch.poll_links()
            except OSError as e:
                log.warn("reading link states failed (%s)", linux.strerror(e), rl=_RL)
        for bname, br, bonds in self._bridges():
            links = {m: self._link_up(m, linux_members) for b in bonds.values()
                     for m in b.members}
            changed = False
            events: list[str] = []
            tx: list[tuple[int, bytes]] = []
            with br.backer.lock:
                for bond in bonds.values():
                    for m in bond.members:
                        changed |= bond.set_may_enable(m, links[m], now)
                    changed |= bond.run(now)
                    t = bond.deadline()
                    if t is not None:
                        deadline = min(deadline, t)
                    events += bond.events
                    bond.events = []
                    # A link that is down carries nothing: its PDUs are not sent.
                    tx += [(br.by_name[m].ofport, f) for m, f in bond.tx
                           if m in br.by_name and links.get(m)]
                    bond.tx = []
                if changed:
                    br.backer.need_revalidate = True
            for text in events:
                log.info("%s", text)
            for ofport, frame in tx:        # LACPDUs, straight out of their member
                br.packet_out(frame, OFPP_NONE, (Output(ofport),), now)
        return deadline

    def active_members(self) -> dict[str, str]:
        """Bonded port name -> bond_active_slave: the active member's MAC, all zeros
        while there is none (as OVS writes it)."""
        out: dict[str, str] = {}
        for _, br, bonds in self._bridges():
            with br.backer.lock:
                for name, bond in bonds.items():
                    out[name] = bond.active_mac() or "00:00:00:00:00:00"
        return out

    def lacp_current(self) -> dict[str, bool]:
        """Interface lacp_current of every member of an LACP bond: whether its partner's
        information is current."""
        out: dict[str, bool] = {}
        for _, br, bonds in self._bridges():
            with br.backer.lock:
                for bond in bonds.values():
                    if bond.lacp is not None:
                        for name, m in bond.lacp.members.items():
                            out[name] = m.status is RxStatus.CURRENT
        return out

    def find(self, name: str):
        """(bridge, bond) of the bonded port called name, or None."""
        for _, br, bonds in self._bridges():
            if name in bonds:
                return br, bonds[name]
        return None

    def all(self) -> list:
        return sorted(((bond.name, br, bond) for _, br, bonds in self._bridges()
                       for bond in bonds.values()), key=lambda t: t[0])


# ---- unixctl ------------------------------------------------------------------------

def _list(bonds: Bonds, args):
    out = ["bond\ttype\trecircID\tmembers"]
    for name, br, bond in bonds.all():
        out.append(f"{name}\t{bond.settings.mode.value}\t-1\t{', '.join(sorted(bond.members))}")
    return True, "\n".join(out) + "\n"


def _show(bonds: Bonds, args):
    now = time.monotonic()
    chosen = bonds.all()
    if args:
        chosen = [t for t in chosen if t[0] == args[0]]
        if not chosen:
            return False, "no such bond\n"
    parts = []
    for _, br, bond in chosen:
        with br.backer.lock:
            parts.append(bond.show(now) + "\n")
    return True, "".join(parts)


def _member_command(bonds: Bonds, args, action):
    found = bonds.find(args[0])
    if found is None:
        return False, "no such bond\n"
    br, bond = found
    try:
        with br.backer.lock:
            text = action(bond, args[1])
            br.backer.need_revalidate = True
            events, bond.events = bond.events, []
    except BondError as e:
        return False, f"{e}\n"
    for line in events:
        log.info("%s", line)
    return True, text + "\n"


def _hash(bonds: Bonds, args):
    parts = args[0].split(":")
    try:
        if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
            raise ValueError
        mac = int("".join(p.rjust(2, "0") for p in parts), 16)
    except ValueError:
        return False, "invalid mac\n"
    try:
        vlan = int(args[1]) if len(args) > 1 else 0
        basis = int(args[2]) if len(args) > 2 else 0
    except ValueError:
        return False, "invalid vlan\n" if len(args) < 3 else "invalid basis\n"
    return True, f"{slb_hash(mac, vlan, basis)}\n"


def _migrate(bonds: Bonds, args):
    port, bucket, member = args
    found = bonds.find(port)
    if found is None:
        return False, "no such bond\n"
    if found[1].settings.mode is not BondMode.BALANCE_SLB:
        return False, "not an SLB bond\n"
    if not bucket.isdigit():
        return False, "bad hash\n"
    return _member_command(bonds, [port, member], lambda b, m: b.migrate(int(bucket), m))


def _lacp_show(bonds: Bonds, args):
    chosen = [t for t in bonds.all() if t[2].lacp is not None]
    if args:
        chosen = [t for t in chosen if t[0] == args[0]]
        if not chosen:
            return False, "no such lacp object\n"
    out = []
    for _name, br, bond in chosen:
        with br.backer.lock:
            status = bond.settings.lacp.value + (" negotiated" if bond.negotiated else "")
            out.append(bond.lacp.show(status))
    return True, "".join(out)


def register(table, bonds: Bonds) -> None:
    table.register("bond/list", "", 0, 0, lambda args: _list(bonds, args))
    table.register("bond/show", "[port]", 0, 1, lambda args: _show(bonds, args))
    table.register("bond/set-active-member", "port member", 2, 2,
                   lambda args: _member_command(bonds, args,
                                                lambda b, m: b.set_active_member(m)))
    table.register("bond/enable-member", "port member", 2, 2,
                   lambda args: _member_command(bonds, args,
                                                lambda b, m: b.enable_member(m, True)))
    table.register("bond/disable-member", "port member", 2, 2,
                   lambda args: _member_command(bonds, args,
                                                lambda b, m: b.enable_member(m, False)))
    table.register("bond/hash", "mac [vlan] [basis]", 1, 3, lambda args: _hash(bonds, args))
    table.register("bond/migrate", "port hash member", 3, 3, lambda args: _migrate(bonds, args))
    table.register("lacp/show", "[port]", 0, 1, lambda args: _lacp_show(bonds, args))



def _atoms(v) -> tuple:
    return v if type(v) is tuple else (v,)


def port_updates(tables: dict[str, dict[str, dict]], active: dict[str, str],
                 lacp_current: dict[str, bool] | None = None) -> list[tuple[str, str, dict]]:
    """Port bond_active_slave and Interface lacp_current updates that bring the replica
    to `active` and `lacp_current`; a Port that is not (or no longer) a bond, and an
    Interface outside an LACP bond, get the column cleared."""
    out = []
    for uuid, row in tables.get("Interface", {}).items():
        if lacp_current is None or "lacp_current" not in row:
            continue
        cur = lacp_current.get(row.get("name"))
        want = () if cur is None else (cur,)
        if _atoms(row["lacp_current"]) != want:
            out.append(("Interface", uuid, {"lacp_current": want}))
    for uuid, row in tables.get("Port", {}).items():
        if "bond_active_slave" not in row:
            continue
        mac = active.get(row.get("name"))
        want = () if mac is None else (mac,)
        if _atoms(row["bond_active_slave"]) != want:
            out.append(("Port", uuid, {"bond_active_slave": want}))
    return out
