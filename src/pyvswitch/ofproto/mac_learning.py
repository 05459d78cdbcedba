"""MAC learning: which port each (VLAN, Ethernet address) was last seen on.

What: one `MacLearning` table per bridge, used by the NORMAL action.  `learn`
records that a frame from `mac` arrived in `vlan` on `port`; `lookup` answers
where to send a frame for (vlan, mac).  Entries age out `idle_time` seconds
after they were last learned (other_config:mac-aging-time, default 300 s,
held between 15 s and 3600 s as OVS does); `run(now)` expires them and says
when it next needs to run.  Time is always an argument.

Size bound: at most `max_entries` (other_config:mac-table-size, default 8192
as in OVS 3.1).  Learning a new address into a full table first evicts, as
OVS does, the least recently learned entry of the port that has the most
entries, so one port flooding random source addresses cannot push out the
other ports' stations.

Static entries (`fdb/add`, `fdb/del`) never age, are not moved by learning,
survive `fdb/flush` and are never evicted; `fdb/show` says "static" for
their age.

Invariants: `entries` is in least-recently-learned-first order (what
`fdb/show` prints); `_by_port[p]` holds exactly the keys of the dynamic
entries on p, in the same order; `seq` grows whenever forwarding decisions could change
(a new entry, a move to another port, expiry, eviction, flush), but not when
an entry is merely refreshed, so the owner revalidates cached megaflows only
when it must.

Not thread-safe by itself: the bridge's lock guards it (see ofproto.py).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from pyvswitch.packet.headers import mac_to_str

DEFAULT_IDLE_TIME = 300
MIN_IDLE_TIME = 15
MAX_IDLE_TIME = 3600
DEFAULT_MAX_ENTRIES = 8192


@dataclass(slots=True)
class MacEntry:
    vlan: int
    mac: int
    port: object          # the bridge's port handle (an ofport number in ofproto)
    used: float           # when it was last learned
    static: bool = False


def normalize_idle_time(seconds: int) -> int:
    return max(MIN_IDLE_TIME, min(MAX_IDLE_TIME, seconds))


class MacLearning:
    def __init__(self, idle_time: int = DEFAULT_IDLE_TIME, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.idle_time = normalize_idle_time(idle_time)
        self.max_entries = max(1, max_entries)
        self.entries: OrderedDict[tuple[int, int], MacEntry] = OrderedDict()
        self._by_port: dict[object, OrderedDict[tuple[int, int], None]] = {}
        self.seq = 0
        self.n_learned = 0
        self.n_expired = 0
        self.n_evicted = 0
        self.n_moved = 0
        self.n_static = 0

    def __len__(self) -> int:
        return len(self.entries)

    def set_config(self, idle_time: int | None = None, max_entries: int | None = None,
                   now: float = 0.0) -> None:
        if idle_time is not None:
            self.idle_time = normalize_idle_time(idle_time)
        if max_entries is not None:
            self.max_entries = max(1, max_entries)
            while len(self.entries) > self.max_entries and self._by_port:
                self._evict()
        self.run(now)

    def lookup(self, vlan: int, mac: int) -> object | None:
        e = self.entries.get((vlan, mac))
        return e.port if e is not None else None

    def learn(self, vlan: int, mac: int, port: object, now: float) -> bool:
        """Records mac on port in vlan; True if that changed a forwarding decision."""
        k = (vlan, mac)
        e = self.entries.get(k)
        if e is not None:
            if e.static:
                return False
            e.used = now
            self.entries.move_to_end(k)
            if e.port == port:
                self._by_port[port].move_to_end(k)
                return False
            self._unlink(k, e.port)
            e.port = port
            self._link(k, port)
            self.n_moved += 1
            self.seq += 1
            return True
        if len(self.entries) >= self.max_entries and self._by_port:
            self._evict()
        self.entries[k] = MacEntry(vlan, mac, port, now)
        self._link(k, port)
        self.n_learned += 1
        self.seq += 1
        return True

    def refresh(self, vlan: int, mac: int, port: object, now: float) -> bool:
        """Learns mac on port unless it is known on another port (for traffic seen only in
        statistics, which must keep entries alive but cannot tell a move from stale flows)."""
        e = self.entries.get((vlan, mac))
        if e is not None and e.port != port:
            return False
        return self.learn(vlan, mac, port, now)

    def add_static(self, vlan: int, mac: int, port: object, now: float) -> None:
        """Pins mac to port in vlan (`fdb/add`), replacing any learned entry."""
        k = (vlan, mac)
        e = self.entries.pop(k, None)
        if e is not None and not e.static:
            self._unlink(k, e.port)
        elif e is not None:
            self.n_static -= 1
        self.entries[k] = MacEntry(vlan, mac, port, now, static=True)
        self.n_static += 1
        self.seq += 1

    def del_static(self, vlan: int, mac: int) -> bool:
        """Removes a static entry (`fdb/del`); False if there is none."""
        e = self.entries.get((vlan, mac))
        if e is None or not e.static:
            return False
        del self.entries[(vlan, mac)]
        self.n_static -= 1
        self.seq += 1
        return True

    def _link(self, k: tuple[int, int], port: object) -> None:
        self._by_port.setdefault(port, OrderedDict())[k] = None

    def _unlink(self, k: tuple[int, int], port: object) -> None:
        keys = self._by_port[port]
        del keys[k]
        if not keys:
            del self._by_port[port]

    def _evict(self) -> None:
        port = max(self._by_port, key=lambda p: len(self._by_port[p]))
        k = next(iter(self._by_port[port]))
        self._unlink(k, port)
        del self.entries[k]
        self.n_evicted += 1
        self.seq += 1

    def run(self, now: float) -> float | None:
        """Expires idle entries; returns when the next one expires (None if none can)."""
        idle = self.idle_time
        expired = [k for k, e in self.entries.items() if not e.static and e.used + idle <= now]
        for k in expired:
            e = self.entries.pop(k)
            self._unlink(k, e.port)
        if expired:
            self.n_expired += len(expired)
            self.seq += 1
        times = [e.used for e in self.entries.values() if not e.static]
        return min(times) + idle if times else None

    def flush(self, port: object | None = None, vlan: int | None = None) -> int:
        """Forgets the learned entries (all, or those on one port and/or VLAN; a port's
        static entries go with it too); returns how many went."""
        gone = [k for k, e in self.entries.items()
                if (port is None or e.port == port) and (vlan is None or e.vlan == vlan)
                and (port is not None or not e.static)]
        for k in gone:
            e = self.entries.pop(k)
            if e.static:
                self.n_static -= 1
            else:
                self._unlink(k, e.port)
        if gone:
            self.seq += 1
        return len(gone)

    def format_show(self, now: float, port_name=str) -> str:
        """`ovs-appctl fdb/show` text; port_name(port) gives the port column ("1", "LOCAL")."""
        lines = [" port  VLAN  MAC                Age"]
        for e in self.entries.values():
            age = "static" if e.static else f"{int(max(0.0, now - e.used)):3d}"
            lines.append(f"{port_name(e.port):>5}  {e.vlan:4d}  {mac_to_str(e.mac)}  {age}")
        return "\n".join(lines) + "\n"

    def format_stats(self, bridge: str) -> str:
        """`ovs-appctl fdb/stats-show` text."""
        return (f'Statistics for bridge "{bridge}":\n'
                f"  Current/maximum MAC entries in the table: {len(self.entries)}/{self.max_entries}\n"
                f"  Current static MAC entries in the table : {self.n_static}\n"
                f"  Total number of learned MAC entries     : {self.n_learned}\n"
                f"  Total number of expired MAC entries     : {self.n_expired}\n"
                f"  Total number of evicted MAC entries     : {self.n_evicted}\n"
                f"  Total number of port moved MAC entries  : {self.n_moved}\n")
