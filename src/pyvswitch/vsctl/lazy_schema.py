"""The server's schema, parsed one column at a time as ovs-vsctl's commands need them.

Parsing all of Open_vSwitch's tables takes milliseconds, more than the rest of
a typical call's work, and a call names only a few tables and, of those, a
few columns.  `from_json` makes an ovsdb.schema.DatabaseSchema whose `tables`
mapping holds each table's JSON until first looked up, then a TableSchema
whose `columns` and `all_columns` mappings hold each column's JSON until
first looked up, then the ColumnSchema that ovsdb.schema's parser makes of
it.  Everything comes out as the whole-schema parser makes it: every table
is a root table when none says it is, and an ephemeral strong reference to a
non-root table is kept on disk.  The schema comes from the server, which
checked it when it loaded it, so the checks are not repeated here.
"""

from __future__ import annotations

import math

from pyvswitch.ovsdb.schema import UUID_TYPE, ColumnSchema, DatabaseSchema, TableSchema
from pyvswitch.ovsdb.types import Parser


class _Lazy:
    """A read-only mapping whose values are parsed at their first lookup."""

    __slots__ = ()

    def get(self, name, default=None):
        return self[name] if name in self else default

    def keys(self):
        return list(self)

    def values(self):
        return [self[n] for n in self]

    def items(self):
        return [(n, self[n]) for n in self]

    def __eq__(self, other):
        if isinstance(other, (dict, _Lazy)):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"


class _LazyJson(_Lazy):
    """A _Lazy over a JSON object: each member's value is parsed by the
    subclass's `_parse(name, json)` at its first lookup, then kept."""

    __slots__ = ("_json", "_parsed")

    def __getitem__(self, name: str):
        v = self._parsed.get(name)
        if v is None:
            v = self._parsed[name] = self._parse(name, self._json[name])
        return v

    def __contains__(self, name: object) -> bool:
        return name in self._json

    def __iter__(self):
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)


class LazyTables(_LazyJson):
    """Table name -> TableSchema."""

    __slots__ = ("_all_root",)

    def __init__(self, tables_json: dict) -> None:
        self._json = tables_json
        self._parsed: dict[str, TableSchema] = {}
        self._all_root = not any(isinstance(t, dict) and t.get("isRoot") is True for t in tables_json.values())

    def is_root(self, name: str) -> bool:
        t = self._json.get(name)
        return self._all_root or (isinstance(t, dict) and t.get("isRoot") is True)

    def _parse(self, name: str, j) -> TableSchema:
        p = Parser(j, f"table schema for table {name}")
        columns = LazyColumns(self, p.member("columns", "object"))
        max_rows = p.member("maxRows", "integer", optional=True)
        p.member("isRoot", "boolean", optional=True)
        indexes = p.member("indexes", "array", optional=True)
        p.finish()
        return TableSchema(name, columns, self.is_root(name), math.inf if max_rows is None else max_rows,
                           [tuple(ix) for ix in indexes or ()], AllColumns(columns))


class LazyColumns(_LazyJson):
    """Column name -> ColumnSchema, for one table."""

    __slots__ = ("_tables", "_index")

    def __init__(self, tables: LazyTables, columns_json: dict) -> None:
        self._tables = tables
        self._json = columns_json
        self._parsed: dict[str, ColumnSchema] = {}
        self._index: dict[str, int] | None = None

    def _parse(self, name: str, j) -> ColumnSchema:
        if self._index is None:
            self._index = {n: i for i, n in enumerate(self._json)}
        c = ColumnSchema.from_json(j, name, self._index[name])
        if c.ephemeral:
            for base in (c.type.key, c.type.value):
                if base is not None and base.is_strong_ref and not self._tables.is_root(base.ref_table):
                    return ColumnSchema(c.name, c.type, c.mutable, False, c.index)
        return c


_IMPLICIT = {"_uuid": ColumnSchema("_uuid", UUID_TYPE, False, False, -1),
             "_version": ColumnSchema("_version", UUID_TYPE, False, False, -2)}


class AllColumns(_Lazy):
    """A table's implicit columns (_uuid, _version), then its LazyColumns."""

    __slots__ = ("_columns",)

    def __init__(self, columns: LazyColumns) -> None:
        self._columns = columns

    def __getitem__(self, name: str) -> ColumnSchema:
        c = _IMPLICIT.get(name)
        return c if c is not None else self._columns[name]

    def __contains__(self, name: object) -> bool:
        return name in _IMPLICIT or name in self._columns

    def __iter__(self):
        yield from _IMPLICIT
        yield from self._columns

    def __len__(self) -> int:
        return len(_IMPLICIT) + len(self._columns)


def from_json(j) -> DatabaseSchema:
    """The schema a get_schema reply holds; raises OvsdbError if its outline is malformed."""
    p = Parser(j, "database schema")
    name = p.member("name", "id")
    version = p.member("version", "string", optional=True)
    cksum = p.member("cksum", "string", optional=True)
    tables_j = p.member("tables", "object")
    p.finish()
    return DatabaseSchema(name, version or "", LazyTables(tables_j), cksum or "")
