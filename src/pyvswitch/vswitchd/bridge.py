"""The main loop of ovs-vswitchd: database in, reconfiguration, status out.

As OVS's vswitchd/bridge.c, one loop on the daemon's event loop:

1. The IDL (ovsdb/idl.py, kept connected by aio/idl.py) replicates the
   Open_vSwitch, Bridge, Port and Interface tables.  Whenever its change
   sequence number moves, the loop computes the desired state
   (config.desired_state), diffs it against what runs (reconcile.reconcile)
   and applies the effects (switch.Switch.apply).
2. Then it gathers the status (switch.Switch.status) and writes what differs
   from the replica in ONE transaction (status.status_updates): interface
   ofport/error/..., bridge datapath_id, and cur_cfg = the next_cfg just
   applied, which is what `ovs-vsctl` waits for.  Only one status
   transaction is in flight at a time; a failed one is retried on the next
   pass.  Statistics are sampled every STATS_INTERVAL seconds (OVS's
   stats-update-interval: 5 s, or other_config:stats-update-interval ms).
   An interface that failed because its device did not exist is retried when
   the device appears (seen in the status pass's link dump), as OVS
   reconfigures when the system's interfaces change.  A device deleted under
   its port leaves the port as it is, reading down, as in the reference.
   While some bond has a Linux member, the kernel's link notifications are
   watched on the loop: one that changes a member's carrier runs a pass at
   once (bonds.py), so failover does not wait for a poll.
3. `Switch.run(now)` drives ofproto's timers (MAC aging, flow timeouts,
   megaflow revalidation).  A MAC learned in a datapath thread wakes the loop
   through `loop.call_soon_threadsafe`.

Packets never pass through this loop: each datapath forwards in its own
thread, so a slow database or a long reconfiguration does not stall traffic.
"""

from __future__ import annotations

import asyncio
import time

from pyvswitch import vlog
from pyvswitch.aio.idl import IdlConnection
from pyvswitch.ovsdb.idl import Idl, TxnStatus

from .bonds import Bonds, port_updates
from .config import Dummy, desired_state
from .reconcile import reconcile
from .status import StatusMemo, status_updates
from .switch import Switch

log = vlog.module("bridge")
_RL = vlog.RateLimit(5, 5)

STATS_INTERVAL = 5.0
STATUS_INTERVAL = 1.0

TABLES = {
    "Open_vSwitch": ["bridges", "next_cfg", "cur_cfg", "datapath_types", "iface_types",
                     "dpdk_initialized", "dpdk_version", "other_config"],
    "Bridge": ["name", "ports", "datapath_type", "fail_mode", "flood_vlans", "other_config",
               "datapath_id", "datapath_version"],
    "Port": ["name", "interfaces", "tag", "trunks", "vlan_mode", "other_config", "bond_mode",
             "bond_updelay", "bond_downdelay", "lacp", "bond_active_slave"],
    "Interface": ["name", "type", "options", "ofport_request", "mtu_request", "mac", "other_config",
                  "ofport", "error", "mac_in_use", "ifindex", "link_state", "admin_state", "mtu",
                  "link_resets", "link_speed", "duplex", "status", "statistics", "lacp_current"],
}

# Written by this daemon only: their changes alone do not trigger a reconfiguration.
STATUS_COLUMNS = {
    "Open_vSwitch": ["cur_cfg", "datapath_types", "iface_types", "dpdk_initialized",
                     "dpdk_version"],
    "Bridge": ["datapath_id", "datapath_version"],
    "Port": ["bond_active_slave"],
    "Interface": ["ofport", "error", "mac_in_use", "ifindex", "link_state", "admin_state", "mtu",
                  "link_resets", "link_speed", "duplex", "status", "statistics", "lacp_current"],
}


class BridgeRunner:
    def __init__(self, remote: str, dummy: Dummy = Dummy.OFF, *, ssl_client=None,
                 stats_interval: float = STATS_INTERVAL) -> None:
        self.loop = asyncio.get_running_loop()
        self.idl = Idl("Open_vSwitch", TABLES, omit_alert=STATUS_COLUMNS)
        self._kick = asyncio.Event()
        self.conn = IdlConnection(self.idl, remote, on_change=self._kick.set,
                                  ssl_client=ssl_client)
        self.switch = Switch(dummy, wakeup=self._wakeup_threadsafe)
        self.bonds = Bonds(self.switch)
        self.stats_interval = stats_interval
        self.applied_seqno = -1
        self.cur_cfg: int | None = None
        self._txn_in_flight = False
        self._next_stats = 0.0
        self._next_status = 0.0
        self._status_dirty = False     # a change whose status is not written yet
        self._memo = StatusMemo()      # rows that already hold their status
        self._link_fd: int | None = None   # watched while bonds have Linux members
        self._stopped = False

    def _wakeup_threadsafe(self) -> None:
        self.loop.call_soon_threadsafe(self._kick.set)

    def start(self) -> None:
        self.conn.start()

    def close(self, cleanup: bool = False) -> None:
        """Stops; TAP devices stay for the next ovs-vswitchd unless cleanup."""
        self._stopped = True
        self._watch_links(False)
        self.conn.close()
        self.switch.close(keep_devices=not cleanup)

    async def run(self) -> None:
        deadline = time.monotonic()
        while not self._stopped:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self._kick.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            self._kick.clear()
            try:
                deadline = self.run_once(time.monotonic())
            except Exception as e:  # a bug here must not stop the switch for good
                log.err("bridge_run failed: %s", e, rl=_RL)
                deadline = time.monotonic() + 1.0

    def run_once(self, now: float) -> float:
        """One pass: reconfigure if the database changed, run timers, write status."""
        if self.idl.is_connected and self.idl.change_seqno != self.applied_seqno:
            self.applied_seqno = self.idl.change_seqno
            self.switch.set_kernel_fastpath(self._kernel_fastpath())
            desired = desired_state(self.idl.tables, self.switch.dummy)
            effects = reconcile(self.switch.running, desired)
            if effects:
                self.switch.apply(effects, now)
            self.switch.forget_errors(desired.interface_names())
            self.bonds.sync(desired, now)
            self.cur_cfg = desired.next_cfg
            self.stats_interval = self._stats_interval()
            self._status_dirty = True
        self._watch_links(bool(self.bonds.linux_members()))
        deadline = min(self.bonds.run(now), self.switch.run(now))
        # Status is gathered after a change, with each statistics sample, and otherwise
        # once a second (link state); not on every wakeup from the datapath threads.
        due = self._status_dirty or now >= self._next_stats or now >= self._next_status
        if due and self.idl.is_connected and not self._txn_in_flight:
            self._status_dirty = False
            with_stats = now >= self._next_stats
            if with_stats:
                self._next_stats = now + self.stats_interval
            self._next_status = now + STATUS_INTERVAL
            self._write_status(with_stats)
            if self.bonds.stale():      # the status pass read a member's carrier change
                self._kick.set()
        if self.switch.devices_appeared:
            self.switch.devices_appeared = False
            self.applied_seqno = -1             # reconfigure on the next pass
            self._kick.set()
        return min(deadline, self._next_stats, self._next_status)

    def _watch_links(self, on: bool) -> None:
        """Watches the kernel's link notifications (or stops), so that a bond
        member's carrier change runs the loop at once instead of being polled."""
        if on and self._link_fd is None:
            try:
                self._link_fd = self.switch.link_fd()
            except OSError as e:
                log.warn("cannot watch link notifications (%s)", e, rl=_RL)
                return
            self.loop.add_reader(self._link_fd, self._links_ready)
        elif not on and self._link_fd is not None:
            self.loop.remove_reader(self._link_fd)
            self._link_fd = None

    def _links_ready(self) -> None:
        try:
            self.switch.poll_links()
        except OSError as e:
            log.warn("reading link notifications failed (%s)", e, rl=_RL)
            self._watch_links(False)        # watched again from the next pass
            return
        if self.bonds.stale():
            self._kick.set()

    def _stats_interval(self) -> float:
        """other_config:stats-update-interval (ms, at least 5000), as OVS reads it."""
        ovs = self.idl.first("Open_vSwitch")
        text = dict(ovs[1].get("other_config", ())).get("stats-update-interval") if ovs else None
        try:
            return max(STATS_INTERVAL, int(text) / 1000.0) if text else STATS_INTERVAL
        except ValueError:
            return STATS_INTERVAL

    def _kernel_fastpath(self) -> bool:
        """other_config:kernel-fastpath: the eBPF tier below the datapath, on unless "false"."""
        ovs = self.idl.first("Open_vSwitch")
        text = dict(ovs[1].get("other_config", ())).get("kernel-fastpath") if ovs else None
        return text != "false"

    def _system_status(self) -> dict:
        out = {"datapath_types": self.switch.datapath_types(),
               "iface_types": self.switch.iface_types(),
               "dpdk_initialized": False, "dpdk_version": ("none",)}
        if self.cur_cfg is not None:
            out["cur_cfg"] = self.cur_cfg
        return out

    def _write_status(self, with_stats: bool) -> None:
        ifaces, bridges = self.switch.status(with_stats)
        updates = status_updates(self.idl.tables, ifaces, bridges, self._system_status(),
                                 self._memo)
        updates += port_updates(self.idl.tables, self.bonds.active_members(),
                                self.bonds.lacp_current())
        if not updates:
            return
        txn = self.idl.transaction()
        for table, uuid, columns in updates:
            txn.update(table, uuid, columns)
        self._txn_in_flight = True
        fut = self.conn.commit(txn)

        def done(f: asyncio.Future) -> None:
            self._txn_in_flight = False
            res = f.result()
            if res.status is TxnStatus.ERROR:
                log.warn("status update failed: %s", res.error, rl=_RL)
            elif res.status is not TxnStatus.SUCCESS:
                self._status_dirty = True
            if self._status_dirty:
                self._kick.set()

        fut.add_done_callback(done)
