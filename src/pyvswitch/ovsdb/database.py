"""An in-memory OVSDB database: tables of rows, transactions, log records.

Theory of operation.  `Database` holds, per table, a dict from uuid to
committed `Row` (see data.py), one dict per schema index from the indexed
values to the row's uuid, and database-wide reference bookkeeping:
`strong_in[uuid]` counts the strong references to a row (one per atom that
names it, not counting the row's references to itself, which ovsdb-server
ignores), and `weak_in[uuid]` maps each row that holds weak references to it
as (table name, uuid) to a count.  These make the commit-time checks
(referential integrity, garbage collection, weak-reference cleanup, index
uniqueness) cost time in proportion to what a transaction changed, not to the
size of the database.

`execute(ops, now=...)` runs one "transact" (transaction.py) and, if it
succeeds and changes something, applies its `Commit` atomically.  Time is an
argument: `now` stamps log records ("_date") and drives "wait" timeouts;
`started` is when the client first submitted a transaction that has been
waiting.  `apply_record` replays a standalone-log transaction record (as
ovsdb-server writes them, diff or full form) and `snapshot_record` writes the
whole database as one record, for compaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import compress, count
from operator import is_not
from typing import Any

from pyvswitch.ovsdb.data import Row
from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.schema import DatabaseSchema, TableSchema
from pyvswitch.ovsdb.transaction import NeedRetry, Transaction, TxnRow
from pyvswitch.ovsdb.types import ZERO_UUID, Type, is_uuid


# _plain_commit's answer when a transaction needs the general commit-time checks.
_GENERAL = object()


class Table:
    __slots__ = ("schema", "rows", "defaults", "indexes", "index_cols", "strong_cols", "weak_cols",
                 "weak_indexes", "ref_cols", "strong_by_index", "ref_by_index", "guarded",
                 "persistent_cols", "persistent_by_index")

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self.rows: dict[str, Row] = {}
        cols = sorted(schema.columns.values(), key=lambda c: c.index)
        self.defaults = tuple(c.type.default() for c in cols)
        self.index_cols = [tuple(schema.columns[n].index if n in schema.columns else
                                 schema.all_columns[n].index for n in ix) for ix in schema.indexes]
        self.indexes: list[dict[tuple, str]] = [{} for _ in schema.indexes]

        def has(c, weak):
            bases = (c.type.key, c.type.value)
            return any(b is not None and b.ref_table is not None and b.is_weak_ref == weak for b in bases)
        self.strong_cols = [(c.index, c) for c in cols if has(c, False)]
        self.weak_cols = [(c.index, c) for c in cols if has(c, True)]
        self.weak_indexes = frozenset(i for i, c in self.weak_cols)
        self.ref_cols = [(c.index, c) for c in cols if has(c, False) or has(c, True)]
        self.strong_by_index = dict(self.strong_cols)
        self.ref_by_index = dict(self.ref_cols)
        # The columns whose change needs the commit-time checks (see _plain_commit).
        self.guarded = frozenset(self.ref_by_index).union(i for cols in self.index_cols for i in cols)
        self.persistent_cols = [(c.name, c.index, c.type, c.type.default()) for c in cols if not c.ephemeral]
        self.persistent_by_index = {i: (name, t) for name, i, t, d in self.persistent_cols}

    def index_key(self, ix: int, row) -> tuple:
        cols = self.index_cols[ix]
        if len(cols) == 1 and cols[0] >= 0:
            return (row.values[cols[0]],)
        return tuple([_get(row, i) for i in cols])


def _get(row, i: int):
    if i >= 0:
        return row.values[i]
    return row.uuid if i == -1 else row.version


@dataclass(slots=True)
class Commit:
    """What one successful transaction changed."""
    changes: dict[str, dict[str, tuple[Row | None, Row | None]]]
    now: float
    durable: bool = False
    comment: str | None = None
    tables: dict[str, Table] | None = field(default=None, repr=False)
    # {uuid: column indexes} that count as changed although their value is the
    # same (weak references added and removed again within the transaction).
    forced: dict[str, set[int]] = field(default_factory=dict, repr=False)
    _splits: dict = field(default_factory=dict, repr=False)
    # {uuid: {column index: keys}}: the only keys (or atoms) at which a modified
    # row's map (or set) can differ from the old row's, where mutations tell.
    hints: dict[str, dict[int, set]] = field(default_factory=dict, repr=False)
    # Only modifications that leave every reference and index key as it was:
    # applying it is putting the new rows in place.
    plain: bool = field(default=False, repr=False)

    def record(self, date_ms: int | None = None) -> dict | None:
        """The standalone-log transaction record for this commit, in ovsdb-server's
        diff form; None if nothing persistent changed (only ephemeral columns)."""
        rec: dict[str, Any] = {}
        if self.comment is not None:
            rec["_comment"] = self.comment
        rec["_date"] = int(self.now * 1000) if date_ms is None else date_ms
        any_table = False
        for tname, rows in self.changes.items():
            table = self.tables[tname]
            cols = table.persistent_cols
            by_index = table.persistent_by_index
            out: dict[str, Any] = {}
            for u, (old, new) in rows.items():
                if new is None:
                    out[u] = None
                elif old is None:
                    nv = new.values
                    out[u] = {name: t.datum_to_json(nv[i]) for name, i, t, d in cols if nv[i] != d}
                else:
                    ov, nv = old.values, new.values
                    delta = {}
                    hints = self.hints.get(u, _NO_HINTS)
                    # Unchanged values are the very same objects: the columns
                    # that may have changed are found at C speed.
                    idxs = compress(count(), map(is_not, ov, nv))
                    forced = self.forced.get(u)
                    if forced:
                        idxs = sorted(forced.union(idxs))
                    for i in idxs:
                        col = by_index.get(i)
                        if col is None:
                            continue
                        a, b = ov[i], nv[i]
                        if a != b or (forced and i in forced):
                            name, t = col
                            delta[name] = t.datum_to_json(t.diff(a, b, hints.get(i)))
                    if delta:
                        out[u] = delta
            if out:
                rec[tname] = out
                any_table = True
        if not any_table:
            return None
        rec["_is_diff"] = True
        return rec


@dataclass(slots=True)
class Outcome:
    """The result of `Database.execute`.

    `results` is the JSON result array to send (None while a "wait" is
    pending, see `wait_until`); `commit` is what changed (None if nothing did
    or the transaction failed); `wait_until` is set when the transaction must
    be retried after the next commit or at that time, whichever comes first.
    """
    results: list | None
    commit: Commit | None = None
    wait_until: float | None = None


class Database:
    def __init__(self, schema: DatabaseSchema) -> None:
        self.schema = schema
        self.tables: dict[str, Table] = {name: Table(ts) for name, ts in schema.tables.items()}
        self.strong_in: dict[str, int] = {}
        self.weak_in: dict[str, dict[tuple[str, str], int]] = {}
        self._has_non_root = any(not t.is_root for t in schema.tables.values())

    # --- transactions ---

    def execute(self, ops: list, *, now: float, started: float | None = None,
                locks: frozenset | set | tuple = ()) -> Outcome:
        x = Transaction(self, now, started, locks)
        try:
            results, commit = x.run(ops)
        except NeedRetry:
            return Outcome(None, None, x.started + x.timeout_ms / 1000.0)
        if commit is not None:
            self._apply(commit)
        return Outcome(results, commit)

    def _precommit(self, x: Transaction) -> Commit | None:
        if not x.rows:
            return None
        commit = self._plain_commit(x)
        if commit is not _GENERAL:
            return commit
        tables = self.tables
        strong_in = self.strong_in
        delta: dict[str, int] = {}
        touched: dict[str, Table] = {}
        deleted: list[tuple[str, TxnRow]] = []
        # (uuid, column index) -> what went and came, reused when the commit is applied.
        splits: dict[tuple[str, int], tuple[tuple, tuple]] = {}

        # 1. Strong references: adjust counts, check targets exist.
        for tname, trs in list(x.rows.items()):
            table = tables[tname]
            strong_cols = table.strong_cols
            for tr in list(trs.values()):
                old, new = tr.old, tr.new
                if new is None:
                    if old is None:
                        continue
                    deleted.append((tname, tr))
                if not strong_cols:
                    continue
                ov = old.values if old is not None else None
                cols = strong_cols
                if ov is not None and new is not None:
                    # Only the columns whose value is not the very same object can
                    # have changed: found at C speed, then the reference columns among them.
                    by_index = table.strong_by_index
                    cols = [(i, by_index[i]) for i in compress(count(), map(is_not, ov, new))
                            if i in by_index]
                for i, c in cols:
                    went = ov[i] if ov is not None else None
                    came = new[i] if new is not None else None
                    if went is not None and came is not None:
                        if went is came or went == came:
                            continue
                        went, came = _split(went, came)
                        if i not in table.weak_indexes:  # weak-ref cleanup may still change it
                            splits[(tr.uuid, i)] = (went, came)
                    # A row's references to itself are not references, as in ovsdb-server:
                    # they neither keep it alive nor are checked.
                    if went is not None:
                        for rt, u in c.type.refs(went, weak=False):
                            if u == tr.uuid:
                                continue
                            delta[u] = delta.get(u, 0) - 1
                            touched[u] = tables[rt]
                    if came is not None:
                        for rt, u in c.type.refs(came, weak=False):
                            if u == tr.uuid:
                                continue
                            target = tables[rt]
                            if not x.exists_any(target, u):
                                raise OvsdbError(
                                    "referential integrity violation",
                                    f"Table {tname} column {c.name} row {tr.uuid} references nonexistent "
                                    f"row {u} in table {rt}.")
                            delta[u] = delta.get(u, 0) + 1
                            touched[u] = target
        for tname, tr in deleted:
            n = strong_in.get(tr.uuid, 0) + delta.get(tr.uuid, 0)
            if n > 0:
                raise OvsdbError("referential integrity violation",
                                 f"cannot delete {tname} row {tr.uuid} because of {n} remaining reference(s)")

        # 2. Garbage collection of unreferenced rows in non-root tables.
        if self._has_non_root:
            self._collect_garbage(x, delta, touched, deleted)

        # 3. maxRows.
        for tname, trs in x.rows.items():
            t = tables[tname]
            if t.schema.max_rows == math.inf:
                continue
            n = len(t.rows)
            for tr in trs.values():
                if tr.old is None:
                    if tr.new is not None:
                        n += 1
                elif tr.new is None:
                    n -= 1
            if n > t.schema.max_rows:
                raise OvsdbError("constraint violation",
                                 f'transaction causes "{tname}" table to contain {n} rows, greater than '
                                 f"the schema-defined limit of {t.schema.max_rows} row(s)")

        # 4. Weak references to rows that are gone.
        weak_in = self.weak_in
        if weak_in:
            for tname, tr in deleted:
                for (st, su) in weak_in.get(tr.uuid, ()):
                    src = tables[st]
                    row = src.rows.get(su)
                    if row is not None:
                        x.modify(src, row)
        for tname, trs in x.rows.items():
            t = tables[tname]
            if t.weak_cols:
                for tr in trs.values():
                    if tr.new is not None:
                        self._remove_dangling(x, t, tr)

        # 5. Index uniqueness.
        for tname, trs in x.rows.items():
            t = tables[tname]
            if t.index_cols:
                self._check_indexes(x, t, trs)

        # The changes, with new versions.
        changes: dict[str, dict[str, tuple[Row | None, Row | None]]] = {}
        forced: dict[str, set[int]] = {}
        hints: dict[str, dict[int, set]] = {}
        for tname, trs in x.rows.items():
            ts = tables[tname].schema
            out = {}
            for u, tr in trs.items():
                old, new = tr.old, tr.new
                if old is None:
                    if new is not None:
                        out[u] = (None, Row(ts, u, None, tuple(new)))
                elif new is None:
                    out[u] = (old, None)
                else:
                    nv = tuple(new)
                    if tr.forced:
                        forced[u] = tr.forced
                    if nv != old.values or tr.forced:
                        out[u] = (old, Row(ts, u, None, nv))
                        if tr.hints:
                            h = {}
                            for i in tr.hints:
                                keys = tr.changed_keys(i, nv[i])
                                if keys is not None:
                                    h[i] = keys
                            if h:
                                hints[u] = h
            if out:
                changes[tname] = out
        if not changes:
            return None
        return Commit(changes, x.now, x.durable, "\n".join(x.comments) if x.comments else None, tables,
                      forced, splits, hints)

    def _plain_commit(self, x: Transaction) -> Commit | None | object:
        """The commit of a transaction that only modified existing rows, none of
        them in a table with weak references, outside their reference and index
        columns (the usual "set a column" or "stamp external_ids"); _GENERAL if
        it did anything else.

        No commit-time check can fail or change anything for such a transaction:
        no reference appears or goes (so none dangles and no row becomes
        garbage; a row of a non-root table must already be referenced, since
        touching an unreferenced one collects it), no table grows, and no index
        key changes."""
        tables = self.tables
        strong_in = self.strong_in
        changes: dict[str, dict[str, tuple[Row | None, Row | None]]] = {}
        hints: dict[str, dict[int, set]] = {}
        for tname, trs in x.rows.items():
            table = tables[tname]
            if table.weak_cols:
                return _GENERAL
            ts = table.schema
            guarded = table.guarded
            root = ts.is_root
            out = {}
            for u, tr in trs.items():
                old, new = tr.old, tr.new
                if old is None or new is None or (not root and strong_in.get(u, 0) <= 0):
                    return _GENERAL
                ov = old.values
                changed = list(compress(count(), map(is_not, ov, new)))
                if not changed:
                    continue
                if guarded and not guarded.isdisjoint(changed):
                    return _GENERAL
                nv = tuple(new)
                if nv == ov:
                    continue
                out[u] = (old, Row(ts, u, None, nv))
                if tr.hints:
                    # TxnRow.changed_keys, for each hinted column.
                    h = {i: keys for i, (value, keys) in tr.hints.items() if value is nv[i] and keys is not None}
                    if h:
                        hints[u] = h
            if out:
                changes[tname] = out
        if not changes:
            return None
        return Commit(changes, x.now, x.durable, "\n".join(x.comments) if x.comments else None, tables,
                      {}, {}, hints, True)

    def _collect_garbage(self, x: Transaction, delta: dict, touched: dict, deleted: list) -> None:
        """Deletes rows of non-root tables that no strong reference reaches, until none is left."""
        tables, strong_in = self.tables, self.strong_in
        candidates: dict[str, Table] = {}
        for tname, trs in x.rows.items():
            t = tables[tname]
            if not t.schema.is_root:
                for u in trs:
                    candidates[u] = t
        for u, t in touched.items():
            if not t.schema.is_root:
                candidates[u] = t
        progress = True
        while progress and candidates:
            progress = False
            for u, t in list(candidates.items()):
                if strong_in.get(u, 0) + delta.get(u, 0) > 0:
                    continue
                trs = x.rows.get(t.schema.name)
                tr = trs.get(u) if trs else None
                del candidates[u]
                if tr is None:
                    row = t.rows.get(u)
                    if row is None:
                        continue
                    tr = x.modify(t, row)
                if tr.new is None:
                    continue
                for i, c in t.strong_cols:
                    for rt, v in c.type.refs(tr.new[i], weak=False):
                        if v == u:
                            continue
                        delta[v] = delta.get(v, 0) - 1
                        target = tables[rt]
                        if not target.schema.is_root:
                            candidates[v] = target
                tr.new = None
                if tr.old is not None:
                    deleted.append((t.schema.name, tr))
                progress = True

    def _remove_dangling(self, x: Transaction, t: Table, tr: TxnRow) -> None:
        new = tr.new
        tables = self.tables
        for i, c in t.weak_cols:
            v = new[i]
            if not v:
                continue
            ct: Type = c.type
            kref = ct.key.ref_table if ct.key.is_weak_ref else None
            vref = ct.value.ref_table if ct.value is not None and ct.value.is_weak_ref else None
            zero = False

            def gone(rt, u):
                return rt is not None and not x.exists(tables[rt], u)
            if ct.value is not None:
                keep = tuple(p for p in v if not (gone(kref, p[0]) or gone(vref, p[1])))
                if len(keep) != len(v):
                    zero = any((kref and p[0] == ZERO_UUID) or (vref and p[1] == ZERO_UUID)
                               for p in v if p not in keep)
            elif type(v) is tuple:
                keep = tuple(a for a in v if not gone(kref, a))
                if len(keep) != len(v):
                    zero = ZERO_UUID in v and ZERO_UUID not in keep
            else:
                keep = v if not gone(kref, v) else ()
                if keep == ():
                    zero = v == ZERO_UUID
            if keep is v or len(keep) == len(v if type(v) is tuple else (v,)):
                continue
            n_deleted = (len(v) if type(v) is tuple else 1) - len(keep)
            if len(keep) < ct.n_min:
                if zero and tr.old is None:
                    raise OvsdbError(
                        "constraint violation",
                        f'Weak reference column "{c.name}" in "{t.schema.name}" row {tr.uuid} (inserted within '
                        f"this transaction) contained all-zeros UUID (probably as the default value for this "
                        f"column) but deleting this value caused a constraint volation because this column "
                        f"is not allowed to be empty.")
                inserted = "" if tr.old is not None else "(inserted within this transaction) "
                raise OvsdbError(
                    "constraint violation",
                    f"Deletion of {n_deleted} weak reference(s) to deleted (or never-existing) rows from column "
                    f'"{c.name}" in "{t.schema.name}" row {tr.uuid} {inserted}caused this column to become '
                    f"empty, but constraints on this column disallow an empty column.")
            new[i] = keep
            if tr.forced is None:
                tr.forced = set()
            tr.forced.add(i)

    def _check_indexes(self, x: Transaction, t: Table, trs: dict[str, TxnRow]) -> None:
        for ix, cols in enumerate(t.index_cols):
            seen: dict[tuple, TxnRow] = {}
            committed = t.indexes[ix]
            for tr in trs.values():
                new = tr.new
                if new is None:
                    continue
                key = tuple(new[i] if i >= 0 else tr.uuid for i in cols)
                other = seen.get(key)
                if other is not None:
                    raise self._duplicate(t, ix, key, other, tr)
                ou = committed.get(key)
                if ou is not None and ou not in trs:
                    raise self._duplicate(t, ix, key, t.rows[ou], tr)
                seen[key] = tr

    def _duplicate(self, t: Table, ix: int, key: tuple, a, b) -> OvsdbError:
        ts = t.schema
        names = ts.indexes[ix]
        if a.uuid < b.uuid:
            a, b = b, a
        values = _english([ts.all_columns[n].type.datum_to_string(k) for n, k in zip(names, key)])
        which = ("column " if len(names) == 1 else "columns ") + _english([f'"{n}"' for n in names])
        return OvsdbError(
            "constraint violation",
            f'Transaction causes multiple rows in "{ts.name}" table to have identical values ({values}) for '
            f"index on {which}.  {self._describe(t, ix, a, 'First')}  {self._describe(t, ix, b, 'Second')}")

    @staticmethod
    def _describe(t: Table, ix: int, r, title: str) -> str:
        s = f"{title} row, with UUID {r.uuid}, "
        if type(r) is Row or (r.old is not None and tuple(r.new) == r.old.values):
            return s + "existed in the database before this transaction and was not modified by the transaction."
        if r.old is None:
            return s + "was inserted by this transaction."
        cols = t.index_cols[ix]
        old_key = tuple(_get(r.old, i) for i in cols)
        new_key = tuple(r.new[i] if i >= 0 else r.uuid for i in cols)
        if old_key == new_key:
            return s + ("existed in the database before this transaction, which modified some of the row's "
                        "columns but not any columns in this index.")
        names = t.schema.indexes[ix]
        vals = _english([t.schema.all_columns[n].type.datum_to_string(k) for n, k in zip(names, old_key)])
        return s + f"had the following index values before the transaction: {vals}."

    # --- applying changes ---

    def _apply(self, commit: Commit) -> None:
        if commit.plain:
            for tname, rows in commit.changes.items():
                table_rows = self.tables[tname].rows
                for u, (old, new) in rows.items():
                    table_rows[u] = new
            return
        splits = commit._splits
        for tname, rows in commit.changes.items():
            t = self.tables[tname]
            for u, (old, new) in rows.items():
                self._replace(t, u, old, new, splits)

    def _replace(self, t: Table, u: str, old: Row | None, new: Row | None, splits: dict | None = None) -> None:
        """Puts `new` in place of `old` (either may be None), keeping indexes and references."""
        if old is not None:
            for ix, idx in enumerate(t.indexes):
                k = t.index_key(ix, old)
                if idx.get(k) == u:
                    del idx[k]
        if new is not None:
            t.rows[u] = new
            for ix, idx in enumerate(t.indexes):
                idx[t.index_key(ix, new)] = u
        else:
            t.rows.pop(u, None)
        if not t.ref_cols:
            return
        strong_in, weak_in = self.strong_in, self.weak_in
        tname = t.schema.name
        src = (tname, u)
        ov = old.values if old is not None else None
        nv = new.values if new is not None else None
        cols = t.ref_cols
        if ov is not None and nv is not None:
            by_index = t.ref_by_index
            cols = [(i, by_index[i]) for i in compress(count(), map(is_not, ov, nv)) if i in by_index]
        for i, c in cols:
            went = ov[i] if ov is not None else None
            came = nv[i] if nv is not None else None
            if went is not None and came is not None:
                if went is came or went == came:
                    continue
                s = splits.get((u, i)) if splits else None
                went, came = s if s is not None else _split(went, came)
            if went is not None:
                for rt, v, weak in _refs(c.type, went):
                    if v == u and not weak:
                        continue
                    if weak:
                        d = weak_in.get(v)
                        if d is not None:
                            n = d.get(src, 0) - 1
                            if n > 0:
                                d[src] = n
                            else:
                                d.pop(src, None)
                                if not d:
                                    del weak_in[v]
                    else:
                        n = strong_in.get(v, 0) - 1
                        if n > 0:
                            strong_in[v] = n
                        else:
                            strong_in.pop(v, None)
            if came is not None:
                for rt, v, weak in _refs(c.type, came):
                    if v == u and not weak:
                        continue
                    if weak:
                        d = weak_in.setdefault(v, {})
                        d[src] = d.get(src, 0) + 1
                    else:
                        strong_in[v] = strong_in.get(v, 0) + 1

    # --- log records ---

    def apply_record(self, record: dict) -> None:
        """Replays one standalone-log transaction record (diff or full form).

        All or nothing: a record with any bad part raises OvsdbError and changes
        nothing.  Records are trusted to keep references whole (ovsdb-server
        checked them when it committed), so no integrity checks run here."""
        if not isinstance(record, dict):
            raise OvsdbError("syntax error", "transaction record is not a JSON object")
        is_diff = record.get("_is_diff") is True
        updates: list[tuple[Table, str, Row | None, Row | None]] = []
        for tname, rows in record.items():
            if tname.startswith("_"):
                continue
            t = self.tables.get(tname)
            if t is None:
                raise OvsdbError("syntax error", f"No table named {tname}.")
            if not isinstance(rows, dict):
                raise OvsdbError("syntax error", f"Table {tname} has bad data in transaction record.")
            ts = t.schema
            for u, delta in rows.items():
                if not is_uuid(u):
                    raise OvsdbError("syntax error", f'"{u}" is not a valid UUID')
                old = t.rows.get(u)
                if delta is None:
                    if old is not None:
                        updates.append((t, u, old, None))
                    continue
                if not isinstance(delta, dict):
                    raise OvsdbError("syntax error", f"Row {u} in table {tname} has bad data.")
                values = list(old.values) if old is not None else list(t.defaults)
                for cname, vj in delta.items():
                    c = ts.columns.get(cname)
                    if c is None:
                        raise OvsdbError("unknown column", f"No column {cname} in table {tname}.")
                    ct = c.type
                    if old is not None and is_diff and ct.n_max > 1:
                        d = ct.with_bounds(0, math.inf).datum_from_json(vj)
                        values[c.index] = ct.apply_diff(values[c.index], d)
                    else:
                        values[c.index] = ct.datum_from_json(vj)
                updates.append((t, u, old, Row(ts, u, None, tuple(values))))
        for t, u, old, new in updates:
            self._replace(t, u, old, new)

    def snapshot_record(self, date_ms: int | None = None, comment: str | None = None) -> dict:
        """The whole database as one transaction record (persistent, non-default columns)."""
        rec: dict[str, Any] = {}
        if comment is not None:
            rec["_comment"] = comment
        if date_ms is not None:
            rec["_date"] = date_ms
        for tname, t in self.tables.items():
            if not t.rows:
                continue
            cols = t.persistent_cols
            conv = [(n, i, ct.json_converter(), d) for n, i, ct, d in cols]
            rows = {}
            for u, row in t.rows.items():
                v = row.values
                rows[u] = {n: v[i] if f is None else f(v[i]) for n, i, f, d in conv if v[i] != d}
            rec[tname] = rows
        return rec

    def select_all(self, table: str) -> list[dict]:
        """Every row of a table as <row> objects (for tests and tools)."""
        return [row.to_json() for row in self.tables[table].rows.values()]


_NO_HINTS: dict = {}


def _split(old: Any, new: Any) -> tuple[tuple, tuple]:
    """What went (in old, not new) and what came (in new, not old), for two values
    of one column, as tuples of atoms or pairs: a change to a large set costs
    what changed, not the size of the set."""
    if type(old) is not tuple:
        return (old,), (new,)
    so, sn = set(old), set(new)
    return tuple(sorted(so - sn)), tuple(sorted(sn - so))


def _refs(t: Type, value: Any):
    key, val = t.key, t.value
    kref = key.ref_table
    vref = val.ref_table if val is not None else None
    kw, vw = key.is_weak_ref, val is not None and val.is_weak_ref
    if val is not None:
        for k, v in value:
            if kref is not None:
                yield kref, k, kw
            if vref is not None:
                yield vref, v, vw
    elif kref is not None:
        for a in (value if type(value) is tuple else (value,)):
            yield kref, a, kw



def _english(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


__all__ = ["Database", "Table", "Row", "Commit", "Outcome"]
