"""A packet classifier: the highest-priority rule whose match a flow key satisfies.

What: a `Classifier` holds rules, each an object with `.match` (a
`packet.match.Match`) and `.priority` (an int, higher wins).  `lookup(key)`
returns the best rule for a `FlowKey` together with the wildcard mask of
every slot the search had to examine: a megaflow that caches the result may
match exactly those bits and nothing more, and every packet agreeing with
`key` on them gets the same answer.  It is sans-I/O and single-threaded.

Design (tuple space search): rules are grouped by mask into subtables, one
hash table per distinct mask, keyed by the masked values of the slots the
mask covers.  A lookup masks the key once per subtable and makes one dict
probe.  Subtables are visited in order of the highest priority they hold,
so the search stops at the first subtable that cannot beat the best rule
found so far.  Because of that order, the subtables visited by any lookup
are a prefix of the list, so the wildcard mask of a lookup is the union of
a prefix of the masks, which is precomputed (one tuple per prefix length)
and costs nothing per packet.

Invariants:
- at most one rule per (match, priority); inserting another replaces it;
- within a subtable bucket (same match, i.e. same mask and values) rules are
  sorted by descending priority, so the bucket head is its best rule;
- `_order` lists the non-empty subtables by descending `max_priority`
  whenever `_dirty` is false; `_wc_prefix[n]` is the union of the masks of
  `_order[:n]`;
- `version` grows on every change, so callers (revalidators, dumps) can tell
  whether anything changed since they last looked.

Among rules of equal priority that overlap, which one wins is unspecified,
as in OpenFlow.  OVS's further megaflow narrowing (staged lookup, prefix
tries) is not done: the wildcards are correct but can be wider than OVS's.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import and_, itemgetter
from typing import Any, Iterator, Protocol

from pyvswitch.packet.flow import FULL_MASK, FlowKey
from pyvswitch.packet.match import Match

_ZERO = FlowKey()


class Rule(Protocol):
    match: Match
    priority: int


@dataclass(frozen=True, slots=True)
class ClsRule:
    """A minimal rule; ofproto's flow-table rules carry actions and counters too."""
    match: Match
    priority: int
    value: Any = None


def _key_function(mask: FlowKey):
    """The function from a FlowKey to its hash key under mask."""
    pairs = [(i, m) for i, m in enumerate(mask) if m]
    if not pairs:
        return lambda key: ()
    idx = tuple(i for i, _ in pairs)
    masks = tuple(m for _, m in pairs)
    exact = all(m == FULL_MASK[i] for i, m in pairs)
    if len(pairs) == 1:
        (i, m), = pairs
        return itemgetter(i) if exact else (lambda key: key[i] & m)
    getter = itemgetter(*idx)
    if exact:
        return getter
    return lambda key: tuple(map(and_, getter(key), masks))


class Subtable:
    """All rules with one mask: buckets of rules keyed by masked values."""

    __slots__ = ("mask", "key", "buckets", "n_rules", "max_priority", "_priorities")

    def __init__(self, mask: FlowKey):
        self.mask = mask
        self.key = _key_function(mask)
        self.buckets: dict[Any, list] = {}
        self.n_rules = 0
        self.max_priority = -1
        self._priorities: dict[int, int] = {}  # priority -> number of rules with it

    def _count(self, priority: int, delta: int) -> None:
        n = self._priorities.get(priority, 0) + delta
        self.n_rules += delta
        if n:
            self._priorities[priority] = n
            if priority > self.max_priority:
                self.max_priority = priority
        else:
            del self._priorities[priority]
            if priority == self.max_priority:
                self.max_priority = max(self._priorities) if self._priorities else -1


class Classifier:
    def __init__(self) -> None:
        self._subtables: dict[FlowKey, Subtable] = {}
        self._order: list[Subtable] = []
        self._wc_prefix: list[FlowKey] = [_ZERO]
        self._dirty = False
        self._n_rules = 0
        self.version = 0

    def __len__(self) -> int:
        return self._n_rules

    @property
    def n_subtables(self) -> int:
        return len(self._subtables)

    # ---- changes --------------------------------------------------------------

    def insert(self, rule: Rule) -> Rule | None:
        """Adds rule; returns the rule with the same match and priority it replaced, if any."""
        match, priority = rule.match, rule.priority
        st = self._subtables.get(match.mask)
        if st is None:
            st = self._subtables[match.mask] = Subtable(match.mask)
        bucket = st.buckets.setdefault(st.key(match.value), [])
        self.version += 1
        for i, old in enumerate(bucket):
            if old.priority == priority:
                bucket[i] = rule
                return old
            if old.priority < priority:
                bucket.insert(i, rule)
                break
        else:
            bucket.append(rule)
        old_max = st.max_priority
        st._count(priority, +1)
        self._n_rules += 1
        if st.max_priority != old_max:
            self._dirty = True
        return None

    def remove(self, rule: Rule) -> Rule | None:
        """Removes the rule with rule's match and priority; returns it, or None if absent."""
        st = self._subtables.get(rule.match.mask)
        if st is None:
            return None
        k = st.key(rule.match.value)
        bucket = st.buckets.get(k)
        if not bucket:
            return None
        for i, old in enumerate(bucket):
            if old.priority == rule.priority:
                break
        else:
            return None
        del bucket[i]
        if not bucket:
            del st.buckets[k]
        old_max = st.max_priority
        st._count(old.priority, -1)
        self._n_rules -= 1
        self.version += 1
        if not st.n_rules:
            del self._subtables[st.mask]
            self._dirty = True
        elif st.max_priority != old_max:
            self._dirty = True
        return old

    def clear(self) -> None:
        version = self.version
        self.__init__()
        self.version = version + 1

    # ---- queries --------------------------------------------------------------

    def _reorder(self) -> None:
        self._order = sorted(self._subtables.values(), key=lambda st: -st.max_priority)
        prefix = [_ZERO]
        acc = _ZERO
        for st in self._order:
            acc = FlowKey(*(a | b for a, b in zip(acc, st.mask)))
            prefix.append(acc)
        self._wc_prefix = prefix
        self._dirty = False

    def lookup(self, key: FlowKey) -> tuple[Rule | None, FlowKey]:
        """(the highest-priority rule matching key or None, the wildcard mask it depended on)."""
        if self._dirty:
            self._reorder()
        best = None
        best_priority = -1
        n = 0
        for st in self._order:
            if st.max_priority <= best_priority:
                break
            n += 1
            bucket = st.buckets.get(st.key(key))
            if bucket is not None and bucket[0].priority > best_priority:
                best = bucket[0]
                best_priority = best.priority
        return best, self._wc_prefix[n]

    def find_exactly(self, match: Match, priority: int) -> Rule | None:
        """The rule with exactly this match and priority (OpenFlow's "strict" lookups)."""
        st = self._subtables.get(match.mask)
        if st is None:
            return None
        for rule in st.buckets.get(st.key(match.value), ()):
            if rule.priority == priority:
                return rule
        return None

    def rules(self, target: Match | None = None) -> Iterator[Rule]:
        """Every rule (in no particular order), or those whose match is at least as specific
        as target's (OpenFlow's "loose" matching for dumps, modifies and deletes).

        The iteration works on a snapshot, so the caller may change the classifier meanwhile.
        """
        tmask = target.mask if target is not None else None
        snapshot = []
        for st in self._subtables.values():
            if tmask is not None and any(t & ~m for t, m in zip(tmask, st.mask)):
                continue
            for bucket in st.buckets.values():
                snapshot.extend(bucket)
        if target is None:
            return iter(snapshot)
        checks = target.checks
        return (r for r in snapshot if all(r.match.value[i] & m == v for i, m, v in checks))

    def overlapping(self, match: Match, priority: int) -> Iterator[Rule]:
        """Rules of the same priority that some packet could match together with match
        (what OpenFlow's OFPFF_CHECK_OVERLAP refuses)."""
        for st in list(self._subtables.values()):
            if priority not in st._priorities:
                continue
            both = [(i, m & om) for i, (m, om) in enumerate(zip(st.mask, match.mask)) if m & om]
            for bucket in st.buckets.values():
                for r in bucket:
                    if r.priority == priority and all(
                            (r.match.value[i] ^ match.value[i]) & m == 0 for i, m in both):
                        yield r
