"""OVSDB database schemas (RFC 7047 3.2), parsed and validated like ovsdb-server.

A `DatabaseSchema` holds `TableSchema`s, which hold `ColumnSchema`s.  Every
table also has the implicit columns `_uuid` and `_version` (uuid scalars);
they are not in `TableSchema.columns` but `TableSchema.column(name)` finds
them, since conditions and "columns" lists may name them.

Rules carried over from ovsdb-server: names starting with "_" are reserved;
if no table is a root table, every table is; a strong reference to a non-root
table makes its column persistent even if declared ephemeral; a weak
reference is always mutable; ephemeral columns may not be indexed.

Each column has a position (`ColumnSchema.index`) in the schema's column
order; rows store their values in a list in that order.
"""

from __future__ import annotations

import math

from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.types import UINT_MAX, AtomicType, BaseType, Frozen, Parser, Type, is_id, syntax_error

TYPE_CHECKING = False   # importing typing costs every ovs-vsctl call milliseconds
if TYPE_CHECKING:
    from typing import Any

UUID_TYPE = Type(BaseType(AtomicType.UUID))


def is_valid_version(s: str) -> bool:
    # Three runs of decimal digits (any script's, as re's \d) joined by dots; no re: it costs every tool start.
    parts = s.split(".")
    return len(parts) == 3 and all(p.isdecimal() and int(p) <= UINT_MAX for p in parts)


_set = object.__setattr__


class ColumnSchema(Frozen):
    __slots__ = _fields = ("name", "type", "mutable", "ephemeral", "index")
    name: str
    type: Type
    mutable: bool
    ephemeral: bool
    index: int

    def __init__(self, name: str, type: Type, mutable: bool = True, ephemeral: bool = False,
                 index: int = -1) -> None:
        _set(self, "name", name)
        _set(self, "type", type)
        _set(self, "mutable", mutable)
        _set(self, "ephemeral", ephemeral)
        _set(self, "index", index)

    @staticmethod
    def from_json(j: Any, name: str, index: int = -1) -> "ColumnSchema":
        p = Parser(j, f"schema for column {name}")
        mutable = p.member("mutable", "boolean", optional=True)
        ephemeral = p.member("ephemeral", "boolean", optional=True)
        type_j = p.member("type", ("string", "object"))
        p.finish()
        t = Type.from_json(type_j)
        mutable = True if mutable is None else mutable
        if not mutable and (t.key.is_weak_ref or (t.value is not None and t.value.is_weak_ref)):
            mutable = True
        return ColumnSchema(name, t, mutable, bool(ephemeral), index)

    def to_json(self) -> dict:
        j: dict[str, Any] = {"type": self.type.to_json()}
        if self.ephemeral:
            j["ephemeral"] = True
        if not self.mutable:
            j["mutable"] = False
        return j


class TableSchema(Frozen):
    __slots__ = _fields = ("name", "columns", "is_root", "max_rows", "indexes", "all_columns")
    name: str
    columns: dict[str, ColumnSchema]
    is_root: bool
    max_rows: int | float
    indexes: list[tuple[str, ...]]
    # The implicit columns and the user columns, by name.
    all_columns: dict[str, ColumnSchema]

    def __init__(self, name: str, columns: dict[str, ColumnSchema], is_root: bool = False,
                 max_rows: int | float = math.inf, indexes: list[tuple[str, ...]] | None = None,
                 all_columns: dict[str, ColumnSchema] | None = None) -> None:
        _set(self, "name", name)
        _set(self, "columns", columns)
        _set(self, "is_root", is_root)
        _set(self, "max_rows", max_rows)
        _set(self, "indexes", [] if indexes is None else indexes)
        _set(self, "all_columns", {} if all_columns is None else all_columns)

    def column(self, name: str) -> ColumnSchema | None:
        return self.all_columns.get(name)

    @staticmethod
    def from_json(j: Any, name: str) -> "TableSchema":
        p = Parser(j, f"table schema for table {name}")
        columns_j = p.member("columns", "object")
        max_rows_j = p.member("maxRows", "integer", optional=True)
        is_root_j = p.member("isRoot", "boolean", optional=True)
        indexes_j = p.member("indexes", "array", optional=True)
        p.finish()
        if max_rows_j is not None:
            if max_rows_j <= 0:
                raise syntax_error(j, "maxRows must be at least 1")
            max_rows: int | float = max_rows_j
        else:
            max_rows = math.inf
        if not columns_j:
            raise syntax_error(j, "table must have at least one column")
        columns: dict[str, ColumnSchema] = {}
        for i, (cname, cj) in enumerate(columns_j.items()):
            _check_name(j, cname)
            columns[cname] = ColumnSchema.from_json(cj, cname, i)
        all_columns = {"_uuid": ColumnSchema("_uuid", UUID_TYPE, False, False, -1),
                       "_version": ColumnSchema("_version", UUID_TYPE, False, False, -2)}
        all_columns.update(columns)
        indexes: list[tuple[str, ...]] = []
        for ij in indexes_j or ():
            names = column_set_from_json(ij, all_columns)
            if not names:
                raise syntax_error(j, "index must have at least one column")
            for n in names:
                if all_columns[n].ephemeral:
                    raise syntax_error(j, f"ephemeral columns (such as {n}) may not be indexed")
            indexes.append(tuple(names))
        return TableSchema(name, columns, bool(is_root_j), max_rows, indexes, all_columns)

    def to_json(self, default_is_root: bool = False) -> dict:
        j: dict[str, Any] = {"columns": {n: c.to_json() for n, c in self.columns.items()}}
        if self.max_rows != math.inf:
            j["maxRows"] = self.max_rows
        if self.is_root != default_is_root:
            j["isRoot"] = self.is_root
        if self.indexes:
            j["indexes"] = [list(ix) for ix in self.indexes]
        return j


def column_set_from_json(j: Any, columns: dict[str, ColumnSchema]) -> list[str]:
    """An array of distinct column names (for indexes and "columns" members)."""
    if not isinstance(j, list):
        raise syntax_error(j, "array of distinct column names expected")
    names: list[str] = []
    for s in j:
        if not isinstance(s, str):
            raise syntax_error(j, "array of distinct column names expected")
        if s not in columns:
            raise syntax_error(j, f"{s} is not a valid column name")
        if s in names:
            raise syntax_error(j, "array of distinct column names expected")
        names.append(s)
    return names


def _check_name(j: Any, name: str) -> None:
    if name.startswith("_"):
        raise syntax_error(j, 'names beginning with "_" are reserved')
    if not is_id(name):
        raise syntax_error(j, "name must be a valid id")


class DatabaseSchema(Frozen):
    __slots__ = _fields = ("name", "version", "tables", "cksum")
    name: str
    version: str
    tables: dict[str, TableSchema]
    cksum: str

    def __init__(self, name: str, version: str, tables: dict[str, TableSchema], cksum: str = "") -> None:
        _set(self, "name", name)
        _set(self, "version", version)
        _set(self, "tables", tables)
        _set(self, "cksum", cksum)

    @staticmethod
    def from_json(j: Any) -> "DatabaseSchema":
        p = Parser(j, "database schema")
        name = p.member("name", "id")
        version = p.member("version", "string", optional=True)
        cksum = p.member("cksum", "string", optional=True)
        tables_j = p.member("tables", "object")
        p.finish()
        if version is not None:
            if not is_valid_version(version):
                raise syntax_error(j, f'schema version "{version}" not in format x.y.z')
        else:
            version = ""
        tables: dict[str, TableSchema] = {}
        for tname, tj in tables_j.items():
            _check_name(j, tname)
            tables[tname] = TableSchema.from_json(tj, tname)
        if not any(t.is_root for t in tables.values()):
            tables = {n: _replace_root(t, True) for n, t in tables.items()}
        for t in tables.values():
            for c in t.columns.values():
                for base, which in ((c.type.key, "key"), (c.type.value, "value")):
                    if base is None or base.ref_table is None:
                        continue
                    target = tables.get(base.ref_table)
                    if target is None:
                        raise OvsdbError("syntax error",
                                         f"column {c.name} {which} refers to undefined table {base.ref_table}")
                    if base.is_strong_ref and not target.is_root and c.ephemeral:
                        # A row kept alive only by an ephemeral reference would
                        # vanish when the log is replayed, so keep it on disk.
                        t.columns[c.name] = t.all_columns[c.name] = ColumnSchema(
                            c.name, c.type, c.mutable, False, c.index)
        return DatabaseSchema(name, version, tables, cksum or "")

    def to_json(self) -> dict:
        j: dict[str, Any] = {"name": self.name}
        if self.version:
            j["version"] = self.version
        if self.cksum:
            j["cksum"] = self.cksum
        default_is_root = all(t.is_root for t in self.tables.values())
        j["tables"] = {n: t.to_json(default_is_root) for n, t in self.tables.items()}
        return j


def _replace_root(t: TableSchema, is_root: bool) -> TableSchema:
    return TableSchema(t.name, t.columns, is_root, t.max_rows, t.indexes, t.all_columns)
