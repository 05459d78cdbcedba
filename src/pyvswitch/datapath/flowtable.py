"""The datapath's flow cache: an exact-match cache in front of a megaflow table.

A megaflow is (mask, masked key) -> actions: every packet whose key agrees with the
masked key on the mask's bits gets those actions.  The table keeps one dict per
distinct mask ("subtable") keyed by the masked key; a lookup masks the packet's key once
per subtable until a dict probe hits.  Subtables are kept ordered by how often they hit,
so the common case costs one probe.  In front sits the exact-match cache (EMC): a dict
from the full key to the megaflow it last hit, so a packet of a known microflow costs one
dict lookup.  Megaflows never overlap (the slow path installs only translations that are
exact for the masked bits), so the first hit is the answer.

Invariants: a removed megaflow is marked dead and EMC hits on a dead flow are misses;
`subtables` is replaced, never mutated in place, so a lookup racing a change in another
thread sees a consistent list; the EMC is bounded (cleared when full).

Pure: no clock (callers pass `now`), no I/O; the datapath shell locks around changes.
"""

from __future__ import annotations

from random import getrandbits
from typing import Iterator

from pyvswitch.datapath.actions import OUTPUT
from pyvswitch.packet.flow import FlowKey, key_function


class Megaflow:
    __slots__ = ("mask", "key", "_actions", "outputs", "packets", "bytes", "used", "created",
                 "tcp_flags", "dead", "ufid", "packet_key", "ksteps", "kkeys")

    def __init__(self, mask: FlowKey, key: FlowKey, actions: tuple, now: float, ufid: int = 0,
                 packet_key: FlowKey | None = None):
        self.mask = mask
        self.key = key            # the packet key that created it, masked
        self.packet_key = packet_key or key   # ... and unmasked, for dumps (as OVS prints it)
        self.actions = actions
        self.packets = 0
        self.bytes = 0
        self.used = 0.0           # 0 until a packet hits it
        self.created = now
        self.tcp_flags = 0
        self.dead = False
        self.ufid = ufid
        self.kkeys: set | None = None   # its kernel entries' keys (offload.py)

    @property
    def actions(self) -> tuple:
        return self._actions

    @actions.setter
    def actions(self, actions: tuple) -> None:
        self._actions = actions
        self.ksteps = None        # its kernel steps, recomputed on demand (offload.py)
        # The common case, outputs only, is forwarded without executing anything.
        self.outputs = (tuple(a[1] for a in actions)
                        if all(a[0] == OUTPUT for a in actions) else None)


class _Subtable:
    __slots__ = ("mask", "fn", "flows", "hits")

    def __init__(self, mask: FlowKey):
        self.mask = mask
        self.fn = key_function(mask)
        self.flows: dict = {}
        self.hits = 0


class FlowTable:
    def __init__(self, emc_size: int = 8192):
        self.emc: dict[FlowKey, Megaflow] = {}
        self.emc_size = emc_size
        self.subtables: list[_Subtable] = []
        self._by_mask: dict[FlowKey, _Subtable] = {}
        self.n_flows = 0
        self.mask_hits = 0   # subtable probes made by hits, for "masks: hit:" statistics

    def lookup(self, key: FlowKey) -> Megaflow | None:
        f = self.emc.get(key)
        if f is not None and not f.dead:
            return f
        f = self.lookup_megaflow(key)
        if f is not None:
            if len(self.emc) >= self.emc_size:
                self.emc.clear()
            self.emc[key] = f
        return f

    def lookup_megaflow(self, key: FlowKey) -> Megaflow | None:
        """The megaflow table alone, for a caller that keeps its own exact-match cache."""
        probes = 0
        for st in self.subtables:
            probes += 1
            f = st.flows.get(st.fn(key))
            if f is not None:
                st.hits += 1
                self.mask_hits += probes
                return f
        return None

    def put(self, mask: FlowKey, key: FlowKey, actions: tuple, now: float) -> Megaflow:
        """Installs (or replaces the actions of) the megaflow for key under mask."""
        st = self._by_mask.get(mask)
        if st is None:
            st = _Subtable(mask)
            self._by_mask[mask] = st
            self.subtables = self.subtables + [st]
        mk = st.fn(key)
        f = st.flows.get(mk)
        if f is not None:
            f.actions = actions
            return f
        masked = FlowKey(*(k & m for k, m in zip(key, mask)))
        f = Megaflow(mask, masked, actions, now, getrandbits(128), key)
        st.flows[mk] = f
        self.n_flows += 1
        return f

    def get(self, mask: FlowKey, key: FlowKey) -> Megaflow | None:
        """The megaflow installed exactly for (mask, key), if any."""
        st = self._by_mask.get(mask)
        return st.flows.get(st.fn(key)) if st is not None else None

    def remove(self, f: Megaflow) -> bool:
        st = self._by_mask.get(f.mask)
        if st is None:
            return False
        mk = st.fn(f.key)
        if st.flows.get(mk) is not f:
            return False
        del st.flows[mk]
        f.dead = True
        self.n_flows -= 1
        if not st.flows:
            del self._by_mask[f.mask]
            self.subtables = [s for s in self.subtables if s is not st]
        return True

    def flush(self) -> int:
        n = self.n_flows
        for f in self.flows():
            f.dead = True
        self.emc = {}
        self.subtables = []
        self._by_mask = {}
        self.n_flows = 0
        return n

    def flows(self) -> Iterator[Megaflow]:
        for st in list(self.subtables):
            yield from list(st.flows.values())

    def resort(self) -> None:
        """Puts the most-hit subtables first; called now and then, not per packet."""
        self.subtables = sorted(self.subtables, key=lambda s: -s.hits)
        for s in self.subtables:
            s.hits >>= 1

    def expire(self, now: float, idle: float) -> list[Megaflow]:
        """Removes megaflows unused for `idle` seconds; returns them."""
        gone = [f for f in self.flows() if (f.used or f.created) + idle <= now]
        for f in gone:
            self.remove(f)
        return gone

    @property
    def n_masks(self) -> int:
        return len(self.subtables)
