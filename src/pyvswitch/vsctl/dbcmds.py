"""The generic database commands: list, find, get, set, add, remove, clear,
create, destroy, wait-until, comment.

They work on any table of the schema.  Tables and columns may be named by
any unambiguous case-insensitive prefix ("-" and "_" match each other), as
in OVS.  A record is named by UUID (or a unique prefix of at least 4 hex
digits) or, for the tables listed in `ROW_IDS`, by a name: a value of one of
its own columns, or the name of a row in another table that refers to it
("the NetFlow of bridge br0"), or "." for the only row of Open_vSwitch.

Values are written in OVS's text syntax (pyvswitch.ovsdb.datum_text); row
ids introduced with `--id=@name` may be used wherever a UUID is expected, and
are tracked in the invocation's symbol table.

Each command's `pre_*` function declares what must be fetched; the `cmd_*`
function does the work on the view; `post_create` prints the UUID the server
assigned.
"""

from __future__ import annotations

import math

from pyvswitch.ovsdb.types import Type
from pyvswitch.vsctl.command import CommandSpec, VsctlError
from pyvswitch.vsctl import values

TYPE_CHECKING = False   # importing typing costs every ovs-vsctl call milliseconds
if TYPE_CHECKING:
    from typing import Any

# table -> ways to name a row: (referring table, its name column or None for
# ".", the referring table's column that points at the row, or None when the
# row itself is named).
ROW_IDS: dict[str, tuple[tuple[str, str | None, str | None], ...]] = {
    "AutoAttach": (("Bridge", "name", "auto_attach"),),
    "Bridge": (("Bridge", "name", None),),
    "Controller": (("Bridge", "name", "controller"),),
    "Flow_Sample_Collector_Set": (("Flow_Sample_Collector_Set", "id", None),),
    "Flow_Table": (("Flow_Table", "name", None),),
    "IPFIX": (("Bridge", "name", "ipfix"),),
    "Interface": (("Interface", "name", None),),
    "Manager": (("Manager", "target", None),),
    "Mirror": (("Mirror", "name", None),),
    "NetFlow": (("Bridge", "name", "netflow"),),
    "Open_vSwitch": (("Open_vSwitch", None, None),),
    "Port": (("Port", "name", None),),
    "QoS": (("Port", "name", "qos"),),
    "SSL": (("Open_vSwitch", None, "ssl"),),
    "sFlow": (("Bridge", "name", "sflow"),),
}

FIND_OPERATORS = ("=", "!=", "<", ">", "<=", ">=", "{=}", "{!=}", "{<}", "{>}", "{<=}", "{>=}",
                  "{in}", "{not-in}")
_HEX_OR_DASH = frozenset("0123456789abcdefABCDEF-")


# --- names of tables, columns and rows ---

def _fold(c: str) -> str:
    return "_" if c == "-" else c.lower()


def _score(name: str, s: str) -> int:
    """How well s matches name: exact > complete case-folded > prefix length; 0 = no match."""
    if name == s:
        return 1 << 32
    n = 0
    while True:
        a = name[n] if n < len(name) else ""
        b = s[n] if n < len(s) else ""
        if _fold(a) != _fold(b):
            break
        if a == "":
            return (1 << 32) - 1
        n += 1
    return n if n == len(s) else 0


def _best(names, s: str) -> tuple[str | None, list[str]]:
    """The name s best matches, or (None, the names it matches equally well)."""
    if s in names:
        return s, []   # only an exact match scores that high
    best, best_score, tied = None, 0, []
    for name in names:
        score = _score(name, s)
        if score > best_score:
            best, best_score, tied = name, score, [name]
        elif score and score == best_score:
            tied.append(name)
    return (None, sorted(tied)) if len(tied) > 1 else (best, [])


# Resolved names, by (id of the schema or table schema, name, ...): a call
# that names the same table or column a thousand times matches it once.
_RESOLVED: dict[tuple, tuple] = {}


def _best_cached(owner, names, s: str, *more) -> tuple[str | None, list[str]]:
    key = (id(owner), s, *more)
    hit = _RESOLVED.get(key)
    if hit is None or hit[0] is not owner:
        hit = _RESOLVED[key] = (owner, _best(names, s))
    return hit[1]


def get_table(schema, name: str):
    found, ambiguous = _best_cached(schema, schema.tables, name)
    if ambiguous:
        raise VsctlError(f'"{name}" matches multiple table names: {", ".join(ambiguous)}')
    if found is None:
        raise VsctlError(f'unknown table "{name}"')
    return schema.tables[found]


def get_column(ts, name: str, allow_uuid: bool = True) -> str:
    found, ambiguous = _best_cached(ts, ["_uuid", *ts.columns] if allow_uuid else ts.columns, name, allow_uuid)
    if ambiguous:
        raise VsctlError(f'{ts.name} contains more than one column whose name matches "{name}": '
                         f'{", ".join(ambiguous)}')
    if found is None:
        raise VsctlError(f'{ts.name} does not contain a column whose name matches "{name}"')
    return found


def column_type(ts, column: str) -> Type:
    if column == "_uuid":
        return values.UUID_TYPE
    return ts.columns[column].type


def pre_get_table(ctx, name: str):
    ts = get_table(ctx.schema, name)
    ctx.want(ts.name, ())
    for ref_table, name_col, uuid_col in ROW_IDS.get(ts.name, ()):
        ctx.want(ref_table, [c for c in (name_col, uuid_col) if c])
    return ts


def _row_by_id(ctx, ts, ident, record_id: str):
    ref_table, name_col, uuid_col = ident
    view = ctx.view
    if name_col is None:
        if record_id != ".":
            return None
        rows = view.rows(ref_table)
        referrer = rows[0] if rows else None
    else:
        col_type = ctx.schema.tables[ref_table].columns[name_col].type
        try:
            want = values.atom_from_string(col_type.key, record_id)
        except VsctlError:
            return None
        referrer = None
        # Which row is found does not depend on the order: more than one is an error.
        for row in view.tables.get(ref_table, {}).values():
            if row.deleted:
                continue
            v = row[name_col]
            atoms = v if isinstance(v, tuple) else (v,)
            if len(atoms) == 1 and atoms[0] == want:
                if referrer is not None:
                    raise VsctlError(f'multiple rows in {ref_table} match "{record_id}"')
                referrer = row
    if referrer is None:
        return None
    if uuid_col is None:
        return referrer if ref_table == ts.name else None
    view.verify(referrer, uuid_col)
    v = referrer[uuid_col]
    atoms = v if isinstance(v, tuple) else (v,)
    return view.get(ts.name, atoms[0]) if len(atoms) == 1 else None


def get_row(ctx, ts, record_id: str, must_exist: bool = True):
    view = ctx.view
    row = None
    if values.is_uuid(record_id):
        row = view.get(ts.name, record_id.lower())
    if row is None:
        for ident in ROW_IDS.get(ts.name, ()):
            row = _row_by_id(ctx, ts, ident, record_id)
            if row is not None:
                break
    if row is None and len(record_id) >= 4 and _HEX_OR_DASH.issuperset(record_id):
        prefix = record_id.lower()
        matches = [r for r in view.rows(ts.name) if r.uuid.startswith(prefix)]
        if len(matches) > 1:
            raise VsctlError(f"{len(matches)} rows in {ts.name} match \"{record_id}\"")
        row = matches[0] if matches else None
    if row is None and must_exist:
        raise VsctlError(f'no row "{record_id}" in table {ts.name}')
    return row


# --- "COLUMN[:KEY]=VALUE" arguments ---

def parse_column_key_value(arg: str, ts, operators: tuple[str, ...] | None, value_optional: bool = False):
    """Splits an argument into (column, key text or None, operator, value text or None)."""
    pos, col_name = values.token(arg, 0)
    if not col_name:
        raise VsctlError(f"{arg}: missing column name")
    column = get_column(ts, col_name, allow_uuid=operators is None)
    key = None
    if pos < len(arg) and arg[pos] == ":":
        pos, key = values.token(arg, pos + 1)
    if operators is None:
        if pos != len(arg):
            raise VsctlError(f'{arg}: trailing garbage "{arg[pos:]}" in argument')
        return column, key, None, None
    best = None
    for op in operators:
        if arg.startswith(op, pos) and (best is None or len(op) > len(best)):
            best = op
    if best is None or (pos + len(best) == len(arg) and not value_optional):
        if value_optional and pos == len(arg):
            return column, key, None, None
        ops = [f'"{o}"' for o in operators]
        listed = ops[0] if len(ops) == 1 else ", ".join(ops[:-1]) + ", or " + ops[-1]
        raise VsctlError(f"{arg}: argument does not end in {listed} followed by a value.")
    return column, key, best, arg[pos + len(best):]


def _check_mutable(ts, row, column: str) -> None:
    if column == "_uuid" or (not ts.columns[column].mutable and not row.inserted):
        raise VsctlError(f"cannot modify read-only column {column} in table {ts.name}")


def _no_key(what: str, column: str) -> VsctlError:
    return VsctlError(f"cannot specify key to {what} for non-map column {column}")


# --- list and find ---

def _pre_columns(ctx, ts) -> None:
    spec = ctx.options.get("--columns")
    if spec is None:
        ctx.want(ts.name, None)
        return
    cols = [get_column(ts, c) for c in spec.split(",") if c]
    ctx.want(ts.name, [c for c in cols if c != "_uuid"])


def _columns_to_show(ctx, ts) -> list[str]:
    spec = ctx.options.get("--columns")
    if spec is None:
        return ["_uuid", *sorted(ts.columns)]
    return [get_column(ts, c) for c in spec.split(",") if c]


def _table_output(ctx, ts, rows) -> None:
    cols = _columns_to_show(ctx, ts)
    ctx.table = (ts, cols, [[(column_type(ts, c), r[c]) for c in cols] for r in rows])


def pre_list(ctx) -> None:
    ts = pre_get_table(ctx, ctx.args[0])
    _pre_columns(ctx, ts)


def cmd_list(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    if len(ctx.args) > 1:
        rows = []
        for rid in ctx.args[1:]:
            row = get_row(ctx, ts, rid, must_exist=not ctx.has("--if-exists"))
            if row is not None:
                rows.append(row)
    else:
        rows = ctx.view.rows(ts.name)
    _table_output(ctx, ts, rows)


def pre_find(ctx) -> None:
    ts = pre_get_table(ctx, ctx.args[0])
    _pre_columns(ctx, ts)
    for arg in ctx.args[1:]:
        column, _, _, _ = parse_column_key_value(arg, ts, FIND_OPERATORS)
        ctx.want(ts.name, [column] if column != "_uuid" else [])


def cmd_find(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    rows = [r for r in ctx.view.rows(ts.name)
            if all(condition_holds(ctx, ts, r, arg) for arg in ctx.args[1:])]
    _table_output(ctx, ts, rows)


def _compare(a: Any, b: Any, is_map: bool) -> int:
    """OVS's 3-way datum comparison: by number of elements, then keys, then values."""
    aa = a if isinstance(a, tuple) else (a,)
    bb = b if isinstance(b, tuple) else (b,)
    if len(aa) != len(bb):
        return -1 if len(aa) < len(bb) else 1
    if is_map:
        aa = tuple(k for k, _ in aa) + tuple(v for _, v in aa)
        bb = tuple(k for k, _ in bb) + tuple(v for _, v in bb)
    return (aa > bb) - (aa < bb)


def condition_holds(ctx, ts, row, arg: str) -> bool:
    column, key, op, text = parse_column_key_value(arg, ts, FIND_OPERATORS)
    ctype = column_type(ts, column)
    have = row[column]
    set_op = op.startswith("{")
    symtab = ctx.shared.symtab
    if key is not None:
        if not ctype.is_map:
            raise _no_key("check", column)
        want_key = values.atom_from_string(ctype.key, key, symtab)
        want = values.datum_from_string(Type(ctype.value, None, 0, math.inf), text, symtab)
        pairs = dict(have)
        if want_key not in pairs and not set_op:
            return False
        have = (pairs[want_key],) if want_key in pairs else ()
        is_map = False
    else:
        want = values.datum_from_string(ctype, text, symtab)
        is_map = ctype.is_map
    if not set_op:
        c = _compare(have, want, is_map)
        return {"=": c == 0, "!=": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]
    hs = set(have) if isinstance(have, tuple) else {have}
    ws = set(want) if isinstance(want, tuple) else {want}
    return {"{=}": hs == ws, "{!=}": hs != ws, "{<}": hs < ws, "{>}": hs > ws, "{<=}": hs <= ws,
            "{>=}": hs >= ws, "{in}": hs <= ws, "{not-in}": not (hs & ws)}[op]


# --- get ---

def _pre_record_columns(ctx, operators) -> None:
    """Fetches the columns named by `TABLE RECORD COLUMN[:KEY][OP VALUE]...` arguments."""
    ts = pre_get_table(ctx, ctx.args[0])
    for arg in ctx.args[2:]:
        column, _, _, _ = parse_column_key_value(arg, ts, operators)
        if column != "_uuid":
            ctx.want(ts.name, [column])


def pre_get(ctx) -> None:
    _pre_record_columns(ctx, None)


def cmd_get(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    record = ctx.args[1]
    must_exist = not ctx.has("--if-exists")
    ident = ctx.options.get("--id")
    if ident is not None and not must_exist:
        raise VsctlError("--if-exists and --id may not be specified together")
    row = get_row(ctx, ts, record, must_exist)
    if row is None:
        return
    if ident is not None:
        used = ctx.shared.symbols.get(ident)
        if used is not None and not used.created:
            raise VsctlError(f'row id "{ident}" specified on "get" command was used before it was defined')
        sym = ctx.shared.create_symbol(ident)
        sym.uuid = row.uuid
        sym.strong_ref = True
    for arg in ctx.args[2:]:
        column, key, _, _ = parse_column_key_value(arg, ts, None)
        if column != "_uuid":
            ctx.view.verify(row, column)
        ctype = column_type(ts, column)
        value = row[column]
        if key is not None:
            if not ctype.is_map:
                raise _no_key("get", column)
            k = values.atom_from_string(ctype.key, key, ctx.shared.symtab)
            pairs = dict(value)
            if k not in pairs:
                if must_exist:
                    raise VsctlError(f'no key "{key}" in {ts.name} record "{record}" column {column}')
                ctx.print()
                continue
            ctx.print(values.atom_to_string(ctype.value, pairs[k]))
        else:
            ctx.print(values.datum_to_string(ctype, value))


# --- set, add, remove, clear ---

def pre_set(ctx) -> None:
    ts = pre_get_table(ctx, ctx.args[0])
    for arg in ctx.args[2:]:
        column, _, _, _ = parse_column_key_value(arg, ts, ("=",))
        if column != "_uuid":
            ctx.want(ts.name, [column])


def set_column(ctx, ts, row, arg: str) -> str:
    """Applies one "COLUMN[:KEY]=VALUE" to row (shared by set, create, add-port...);
    returns the column's name."""
    column, key, _, text = parse_column_key_value(arg, ts, ("=",))
    _check_mutable(ts, row, column)
    ctype = column_type(ts, column)
    symtab = ctx.shared.symtab
    if key is not None:
        if not ctype.is_map:
            raise _no_key("set", column)
        k = values.atom_from_string(ctype.key, key, symtab)
        v = values.atom_from_string(ctype.value, text, symtab)
        ctx.shared.note_refs(Type(ctype.key, ctype.value, 0, math.inf), ((k, v),))
        pairs = dict(row[column])
        had = k in pairs
        pairs[k] = v
        result = tuple(sorted(pairs.items()))
        if had:
            ctx.view.mutate(row, column, "delete", (k,), tuple(p for p in row[column] if p[0] != k))
        ctx.view.mutate(row, column, "insert", ((k, v),), result)
    else:
        value = values.datum_from_string(ctype, text, symtab)
        ctx.shared.note_refs(ctype, value)
        ctx.view.write(row, column, value)
    return column


def cmd_set(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    row = get_row(ctx, ts, ctx.args[1], must_exist=not ctx.has("--if-exists"))
    if row is None:
        return
    ctx.shared.invalidate_cache(ts.name, [set_column(ctx, ts, row, arg) for arg in ctx.args[2:]])


def pre_add_remove(ctx) -> None:
    ts = pre_get_table(ctx, ctx.args[0])
    column = get_column(ts, ctx.args[2])
    if column != "_uuid":
        ctx.want(ts.name, [column])


def _elements(ctx, ctype: Type, texts: list[str], keys_ok: bool) -> tuple[tuple, tuple]:
    """Parses add/remove arguments into (elements, keys): elements is a set
    or map of the column's types; keys (for `remove` on a map) are the
    arguments that name only a key."""
    whole = Type(ctype.key, ctype.value, 0, math.inf)
    out: list = []
    keys: list = []
    for text in texts:
        if ctype.is_map and keys_ok:
            try:
                d = values.datum_from_string(whole, text, ctx.shared.symtab)
            except VsctlError:
                key_set = Type(ctype.key, None, 0, math.inf)
                keys.extend(values.datum_from_string(key_set, text, ctx.shared.symtab))
                continue
        else:
            d = values.datum_from_string(whole, text, ctx.shared.symtab)
        out.extend(d)
    return tuple(out), tuple(keys)


def cmd_add(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    row = get_row(ctx, ts, ctx.args[1], must_exist=not ctx.has("--if-exists"))
    if row is None:
        return
    column = get_column(ts, ctx.args[2])
    _check_mutable(ts, row, column)
    ctype = column_type(ts, column)
    added, _ = _elements(ctx, ctype, ctx.args[3:], keys_ok=False)
    ctx.shared.note_refs(Type(ctype.key, ctype.value, 0, math.inf), added)
    current = row[column]
    if ctype.is_map:
        pairs = dict(current)
        replaced = tuple(sorted({k for k, _ in added if k in pairs}))
        pairs.update(added)
        result = tuple(sorted(pairs.items()))
        arg = tuple(sorted(dict(added).items()))
        if replaced:
            ctx.view.mutate(row, column, "delete", replaced, tuple(p for p in current if p[0] not in replaced))
    else:
        cur = current if isinstance(current, tuple) else (current,)
        result = tuple(sorted(set(cur) | set(added)))
        arg = tuple(sorted(set(added)))
        if ctype.is_scalar:
            result = result[0] if len(result) == 1 else result
    ctx.view.mutate(row, column, "insert", arg, result)
    ctx.shared.invalidate_cache()


def cmd_remove(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    row = get_row(ctx, ts, ctx.args[1], must_exist=not ctx.has("--if-exists"))
    if row is None:
        return
    column = get_column(ts, ctx.args[2])
    _check_mutable(ts, row, column)
    ctype = column_type(ts, column)
    removed, keys = _elements(ctx, ctype, ctx.args[3:], keys_ok=True)
    ctx.view.verify(row, column)
    current = row[column]
    if ctype.is_map:
        pairs = dict(current)
        for k in keys:
            pairs.pop(k, None)
        for k, v in removed:
            if k in pairs and pairs[k] == v:
                del pairs[k]
        result = tuple(sorted(pairs.items()))
        n_kind = "pairs"
    else:
        cur = current if isinstance(current, tuple) else (current,)
        result = tuple(a for a in cur if a not in set(removed))
        n_kind = "values"
    if len(result) < ctype.n_min:
        raise VsctlError(f'"remove" operation would put {len(result)} {n_kind} in column {column} of '
                         f'table {ts.name} but the minimum number is {ctype.n_min}')
    if ctype.is_scalar:
        result = result[0]
    ctx.view.write(row, column, result)
    ctx.shared.invalidate_cache()


def pre_clear(ctx) -> None:
    ts = pre_get_table(ctx, ctx.args[0])
    for arg in ctx.args[2:]:
        column = get_column(ts, arg)
        if column != "_uuid":
            ctx.want(ts.name, [column])


def cmd_clear(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    row = get_row(ctx, ts, ctx.args[1], must_exist=not ctx.has("--if-exists"))
    if row is None:
        return
    for arg in ctx.args[2:]:
        column = get_column(ts, arg)
        _check_mutable(ts, row, column)
        ctype = column_type(ts, column)
        if ctype.n_min > 0:
            raise VsctlError(f'"clear" operation cannot be applied to column {column} of table {ts.name}, '
                             "which is not allowed to be empty")
        ctx.view.write(row, column, ())
    ctx.shared.invalidate_cache()


# --- create and destroy ---

def pre_create(ctx) -> None:
    ts = pre_get_table(ctx, ctx.args[0])
    for arg in ctx.args[1:]:
        column, _, _, _ = parse_column_key_value(arg, ts, ("=",))
        if column != "_uuid":
            ctx.want(ts.name, [column])


def cmd_create(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    ident = ctx.options.get("--id")
    uuid = None
    if ident is not None:
        sym = ctx.shared.create_symbol(ident)
        uuid = sym.uuid
        ctx.data["symbol"] = sym
        ctx.data["table"] = ts
    elif not ts.is_root:
        ctx.shared.warn("db_ctl_base", f'applying "create" command to table {ts.name} without --id option '
                                       "will have no effect")
    row = ctx.view.insert(ts.name, uuid)
    for arg in ctx.args[1:]:
        set_column(ctx, ts, row, arg)
    ctx.data["uuid"] = row.uuid
    ctx.shared.invalidate_cache()


def post_create(ctx) -> None:
    uuid = ctx.data.get("uuid")
    if uuid is None:
        return
    ctx.print(ctx.view.resolve(uuid))


def pre_destroy(ctx) -> None:
    pre_get_table(ctx, ctx.args[0])


def cmd_destroy(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    records = ctx.args[1:]
    if ctx.has("--all") and records:
        raise VsctlError("--all and records argument should not be specified together")
    if not ctx.has("--all") and not records:
        ctx.shared.warn("db_ctl_base", "either --all or records argument should be specified")
        return
    if ctx.has("--all"):
        for row in ctx.view.rows(ts.name):
            ctx.view.delete(row)
    else:
        for rid in records:
            row = get_row(ctx, ts, rid, must_exist=not ctx.has("--if-exists"))
            if row is not None:
                ctx.view.delete(row)
    ctx.shared.invalidate_cache()


# --- wait-until and comment ---

def pre_wait_until(ctx) -> None:
    _pre_record_columns(ctx, FIND_OPERATORS)


def cmd_wait_until(ctx) -> None:
    ts = get_table(ctx.schema, ctx.args[0])
    row = get_row(ctx, ts, ctx.args[1], must_exist=False)
    if row is None or not all(condition_holds(ctx, ts, row, a) for a in ctx.args[2:]):
        ctx.try_again = True


def cmd_comment(ctx) -> None:
    return None


COMMANDS = (
    CommandSpec.make("comment", "*ARG", cmd_comment, read_only=True),
    CommandSpec.make("get", "!TABLE !RECORD *COLUMN?:KEY", cmd_get, pre_get,
                     options="--if-exists,--id=", read_only=True),
    CommandSpec.make("list", "!TABLE *RECORD", cmd_list, pre_list,
                     options="--if-exists,--columns=", read_only=True),
    CommandSpec.make("find", "!TABLE *COLUMN?:KEY=VALUE", cmd_find, pre_find,
                     options="--columns=", read_only=True),
    CommandSpec.make("set", "!TABLE !RECORD +COLUMN?:KEY=VALUE", cmd_set, pre_set, options="--if-exists"),
    CommandSpec.make("add", "!TABLE !RECORD !COLUMN +?KEY=VALUE", cmd_add, pre_add_remove,
                     options="--if-exists"),
    CommandSpec.make("remove", "!TABLE !RECORD !COLUMN +KEY|VALUE|KEY=VALUE", cmd_remove, pre_add_remove,
                     options="--if-exists"),
    CommandSpec.make("clear", "!TABLE !RECORD +COLUMN", cmd_clear, pre_clear, options="--if-exists"),
    CommandSpec.make("create", "!TABLE +COLUMN?:KEY=VALUE", cmd_create, pre_create, post_create,
                     options="--id="),
    CommandSpec.make("destroy", "!TABLE *RECORD", cmd_destroy, pre_destroy, options="--if-exists,--all"),
    CommandSpec.make("wait-until", "!TABLE !RECORD *COLUMN?:KEY=VALUE", cmd_wait_until, pre_wait_until,
                     read_only=True),
)
