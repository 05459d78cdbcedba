"""A packet classifier: the highest-priority rule whose match a flow key satisfies.

What: a `Classifier` holds rules, each an object with `.match` (a
`packet.match.Match`) and `.priority` (an int, higher wins).  `lookup(key)`
returns the best rule for a `FlowKey` together with the wildcard mask of the
bits the answer depended on: a megaflow that caches the result may match
exactly those bits, and every packet agreeing with `key` on them gets the
same answer.  `lookup_rule(key)` is the same search without the mask.  It is
sans-I/O and single-threaded.

Design (tuple space search, as in OVS): rules are grouped by mask into
subtables, one hash table per distinct mask, keyed by the masked values of
the slots the mask covers, so a lookup costs one masking and one dict probe
per subtable.  Subtables are visited in order of the highest priority they
hold, and the search stops at the first subtable that cannot beat the best
rule found so far.

Staged lookup keeps megaflows wide.  A subtable's slots are split into
stages (metadata, L2, L3, L4; `STAGES`) and, for every stage but the last,
the subtable keeps the set of partial keys (the masked values of the stages
up to it) of its rules.  `lookup` probes the partial sets first; when one
misses, no rule of the subtable can match any packet agreeing with `key` on
those stages, so only their bits join the wildcards.  A UDP packet checked
against `tcp,nw_dst=...,tp_dst=80` rules thus leaves tp_dst wildcarded.

Versions (as OVS's classifier has them, for atomic bundles): every rule is
held in an `Entry` visible in versions [add, remove).  Plain `insert` and
`remove` act at once in the current `version`; `insert(rule, v)` and
`make_invisible(rule, v)` stage changes for a later version v that lookups at
v already see, and `publish(v)` makes current (or `revert(v)` drops).

Invariants:
- in any version, at most one visible rule per (match, priority); inserting
  another makes the old one invisible from the new one's version on;
- within a bucket (same match) entries are sorted by descending priority, so
  a lookup takes the first entry visible in its version;
- stage and prefix indexes count the entries (visible or staged) of their
  subtable per partial key, so a miss there is a miss in every version;
- `_order` lists the subtables by descending `max_priority` whenever
  `_dirty` is false;
- `version` grows only by `publish`; `generation` grows on every change, so
  callers (revalidators, dumps) can tell whether anything changed since they
  last looked.

Prefix indexes keep address wildcards short.  For a subtable whose mask on an
IP address (`PREFIX_SLOTS`) is a CIDR prefix of length L, the prefixes of its
rules are counted at lengths 8, 16, ... and L.  Before its stages, a lookup
checks the key's L-bit prefix (after the metadata and L2 stages, as OVS
consults its tries at the L3 stage); when it is absent the subtable is
skipped and only the address bits up to the shortest absent length join the
wildcards
(like OVS's prefix tries, at 8-bit granularity).  A packet to 192.168.1.1
checked against /32 host rules in 10.0.0.0/8 thus gets a /8 megaflow, not /32.

Among rules of equal priority that overlap, which one wins is unspecified,
as in OpenFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import or_
from typing import Any, Callable, Iterator, Protocol

from pyvswitch.packet.flow import INDEX, N_REGS, WIDTHS, FlowKey, key_function
from pyvswitch.packet.match import Match

_ZERO = FlowKey()
_new = tuple.__new__

# The lookup stages, in the order they are probed.
STAGES: tuple[frozenset[str], ...] = (
    frozenset(("in_port", "tun_id", "metadata", *(f"reg{i}" for i in range(N_REGS)))),
    frozenset(("dl_dst", "dl_src", "dl_type", "vlan_tci", "vlan_tci2")),
    # As in OVS's struct flow, ND's target and TCP's flags sit with L3; L4 is the ports.
    frozenset(("nw_src", "nw_dst", "ipv6_src", "ipv6_dst", "ipv6_label", "nw_proto", "nw_tos",
               "nw_ttl", "nw_frag", "nd_target", "arp_sha", "arp_tha", "tcp_flags")),
    frozenset(("tp_src", "tp_dst")),
)
assert frozenset().union(*STAGES) == frozenset(FlowKey._fields)
_STAGE_OF = [next(n for n, s in enumerate(STAGES) if name in s) for name in FlowKey._fields]
_L3_STAGE = 2
assert all(_STAGE_OF[INDEX[name]] == _L3_STAGE for name in ("nw_src", "nw_dst", "ipv6_src"))


class Rule(Protocol):
    match: Match
    priority: int


@dataclass(frozen=True, slots=True)
class ClsRule:
    """A minimal rule; ofproto's flow-table rules carry actions and counters too."""
    match: Match
    priority: int
    value: Any = None


NEVER = float("inf")  # the remove version of a rule nobody has scheduled to disappear


class Entry:
    """A rule in a subtable, with the versions in which it is visible: [add, remove)."""

    __slots__ = ("rule", "priority", "add", "remove")

    def __init__(self, rule: Rule, add: int):
        self.rule = rule
        self.priority = rule.priority
        self.add = add
        self.remove = NEVER

    def visible(self, version: int) -> bool:
        return self.add <= version < self.remove


# The address fields whose CIDR prefixes are indexed (OVS's default prefix tries are
# ip_dst and ip_src; the IPv6 addresses are cheap to add here).
PREFIX_SLOTS = ("nw_dst", "nw_src", "ipv6_dst", "ipv6_src")
_PREFIX_STEP = 8  # prefix lengths are tracked every 8 bits (and at the subtable's own length)
_prefix_masks: dict[tuple[int, int], FlowKey] = {}


def _prefix_mask(i: int, n: int) -> FlowKey:
    """The FlowKey mask of the first n bits of slot i (one object per (i, n), so that lookup
    paths can be keyed by identity)."""
    m = _prefix_masks.get((i, n))
    if m is None:
        w = WIDTHS[i]
        bits = ((1 << w) - 1) ^ ((1 << (w - n)) - 1)
        m = _prefix_masks[(i, n)] = _new(FlowKey, tuple(bits if j == i else 0
                                                         for j in range(len(WIDTHS))))
    return m


class PrefixIndex:
    """For one address slot whose subtable mask is a CIDR prefix of length L: the prefixes of
    the subtable's rules at lengths 8, 16, ... and L, with counts.  A key whose L-bit prefix
    is absent cannot match the subtable; the shortest absent length says how many address
    bits that conclusion needed (what OVS's prefix tries compute)."""

    __slots__ = ("slot", "shifts", "sets", "masks")

    def __init__(self, slot: int, length: int):
        width = WIDTHS[slot]
        levels = sorted(set(range(_PREFIX_STEP, length, _PREFIX_STEP)) | {length})
        self.slot = slot
        self.shifts = [width - n for n in levels]
        self.sets: list[dict[int, int]] = [{} for _ in levels]
        self.masks = [_prefix_mask(slot, n) for n in levels]

    def add(self, value: FlowKey, delta: int) -> None:
        x = value[self.slot]
        for shift, counts in zip(self.shifts, self.sets):
            p = x >> shift
            n = counts.get(p, 0) + delta
            if n:
                counts[p] = n
            else:
                del counts[p]

    def miss_mask(self, key: FlowKey) -> FlowKey | None:
        """None if key's prefix is present; else the mask of the bits that rule it out."""
        x = key[self.slot]
        sets, shifts = self.sets, self.shifts
        if (x >> shifts[-1]) in sets[-1]:
            return None
        lo, hi = 0, len(sets) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if (x >> shifts[mid]) in sets[mid]:
                lo = mid + 1
            else:
                hi = mid
        return self.masks[lo]


def _cidr_length(mask: int, width: int) -> int | None:
    inv = ~mask & ((1 << width) - 1)
    if mask == 0 or inv & (inv + 1):
        return None
    return width - inv.bit_length()


class Subtable:
    """All rules with one mask: buckets of entries keyed by masked values, plus stage indexes
    and prefix indexes."""

    __slots__ = ("mask", "key", "buckets", "stages", "prefixes", "checks", "n_entries",
                 "max_priority", "priorities")

    def __init__(self, mask: FlowKey):
        self.mask = mask
        self.key = key_function(mask)
        self.buckets: dict[Any, list[Entry]] = {}
        self.n_entries = 0
        self.max_priority = -1
        self.priorities: dict[int, int] = {}  # priority -> number of entries with it
        used = sorted({_STAGE_OF[i] for i, m in enumerate(mask) if m})
        # (key function, partial key -> number of entries, mask so far) for each stage but the last.
        self.stages: list[tuple[Callable, dict, FlowKey]] = []
        for stage in used[:-1]:
            partial = _new(FlowKey, tuple(m if _STAGE_OF[i] <= stage else 0
                                          for i, m in enumerate(mask)))
            self.stages.append((key_function(partial), {}, partial))
        self.prefixes: list[PrefixIndex] = []
        for name in PREFIX_SLOTS:
            i = INDEX[name]
            length = _cidr_length(mask[i], WIDTHS[i])
            if length is not None:
                self.prefixes.append(PrefixIndex(i, length))
        # What a lookup checks before probing the subtable, in order: the metadata and L2
        # stages, then the prefixes (as OVS consults its tries at the L3 stage, so a packet
        # of another ethertype is told apart by its ethertype, not its addresses), then the
        # later stages.  Stage checks are (key function, index, mask so far); prefix checks
        # (None, prefix index, None).
        early = [st for st, stage in zip(self.stages, used) if stage < _L3_STAGE]
        late = self.stages[len(early):]
        self.checks = early + [(None, p, None) for p in self.prefixes] + late

    def add(self, entry: Entry, k) -> None:
        bucket = self.buckets.setdefault(k, [])
        priority = entry.priority
        for i, old in enumerate(bucket):
            if old.priority < priority:
                bucket.insert(i, entry)
                break
        else:
            bucket.append(entry)
        value = entry.rule.match.value
        for keyfn, index, _ in self.stages:
            pk = keyfn(value)
            index[pk] = index.get(pk, 0) + 1
        for prefix in self.prefixes:
            prefix.add(value, +1)
        self.n_entries += 1
        self.priorities[priority] = self.priorities.get(priority, 0) + 1
        if priority > self.max_priority:
            self.max_priority = priority

    def discard(self, entry: Entry, k) -> None:
        bucket = self.buckets[k]
        bucket.remove(entry)
        if not bucket:
            del self.buckets[k]
        value = entry.rule.match.value
        for keyfn, index, _ in self.stages:
            pk = keyfn(value)
            n = index[pk] - 1
            if n:
                index[pk] = n
            else:
                del index[pk]
        for prefix in self.prefixes:
            prefix.add(value, -1)
        self.n_entries -= 1
        priority = entry.priority
        n = self.priorities[priority] - 1
        if n:
            self.priorities[priority] = n
        else:
            del self.priorities[priority]
            if priority == self.max_priority:
                self.max_priority = max(self.priorities) if self.priorities else -1

    def find(self, k, priority: int, version: float) -> Entry | None:
        """The entry of this match and priority visible in version (or, for version NEVER,
        the one not scheduled for removal)."""
        for e in self.buckets.get(k, ()):
            if e.priority == priority and (e.remove == NEVER if version == NEVER
                                           else e.visible(version)):
                return e
        return None


class Classifier:
    """Rules visible by version, as in OVS: lookups see the rules of one version (by default
    the current one).  Plain `insert`/`remove` act at once, in the current version;
    `insert(rule, version)` and `make_invisible(rule, version)` with a later version stage
    changes that `publish(version)` makes visible together (an atomic OpenFlow bundle) and
    `revert(version)` drops.  Lookups at a staged version see the staged changes.  Changes
    at once are refused while changes are staged (a bundle commits in one go)."""

    def __init__(self) -> None:
        self._subtables: dict[FlowKey, Subtable] = {}
        self._order: list[Subtable] = []
        self._dirty = False
        # The union of the masks along a lookup path, keyed by their id()s: lookups take few
        # distinct paths.  The masks belong to live subtables, and any change to the set of
        # subtables clears the memo, so an id cannot be reused while it is in here.
        self._wc_memo: dict[tuple[int, ...], FlowKey] = {}
        self._n_rules = 0
        self.version = 0      # the version lookups see by default
        self.generation = 0   # grows on every change, staged or not
        # Staged changes: version -> [(subtable, key, entry)] added / scheduled for removal.
        self._staged_adds: dict[int, list] = {}
        self._staged_removes: dict[int, list] = {}

    def __len__(self) -> int:
        """The number of rules visible in the current version."""
        return self._n_rules

    @property
    def n_subtables(self) -> int:
        return len(self._subtables)

    # ---- changes --------------------------------------------------------------

    def _at(self, version: int | None) -> int:
        if version is None:
            if self._staged_adds or self._staged_removes:
                raise ValueError("changes are staged: publish or revert them first")
            self.generation += 1
            return self.version
        self.generation += 1
        if version <= self.version:
            raise ValueError(f"version {version} is not after the current version {self.version}")
        return version

    def insert(self, rule: Rule, version: int | None = None) -> Rule | None:
        """Adds rule, visible from version on (None: at once).  A rule with the same match and
        priority becomes invisible at that version; it is returned."""
        v = self._at(version)
        match = rule.match
        st = self._subtables.get(match.mask)
        if st is None:
            st = self._subtables[match.mask] = Subtable(match.mask)
            self._dirty = True
        k = st.key(match.value)
        replaced = st.find(k, rule.priority, NEVER)
        old_max = st.max_priority
        st.add(Entry(rule, v), k)
        if st.max_priority != old_max:
            self._dirty = True
        if version is None:
            self._n_rules += 1
        else:
            self._staged_adds.setdefault(v, []).append((st, k))
        if replaced is None:
            return None
        self._schedule_removal(st, k, replaced, v, version is None)
        return replaced.rule

    def make_invisible(self, rule: Rule, version: int | None = None) -> Rule | None:
        """Makes the rule with rule's match and priority invisible from version on (None: at
        once, which removes it); returns it, or None if there is no such rule."""
        v = self._at(version)
        st = self._subtables.get(rule.match.mask)
        if st is None:
            return None
        k = st.key(rule.match.value)
        entry = st.find(k, rule.priority, NEVER)
        if entry is None:
            return None
        self._schedule_removal(st, k, entry, v, version is None)
        return entry.rule

    def remove(self, rule: Rule) -> Rule | None:
        """Removes the rule with rule's match and priority at once; returns it, or None."""
        return self.make_invisible(rule)

    def _schedule_removal(self, st: Subtable, k, entry: Entry, version: int, now: bool) -> None:
        entry.remove = version
        if now:
            self._purge(st, k, entry)
        else:
            self._staged_removes.setdefault(version, []).append((st, k, entry))

    def _purge(self, st: Subtable, k, entry: Entry) -> None:
        old_max = st.max_priority
        st.discard(entry, k)
        if entry.add <= self.version:
            self._n_rules -= 1
        if not st.n_entries:
            del self._subtables[st.mask]
            self._dirty = True
        elif st.max_priority != old_max:
            self._dirty = True

    def publish(self, version: int) -> None:
        """Makes version (and every staged version before it) the current one."""
        if version < self.version:
            raise ValueError(f"version {version} is before the current version {self.version}")
        self.version = version
        self.generation += 1
        for v in sorted(x for x in self._staged_adds if x <= version):
            self._n_rules += len(self._staged_adds.pop(v))
        for v in sorted(x for x in self._staged_removes if x <= version):
            for st, k, entry in self._staged_removes.pop(v):
                self._purge(st, k, entry)

    def revert(self, version: int) -> None:
        """Drops the changes staged for version."""
        self.generation += 1
        for st, k, entry in self._staged_removes.pop(version, ()):
            entry.remove = NEVER
        for st, k in self._staged_adds.pop(version, ()):
            for entry in list(st.buckets.get(k, ())):
                if entry.add == version:
                    self._purge(st, k, entry)

    def clear(self) -> None:
        version, generation = self.version, self.generation
        self.__init__()
        self.version, self.generation = version, generation + 1

    # ---- lookups ----------------------------------------------------------------

    def _subtables_in_order(self) -> list[Subtable]:
        if self._dirty:
            self._order = sorted(self._subtables.values(), key=lambda st: -st.max_priority)
            self._dirty = False
            self._wc_memo.clear()
        return self._order

    def lookup(self, key: FlowKey, version: int | None = None) -> tuple[Rule | None, FlowKey]:
        """(the highest-priority rule matching key or None, the wildcard mask it depended on),
        among the rules visible in version (default: the current one)."""
        if version is None:
            version = self.version
        best = None
        best_priority = -1
        path: list = []
        for st in self._subtables_in_order():
            if st.max_priority <= best_priority:
                break
            for keyfn, index, partial in st.checks:
                if keyfn is None:
                    miss = index.miss_mask(key)
                    if miss is not None:
                        path.append(miss)
                        break
                elif keyfn(key) not in index:
                    path.append(partial)
                    break
            else:
                path.append(st.mask)
                for e in st.buckets.get(st.key(key), ()):
                    if e.priority <= best_priority:
                        break
                    if e.add <= version < e.remove:
                        best = e.rule
                        best_priority = e.priority
                        break
        ids = tuple(map(id, path))
        wc = self._wc_memo.get(ids)
        if wc is None:
            if len(self._wc_memo) > 65536:
                self._wc_memo.clear()
            acc = _ZERO
            for m in path:
                acc = tuple(map(or_, acc, m))
            wc = self._wc_memo[ids] = _new(FlowKey, acc)
        return best, wc

    def lookup_rule(self, key: FlowKey, version: int | None = None) -> Rule | None:
        """The highest-priority rule matching key, or None (no wildcards: the fast path)."""
        if version is None:
            version = self.version
        best = None
        best_priority = -1
        for st in self._subtables_in_order():
            if st.max_priority <= best_priority:
                break
            for e in st.buckets.get(st.key(key), ()):
                if e.priority <= best_priority:
                    break
                if e.add <= version < e.remove:
                    best = e.rule
                    best_priority = e.priority
                    break
        return best

    def find_exactly(self, match: Match, priority: int, version: int | None = None) -> Rule | None:
        """The rule with exactly this match and priority (OpenFlow's "strict" lookups)."""
        st = self._subtables.get(match.mask)
        if st is None:
            return None
        e = st.find(st.key(match.value), priority, self.version if version is None else version)
        return e.rule if e is not None else None

    def rules(self, target: Match | None = None, version: int | None = None) -> Iterator[Rule]:
        """Every rule visible in version (in no particular order), or those whose match is at
        least as specific as target's (OpenFlow's "loose" matching for dumps, modifies and
        deletes).  The iteration works on a snapshot, so the caller may change the classifier
        meanwhile (a dump that spans many replies sees the version it started in)."""
        if version is None:
            version = self.version
        tmask = target.mask if target is not None else None
        snapshot = []
        for st in self._subtables.values():
            if tmask is not None and any(t & ~m for t, m in zip(tmask, st.mask)):
                continue
            for bucket in st.buckets.values():
                snapshot.extend(e.rule for e in bucket if e.visible(version))
        if target is None:
            return iter(snapshot)
        checks = target.checks
        return (r for r in snapshot if all(r.match.value[i] & m == v for i, m, v in checks))

    def overlapping(self, match: Match, priority: int) -> Iterator[Rule]:
        """Rules of the same priority, visible now, that some packet could match together with
        match (what OpenFlow's OFPFF_CHECK_OVERLAP refuses)."""
        for st in list(self._subtables.values()):
            if priority not in st.priorities:
                continue
            both = [(i, m & om) for i, (m, om) in enumerate(zip(st.mask, match.mask)) if m & om]
            for bucket in st.buckets.values():
                for e in bucket:
                    if e.priority == priority and e.visible(self.version) and all(
                            (e.rule.match.value[i] ^ match.value[i]) & m == 0 for i, m in both):
                        yield e.rule


def stage_of(slot: str) -> int:
    """The lookup stage (0 metadata, 1 L2, 2 L3, 3 L4) a FlowKey slot belongs to."""
    return _STAGE_OF[INDEX[slot]]
