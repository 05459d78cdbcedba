"""OVSDB monitors (RFC 7047 4.1.5-4.1.7 and ovsdb-server's extensions).

A `Monitor` is what one "monitor", "monitor_cond" or "monitor_cond_since"
request set up: for each table, the columns to report, which kinds of change
to report (`Select`), and for the conditional methods a "where" condition.
It turns committed changes into the JSON "table-updates" a client receives:

- version 1 ("update"): a row is {"new": columns} when inserted (or in
  the initial contents), {"old": columns} when deleted, and for a
  modification {"old": the changed columns' old values, "new": columns}.
  Conditions do not apply (ovsdb-server ignores them for this version).
- versions 2 and 3 ("update2"/"update3"): {"initial": row} or {"insert": row}
  with only the columns whose value differs from the column default,
  {"delete": null}, and {"modify": the `Type.diff` of each changed column}.
  A row moving into the condition is an insert, one moving out a delete.

"Columns" are those selected for that kind of change: each request of a
table brings its columns with its own "select" flags.  A monitor condition
is a disjunction: a row matches if any of its clauses holds (an empty list
matches every row), unlike the conjunction of a transaction's "where".

Every method here is a pure function of its inputs: the server core gives
rows (`data.Row`) and commit changes, and gets JSON-able dicts back.  Monitors
whose `key` is equal produce equal updates for the same changes, which lets
the core compute and encode one notification body per set of identical
monitors instead of one per client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from pyvswitch.ovsdb.condition import compile_where
from pyvswitch.ovsdb.errors import OvsdbError, json_text
from pyvswitch.ovsdb.jsonrpc import dumps
from pyvswitch.ovsdb.schema import ColumnSchema, DatabaseSchema, TableSchema
from pyvswitch.ovsdb.types import Parser

# The update method and the reply shape for each monitor request method.
VERSIONS = {"monitor": 1, "monitor_cond": 2, "monitor_cond_since": 3}
UPDATE_METHOD = {1: "update", 2: "update2", 3: "update3"}


@dataclass(frozen=True, slots=True)
class Select:
    initial: bool = True
    insert: bool = True
    delete: bool = True
    modify: bool = True

    def __or__(self, other: "Select") -> "Select":
        return Select(self.initial or other.initial, self.insert or other.insert,
                      self.delete or other.delete, self.modify or other.modify)


_NOTHING = Select(False, False, False, False)


def compile_disjunction(table: TableSchema, where: Any) -> tuple | None:
    """A monitor condition: unlike a transaction's "where", a row matches if
    ANY clause holds, as in ovsdb-server.  Returns None when every row
    matches (no condition, an empty list, or a `true` clause), else the
    compiled clauses (an empty tuple when no row can match)."""
    if not where:
        return None
    conds = []
    for clause in where:
        c = compile_where(table, [clause])
        if c.always:
            return None
        if not c.never:
            conds.append(c)
    return tuple(conds)


def _matches(conds: tuple | None, row) -> bool:
    if row is None:
        return False
    if conds is None:
        return True
    for c in conds:
        if c(row):
            return True
    return False


class MonitoredTable:
    """One table of a monitor: its columns, each with its own selects, and
    its condition.  A change of one kind (insert, delete, modify; initial
    for the first contents) reports the columns selected for that kind."""

    __slots__ = ("table", "columns", "select", "initial_cols", "insert_cols", "delete_cols",
                 "modify_cols", "where", "conds")

    def __init__(self, table: TableSchema, columns: list[tuple[ColumnSchema, Select]],
                 select: Select, where: Any) -> None:
        self.table = table
        self.select = select    # the table's: any of its requests selects that kind
        self.columns = tuple((c.name, c.index, c.type, c.type.default(), sel) for c, sel in columns)
        self.initial_cols = tuple(col[:4] for col in self.columns if col[4].initial)
        self.insert_cols = tuple(col[:4] for col in self.columns if col[4].insert)
        self.delete_cols = tuple(col[:4] for col in self.columns if col[4].delete)
        self.modify_cols = tuple(col[:4] for col in self.columns if col[4].modify)
        self.set_where(where)

    def set_where(self, where: Any) -> None:
        self.where = where
        self.conds = compile_disjunction(self.table, where)

    def matches(self, row) -> bool:
        return _matches(self.conds, row)

    def key(self) -> tuple:
        return (self.table.name, tuple((c[0], c[4]) for c in self.columns), self.select,
                None if self.where is None else dumps(self.where))

    # --- rows as JSON ---

    @staticmethod
    def row_v1(row, cols: tuple) -> dict:
        get = row.get
        return {name: t.datum_to_json(get(i)) for name, i, t, _ in cols}

    @staticmethod
    def row_v2(row, cols: tuple) -> dict:
        out = {}
        get = row.get
        for name, i, t, default in cols:
            v = get(i)
            if v != default:
                out[name] = t.datum_to_json(v)
        return out

    def update_v1(self, old, new) -> dict | None:
        if old is None:
            return {"new": self.row_v1(new, self.insert_cols)} if self.select.insert else None
        if new is None:
            return {"old": self.row_v1(old, self.delete_cols)} if self.select.delete else None
        oget, nget = old.get, new.get
        changed = {}
        for name, i, t, _ in self.modify_cols:
            o, n = oget(i), nget(i)
            # Unchanged values are usually the very same object.
            if o is not n and o != n:
                changed[name] = t.datum_to_json(o)
        if not changed:
            return None
        return {"old": changed, "new": self.row_v1(new, self.modify_cols)}

    def update_v2(self, old, new, hints: dict | None = None) -> dict | None:
        """`hints`: {column index: the only keys where it can differ} (Commit.hints)."""
        old_in = self.matches(old)
        new_in = self.matches(new)
        if old_in and new_in:
            oget, nget = old.get, new.get
            diff = {}
            for name, i, t, _ in self.modify_cols:
                o, n = oget(i), nget(i)
                if o is not n and o != n:
                    diff[name] = t.datum_to_json(t.diff(o, n, hints.get(i) if hints else None))
            return {"modify": diff} if diff else None
        if new_in:
            return {"insert": self.row_v2(new, self.insert_cols)} if self.select.insert else None
        if old_in:
            return {"delete": None} if self.select.delete else None
        return None


class Monitor:
    """One client monitor: its id, its database, its version, its tables."""

    __slots__ = ("id", "id_text", "db_name", "version", "tables", "key")

    def __init__(self, id_json: Any, db_name: str, version: int,
                 tables: dict[str, MonitoredTable]) -> None:
        self.id = id_json
        self.id_text = dumps(id_json)
        self.db_name = db_name
        self.version = version
        self.tables = tables
        self.rekey()

    def rekey(self) -> None:
        self.key = (self.db_name, self.version, tuple(mt.key() for mt in self.tables.values()))

    def initial(self, db) -> dict:
        """The table-updates for the database's current contents."""
        out = {}
        for name, mt in self.tables.items():
            if not mt.select.initial:
                continue
            cols = mt.initial_cols
            rows = db.tables[name].rows
            if self.version == 1:
                tu = {u: {"new": mt.row_v1(r, cols)} for u, r in rows.items()}
            else:
                tu = {u: {"initial": mt.row_v2(r, cols)} for u, r in rows.items() if mt.matches(r)}
            if tu:
                out[name] = tu
        return out

    def updates(self, changes: dict, hints: dict | None = None) -> dict:
        """The table-updates for one commit's (or a composition's) changes;
        `hints` as `Commit.hints`, for one commit."""
        out = {}
        v1 = self.version == 1
        for name, mt in self.tables.items():
            tchanges = changes.get(name)
            if not tchanges:
                continue
            tu = {}
            if v1:
                f = mt.update_v1
                for u, (old, new) in tchanges.items():
                    r = f(old, new)
                    if r is not None:
                        tu[u] = r
            else:
                f = mt.update_v2
                for u, (old, new) in tchanges.items():
                    r = f(old, new, hints.get(u) if hints else None)
                    if r is not None:
                        tu[u] = r
            if tu:
                out[name] = tu
        return out

    def change_conditions(self, db, wheres: dict[str, Any]) -> dict:
        """Applies new conditions; returns the updates the change implies."""
        out = {}
        for name, where in wheres.items():
            mt = self.tables[name]
            old_conds = mt.conds
            mt.set_where(where)
            if self.version == 1:
                continue
            tu = {}
            for u, r in db.tables[name].rows.items():
                was = _matches(old_conds, r)
                now = mt.matches(r)
                if now and not was:
                    tu[u] = {"insert": mt.row_v2(r, mt.insert_cols)}
                elif was and not now:
                    tu[u] = {"delete": None}
            if tu:
                out[name] = tu
        self.rekey()
        return out

    def notification(self, body: str, txn_id: str | None = None) -> bytes:
        """A complete update notification around an encoded table-updates body."""
        if self.version == 3:
            return ('{"id":null,"method":"update3","params":[%s,"%s",%s]}'
                    % (self.id_text, txn_id, body)).encode()
        return ('{"id":null,"method":"%s","params":[%s,%s]}'
                % (UPDATE_METHOD[self.version], self.id_text, body)).encode()


# --- parsing requests ---

_NO_SYNTAX = object()


def _error(details: str, syntax: Any = _NO_SYNTAX) -> OvsdbError:
    return OvsdbError("syntax error", details, None if syntax is _NO_SYNTAX else json_text(syntax))


def _requests_of(name: str, j: Any) -> list:
    reqs = j if isinstance(j, list) else [j]
    for r in reqs:
        if not isinstance(r, dict):
            raise _error(f"Parsing table {name} failed: Object expected.")
    return reqs


def parse_monitor_requests(schema: DatabaseSchema, requests: Any, version: int) -> dict[str, MonitoredTable]:
    """Parses <monitor-requests> (or <monitor-cond-requests>) like ovsdb-server."""
    if not isinstance(requests, dict):
        raise _error("monitor-requests must be object", requests)
    tables: dict[str, MonitoredTable] = {}
    for name, j in requests.items():
        ts = schema.tables.get(name)
        if ts is None:
            raise _error(f"no table named {name}")
        columns: dict[str, tuple[ColumnSchema, Select]] = {}
        table_select = _NOTHING
        where = None
        first = True
        for r in _requests_of(name, j):
            p = Parser(r, f"table {name}")
            columns_j = p.member("columns", "array", optional=True)
            select_j = p.member("select", "object", optional=True)
            where_j = p.member("where", "array", optional=True) if version > 1 else None
            p.finish()
            if columns_j is None:
                cols = [c for c in ts.all_columns.values() if c.name != "_uuid"]
            else:
                cols = []
                for cname in columns_j:
                    c = ts.all_columns.get(cname) if isinstance(cname, str) else None
                    if c is None:
                        if not isinstance(cname, str):
                            raise _error("array of column names expected", columns_j)
                        raise _error(f"{cname} is not a valid column name", columns_j)
                    cols.append(c)
            select = _parse_select(name, select_j)
            table_select = table_select | select
            for c in cols:
                if c.name in columns:
                    if columns_j is None:
                        raise _error(f"column {c.name} mentioned more than once")
                    raise _error(f"column {c.name} mentioned more than once", columns_j)
                columns[c.name] = (c, select)
            if first and version > 1 and where_j is not None:
                # The condition is the first request's, as ovsdb-server has it.
                compile_disjunction(ts, where_j)
                where = where_j
            first = False
        if first:
            continue
        tables[name] = MonitoredTable(ts, list(columns.values()), table_select, where)
    return tables


def _parse_select(name: str, j: Any) -> Select:
    if j is None:
        return Select()
    p = Parser(j, f"table {name} select")
    vals = [p.member(k, "boolean", optional=True) for k in ("initial", "insert", "delete", "modify")]
    p.finish()
    return Select(*(True if v is None else v for v in vals))


def parse_condition_changes(monitor: Monitor, requests: Any) -> dict[str, Any]:
    """Parses <monitor-cond-update-requests>: {table: new where} (not yet applied)."""
    if not isinstance(requests, dict):
        raise _error("monitor-cond-change-requests must be object")
    out: dict[str, Any] = {}
    for name, j in requests.items():
        mt = monitor.tables.get(name)
        if mt is None:
            raise _error(f"no table named {name} in monitor session")
        if not isinstance(j, list):
            raise _error(f"table {name} no monitor-cond-change JSON array")
        for r in j:
            p = Parser(r, f"table {name}")
            columns_j = p.member("columns", "array", optional=True)
            where_j = p.member("where", "array")
            p.finish()
            if columns_j is not None:
                raise _error("changing columns is unsupported", r)
            compile_disjunction(mt.table, where_j)
            # The last request's condition wins, as in ovsdb-server.
            out[name] = where_j
    return out


def compose(commits: Iterable[dict]) -> dict:
    """Merges the changes of consecutive commits into one set of (old, new) pairs."""
    out: dict[str, dict] = {}
    for changes in commits:
        for tname, rows in changes.items():
            t = out.setdefault(tname, {})
            for u, (old, new) in rows.items():
                prev = t.get(u)
                if prev is None:
                    t[u] = (old, new)
                elif prev[0] is None and new is None:
                    del t[u]
                else:
                    t[u] = (prev[0], new)
    return out
