"""One RFC 7047 "transact" (section 5.2), executed against a `Database`.

Theory of operation.  A `Transaction` overlays the committed database with
`TxnRow`s: for each row it touched, the committed `Row` (`old`, None for an
insert) and a working list of values (`new`, None for a delete).  Queries
("where" clauses) see the overlay, so later operations see the effects of
earlier ones.  Nothing in the database changes until every operation has
succeeded and the commit-time checks pass; then `Database` applies the
resulting `Commit` in one step.  A failed transaction is simply dropped.

Commit-time checks run in ovsdb-server's order, with its error words:
1. strong references: every reference must name an existing row
   ("referential integrity violation ... references nonexistent row"), and a
   deleted row must have no remaining references ("cannot delete ...");
2. garbage collection: rows of non-root tables that the transaction touched
   and that no strong reference reaches any more are deleted, repeatedly;
3. maxRows;
4. weak references to rows that no longer exist are removed, which may empty
   a column that must not be empty ("constraint violation");
5. index uniqueness.
Rows whose values end up unchanged are not part of the commit.

Operation results are exactly ovsdb-server 3.1's: one result per operation,
the failing operation's error object, `null` for operations not executed,
and one extra error object when the commit-time checks fail.

Differences: a mutation tells which few keys (or atoms) of a map (or set)
it can change; each `TxnRow` keeps, per column, the value the mutations
produced and the keys they named (`hints`).  If the final value is still
that very object, the commit passes the keys on (`Commit.hints`) and the
log record and update2 notifications compute the difference at those keys
only, by bisection, instead of over a value that may hold thousands of
entries.  Any other write to the column (an update, weak-reference
cleanup) replaces the object and so voids the hint.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pyvswitch.ovsdb.condition import Condition, compile_where
from pyvswitch.ovsdb.data import Row, row_from_json
from pyvswitch.ovsdb.errors import OvsdbError, json_text
from pyvswitch.ovsdb.mutation import compile_mutations
from pyvswitch.ovsdb.schema import column_set_from_json
from pyvswitch.ovsdb.types import ZERO_UUID, Parser, is_uuid, new_uuid, syntax_error

if TYPE_CHECKING:
    from pyvswitch.ovsdb.database import Database, Table


class TxnRow:
    __slots__ = ("table", "uuid", "old", "new", "forced", "hints")

    def __init__(self, table: "Table", uuid: str, old: Row | None, new: list | None) -> None:
        self.table = table
        self.uuid = uuid
        self.old = old
        self.new = new
        # Column indexes that count as changed even if their value ends up the same:
        # ovsdb-server marks a column changed when it removes weak references from it.
        self.forced: set[int] | None = None
        # {column index: (value, keys)}: the value the column had after the last
        # mutation, which changed it from the committed one only at those keys
        # (or atoms); (None, None) once that is not known.  See `changed_keys`.
        self.hints: dict[int, tuple] | None = None

    def note_change(self, i: int, before, keys: set | None) -> None:
        """Remembers which keys of column i a mutation changed (None: maybe
        any), given the value before it."""
        after = self.new[i]
        if after is before:
            return
        hints = self.hints
        if hints is None:
            hints = self.hints = {}
        h = hints.get(i)
        if keys is None:
            hints[i] = _UNKNOWN
        elif h is None:
            hints[i] = (after, set(keys)) if before is self.old.values[i] else _UNKNOWN
        elif h[0] is before:
            h[1].update(keys)
            hints[i] = (after, h[1])
        else:
            hints[i] = _UNKNOWN

    def changed_keys(self, i: int, value) -> set | None:
        """The keys (or atoms) at which `value`, this row's final value of column
        i, can differ from the committed one, if mutations alone made it."""
        hints = self.hints
        if hints is None:
            return None
        h = hints.get(i)
        if h is None or h[0] is not value:
            return None
        return h[1]


_UNKNOWN = (None, None)


class _View:
    """A row as a condition sees it during a transaction (same attributes as `Row`)."""
    __slots__ = ("uuid", "values", "table", "_old")

    def __init__(self, tr: TxnRow) -> None:
        self.uuid = tr.uuid
        self.values = tr.new
        self.table = tr.table.schema
        self._old = tr.old

    @property
    def version(self) -> str:
        # Asked of the committed row only when needed: it makes its version lazily.
        old = self._old
        return old.version if old is not None else ZERO_UUID


class NeedRetry(Exception):
    """A "wait" operation is not yet satisfied and has not timed out."""


class Transaction:
    def __init__(self, db: "Database", now: float, started: float | None = None,
                 locks: frozenset | set | tuple = ()) -> None:
        self.db = db
        self.now = now
        self.started = now if started is None else started
        self.locks = locks
        self.rows: dict[str, dict[str, TxnRow]] = {}
        self.symtab: dict[str, str] = {}
        self.created: set[str] = set()
        self.comments: list[str] = []
        self.durable = False
        self.timeout_ms: float = math.inf

    # --- running the operations ---

    def run(self, ops: list) -> tuple[list | None, Any]:
        """Executes ops; returns (results, commit-or-None) or raises NeedRetry."""
        n = len(ops)
        results: list = []
        error = None
        tables = self.db.tables
        for i, op in enumerate(ops, 1):
            try:
                if type(op) is dict and len(op) == 4 and op.get("op") == "mutate":
                    # The most common operation, well formed: no need to check its
                    # members one by one (nothing a Parser would report can occur).
                    tname, where, mutations = op.get("table"), op.get("where"), op.get("mutations")
                    if type(tname) is str and type(where) is list and type(mutations) is list:
                        table = tables.get(tname)
                        if table is not None:
                            results.append(_do_mutate(self, table, where, mutations))
                            continue
                p = Parser(op, ("ovsdb operation %d of %d", (i, n)))
                name = p.member("op", "id")
                executor = _EXECUTORS.get(name)
                if executor is None:
                    raise p.error(f'No operation "{name}"')
                try:
                    result = executor(self, p)
                except OvsdbError:
                    p.finish()  # a member that is not allowed overrides any other error
                    raise
                p.finish()
            except OvsdbError as e:
                if e.error == "not supported":
                    raise NeedRetry() from None
                error = e
                results.append(e.to_json())
                break
            results.append(result)
        if error is not None:
            results.extend([None] * (n - len(results)))
            return results, None
        try:
            commit = self.db._precommit(self)
        except OvsdbError as e:
            results.append(e.to_json())
            return results, None
        return results, commit

    # --- the overlay ---

    def table(self, p: Parser, member: str = "table") -> "Table":
        name = p.member(member, "id")
        t = self.db.tables.get(name)
        if t is None:
            raise p.error(f"No table named {name}.")
        return t

    def txn_rows(self, table: "Table") -> dict[str, TxnRow]:
        d = self.rows.get(table.schema.name)
        if d is None:
            d = self.rows[table.schema.name] = {}
        return d

    def query(self, table: "Table", cond: Condition) -> list[TxnRow]:
        """The rows (post-overlay) that satisfy cond, as TxnRows made writable."""
        name = table.schema.name
        trs = self.rows.get(name)
        u = cond.uuid
        if u is not None and not cond.never:
            # One row at most: looked up, not searched for.
            tr = trs.get(u) if trs else None
            if tr is not None:
                return [tr] if tr.new is not None and (cond.uuid_only or cond(_View(tr))) else []
            row = table.rows.get(u)
            if row is None or not (cond.uuid_only or cond(row)):
                return []
            if trs is None:
                trs = self.rows[name] = {}
            tr = trs[u] = TxnRow(table, u, row, list(row.values))
            return [tr]
        out: list[TxnRow] = []
        if cond.never:
            return out
        committed = _indexed(table, cond)
        if committed is None:
            committed = table.rows.values()
        if trs:
            for row in committed:
                if row.uuid not in trs and cond(row):
                    out.append(row)
            for tr in list(trs.values()):
                if tr.new is not None and cond(_View(tr)):
                    out.append(tr)
        else:
            out = [row for row in committed if cond(row)]
        return [r if type(r) is TxnRow else self.modify(table, r) for r in out]

    def select_rows(self, table: "Table", cond: Condition) -> list:
        """Like query, but read-only: committed Rows or _Views."""
        trs = self.rows.get(table.schema.name)
        if cond.never:
            return []
        if cond.uuid is not None:
            u = cond.uuid
            tr = trs.get(u) if trs else None
            if tr is not None:
                v = _View(tr) if tr.new is not None else None
                return [v] if v is not None and (cond.uuid_only or cond(v)) else []
            row = table.rows.get(u)
            return [row] if row is not None and (cond.uuid_only or cond(row)) else []
        committed = _indexed(table, cond)
        if committed is None:
            committed = table.rows.values()
        if not trs:
            return [row for row in committed if cond(row)]
        out = [row for row in committed if row.uuid not in trs and cond(row)]
        for tr in trs.values():
            if tr.new is not None:
                v = _View(tr)
                if cond(v):
                    out.append(v)
        return out

    def modify(self, table: "Table", row: Row) -> TxnRow:
        trs = self.txn_rows(table)
        tr = trs.get(row.uuid)
        if tr is None:
            tr = trs[row.uuid] = TxnRow(table, row.uuid, row, list(row.values))
        return tr

    def exists_any(self, table: "Table", uuid: str) -> bool:
        """Whether a row with this uuid is in the table or in this transaction (even deleted)."""
        trs = self.rows.get(table.schema.name)
        return (trs is not None and uuid in trs) or uuid in table.rows

    def exists(self, table: "Table", uuid: str) -> bool:
        trs = self.rows.get(table.schema.name)
        if trs:
            tr = trs.get(uuid)
            if tr is not None:
                return tr.new is not None
        return uuid in table.rows


def _indexed(table: "Table", cond: Condition) -> list | None:
    """The committed rows an index says may match cond, or None to scan the table."""
    eq = cond.eq
    if not eq:
        return None
    for ix, cols in enumerate(table.index_cols):
        if all(i in eq for i in cols):
            u = table.indexes[ix].get(tuple([eq[i] for i in cols]))
            return [] if u is None else [table.rows[u]]
    return None


# --- the operations (RFC 7047 5.2) ---

def _insert(x: Transaction, p: Parser) -> dict:
    table = x.table(p)
    uuid_name = p.member("uuid-name", "id", optional=True)
    uuid_j = p.member("uuid", "string", optional=True)
    row_j = p.member("row", "object", optional=True)
    if uuid_j is not None:
        if not is_uuid(uuid_j):
            raise syntax_error(uuid_j, "bad uuid")
        u = uuid_j.lower()
        trs = x.rows.get(table.schema.name)
        if u in table.rows or (trs and u in trs):
            raise syntax_error(uuid_j, "This UUID would duplicate a UUID already present within the table "
                                       "or deleted within the same transaction.", "duplicate uuid")
    if uuid_name is not None:
        if uuid_name in x.created:
            raise syntax_error(uuid_name, 'This "uuid-name" appeared on an earlier "insert" operation.',
                               "duplicate uuid-name")
        if uuid_j is not None:
            x.symtab[uuid_name] = u
        else:
            u = x.symtab.get(uuid_name) or x.symtab.setdefault(uuid_name, new_uuid())
        x.created.add(uuid_name)
    elif uuid_j is None:
        u = new_uuid()
    values = list(table.defaults)
    given = row_from_json(table.schema, row_j, x.symtab) if row_j is not None else {}
    for i, v in given.items():
        if i >= 0:
            values[i] = v
    for c in table.schema.columns.values():
        if c.index not in given:
            v = values[c.index]
            if type(v) is not tuple or len(v) == 1:
                c.type.check_datum(v)
    x.txn_rows(table)[u] = TxnRow(table, u, None, values)
    return {"uuid": ["uuid", u]}


def _select(x: Transaction, p: Parser) -> dict:
    table = x.table(p)
    where = p.member("where", "array")
    columns_j = p.member("columns", "array", optional=True)
    sort_j = p.member("sort", "array", optional=True)
    ts = table.schema
    cond = compile_where(ts, where, x.symtab)
    names = list(ts.all_columns) if columns_j is None else column_set_from_json(columns_j, ts.all_columns)
    rows = x.select_rows(table, cond)
    if sort_j is not None:
        for name in reversed(column_set_from_json(sort_j, ts.all_columns)):
            idx = ts.all_columns[name].index
            rows.sort(key=lambda r, idx=idx: _get(r, idx))
    cols = [(n, ts.all_columns[n]) for n in names]
    if "_uuid" not in names:
        # ovsdb-server returns distinct rows: duplicates of the selected columns go.
        seen = set()
        distinct = []
        for r in rows:
            key = tuple(_get(r, c.index) for n, c in cols)
            if key not in seen:
                seen.add(key)
                distinct.append(r)
        rows = distinct
    plain = [(n, c.index, c.type.json_converter()) for n, c in cols if c.index >= 0]
    special = [(n, c.index, c.type.json_converter()) for n, c in cols if c.index < 0]
    out = []
    for r in rows:
        v = r.values
        j = {n: v[i] if f is None else f(v[i]) for n, i, f in plain}
        for n, i, f in special:
            j[n] = f(_get(r, i))
        out.append(j)
    return {"rows": out}


def _get(r, idx: int) -> Any:
    if idx >= 0:
        return r.values[idx]
    return r.uuid if idx == -1 else r.version


def _update(x: Transaction, p: Parser) -> dict:
    table = x.table(p)
    where = p.member("where", "array")
    row_j = p.member("row", "object")
    ts = table.schema
    given = row_from_json(ts, row_j, x.symtab)
    for name in row_j:
        c = ts.all_columns[name]
        if not c.mutable:
            raise OvsdbError("constraint violation", f"Cannot update immutable column {name} in table {ts.name}.",
                             json_text(p.json))
    cond = compile_where(ts, where, x.symtab)
    items = list(given.items())
    matches = x.query(table, cond)
    for tr in matches:
        new = tr.new
        for i, v in items:
            new[i] = v
    return {"count": len(matches)}


def _mutate(x: Transaction, p: Parser) -> dict:
    table = x.table(p)
    where = p.member("where", "array")
    mutations_j = p.member("mutations", "array")
    return _do_mutate(x, table, where, mutations_j)


def _do_mutate(x: Transaction, table: "Table", where: list, mutations_j: list) -> dict:
    ts = table.schema
    mutate, touches = compile_mutations(ts, mutations_j, x.symtab)
    cond = compile_where(ts, where, x.symtab)
    matches = x.query(table, cond)
    for tr in matches:
        if tr.old is None:
            mutate(tr.new)
        else:
            new = tr.new
            if len(touches) == 1:
                for i, keys in touches.items():
                    b = new[i]
                    mutate(new)
                    tr.note_change(i, b, keys)
            else:
                before = {i: new[i] for i in touches}
                mutate(new)
                for i, keys in touches.items():
                    tr.note_change(i, before[i], keys)
    return {"count": len(matches)}


def _delete(x: Transaction, p: Parser) -> dict:
    table = x.table(p)
    where = p.member("where", "array")
    cond = compile_where(table.schema, where, x.symtab)
    matches = x.query(table, cond)
    for tr in matches:
        tr.new = None
    return {"count": len(matches)}


def _wait(x: Transaction, p: Parser) -> dict:
    table = x.table(p)
    where = p.member("where", "array")
    columns_j = p.member("columns", "array", optional=True)
    until = p.member("until", "string")
    rows_j = p.member("rows", "array")
    timeout_j = p.member("timeout", "integer", optional=True)
    ts = table.schema
    cond = compile_where(ts, where, x.symtab)
    names = list(ts.all_columns) if columns_j is None else column_set_from_json(columns_j, ts.all_columns)
    if timeout_j is not None:
        timeout_ms = min(float(timeout_j), float(1 << 63))
        if timeout_ms < 0:
            raise syntax_error(timeout_j, "timeout must be nonnegative")
        x.timeout_ms = min(x.timeout_ms, timeout_ms)
    else:
        timeout_ms = math.inf
    if until == "==":
        equal = True
    elif until == "!=":
        equal = False
    else:
        raise syntax_error(until, '"until" must be "==" or "!="')
    idxs = [ts.all_columns[n].index for n in names]
    defaults = table.defaults
    expected = set()
    for rj in rows_j:
        given = row_from_json(ts, rj, x.symtab)
        key = []
        for i in idxs:
            if i in given:
                key.append(given[i])
            elif i >= 0:
                key.append(defaults[i])
            else:
                key.append(ZERO_UUID)
        expected.add(tuple(key))
    actual = {tuple(_get(r, i) for i in idxs) for r in x.select_rows(table, cond)}
    if (actual == expected) != equal:
        elapsed_ms = round((x.now - x.started) * 1000)
        if elapsed_ms >= timeout_ms:
            if elapsed_ms:
                raise OvsdbError("timed out", f'"wait" timed out after {elapsed_ms} ms')
            raise OvsdbError("timed out", '"where" clause test failed')
        raise OvsdbError("not supported", "triggers not supported")
    return {}


def _commit(x: Transaction, p: Parser) -> dict:
    if p.member("durable", "boolean"):
        x.durable = True
    return {}


def _abort(x: Transaction, p: Parser) -> dict:
    raise OvsdbError("aborted", "aborted by request")


def _comment(x: Transaction, p: Parser) -> dict:
    x.comments.append(p.member("comment", "string"))
    return {}


def _assert(x: Transaction, p: Parser) -> dict:
    lock = p.member("lock", "id")
    if lock not in x.locks:
        raise OvsdbError("not owner", f"Asserted lock {lock} not held.")
    return {}


_EXECUTORS = {"insert": _insert, "select": _select, "update": _update, "mutate": _mutate,
              "delete": _delete, "wait": _wait, "commit": _commit, "abort": _abort,
              "comment": _comment, "assert": _assert}
