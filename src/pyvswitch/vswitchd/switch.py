"""The shell under the reconciler: applies effects to ofproto, datapaths and netdevs.

`Switch.apply(effects, now)` carries out what reconcile.py decided, one
effect at a time, and keeps `running` (a SwitchConfig) equal to what it
actually managed to set up (each running bridge's interface dict is the
Switch's own and is updated in place: copying it per interface made adding
a thousand quadratic): an interface whose netdev cannot be opened is
left out of `running` -- so the next reconfiguration tries it again, as OVS
does -- and its error is kept for the status write-back.  A failing effect
never stops the others.

Datapaths: bridges share one userspace datapath ("backer", ofproto.py) per
datapath class: datapath_type "netdev" in `ovs-netdev`, anything else
("", "system") in `ovs-system`.  Each datapath forwards in its own thread,
started with its first bridge; the control thread (the daemon's event
loop) only configures it and calls `run(now)` for timers and revalidation.

Each bridge's own interface is an internal port (a TAP named like the
bridge, so the host can give it an IP address) created with the bridge as
OpenFlow port LOCAL.  With --enable-dummy=override it is a dummy netdev.
TAPs are created administratively down, as in OVS's userspace datapath: the
host sets them up (`ip link set br0 up`) to use them, and until then they
send nothing into the bridge.  They are persistent: removing a port or bridge
deletes its TAP, but a daemon that exits leaves them (and the host's
addresses on them) for its successor, unless told `exit --cleanup`.

`status(with_stats)` reads back what the status columns need (status.py).
Device state comes from linkstate.LinkMonitor: after the first pass, only the
devices the kernel reported changed are looked at again, unless effects were
applied since or statistics are sampled (a full dump), so that a pass over a
thousand idle ports costs little.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from typing import Callable

from pyvswitch import vlog
from pyvswitch.datapath import open_datapath
from pyvswitch.netdev import NetdevError, Registry, linux
from pyvswitch.ofproto.mac_learning import DEFAULT_IDLE_TIME, DEFAULT_MAX_ENTRIES
from pyvswitch.ofproto.ofproto import Backer, Bridge
from pyvswitch.ofproto.vlan import VlanConfig

from .config import BridgeConfig, Dummy, InterfaceConfig, SwitchConfig, datapath_backer, netdev_type
from .reconcile import (
    AddInterface, ConfigureBridge, ConfigureInterface, CreateBridge, DestroyBridge, Effect,
    RemoveInterface,
)
from .linkstate import EthtoolInfo, LinkInfo, LinkMonitor, ethtool_info
from .status import BridgeStatus, InterfaceStatus, failed, linux_statistics, statistics_pairs

log = vlog.module("bridge")
_RL = vlog.RateLimit(5, 5)

DATAPATH_TYPES = ("netdev", "system")
IFACE_TYPES = ("internal", "patch", "system", "tap")
_PATCH_STATS = ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")


def netdev_registry(dummy: Dummy) -> Registry:
    """The netdev types ovs-vswitchd can open ("dummy" only with --enable-dummy)."""
    from pyvswitch.netdev import afpacket, tap
    from pyvswitch.netdev.dummy import DummyNetdev
    r = Registry()
    r.register("system", afpacket.AfPacketNetdev)
    r.register("internal", tap.TapNetdev)
    r.register("tap", tap.TapNetdev)
    if dummy is not Dummy.OFF:
        r.register("dummy", DummyNetdev)
    return r


class Switch:
    def __init__(self, dummy: Dummy = Dummy.OFF, *, registry: Registry | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wakeup: Callable[[], None] | None = None) -> None:
        self.dummy = dummy
        self.registry = registry or netdev_registry(dummy)
        self.clock = clock
        self.wakeup = wakeup
        self.backers: dict[str, Backer] = {}
        self.running = SwitchConfig({})
        self.errors: dict[str, str] = {}           # interface name -> error text
        self.netdevs: dict[str, object] = {}       # interface name -> open netdev
        self._macs: dict[str, bytes] = {}
        self._mtus: dict[str, int] = {}            # requested MTUs of non-Linux netdevs
        self._closing: list = []                   # netdevs to close at the end of a step
        self._stats_seen: set[str] = set()         # interfaces whose statistics were reported
        self._ethtool: dict[str, EthtoolInfo] = {}  # asked once per opened interface
        self._links: dict[str, list] = {}          # name -> [last link state, resets seen]
        self._absent_seen: set[str] = set()        # failed interfaces already retried as present
        self._linkmon = LinkMonitor()              # every device's state, kept current
        self._link_changes: set[str] | None = set()  # since the last status (None: all)
        self._observed: dict[str, InterfaceStatus] = {}   # last status of each port
        self._reconfigured = True                  # effects applied since the last status
        self.devices_appeared = False              # set by status(): reconfigure to retry
        self._keep_devices = False                 # True while exiting without cleanup
        self._mac_seq = itertools.count(0x0f)
        self.kernel_fastpath = True                # other_config:kernel-fastpath

    # ---- datapaths ------------------------------------------------------------------

    def _backer(self, datapath_type: str) -> Backer:
        kind = datapath_backer(datapath_type)
        b = self.backers.get(kind)
        if b is None:
            dp = open_datapath(kind, f"ovs-{kind}")
            if not self.kernel_fastpath:
                dp.set_kernel_fastpath(False)
            b = Backer(dp, clock=self.clock, wakeup=self.wakeup)
            dp.start()
            self.backers[kind] = b
        return b

    def set_kernel_fastpath(self, on: bool) -> None:
        """Turns every datapath's kernel fast path on or off (entries flushed, detached)."""
        if on != self.kernel_fastpath:
            self.kernel_fastpath = on
            for b in self.backers.values():
                b.datapath.set_kernel_fastpath(on)

    def bridge(self, name: str) -> Bridge | None:
        for b in self.backers.values():
            br = b.bridges.get(name)
            if br is not None:
                return br
        return None

    def datapath_types(self) -> tuple[str, ...]:
        extra = ("dummy",) if self.dummy is not Dummy.OFF else ()
        return tuple(sorted(DATAPATH_TYPES + extra))

    def iface_types(self) -> tuple[str, ...]:
        return tuple(sorted(set(IFACE_TYPES) | set(self.registry.types())))

    # ---- effects --------------------------------------------------------------------

    def forget_errors(self, keep: set[str]) -> None:
        """Drops the errors of interfaces no longer configured."""
        for name in [n for n in self.errors if n not in keep]:
            del self.errors[name]

    def apply(self, effects: list[Effect], now: float) -> None:
        self._reconfigured = True
        for e in effects:
            if not isinstance(e, (DestroyBridge, RemoveInterface)):
                self._flush_closes()     # a name is free again before anything is added
            try:
                self._apply(e, now)
            except Exception as exc:  # one bad effect must not stop the others
                log.err("%s: failed to apply: %s", type(e).__name__, exc)
        self._flush_closes()

    def _apply(self, e: Effect, now: float) -> None:
        bridges = self.running.bridges
        if isinstance(e, DestroyBridge):
            self._destroy_bridge(e.bridge)
        elif isinstance(e, RemoveInterface):
            br = self.bridge(e.bridge)
            if br is not None and e.name in br.by_name:
                ofport = br.by_name[e.name].ofport
                br.remove_port(e.name)
                log.info("bridge %s: deleted interface %s on port %d", e.bridge, e.name, ofport)
            self._close(e.name)
            bridges[e.bridge].interfaces.pop(e.name, None)
        elif isinstance(e, CreateBridge):
            self._create_bridge(e.config, now)
        elif isinstance(e, ConfigureBridge):
            self._configure_bridge(e.config, now)
        elif isinstance(e, AddInterface):
            self._add_interface(e.bridge, e.config)
        elif isinstance(e, ConfigureInterface):
            br = self.bridge(e.bridge)
            c = e.config
            br.set_port(c.name, vlan=c.vlan, peer=c.peer)
            nd = self.netdevs.get(c.name)
            if c.mac and nd is not None and self.mac(c.name) != c.mac:
                self._set_mac(c.name, nd, c.mac)
            self._set_mtu(c)
            bridges[e.bridge].interfaces[c.name] = c

    def _create_bridge(self, cfg: BridgeConfig, now: float) -> None:
        name = cfg.name
        local_type = netdev_type((cfg.local.db_type if cfg.local else "") or "internal", self.dummy)
        try:
            local = self._open(local_type, name)
        except NetdevError as e:
            log.err("failed to create bridge %s: %s", name, e)
            self.errors[name] = str(e)
            return
        self.errors.pop(name, None)
        self.netdevs[name] = local
        if cfg.hwaddr:
            self._set_mac(name, local, cfg.hwaddr)
        backer = self._backer(cfg.datapath_type)
        dpid = cfg.datapath_id
        if dpid is None:
            dpid = int.from_bytes(self.mac(name), "big")
        br = backer.create_bridge(name, local_netdev=local, fail_mode=cfg.fail_mode,
                                  datapath_id=dpid, now=now)
        br.set_config(flood_vlans=cfg.flood_vlans, mac_aging_time=cfg.mac_aging_time,
                      mac_table_size=cfg.mac_table_size, now=now)
        if cfg.local is not None:
            br.set_port(name, vlan=cfg.local.vlan)
            self._set_mtu(cfg.local)
        log.info("bridge %s: added interface %s on port 65534", name, name)
        log.info("bridge %s: using datapath ID %016x", name, dpid)
        self.running.bridges[name] = _with_interfaces(cfg, {})

    def _configure_bridge(self, cfg: BridgeConfig, now: float) -> None:
        br = self.bridge(cfg.name)
        local = self.netdevs.get(cfg.name)
        if cfg.hwaddr and local is not None and self.mac(cfg.name) != cfg.hwaddr:
            self._set_mac(cfg.name, local, cfg.hwaddr)
        dpid = cfg.datapath_id if cfg.datapath_id is not None else \
            int.from_bytes(self.mac(cfg.name), "big")
        # Settings removed from the database go back to their defaults.
        br.set_config(fail_mode=cfg.fail_mode or "standalone", flood_vlans=cfg.flood_vlans,
                      datapath_id=dpid, mac_aging_time=cfg.mac_aging_time or DEFAULT_IDLE_TIME,
                      mac_table_size=cfg.mac_table_size or DEFAULT_MAX_ENTRIES, now=now)
        br.set_port(cfg.name, vlan=cfg.local.vlan if cfg.local else VlanConfig())
        if cfg.local is not None:
            self._set_mtu(cfg.local)
        rb = self.running.bridges[cfg.name]
        self.running.bridges[cfg.name] = _with_interfaces(cfg, rb.interfaces)

    def _destroy_bridge(self, name: str) -> None:
        rb = self.running.bridges.pop(name, None)
        for b in self.backers.values():
            if name in b.bridges:
                b.destroy_bridge(name)
        for iname in ([name] + list(rb.interfaces if rb else ())):
            self._close(iname)
        log.info("bridge %s: deleted", name)

    def _add_interface(self, bridge: str, c: InterfaceConfig) -> None:
        br = self.bridge(bridge)
        if br is None:
            return
        self._close(c.name)
        self._flush_closes()
        if c.error:
            self.errors[c.name] = c.error
            return
        if c.name in br.by_name:
            br.remove_port(c.name)
        netdev = None
        if c.type != "patch":
            try:
                netdev = self._open(c.type, c.name)
            except NetdevError as e:
                log.warn("%s", e)
                self.errors[c.name] = str(e)
                return
        try:
            hint = c.ofport_hint if c.ofport_hint and c.ofport_hint > 0 else None
            ofport = br.add_port(c.name, netdev, ofport_request=c.ofport_request or hint,
                                 type=c.type, peer=c.peer, vlan=c.vlan)
        except Exception as e:
            if netdev is not None:
                netdev.close()
            self.errors[c.name] = f"could not add network device {c.name} to ofproto ({e})"
            return
        self.errors.pop(c.name, None)
        if netdev is not None:
            self.netdevs[c.name] = netdev
            if c.mac:
                self._set_mac(c.name, netdev, c.mac)
        self._set_mtu(c)
        log.info("bridge %s: added interface %s on port %d", bridge, c.name, ofport)
        self.running.bridges[bridge].interfaces[c.name] = c

    def _open(self, type_: str, name: str):
        # TAPs start administratively down, as OVS's userspace datapath leaves them:
        # the host brings one up (and gives it an address) when it wants to use it.
        # Like every port of an OVS datapath, it is promiscuous.
        # It is persistent, so that it outlives the daemon (see _close).
        if type_ in ("internal", "tap"):
            return self.registry.open(type_, name, up=False, promisc=True, persist=True)
        return self.registry.open(type_, name)

    def _close(self, name: str) -> None:
        """Gives up an interface.  A TAP the configuration removed goes away with it; one
        left open when the daemon exits stays, with the host's addresses on it, for the
        next ovs-vswitchd to take up again (as OVS; `exit --cleanup` removes them)."""
        self.errors.pop(name, None)
        nd = self.netdevs.pop(name, None)
        if nd is not None:
            self._closing.append(nd)
        self._macs.pop(name, None)
        self._mtus.pop(name, None)
        self._stats_seen.discard(name)
        self._ethtool.pop(name, None)
        self._links.pop(name, None)
        self._observed.pop(name, None)

    def _flush_closes(self) -> None:
        """Closes the netdevs given up so far.  The TAPs among them are deleted first, all
        in one rtnetlink exchange (the kernel then waits for one RCU grace period, not one
        per device: about 0.2 s for a thousand instead of 20 s).  Each is then made
        non-persistent, so that closing it deletes a TAP that exchange could not reach
        (moved to another namespace, say); a deleted one refuses that (EBADFD), which is
        fine."""
        closing, self._closing = self._closing, []
        if not closing:
            return
        taps = [nd for nd in closing if getattr(nd, "type", "") in ("internal", "tap")]
        if taps and not self._keep_devices:
            try:
                failed = linux.delete_links([nd.name for nd in taps])
            except OSError as e:
                failed = {nd.name: e.errno for nd in taps}
            for nd in taps:
                try:
                    nd.set_persist(False)
                except OSError as e:
                    if nd.name in failed:
                        log.warn("%s: deleting TAP failed (%s)", nd.name, linux.strerror(e))
        for nd in closing:
            nd.close()

    # ---- link properties ------------------------------------------------------------

    def _is_linux(self, netdev) -> bool:
        return getattr(netdev, "type", "") in ("system", "internal", "tap")

    def _set_mac(self, name: str, netdev, mac: bytes) -> None:
        if self._is_linux(netdev):
            try:
                linux.set_mac(name, mac)
            except OSError as e:
                log.warn("%s: setting MAC failed (%s)", name, linux.strerror(e))
        self._macs[name] = mac

    def _set_mtu(self, c: InterfaceConfig) -> None:
        nd = self.netdevs.get(c.name)
        if nd is not None and not self._is_linux(nd):
            self._mtus[c.name] = c.mtu_request or 1500
        elif nd is not None and c.mtu_request:
            try:
                linux.set_mtu(c.name, c.mtu_request)
            except OSError as e:
                log.warn("%s: setting MTU failed (%s)", c.name, linux.strerror(e))

    def mac(self, name: str) -> bytes:
        mac = self._macs.get(name)
        if mac is None:
            nd = self.netdevs.get(name)
            if nd is not None and self._is_linux(nd):
                try:
                    mac = linux.get_mac(name)
                except OSError:
                    mac = None
            if mac is None:
                if nd is not None:
                    mac = bytes((0xaa, 0x55, 0xaa, 0x55, 0, next(self._mac_seq) & 0xff))
                else:
                    mac = bytes((0x02,)) + os.urandom(5)
            self._macs[name] = mac
        return mac

    # ---- status ---------------------------------------------------------------------

    def status(self, with_stats: bool) -> tuple[dict[str, InterfaceStatus], dict[str, BridgeStatus]]:
        """The status of every interface and bridge.  Statistics come with with_stats,
        and always for an interface that has not reported any yet."""
        ifaces: dict[str, InterfaceStatus] = {name: failed(err) for name, err in self.errors.items()}
        bridges: dict[str, BridgeStatus] = {}
        links: dict[str, LinkInfo] | None = None
        changed: set[str] | None = None
        if self.errors or any(self._is_linux(nd) for nd in self.netdevs.values()):
            try:
                self.poll_links(full=with_stats)
                changed, self._link_changes = self._link_changes, set()
                links = self._linkmon.links
            except OSError as e:
                log.warn("reading interface states failed (%s)", linux.strerror(e), rl=_RL)
        # A Linux device whose link did not change since the last pass, on a switch not
        # reconfigured since, still has the status observed then (its statistics are
        # only sampled by a full dump).
        reuse = changed is not None and not self._reconfigured
        self._reconfigured = False
        if links is not None:
            # A device that failed to open and exists now: worth another try, as OVS
            # reconfigures when the system's interfaces change.
            appeared = {n for n in self.errors if n in links} - self._absent_seen
            self._absent_seen = {n for n in self.errors if n in links}
            if appeared:
                self.devices_appeared = True
        for kind, backer in self.backers.items():
            for bname, br in list(backer.bridges.items()):
                bridges[bname] = BridgeStatus(br.datapath_id)
                with backer.lock:
                    ports = list(br.by_name.values())
                for p in ports:
                    sample = with_stats or p.name not in self._stats_seen
                    st = self._observed.get(p.name) if reuse and not sample else None
                    if st is None or p.name in changed or not self._is_linux(p.netdev):
                        st = self._observed[p.name] = self._port_status(backer, kind, p, sample,
                                                                        links or {})
                    ifaces[p.name] = st
                    if sample:
                        self._stats_seen.add(p.name)
        return ifaces, bridges

    def poll_links(self, full: bool = False) -> set[str] | None:
        """Takes in the kernel's link notifications (a full dump the first time, or
        with full); returns the names that changed, None for "maybe all".  The next
        status pass looks again at every one of them."""
        changed = self._linkmon.refresh(full)
        if changed is None:
            self._link_changes = None
        elif self._link_changes is not None:
            self._link_changes |= changed
        return changed

    def link_fd(self) -> int:
        """The descriptor that polls readable when a link notification waits."""
        return self._linkmon.fileno()

    def carrier(self, name: str) -> bool:
        """Whether the Linux device called name has carrier, as of the last
        `poll_links` (False if it does not exist)."""
        link = self._linkmon.links.get(name)
        return link is not None and link.carrier

    def _port_status(self, backer: Backer, kind: str, p, with_stats: bool,
                     links: dict[str, LinkInfo]) -> InterfaceStatus:
        if p.peer is not None or p.type == "patch":
            err = _patch_error(backer, kind, p)
            # Packets cross a patch port inside translation; nothing counts them yet.
            stats = tuple((n, 0) for n in _PATCH_STATS) if with_stats else None
            return InterfaceStatus(ofport=p.ofport, error=err, mac_in_use=self._mac_text(p.name),
                                   ifindex=0, link_state="up", admin_state="up", link_resets=0,
                                   statistics=stats)
        nd = p.netdev
        link = links.get(p.name) if nd is not None and self._is_linux(nd) else None
        if link is not None:
            stats = None
            if with_stats:
                tap = getattr(nd, "type", "") in ("internal", "tap")
                stats = linux_statistics(link.counters, tap) if link.counters else \
                    statistics_pairs(nd.stats())
            mac = linux.mac_text(link.mac) if link.mac and len(link.mac) == 6 else \
                self._mac_text(p.name)
            info = self._ethtool.get(p.name)
            if info is None:
                info = self._ethtool[p.name] = ethtool_info(p.name)
            status = () if info.driver is None else (
                ("driver_name", info.driver), ("driver_version", info.version or ""),
                ("firmware_version", info.firmware or ""))
            return InterfaceStatus(ofport=p.ofport, mac_in_use=mac, ifindex=link.ifindex,
                                   link_state="up" if link.running else "down",
                                   admin_state="up" if link.admin_up else "down",
                                   mtu=link.mtu, link_resets=self._link_resets(p.name, link.running),
                                   link_speed=info.speed_mbps * 1000000 if info.speed_mbps else None,
                                   duplex=info.duplex, status=status, statistics=stats)
        stats = statistics_pairs(nd.stats()) if with_stats and nd is not None else None
        linux_dev = nd is not None and self._is_linux(nd)
        return InterfaceStatus(ofport=p.ofport, mac_in_use=self._mac_text(p.name),
                               ifindex=0, link_state="down" if linux_dev else "up",
                               admin_state="down" if linux_dev else "up",
                               mtu=None if linux_dev else self._mtus.get(p.name, 1500),
                               link_resets=0, statistics=stats)

    def _link_resets(self, name: str, running: bool) -> int:
        """How many times the link went down or up since the interface was added."""
        seen = self._links.get(name)
        if seen is None:
            seen = self._links[name] = [running, 0]
        elif seen[0] != running:
            seen[0] = running
            seen[1] += 1
        return seen[1]

    def _mac_text(self, name: str) -> str:
        return linux.mac_text(self.mac(name))

    # ---- life ----------------------------------------------------------------------

    def run(self, now: float) -> float:
        """Timers and revalidation in every backer; returns the next deadline."""
        deadline = now + 1.0
        for b in list(self.backers.values()):
            deadline = min(deadline, b.run(now))
        return deadline

    def close(self, keep_devices: bool = True) -> None:
        """Stops everything; keep_devices leaves the TAPs in place (a plain exit)."""
        self._keep_devices = keep_devices
        for name in list(self.running.bridges):
            self._destroy_bridge(name)
        for b in self.backers.values():
            b.close()
            b.datapath.close()
        self.backers.clear()
        for name in list(self.netdevs):
            self._close(name)
        self._flush_closes()
        self._linkmon.close()


def _patch_error(backer: Backer, kind: str, p) -> str | None:
    if (p.peer is not None or p.type == "patch") and backer.patch_peer(p) is None:
        return f"No usable peer '{p.peer}' exists in '{kind}' datapath."
    return None


def _with_interfaces(cfg: BridgeConfig, interfaces: dict[str, InterfaceConfig]) -> BridgeConfig:
    return dataclasses.replace(cfg, interfaces=interfaces)
