"""RFC 7047 mutations (section 5.1), parsed and applied as ovsdb-server does.

`compile_mutations(table_schema, mutations_json, symtab)` parses a list of
`[column, mutator, value]` and returns `(apply, touches)`: `apply` takes a
row's values (a list, changed in place) and applies every mutation in order,
raising the `OvsdbError` ovsdb-server reports ("domain error" for division
by zero, "range error" for integer overflow or a non-finite real,
"constraint violation" for out-of-bounds results, duplicates or wrong set
sizes); `touches` says, per column, which few keys or atoms the mutations
can change, so that the difference a commit logs need not scan the value.

Arithmetic mutators (+= -= *= /= %=) apply to integer and real columns
holding one value or a set, element by element; integer division and
remainder truncate toward zero, like C.  "insert" adds set members or map
pairs (an existing key keeps its value); "delete" removes set members, map
pairs by key and value, or map pairs by key (when the value parses as a set
of keys).

Speed: everything but the value is worked out once per (table, column,
mutator) and kept; inserting or deleting a few keys bisects the sorted
tuple instead of rebuilding it through a dict.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Callable

from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.schema import TableSchema
from pyvswitch.ovsdb.types import INT64_MAX, INT64_MIN, MAP, SCALAR, AtomicType, BaseType, Type, syntax_error

MUTATORS = ("+=", "-=", "*=", "/=", "%=", "insert", "delete")


def _int_div(x: int, y: int) -> int:
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y >= 0) else -q


def _int_mod(x: int, y: int) -> int:
    return x - _int_div(x, y) * y


_INT_OPS = {"+=": lambda x, y: x + y, "-=": lambda x, y: x - y, "*=": lambda x, y: x * y,
            "/=": _int_div, "%=": _int_mod}
_REAL_OPS = {"+=": lambda x, y: x + y, "-=": lambda x, y: x - y, "*=": lambda x, y: x * y,
             "/=": lambda x, y: x / y}


def compile_mutations(table: TableSchema, mutations: Any,
                      symtab: dict | None = None) -> tuple[Callable[[list], None], dict[int, set | None]]:
    """Returns (apply, touches): `apply(values)` applies the mutations to a row's
    values; `touches` is {column index: the keys (map) or atoms (set) they can
    change, or None when they may change any}, a hint for computing differences."""
    if type(mutations) is not list:
        if not isinstance(mutations, list):
            raise syntax_error(mutations, "Parse error in mutation.")
    elif len(mutations) == 1:
        mj = mutations[0]
        if type(mj) is list and len(mj) == 3:
            # One mutation seen before (the usual case): straight to its prepared parse.
            try:
                prepared = _PREPARED.get((id(table), mj[0], mj[1]))
            except TypeError:   # an unhashable column or mutator: _compile_one says what is wrong
                prepared = None
            if prepared is not None and prepared[0] is table:
                m, index, keys = prepared[1](mj[2], symtab)
                return m, {index: keys}
        m, index, keys = _compile_one(table, mj, symtab)
        return m, {index: keys}
    compiled = [_compile_one(table, mj, symtab) for mj in mutations]
    fns = [m for m, _, _ in compiled]

    def apply(values: list) -> None:
        for m in fns:
            m(values)
    touches: dict[int, set | None] = {}
    for m, index, keys in compiled:
        if index in touches:
            have = touches[index]
            touches[index] = None if have is None or keys is None else have | keys
        else:
            touches[index] = keys
    return apply, touches


def _type_mismatch(mj: Any, mutator: str, name: str, t: Type) -> OvsdbError:
    return syntax_error(mj, f'Type mismatch: "{mutator}" operator may not be applied to column '
                            f"{name} of type {t.to_english()}.")


def _compile_one(table: TableSchema, mj: Any, symtab: dict | None) -> tuple[Callable[[list], None], int, set | None]:
    """(mutation, column index, the keys or atoms it can change or None)."""
    if type(mj) is not list or len(mj) != 3:
        raise syntax_error(mj, "Parse error in mutation.")
    name, mutator, arg_j = mj
    if type(name) is not str or type(mutator) is not str:
        raise syntax_error(mj, "Parse error in mutation.")
    # Everything but the argument depends only on (table, column, mutator): that
    # is worked out once, and a mutation seen before costs the parse of its value.
    key = (id(table), name, mutator)
    prepared = _PREPARED.get(key)
    if prepared is None or prepared[0] is not table:
        prepared = (table, _prepare(table, mj))
        if len(_PREPARED) >= 4096:
            _PREPARED.clear()
        _PREPARED[key] = prepared
    return prepared[1](arg_j, symtab)


# (id(table), column, mutator) -> (table, function(arg_json, symtab) -> _compile_one's result).
_PREPARED: dict[tuple, tuple] = {}


def _prepare(table: TableSchema, mj: list) -> Callable[[Any, dict | None], tuple]:
    name, mutator, _ = mj
    column = table.all_columns.get(name)
    if column is None:
        raise syntax_error(mj, f"No column {name} in table {table.name}.", "unknown column")
    if not column.mutable:
        raise syntax_error(mj, f"Cannot mutate immutable column {name} in table {table.name}.",
                           "constraint violation")
    t = column.type
    index = column.index
    if mutator == "insert" or mutator == "delete":
        if t.kind == SCALAR:
            raise _type_mismatch(mj, mutator, name, t)
        plain = t.kind == MAP and _plain_string(t.key) and _plain_string(t.value)
        if mutator == "insert":
            ti = t.with_bounds(0, t.n_max)
            pairs = t.kind == MAP

            def insert(arg_j: Any, symtab: dict | None) -> tuple:
                if plain:
                    pair = _one_pair(arg_j)
                    if pair is not None:
                        return _insert(t, index, (pair,)), index, {pair[0]}
                arg = ti.datum_from_json(arg_j, symtab)
                return _insert(t, index, arg), index, _keys(arg, pairs)
            return insert
        td = t.with_bounds(0, math.inf)
        tk = t.with_bounds(0, math.inf, keys_only=True)

        def delete(arg_j: Any, symtab: dict | None) -> tuple:
            if plain:
                key = _one_key(arg_j)
                if key is not None:
                    return _delete(t, index, (key,), True), index, {key}
            by_key = False
            if t.kind == MAP and not (type(arg_j) is list and arg_j and arg_j[0] == "map"):
                # Not a <map>: ovsdb-server's map parse would fail; it then reads a set of keys.
                by_key = True
            else:
                try:
                    arg = td.datum_from_json(arg_j, symtab)
                except OvsdbError:
                    if t.kind != MAP:
                        raise
                    by_key = True
            if by_key:
                arg = tk.datum_from_json(arg_j, symtab)
            return _delete(t, index, arg, by_key), index, _keys(arg, t.kind == MAP and not by_key)
        return delete
    if mutator not in _INT_OPS:
        raise OvsdbError("unknown mutator", f"No mutator named {mutator}.")
    kt = t.key.type
    if (t.kind == MAP or kt not in (AtomicType.INTEGER, AtomicType.REAL)
            or (mutator == "%=" and kt is AtomicType.REAL)):
        raise _type_mismatch(mj, mutator, name, t)
    ta = Type(BaseType(kt))
    return lambda arg_j, symtab: (_arithmetic(t, index, mutator, ta.datum_from_json(arg_j, symtab)), index, None)


def _plain_string(b: BaseType | None) -> bool:
    return b is not None and b.type is AtomicType.STRING and not b.constrained


# Agents mostly add or remove one key of a string map (external_ids, other_config):
# those two arguments are recognised as such, without the general parse.  Anything
# else, including a string that is not ASCII (it may hold a lone surrogate), takes
# the general parse and gets its results and errors.

def _one_pair(arg_j: Any) -> tuple[str, str] | None:
    """(k, v) if arg_j is ["map", [[k, v]]] of ASCII strings."""
    if type(arg_j) is list and len(arg_j) == 2 and arg_j[0] == "map":
        inner = arg_j[1]
        if type(inner) is list and len(inner) == 1:
            e = inner[0]
            if type(e) is list and len(e) == 2:
                k, v = e
                if type(k) is str and type(v) is str and k.isascii() and v.isascii():
                    return k, v
    return None


def _one_key(arg_j: Any) -> str | None:
    """k if arg_j is ["set", [k]] of an ASCII string: a map's key to delete."""
    if type(arg_j) is list and len(arg_j) == 2 and arg_j[0] == "set":
        inner = arg_j[1]
        if type(inner) is list and len(inner) == 1:
            k = inner[0]
            if type(k) is str and k.isascii():
                return k
    return None


def _keys(arg: tuple, pairs: bool) -> set | None:
    """The few keys (of pairs) or atoms a mutation can change; None if many."""
    if len(arg) > 8:
        return None
    return {p[0] for p in arg} if pairs else set(arg)


def _check_count(t: Type, n: int) -> None:
    if n < t.n_min or n > t.n_max:
        raise OvsdbError("constraint violation", f"Attempted to store {n} elements in {t.to_english()}.")


def _arithmetic(t: Type, index: int, mutator: str, y: Any) -> Callable[[list], None]:
    key = t.key
    is_int = key.type is AtomicType.INTEGER
    op = (_INT_OPS if is_int else _REAL_OPS)[mutator]

    def one(x):
        if mutator in ("/=", "%=") and y == 0:
            raise OvsdbError("domain error", "Division by zero.")
        if is_int and mutator == "%=" and y == -1 and x == INT64_MIN:
            raise OvsdbError("range error", f'Result of "{mutator}" operation is out of range.')
        r = op(x, y)
        if is_int:
            if r < INT64_MIN or r > INT64_MAX:
                raise OvsdbError("range error", f'Result of "{mutator}" operation is out of range.')
        elif not math.isfinite(r):
            raise OvsdbError("range error", f'Result of "{mutator}" operation is out of range.')
        return r

    if t.is_scalar:
        def apply(values: list) -> None:
            r = one(values[index])
            key.check_atom(r)
            values[index] = r
        return apply

    def apply_set(values: list) -> None:
        out = [one(x) for x in values[index]]
        for r in out:
            key.check_atom(r)
        s = sorted(set(out))
        if len(s) != len(out):
            raise OvsdbError("constraint violation", f'Result of "{mutator}" operation contains duplicates.')
        values[index] = tuple(s)
    return apply_set


def _insert(t: Type, index: int, arg: tuple) -> Callable[[list], None]:
    if t.kind == MAP:
        if len(arg) <= 8:
            def apply_few(values: list) -> None:
                cur = values[index]
                new = None
                for p in arg:
                    # (key,) sorts just before every (key, value): the key's place.
                    i = bisect_left(cur if new is None else new, (p[0],))
                    seq = cur if new is None else new
                    if i < len(seq) and seq[i][0] == p[0]:
                        continue  # an existing key keeps its value
                    if new is None:
                        new = list(cur)
                    new.insert(i, p)
                _check_count(t, len(cur) if new is None else len(new))
                if new is not None:
                    values[index] = tuple(new)
            return apply_few

        def apply(values: list) -> None:
            cur = values[index]
            have = dict(cur)
            added = [p for p in arg if p[0] not in have]  # an existing key keeps its value
            _check_count(t, len(cur) + len(added))
            if added:
                values[index] = tuple(sorted(cur + tuple(added)))
        return apply

    def apply_set(values: list) -> None:
        cur = values[index]
        if len(arg) <= 8:
            # A few atoms into a possibly large set: binary insertion keeps it sorted.
            new = list(cur)
            for a in arg:
                i = bisect_left(new, a)
                if i == len(new) or new[i] != a:
                    new.insert(i, a)
        else:
            new = sorted(set(cur).union(arg))
        _check_count(t, len(new))
        if len(new) != len(cur):
            values[index] = tuple(new)
    return apply_set


def _delete(t: Type, index: int, arg: tuple, by_key: bool) -> Callable[[list], None]:
    if t.kind == MAP:
        if by_key and len(arg) <= 8:
            def apply_few_keys(values: list) -> None:
                cur = values[index]
                new = None
                for k in arg:
                    seq = cur if new is None else new
                    i = bisect_left(seq, (k,))
                    if i < len(seq) and seq[i][0] == k:
                        if new is None:
                            new = list(cur)
                        del new[i]
                if new is not None:
                    _check_count(t, len(new))
                    values[index] = tuple(new)
                else:
                    _check_count(t, len(cur))
            return apply_few_keys
        if by_key:
            keys = frozenset(arg)

            def apply(values: list) -> None:
                d = dict(values[index])  # sorted, and stays so as keys go
                for k in keys:
                    d.pop(k, None)
                _check_count(t, len(d))
                values[index] = tuple(d.items())
            return apply
        pairs = frozenset(arg)

        def apply_pairs(values: list) -> None:
            new = tuple(p for p in values[index] if p not in pairs)
            _check_count(t, len(new))
            values[index] = new
        return apply_pairs
    atoms = frozenset(arg)

    def apply_set(values: list) -> None:
        new = tuple(a for a in values[index] if a not in atoms)
        _check_count(t, len(new))
        values[index] = new
    return apply_set
