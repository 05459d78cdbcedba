"""Rows, and rows as RFC 7047 JSON <row> objects.

A `Row` is the committed state of one database row: its uuid, its version
uuid (new on every modification) and a tuple of column values in the
table's column order (`ColumnSchema.index`).  Rows are never modified in
place: a transaction that changes a row makes a new `Row`, so a `Row` held by
a monitor or a snapshot stays valid forever.  `__slots__` keeps a row to a
few dozen bytes plus its values, so that large databases stay compact.
"""

from __future__ import annotations

from typing import Any, Iterable

from pyvswitch.ovsdb.errors import OvsdbError, json_text
from pyvswitch.ovsdb.schema import TableSchema
from pyvswitch.ovsdb.types import new_uuid, syntax_error


class Row:
    __slots__ = ("uuid", "_version", "values", "table")

    def __init__(self, table: TableSchema, uuid: str, version: str | None, values) -> None:
        self.table = table
        self.uuid = uuid
        self._version = version
        self.values = values

    @property
    def version(self) -> str:
        """The row's _version.  Made on first use: nobody can tell it from one made
        at commit, and most rows' versions are never asked for."""
        v = self._version
        if v is None:
            v = self._version = new_uuid()
        return v

    def __getitem__(self, name: str) -> Any:
        i = self.table.all_columns[name].index
        if i >= 0:
            return self.values[i]
        return self.uuid if i == -1 else self.version

    def get(self, index: int) -> Any:
        """The value of the column at `index` (-1 for _uuid, -2 for _version)."""
        if index >= 0:
            return self.values[index]
        return self.uuid if index == -1 else self.version

    def __repr__(self) -> str:
        cols = ", ".join(f"{n}={self.values[c.index]!r}" for n, c in self.table.columns.items())
        return f"Row({self.table.name} {self.uuid} {cols})"

    def to_json(self, columns: Iterable[str] | None = None) -> dict:
        """The row as a <row> object with the given columns (all by default)."""
        all_columns = self.table.all_columns
        out: dict[str, Any] = {}
        for name in (all_columns if columns is None else columns):
            c = all_columns[name]
            out[name] = c.type.datum_to_json(self.get(c.index))
        return out


def row_from_json(table: TableSchema, j: Any, symtab: dict | None) -> dict[int, Any]:
    """Parses a <row> object into {column index: value}; _uuid/_version map to -1/-2."""
    if not isinstance(j, dict):
        raise syntax_error(j, "row must be JSON object")
    out: dict[int, Any] = {}
    all_columns = table.all_columns
    for name, vj in j.items():
        c = all_columns.get(name)
        if c is None:
            raise OvsdbError("unknown column", f"No column {name} in table {table.name}.",
                             json_text(j))
        out[c.index] = c.type.datum_from_json(vj, symtab)
    return out
