"""The server's schema, parsed one table at a time as ovs-vsctl's commands need them.

Parsing all of Open_vSwitch's tables takes milliseconds, more than the rest of
a typical call's work, and a call names only a few tables.  `from_json` makes
an ovsdb.schema.DatabaseSchema whose `tables` mapping holds each table's JSON
until first looked up, then the TableSchema that ovsdb.schema's parser makes
of it, adjusted as the whole-schema parser adjusts it (every table is a root
table when none says it is; an ephemeral strong reference to a non-root
table is kept on disk).  The schema comes from the server, which checked it
when it loaded it, so the checks that span tables are not repeated here.
"""

from __future__ import annotations

from pyvswitch.ovsdb.schema import ColumnSchema, DatabaseSchema, TableSchema
from pyvswitch.ovsdb.types import Parser


class LazyTables:
    """Table name -> TableSchema, read-only, each parsed at its first lookup."""

    __slots__ = ("_json", "_parsed", "_all_root")

    def __init__(self, tables_json: dict) -> None:
        self._json = tables_json
        self._parsed: dict[str, TableSchema] = {}
        self._all_root = not any(isinstance(t, dict) and t.get("isRoot") is True for t in tables_json.values())

    def _is_root(self, name: str) -> bool:
        t = self._json.get(name)
        return self._all_root or (isinstance(t, dict) and t.get("isRoot") is True)

    def __getitem__(self, name: str) -> TableSchema:
        ts = self._parsed.get(name)
        if ts is None:
            ts = self._parsed[name] = self._parse(name, self._json[name])
        return ts

    def _parse(self, name: str, j) -> TableSchema:
        ts = TableSchema.from_json(j, name)
        if self._all_root:
            ts = TableSchema(ts.name, ts.columns, True, ts.max_rows, ts.indexes, ts.all_columns)
        for c in list(ts.columns.values()):
            if not c.ephemeral:
                continue
            for base in (c.type.key, c.type.value):
                if base is not None and base.is_strong_ref and not self._is_root(base.ref_table):
                    ts.columns[c.name] = ts.all_columns[c.name] = ColumnSchema(
                        c.name, c.type, c.mutable, False, c.index)
                    break
        return ts

    def get(self, name: str, default=None):
        return self[name] if name in self._json else default

    def __contains__(self, name: object) -> bool:
        return name in self._json

    def __iter__(self):
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)

    def keys(self):
        return self._json.keys()

    def values(self):
        return [self[n] for n in self._json]

    def items(self):
        return [(n, self[n]) for n in self._json]


def from_json(j) -> DatabaseSchema:
    """The schema a get_schema reply holds; raises OvsdbError if its outline is malformed."""
    p = Parser(j, "database schema")
    name = p.member("name", "id")
    version = p.member("version", "string", optional=True)
    cksum = p.member("cksum", "string", optional=True)
    tables_j = p.member("tables", "object")
    p.finish()
    return DatabaseSchema(name, version or "", LazyTables(tables_j), cksum or "")
