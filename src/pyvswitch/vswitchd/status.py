"""Status write-back: what ovs-vswitchd tells the database about what it runs.

`status_updates(tables, interfaces, bridges, system)` compares the observed
status with the replica (ovsdb/idl.py's tables) and returns only the
columns whose value differs, as `(table, uuid, {column: datum})` updates.
The shell puts all of them in one transaction per burst of changes, and
writes nothing when nothing differs, so writing status never causes an
endless loop of updates.

As in OVS, the transaction that sets cur_cfg also carries the full status
of the interfaces the reconfiguration added: when a waiting `ovs-vsctl
add-port` returns, the port's ofport, mac_in_use, link_state, ... and
statistics are there to read.

Memo: with a thousand interfaces, comparing every row on every pass costs
more than observing them.  The replica replaces a row's dict whenever the
row changes (ovsdb/idl.py), so a row that is the very same object as in the
last pass, observed with an equal status that then needed no update, still
needs none: `StatusMemo` remembers those pairs and the comparison is skipped.

Columns, as the reference ovs-vswitchd 3.1 fills them:
- Interface: ofport (-1 when the interface could not be added), error
  (OVS's wording, e.g. "could not open network device p9 (No such
  device)"), mac_in_use, ifindex, link_state, admin_state, mtu,
  link_resets, link_speed, duplex, status (driver_name, driver_version,
  firmware_version of a Linux device), and
  statistics (only when a statistics pass supplies them: every 5 seconds,
  OVS's default stats-update-interval).  A Linux device's statistics are its
  kernel counters under OVS's names (a TAP's seen from the switch's side);
  other netdevs report the counters they keep.
- Bridge: datapath_id (16 hex digits), datapath_version ("<built-in>" for
  the userspace datapath).
- Open_vSwitch: cur_cfg (= next_cfg once a configuration is applied),
  datapath_types, iface_types, dpdk_initialized, dpdk_version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class InterfaceStatus:
    ofport: int | None = None
    error: str | None = None
    mac_in_use: str | None = None
    ifindex: int | None = None
    link_state: str | None = None
    admin_state: str | None = None
    mtu: int | None = None
    link_resets: int | None = None
    link_speed: int | None = None        # bits per second
    duplex: str | None = None
    status: tuple = ()                   # Interface.status map: sorted (key, value) pairs
    statistics: tuple | None = None      # sorted (name, count) pairs; None: not sampled now

    def columns(self) -> dict[str, Any]:
        out = {name: _optional(getattr(self, name))
               for name in ("ofport", "error", "mac_in_use", "ifindex", "link_state",
                            "admin_state", "mtu", "link_resets", "link_speed", "duplex")}
        out["status"] = self.status
        if self.statistics is not None:
            out["statistics"] = self.statistics
        return out


@dataclass(frozen=True, slots=True)
class BridgeStatus:
    datapath_id: int
    datapath_version: str = "<built-in>"

    def columns(self) -> dict[str, Any]:
        return {"datapath_id": (f"{self.datapath_id:016x}",),
                "datapath_version": self.datapath_version}


def _optional(v):
    return () if v is None else (v,)


def failed(error: str) -> InterfaceStatus:
    """The status of an interface that could not be added."""
    return InterfaceStatus(ofport=-1, error=error)


def _changes(row: dict, wanted: dict[str, Any]) -> dict[str, Any]:
    return {c: v for c, v in wanted.items() if c in row and row[c] != v}


class StatusMemo:
    """Interface rows known to hold a status already: uuid -> (row, status)."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[str, tuple[dict, Any]] = {}


def status_updates(tables: dict[str, dict[str, dict]],
                   interfaces: dict[str, InterfaceStatus],
                   bridges: dict[str, BridgeStatus], system: dict[str, Any],
                   memo: StatusMemo | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """The column updates that bring the replica's status columns to the observed values."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    known = memo.rows if memo is not None else {}
    seen: dict[str, tuple[dict, Any]] = {}
    for uuid, row in tables.get("Interface", {}).items():
        st = interfaces.get(row.get("name"))
        if st is None:
            continue
        last = known.get(uuid)
        if last is not None and last[0] is row and last[1] == st:
            seen[uuid] = last
            continue
        ch = _changes(row, st.columns())
        if ch:
            out.append(("Interface", uuid, ch))
        else:
            seen[uuid] = (row, st)
    if memo is not None:
        memo.rows = seen
    for uuid, row in tables.get("Bridge", {}).items():
        st = bridges.get(row.get("name"))
        if st is not None:
            ch = _changes(row, st.columns())
            if ch:
                out.append(("Bridge", uuid, ch))
    for uuid, row in tables.get("Open_vSwitch", {}).items():
        ch = _changes(row, system)
        if ch:
            out.append(("Open_vSwitch", uuid, ch))
    return out


# Interface.statistics keys for a Linux device and the kernel counters they come from
# (struct rtnl_link_stats64's field names, also /sys/class/net/DEV/statistics/), as the
# reference reports them.
LINUX_STATISTICS = (
    ("collisions", "collisions"), ("rx_bytes", "rx_bytes"), ("rx_crc_err", "rx_crc_errors"),
    ("rx_dropped", "rx_dropped"), ("rx_errors", "rx_errors"), ("rx_frame_err", "rx_frame_errors"),
    ("rx_missed_errors", "rx_missed_errors"), ("rx_multicast_packets", "multicast"),
    ("rx_over_err", "rx_over_errors"), ("rx_packets", "rx_packets"), ("tx_bytes", "tx_bytes"),
    ("tx_dropped", "tx_dropped"), ("tx_errors", "tx_errors"), ("tx_packets", "tx_packets"),
)
# A TAP's kernel counters are the host's view: what the host transmits, the switch receives.
_SWAP = {"rx_bytes": "tx_bytes", "tx_bytes": "rx_bytes", "rx_packets": "tx_packets",
         "tx_packets": "rx_packets", "rx_dropped": "tx_dropped", "tx_dropped": "rx_dropped",
         "rx_errors": "tx_errors", "tx_errors": "rx_errors"}


def linux_statistics(counters: dict[str, int], tap: bool) -> tuple:
    """Interface.statistics from a device's kernel counters (by kernel name)."""
    out = []
    for key, file in LINUX_STATISTICS:
        if tap and key in _SWAP:
            file = _SWAP[key]
        if file in counters:
            out.append((key, counters[file]))
    return tuple(sorted(out))


def statistics_pairs(stats) -> tuple:
    """Interface.statistics from a NetdevStats (or any object with those counters)."""
    names = ("rx_packets", "rx_bytes", "rx_dropped", "rx_errors",
             "tx_packets", "tx_bytes", "tx_dropped", "tx_errors")
    return tuple(sorted((n, int(getattr(stats, n, 0))) for n in names))
