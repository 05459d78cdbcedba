"""RFC 7047 conditions ("where" clauses, section 5.1), compiled to predicates.

`compile_where(table_schema, where_json)` parses a list of clauses
`[column, function, value]` (or the literals `true` / `false`, which
monitor_cond uses) and returns a `Condition`, a callable taking a `Row` and
returning whether every clause holds.  Parsing follows ovsdb-server: the
value is parsed with the column's type, relaxed for "includes" (any number of
members up to the column's maximum) and "excludes" (any number); "<", "<=",
">", ">=" apply only to integer and real columns holding at most one value,
with a single value as argument, and are false when the column is empty.

`Condition.uuid` is the uuid named by a `["_uuid", "==", ...]` clause, if
any, so that a caller can look the one possible row up instead of scanning
the table; `Condition.always` is true for an empty condition.

Speed: a clause's parts other than its value are worked out once per
(table, column, function), and the ubiquitous one-clause condition
`[["_uuid", "==", ["uuid", U]]]` is compiled once per (table, U); both
caches are bounded.  Conditions are never changed once made, so sharing
them is safe.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.schema import TableSchema
from pyvswitch.ovsdb.types import AtomicType, Type, syntax_error

FUNCTIONS = ("<", "<=", "==", "!=", ">=", ">", "includes", "excludes")
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Condition:
    __slots__ = ("clauses", "uuid", "always", "never", "eq", "uuid_only")

    def __init__(self, clauses: list[Callable], uuid: str | None, never: bool,
                 eq: dict[int, Any] | None = None) -> None:
        self.clauses = clauses
        self.uuid = uuid
        self.never = never
        self.always = not clauses and not never
        # {column index: value} for the "==" clauses, so that an index can answer.
        self.eq = eq or {}
        # The condition is just ["_uuid", "==", uuid]: the row by that uuid matches.
        self.uuid_only = uuid is not None and len(clauses) == 1 and not never

    def __call__(self, row) -> bool:
        if self.never:
            return False
        for c in self.clauses:
            if not c(row):
                return False
        return True


def compile_where(table: TableSchema, where: Any, symtab: dict | None = None) -> Condition:
    if type(where) is not list:
        if not isinstance(where, list):
            raise syntax_error(where, "Parse error in condition.")
    elif len(where) == 1:
        # The most common condition by far, [["_uuid", "==", ["uuid", U]]]: its
        # compiled form depends only on the table and U, so it is kept.
        cj = where[0]
        if type(cj) is list and len(cj) == 3:
            name, function, vj = cj
            if (name == "_uuid" and function == "==" and type(vj) is list and len(vj) == 2
                    and vj[0] == "uuid" and type(vj[1]) is str):
                u = vj[1]
                hit = _UUID_EQ.get(u)
                if hit is not None and hit[0] is table:
                    return hit[1]
                cond = _compile_where(table, where, symtab)
                if len(_UUID_EQ) >= 4096:
                    _UUID_EQ.clear()
                _UUID_EQ[u] = (table, cond)
                return cond
    return _compile_where(table, where, symtab)


# uuid text -> (table, the Condition ["_uuid", "==", ["uuid", uuid]] on that
# table).  A row's uuid names one table's row, so one entry per uuid suffices.
_UUID_EQ: dict[str, tuple] = {}


def _compile_where(table: TableSchema, where: list, symtab: dict | None) -> Condition:
    clauses: list[Callable] = []
    uuid = None
    never = False
    eq: dict[int, Any] = {}
    for cj in where:
        if cj is True:
            continue
        if cj is False:
            never = True
            continue
        fn, key_uuid = compile_clause(table, cj, symtab)
        if key_uuid is not None:
            if uuid is not None and uuid != key_uuid:
                never = True
            uuid = key_uuid
        elif cj[1] == "==":
            eq[table.all_columns[cj[0]].index] = fn.arg
        clauses.append(fn)
    return Condition(clauses, uuid, never, eq)


def compile_clause(table: TableSchema, cj: Any, symtab: dict | None) -> tuple[Callable, str | None]:
    if not (isinstance(cj, list) and len(cj) == 3 and isinstance(cj[0], str) and isinstance(cj[1], str)):
        raise syntax_error(cj, "Parse error in condition.")
    name, function, value_j = cj
    # Everything but the value depends only on (table, column, function): that is
    # worked out once, and a clause seen before costs the parse of its value.
    prepared = _PREPARED.get((id(table), name, function))
    if prepared is None or prepared[0] is not table:
        prepared = _prepare(table, cj)
        if len(_PREPARED) >= 4096:
            _PREPARED.clear()
        _PREPARED[(id(table), name, function)] = prepared
    _, t, index, scalar, is_uuid_eq = prepared
    arg = t.datum_from_json(value_j, symtab)
    return _clause(index, function, arg, scalar), (arg if is_uuid_eq else None)


# (id(table), column, function) -> (table, type of the value, column index,
# column is scalar, clause is "_uuid ==").
_PREPARED: dict[tuple, tuple] = {}


def _prepare(table: TableSchema, cj: list) -> tuple:
    name, function, value_j = cj
    column = table.column(name)
    if column is None:
        raise syntax_error(cj, f"No column {name} in table {table.name}.", "unknown column")
    t: Type = column.type
    if function not in FUNCTIONS:
        raise OvsdbError("unknown function", f"No function named {function}.")
    if function in _ORDER:
        if not (t.is_scalar or (t.is_optional and t.value is None)) or \
                t.key.type not in (AtomicType.INTEGER, AtomicType.REAL):
            raise syntax_error(cj, f'Type mismatch: "{function}" operator may not be applied to column '
                                   f"{name} of type {t.to_english()}.")
        t = t.with_bounds(1, t.n_max)
    elif function == "excludes" and not t.is_scalar:
        t = t.with_bounds(0, math.inf)
    elif function == "includes" and not t.is_scalar:
        t = t.with_bounds(0, t.n_max)
    return (table, t, column.index, column.type.is_scalar, name == "_uuid" and function == "==")


def _getter(index: int) -> Callable:
    if index >= 0:
        return lambda row: row.values[index]
    if index == -1:
        return lambda row: row.uuid
    return lambda row: row.version


def _clause(index: int, function: str, arg: Any, scalar: bool) -> Callable:
    get = _getter(index)
    if function == "==":
        if index >= 0:
            def eq(row) -> bool:
                return row.values[index] == arg
        else:
            def eq(row) -> bool:
                return get(row) == arg
        eq.arg = arg
        return eq
    if function == "!=":
        return lambda row: get(row) != arg
    if function in _ORDER:
        op = _ORDER[function]
        if scalar:
            return lambda row: op(get(row), arg)
        return lambda row: bool(v := get(row)) and op(v[0], arg)
    if scalar:
        if function == "includes":
            return lambda row: get(row) == arg
        return lambda row: get(row) != arg
    if function == "includes":
        if not arg:
            return lambda row: True
        need = frozenset(arg)
        return lambda row: need.issubset(get(row))
    avoid = frozenset(arg)
    return lambda row: avoid.isdisjoint(get(row))
