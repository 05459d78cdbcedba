"""OpenFlow flow tables: rules, flow-mod semantics, timeouts and counters.

What: `FlowTables` is a bridge's pipeline of 255 tables, each a classifier
of `Rule`s.  A rule is a match, a priority, an action list (ofactions) and
the OpenFlow bookkeeping: cookie, idle and hard timeouts, flags, creation
and last-use times, packet and byte counters.

Flow-mod semantics, as OpenFlow and OVS define them:
- `add`: a rule with the same match and priority in the table is replaced
  (counters start again); with OFPFF_CHECK_OVERLAP an overlapping rule of
  the same priority makes it fail with OFPFMFC_OVERLAP;
- `modify` (loose): every rule whose match is at least as specific as the
  given one (and whose cookie agrees under cookie_mask) gets the new actions;
  `strict`: only the rule with exactly that match and priority.  When nothing
  matches, OpenFlow 1.0/1.1 add the flow instead (`may_add`);
- `delete` (loose or strict), optionally only rules that output to
  `out_port`, and only those whose cookie agrees under cookie_mask;
- table 255 (`ALL_TABLES`) in modify/delete/dump means every table.

Time is an argument: `run(now)` removes rules whose idle or hard timeout has
passed and returns them with the reason, and `next_deadline()` says when to
call it again.  A rule's `used` time and counters advance through `credit`,
which the owner calls with the statistics of the datapath flows the rule
produced (so flows forwarded entirely in the fast path still count, and
still keep their rules from idling out).

`version` grows on every change, so the owner knows cached translations may
be stale.  Not thread-safe by itself: the bridge's lock guards it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterator

from pyvswitch.ofproto.classifier import Classifier
from pyvswitch.ofproto.ofactions import (
    N_TABLES, OFPP_NONE, Action, Controller, Enqueue, Learn, Output, format_actions,
)
from pyvswitch.packet.match import OFP_DEFAULT_PRIORITY, Match, format_match

ALL_TABLES = 0xFF
OFPFF_SEND_FLOW_REM = 1 << 0
OFPFF_CHECK_OVERLAP = 1 << 1
OFPFF_RESET_COUNTS = 1 << 2
OFPFF_NO_PKT_COUNTS = 1 << 3
OFPFF_NO_BYT_COUNTS = 1 << 4


class RemovedReason(enum.Enum):
    IDLE_TIMEOUT = 0
    HARD_TIMEOUT = 1
    DELETE = 2


class FlowModError(Exception):
    """A flow-mod the switch refuses; `ofperr` names the OpenFlow error."""

    def __init__(self, ofperr: str, message: str = ""):
        super().__init__(message or ofperr)
        self.ofperr = ofperr


class Rule:
    __slots__ = ("match", "priority", "actions", "cookie", "table_id", "idle_timeout",
                 "hard_timeout", "flags", "importance", "created", "modified", "used",
                 "n_packets", "n_bytes", "learned_by")

    def __init__(self, match: Match, priority: int, actions: tuple[Action, ...], *,
                 table_id: int = 0, cookie: int = 0, idle_timeout: int = 0,
                 hard_timeout: int = 0, flags: int = 0, importance: int = 0, now: float = 0.0):
        self.match = match
        self.priority = priority
        self.actions = actions
        self.table_id = table_id
        self.cookie = cookie
        self.idle_timeout = idle_timeout
        self.hard_timeout = hard_timeout
        self.flags = flags
        self.importance = importance
        self.created = self.modified = self.used = now
        self.n_packets = 0
        self.n_bytes = 0
        self.learned_by: Rule | None = None    # the rule whose learn action added this one

    def __repr__(self) -> str:
        return f"<Rule table={self.table_id} {format_match(self.match, self.priority)} actions={format_actions(self.actions)}>"

    def outputs_to(self, port: int) -> bool:
        return any((type(a) is Output and a.port == port) or (type(a) is Enqueue and a.port == port)
                   or (type(a) is Controller and port == 0xFFFD) for a in self.actions)

    def expiry(self) -> tuple[float, RemovedReason] | None:
        """(when this rule times out, why), or None if it never does."""
        best = None
        if self.hard_timeout:
            best = (self.modified + self.hard_timeout, RemovedReason.HARD_TIMEOUT)
        if self.idle_timeout:
            t = self.used + self.idle_timeout
            if best is None or t < best[0]:
                best = (t, RemovedReason.IDLE_TIMEOUT)
        return best


@dataclass(frozen=True, slots=True)
class Removed:
    rule: Rule
    reason: RemovedReason


class FlowTables:
    def __init__(self, n_tables: int = N_TABLES):
        self.tables = [Classifier() for _ in range(n_tables)]
        self.version = 0
        self._timed: set[Rule] = set()
        # Rules with learn(delete_learned or limit) -> the rules they learned (which go with
        # them, for delete_learned).
        self._learned: dict[Rule, set[Rule]] = {}

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables)

    def _tables(self, table_id: int) -> list[Classifier]:
        if table_id == ALL_TABLES:
            return self.tables
        if not 0 <= table_id < len(self.tables):
            raise FlowModError("OFPBRC_BAD_TABLE_ID")
        return [self.tables[table_id]]

    # ---- flow mods ----------------------------------------------------------------

    def add(self, match: Match, priority: int = OFP_DEFAULT_PRIORITY,
            actions: tuple[Action, ...] = (), *, table_id: int = 0, cookie: int = 0,
            idle_timeout: int = 0, hard_timeout: int = 0, flags: int = 0, importance: int = 0,
            now: float = 0.0) -> Rule:
        if table_id == ALL_TABLES:
            raise FlowModError("OFPFMFC_BAD_TABLE_ID")
        table = self._tables(table_id)[0]
        if flags & OFPFF_CHECK_OVERLAP and any(
                r.match != match for r in table.overlapping(match, priority)):
            raise FlowModError("OFPFMFC_OVERLAP")
        rule = Rule(match, priority, actions, table_id=table_id, cookie=cookie,
                    idle_timeout=idle_timeout, hard_timeout=hard_timeout, flags=flags,
                    importance=importance, now=now)
        old = table.insert(rule)
        if old is not None:
            self._timed.discard(old)
            if old.learned_by is not None:
                self._learned.get(old.learned_by, set()).discard(old)
            children = self._learned.pop(old, None)
            if children:                # a replaced learner keeps what it learned
                self._learned[rule] = children
                for child in children:
                    child.learned_by = rule
        if idle_timeout or hard_timeout:
            self._timed.add(rule)
        self.version += 1
        return rule

    def learn(self, match: Match, priority: int, actions: tuple[Action, ...], *, table_id: int,
              cookie: int = 0, idle_timeout: int = 0, hard_timeout: int = 0, flags: int = 0,
              now: float = 0.0, learned_by: Rule | None = None,
              limit: int = 0) -> bool | None:
        """What a learn action does: adds the flow, or, if the same flow is there already,
        restarts its timeouts (keeping its counters).  True if the tables changed, None if
        the learner already has `limit` flows (nothing learned)."""
        table = self._tables(table_id)[0]
        old = table.find_exactly(match, priority)
        if (old is not None and old.actions == actions and old.cookie == cookie
                and old.idle_timeout == idle_timeout and old.hard_timeout == hard_timeout):
            old.modified = now
            old.used = max(old.used, now)
            return False
        if (limit and learned_by is not None and old is None
                and len(self._learned.get(learned_by, ())) >= limit):
            return None
        rule = self.add(match, priority, actions, table_id=table_id, cookie=cookie,
                        idle_timeout=idle_timeout, hard_timeout=hard_timeout, flags=flags, now=now)
        if learned_by is not None and any(type(a) is Learn and (a.delete_learned or a.limit)
                                          for a in learned_by.actions):
            rule.learned_by = learned_by
            self._learned.setdefault(learned_by, set()).add(rule)
        return True

    def learn_allowed(self, match: Match, priority: int, table_id: int,
                      learned_by: Rule | None, limit: int) -> bool:
        """Whether `learn` would succeed (the flow exists, or the limit allows another)."""
        if not limit or learned_by is None:
            return True
        if self._tables(table_id)[0].find_exactly(match, priority) is not None:
            return True
        return len(self._learned.get(learned_by, ())) < limit

    def _select(self, match: Match, priority: int, table_id: int, strict: bool,
                cookie: int, cookie_mask: int, out_port: int = OFPP_NONE) -> list[Rule]:
        out: list[Rule] = []
        for table in self._tables(table_id):
            if strict:
                r = table.find_exactly(match, priority)
                cands = [r] if r is not None else []
            else:
                cands = list(table.rules(match))
            for r in cands:
                if (r.cookie ^ cookie) & cookie_mask:
                    continue
                if out_port != OFPP_NONE and not r.outputs_to(out_port):
                    continue
                out.append(r)
        return out

    def modify(self, match: Match, actions: tuple[Action, ...], *, priority: int = OFP_DEFAULT_PRIORITY,
               table_id: int = ALL_TABLES, strict: bool = False, cookie: int = 0,
               cookie_mask: int = 0, may_add: bool = True, new_cookie: int | None = None,
               reset_counts: bool = False, now: float = 0.0) -> list[Rule]:
        """Changes the actions of the selected rules; returns them (or the added rule)."""
        rules = self._select(match, priority, table_id, strict, cookie, cookie_mask)
        if not rules:
            if may_add and not cookie_mask:
                return [self.add(match, priority, actions, now=now, cookie=new_cookie or 0,
                                 table_id=0 if table_id == ALL_TABLES else table_id)]
            return []
        for r in rules:
            r.actions = actions
            r.modified = now
            if new_cookie is not None:
                r.cookie = new_cookie
            if reset_counts:
                r.n_packets = r.n_bytes = 0
        self.version += 1
        return rules

    def delete(self, match: Match = Match(), *, priority: int = OFP_DEFAULT_PRIORITY,
               table_id: int = ALL_TABLES, strict: bool = False, cookie: int = 0,
               cookie_mask: int = 0, out_port: int = OFPP_NONE) -> list[Removed]:
        rules = self._select(match, priority, table_id, strict, cookie, cookie_mask, out_port)
        gone: list[Removed] = []
        for r in rules:
            gone += self._remove(r, RemovedReason.DELETE)
        if gone:
            self.version += 1
        return gone

    def _remove(self, r: Rule, reason: RemovedReason) -> list[Removed]:
        """Removes r (if still there) and the flows it learned with delete_learned."""
        if self.tables[r.table_id].find_exactly(r.match, r.priority) is not r:
            return []
        self.tables[r.table_id].remove(r)
        self._timed.discard(r)
        if r.learned_by is not None:
            self._learned.get(r.learned_by, set()).discard(r)
        out = [Removed(r, reason)]
        children = self._learned.pop(r, ())
        if any(type(a) is Learn and a.delete_learned for a in r.actions):
            for child in children:
                out += self._remove(child, RemovedReason.DELETE)
        else:
            for child in children:
                child.learned_by = None
        return out

    def dump(self, match: Match = Match(), *, table_id: int = ALL_TABLES, cookie: int = 0,
             cookie_mask: int = 0, out_port: int = OFPP_NONE) -> list[Rule]:
        """The selected rules in the order ovs-ofctl sorts them (table, then priority down)."""
        rules = self._select(match, 0, table_id, False, cookie, cookie_mask, out_port)
        rules.sort(key=lambda r: (r.table_id, -r.priority))
        return rules

    def rules(self) -> Iterator[Rule]:
        for table in self.tables:
            yield from table.rules()

    # ---- time and statistics --------------------------------------------------------

    def credit(self, rule: Rule, packets: int, n_bytes: int, now: float) -> None:
        if packets:
            rule.n_packets += packets
            rule.n_bytes += n_bytes
            if now > rule.used:
                rule.used = now

    def run(self, now: float) -> list[Removed]:
        """Removes the rules whose timeouts have passed."""
        gone: list[Removed] = []
        for r in list(self._timed):
            exp = r.expiry()
            if exp is not None and exp[0] <= now:
                gone += self._remove(r, exp[1])
        if gone:
            self.version += 1
        return gone

    def next_deadline(self) -> float | None:
        times = [e[0] for e in (r.expiry() for r in self._timed) if e is not None]
        return min(times) if times else None


def format_rule(rule: Rule, now: float | None = None) -> str:
    """One line of `ovs-ofctl dump-flows` (without the leading space); without `now`, as
    `--no-stats` prints it."""
    parts = []
    if now is not None or rule.cookie:
        parts.append(f"cookie={rule.cookie:#x}" if rule.cookie else "cookie=0x0")
    if now is not None:
        parts.append(f"duration={max(0.0, now - rule.created):.3f}s")
    if now is not None or rule.table_id:
        parts.append(f"table={rule.table_id}")
    if now is not None:
        parts.append(f"n_packets={rule.n_packets}")
        parts.append(f"n_bytes={rule.n_bytes}")
    if rule.idle_timeout:
        parts.append(f"idle_timeout={rule.idle_timeout}")
    if rule.hard_timeout:
        parts.append(f"hard_timeout={rule.hard_timeout}")
    if now is not None:
        if rule.modified != rule.created:
            parts.append(f"hard_age={int(now - rule.modified)}")
        parts.append(f"idle_age={int(now - rule.used)}")
    match = format_match(rule.match, rule.priority)
    head = "".join(f"{p}, " for p in parts)
    if match:
        head += match + " "
    return f"{head}actions={format_actions(rule.actions)}"
