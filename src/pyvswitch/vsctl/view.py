"""An in-memory view of the fetched part of a database that records changes.

ovs-vsctl works the way OVS's IDL lets it: it fetches the rows and columns
its commands declared they need, runs every command against that local copy,
and then turns what changed into ONE "transact" request.  This module is that
local copy.

Theory of operation:
- `View` holds, per table, the fetched rows as `Row` objects whose values are
  engine datums (see ovsdb/types.py: bare atoms for scalars, sorted tuples
  for sets and maps).  Commands read `row[column]` and write with
  `view.write(row, column, value)`, `view.insert(table)`, `view.delete(row)`.
- A command that bases a decision on a value it read calls
  `view.verify(row, column)`.  The transaction then carries a "wait" operation
  (timeout 0, until "==") asserting that column still holds the value read; if
  another client changed it meanwhile the server rejects the whole
  transaction with "timed out" and the caller fetches again and re-runs every
  command.  This is the IDL's optimistic concurrency, on the wire.
- Rows inserted here get a provisional UUID; inside the transaction they are
  referred to by a "uuid-name" derived from it, and references to them are
  rewritten to ["named-uuid", name].  After the commit, `resolve()` maps a
  provisional UUID to the one the server assigned.
- Row order follows the IDL's hash table (buckets by the UUID's first 32
  bits), so that `list` and `find` print rows in the order ovs-vsctl does.

Invariants: the original values of fetched rows are never modified; a
deleted row is invisible to `rows()`/`get()`; writing a value equal to the
current one records nothing.
"""

from __future__ import annotations

import math

from pyvswitch.ovsdb.types import Type, new_uuid

TYPE_CHECKING = False   # importing typing costs every ovs-vsctl call milliseconds
if TYPE_CHECKING:
    from typing import Any, Iterable


class Row:
    __slots__ = ("table", "uuid", "old", "new", "inserted", "deleted", "mutations")

    def __init__(self, table: str, uuid: str, values: dict[str, Any], inserted: bool = False) -> None:
        self.table = table
        self.uuid = uuid
        self.old = values
        self.new: dict[str, Any] = {}
        self.inserted = inserted
        self.deleted = False
        self.mutations: dict[str, list[tuple[str, Any]]] = {}

    def __getitem__(self, column: str) -> Any:
        if column == "_uuid":
            return self.uuid
        try:
            return self.new[column]
        except KeyError:
            return self.old[column]

    def get(self, column: str, default: Any = None) -> Any:
        try:
            return self[column]
        except KeyError:
            return default

    def __repr__(self) -> str:
        return f"<Row {self.table} {self.uuid}>"


def _hmap_mask(n: int) -> int:
    """The bucket mask an OVS hmap reaches after n insertions."""
    mask = 0
    for k in range(1, n + 1):
        if k // 2 > mask:
            m = k // 2
            for shift in (1, 2, 4, 8, 16, 32):
                m |= m >> shift
            m |= (m & 1) << 1
            mask = m
    return mask


def idl_order(rows: Iterable[Row]) -> list[Row]:
    rows = list(rows)
    mask = _hmap_mask(len(rows))
    return sorted(rows, key=lambda r: (int(r.uuid[:8], 16) & mask, r.uuid))


class View:
    def __init__(self, schema, data: dict[str, dict[str, dict[str, Any]]], columns: dict[str, set[str]]) -> None:
        self.schema = schema
        self.columns = columns            # table -> the columns that were fetched
        self.tables: dict[str, dict[str, Row]] = {
            t: {u: Row(t, u, vals) for u, vals in rows.items()} for t, rows in data.items()}
        self._verified: dict[tuple[str, str], set[str]] = {}
        self._inserted: dict[str, str] = {}   # provisional uuid -> uuid-name
        self._order: list[Row] = []           # rows in order of first change
        self._touched: set[int] = set()       # their ids (each is alive in _order)
        self.real_uuids: dict[str, str] = {}

    # Reading.

    def rows(self, table: str) -> list[Row]:
        return idl_order(r for r in self.tables.get(table, {}).values() if not r.deleted)

    def get(self, table: str, uuid: str) -> Row | None:
        row = self.tables.get(table, {}).get(uuid)
        return None if row is None or row.deleted else row

    # Writing.

    def verify(self, row: Row, column: str) -> None:
        if not row.inserted:
            self._verified.setdefault((row.table, row.uuid), set()).add(column)

    def write(self, row: Row, column: str, value: Any) -> None:
        row.mutations.pop(column, None)
        if not row.inserted and column in row.old and row.old[column] == value:
            row.new.pop(column, None)
            return
        row.new[column] = value
        self._touch(row)

    def mutate(self, row: Row, column: str, mutator: str, arg: Any, result: Any) -> None:
        """Records an "insert" or "delete" mutation with datum `arg` (a set or
        map of the column's base types, or for a map "delete" a set of keys)
        whose local outcome is `result`.  Sent as a "mutate" operation so that
        concurrent changes to other elements are kept, as the IDL does."""
        if row.inserted or (column in row.new and column not in row.mutations):
            row.new[column] = result
            self._touch(row)
            return
        row.mutations.setdefault(column, []).append((mutator, arg))
        row.new[column] = result
        self._touch(row)

    def insert(self, table: str, uuid: str | None = None) -> Row:
        u = uuid or new_uuid()
        ts = self.schema.tables[table]
        values = {name: col.type.default() for name, col in ts.columns.items()}
        row = Row(table, u, values, inserted=True)
        self.tables.setdefault(table, {})[u] = row
        self._inserted[u] = "row" + u.replace("-", "_")
        self._touch(row)
        return row

    def delete(self, row: Row) -> None:
        row.deleted = True
        self._touch(row)

    def _touch(self, row: Row) -> None:
        if id(row) not in self._touched:
            self._touched.add(id(row))
            self._order.append(row)

    # The transaction.

    def has_changes(self) -> bool:
        for row in self._order:
            if row.inserted and not row.deleted:
                return True
            if not row.inserted and (row.deleted or row.mutations
                                     or any(row.old.get(c) != v for c, v in row.new.items())):
                return True
        return False

    def _json(self, table: str, column: str, value: Any) -> Any:
        t = self.schema.tables[table].columns[column].type
        return self._name_refs(t.datum_to_json(value))

    def _name_refs(self, j: Any) -> Any:
        if isinstance(j, list):
            if len(j) == 2 and j[0] == "uuid" and isinstance(j[1], str):
                name = self._inserted.get(j[1])
                return ["named-uuid", name] if name else j
            return [self._name_refs(x) for x in j]
        return j

    def operations(self) -> list[dict]:
        ops: list[dict] = []
        for (table, u), cols in self._verified.items():
            row = self.tables[table][u]
            cols = sorted(c for c in cols if c in row.old)
            if not cols:
                continue
            ops.append({"op": "wait", "table": table, "timeout": 0, "until": "==",
                        "where": [["_uuid", "==", ["uuid", u]]], "columns": cols,
                        "rows": [{c: self._json(table, c, row.old[c]) for c in cols}]})
        self.insert_index: dict[str, int] = {}
        for row in self._order:
            where = [["_uuid", "==", ["uuid", row.uuid]]]
            if row.inserted:
                if row.deleted:
                    continue
                self.insert_index[row.uuid] = len(ops)
                ops.append({"op": "insert", "table": row.table, "uuid-name": self._inserted[row.uuid],
                            "row": {c: self._json(row.table, c, v) for c, v in row.new.items()}})
            elif row.deleted:
                # Like the IDL, leave non-root rows to the server's garbage collector.
                if self.schema.tables[row.table].is_root:
                    ops.append({"op": "delete", "table": row.table, "where": where})
            else:
                changed = {c: v for c, v in row.new.items()
                           if row.old.get(c) != v and c not in row.mutations}
                if changed:
                    ops.append({"op": "update", "table": row.table, "where": where,
                                "row": {c: self._json(row.table, c, v) for c, v in changed.items()}})
                if row.mutations:
                    ops.append({"op": "mutate", "table": row.table, "where": where,
                                "mutations": [[c, m, self._mutation_json(row.table, c, m, arg)]
                                              for c, ms in row.mutations.items() for m, arg in ms]})
        return ops

    def _mutation_json(self, table: str, column: str, mutator: str, arg: Any) -> Any:
        t = self.schema.tables[table].columns[column].type
        if t.value is not None and arg and not isinstance(arg[0], tuple):
            keys = Type(t.key, None, 0, math.inf)
            return self._name_refs(keys.datum_to_json(arg))
        whole = Type(t.key, t.value, 0, math.inf)
        j = whole.datum_to_json(arg)
        if t.value is None and not (isinstance(j, list) and j and j[0] == "set"):
            j = ["set", [j]]
        return self._name_refs(j)

    def learn_uuids(self, results: list) -> None:
        """Records the server-assigned UUIDs from the transact reply."""
        for prov, index in self.insert_index.items():
            if index < len(results) and isinstance(results[index], dict) and "uuid" in results[index]:
                self.real_uuids[prov] = results[index]["uuid"][1]

    def resolve(self, uuid: str) -> str:
        return self.real_uuids.get(uuid, uuid)
