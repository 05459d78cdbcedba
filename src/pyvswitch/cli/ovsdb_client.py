"""ovsdb-client: the OVSDB command-line client, as in Open vSwitch 3.1.

Usage: ovsdb-client [OPTIONS] COMMAND [SERVER] [DATABASE] [ARG...]

Each command is a row of `COMMANDS`: its name, whether it needs a database,
its argument counts and the function that runs it.  The server argument is
optional (an argument that starts with a method name and ':' is a remote; the
default is unix:RUNDIR/db.sock; "a,b" tries each in turn), and so is the
database (the first argument names it when the command has arguments to
spare and the server has a database of that name; otherwise the server's only
database, or Open_vSwitch).

Output is byte-for-byte what ovsdb-client 3.1 prints.  Details that make that
hold: dump sorts tables and columns by name and rows by their values (columns
without uuids first); list-tables, list-columns and the rows of monitor
updates come out in the order OVS's hash tables iterate JSON objects
(pyvswitch.ovsdb.member_order), which depends on the order of the
members on the wire; numbers are typed as OVS's JSON parser types them.
Tables are printed by pyvswitch.ovsdb.table_format.

Monitors (monitor, monitor-cond, monitor-cond-since) print the initial
contents, then each update, until killed; the daemon options apply to them
only, and --detach lets the parent exit once the initial contents are out.

Most calls are one request (list-dbs, get-schema, transact, dump), so the
start-up is kept lean as ovs-vsctl's is (see pyvswitch.launchers): `posix`
and `_signal` rather than os and signal, no re, typing or dataclasses, and
pyvswitch.daemon imported only when a daemon option is given;
tests/ovsdb/client/test_client_startup.py keeps it so.  `main` returns the
exit status (the lean launcher then skips the interpreter's teardown), and
the commands that run until killed switch the garbage collector back on.
"""

from __future__ import annotations

import _signal
import gc
import math
import posix
import sys
import time

from pyvswitch import OVS_COMPAT_VERSION, vlog
from pyvswitch.cli.options import SSL_KEY_OPTIONS, Arg, Option, OptionError, parse
from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.types import ZERO_UUID, is_uuid
from pyvswitch.ovsdb.client import Client, ClientError, ConnectionClosed, RpcError, SslConfig
from pyvswitch.ovsdb.table_format import (Datum, JsonCell, NumberOutOfRange, Style, Table, TablePrinter,
                                          json_loads, json_to_string)

TYPE_CHECKING = False   # typing costs a one-shot call more than the real tool's whole call
if TYPE_CHECKING:
    from typing import Any, Callable

PROGRAM = "ovsdb-client"


class Fatal(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Context:
    """What one run knows: output style and stream, the connection, the
    chosen server and database, the options that affect commands."""

    __slots__ = ("style", "out", "rpc", "server", "database", "command", "timestamp", "force", "timeout",
                 "daemon", "db_change_aware", "ssl")

    def __init__(self, style: Style, out: Any) -> None:
        self.style = style
        self.out = out
        self.rpc: Client | None = None
        self.server = ""
        self.database = ""
        self.command = ""
        self.timestamp = False
        self.force = False
        self.timeout: float | None = None
        self.daemon = None
        self.db_change_aware = True
        self.ssl: SslConfig | None = None

    def initial_printed(self) -> None:
        """Monitors: the initial contents are out, so --detach may now let
        the parent exit.  Unlike other daemons, ovsdb-client keeps writing
        to its stdout and stderr once detached."""
        if self.daemon is None:
            return
        self.out.flush()
        saved = [posix.dup(1), posix.dup(2)]
        try:
            self.daemon.complete()
        finally:
            posix.dup2(saved[0], 1)
            posix.dup2(saved[1], 2)
            for fd in saved:
                posix.close(fd)

    def printer(self) -> TablePrinter:
        return TablePrinter(self.style)

    def call(self, method: str, params: list, failure: str = "transaction failed") -> Any:
        """The result of one request; a lost connection is fatal, worded
        `failure (reason)` as ovsdb-client words it."""
        try:
            return self.rpc.call(method, params)
        except RpcError:
            raise
        except ConnectionClosed as e:
            raise Fatal(f"{failure} ({e})") from None

    def schema(self, db: str | None = None):
        """(schema JSON, parsed DatabaseSchema) of db (default: the chosen database)."""
        from pyvswitch.ovsdb.schema import DatabaseSchema

        j = self.call("get_schema", [db or self.database])
        return j, DatabaseSchema.from_json(j)


# --- orders ---

def _hash_order(keys) -> list[str]:
    from pyvswitch.ovsdb.member_order import ovs_member_order

    return ovs_member_order(keys)


def table_order(schema_json: dict) -> list[str]:
    """Tables in the order ovsdb-client iterates a schema it parsed."""
    return _hash_order(_hash_order(schema_json["tables"]))


def column_order(table_json: dict) -> list[str]:
    return _hash_order(["_uuid", "_version"] + _hash_order(table_json["columns"]))


# --- commands ---

def cmd_list_dbs(ctx: Context, args: list[str]) -> int:
    for name in sorted(ctx.call("list_dbs", [], "list_dbs request failed")):
        ctx.out.write(name + "\n")
    return 0


def cmd_get_schema(ctx: Context, args: list[str]) -> int:
    _, schema = ctx.schema()
    ctx.out.write(json_to_string(schema.to_json(), sort_keys=True, pretty=ctx.style.pretty) + "\n")
    return 0


def cmd_get_schema_version(ctx: Context, args: list[str]) -> int:
    _, schema = ctx.schema()
    ctx.out.write(schema.version + "\n")
    return 0


def cmd_get_schema_cksum(ctx: Context, args: list[str]) -> int:
    _, schema = ctx.schema()
    ctx.out.write(schema.cksum + "\n")
    return 0


def cmd_list_tables(ctx: Context, args: list[str]) -> int:
    sj, _ = ctx.schema()
    t = Table(["Table"])
    for name in table_order(sj):
        t.add_row([name])
    ctx.out.write(ctx.printer().format(t))
    return 0


def _type_json(schema, table: str, column: str) -> Any:
    if column in ("_uuid", "_version"):
        return "uuid"
    return schema.tables[table].columns[column].type.to_json()


def cmd_list_columns(ctx: Context, args: list[str]) -> int:
    sj, schema = ctx.schema()
    if args:
        # An unknown table lists no columns, as ovsdb-client does.
        tables = [args[0]] if args[0] in schema.tables else []
        t = Table(["Column", "Type"])
    else:
        tables = table_order(sj)
        t = Table(["Table", "Column", "Type"])
    for tname in tables:
        for col in column_order(sj["tables"][tname]):
            cells = [col, JsonCell(_type_json(schema, tname, col))]
            t.add_row(cells if args else [tname] + cells)
    ctx.out.write(ctx.printer().format(t))
    return 0


def parse_json_arg(text: str) -> Any:
    try:
        return json_loads(text)
    except NumberOutOfRange as e:
        # OVS reports the position just after the number.
        end = text.find(e.args[0]) + len(e.args[0])
        line = text.count("\n", 0, end)
        col = end - (text.rfind("\n", 0, end) + 1)
        nbytes = len(text[:end].encode())
        raise Fatal(f'"{text}": line {line}, column {col}, byte {nbytes}: number outside valid range') from None
    except (ValueError, RecursionError) as e:
        from pyvswitch.ovsdb.log import json_error_text

        why = json_error_text(text) or f"line 0, column 0, byte 0: {e}"
        raise Fatal(f'"{text}": {why}') from None


def _transact(ctx: Context, text: str, abort: bool) -> int:
    request = parse_json_arg(text)
    if not isinstance(request, list) or not request or not isinstance(request[0], str):
        raise Fatal("not a valid OVSDB query")
    if abort:
        request = request + [{"op": "abort"}]
    try:
        result = ctx.call("transact", request)
    except RpcError as e:
        raise Fatal(f"transaction returned error: {json_to_string(e.error, sort_keys=True)}") from None
    if abort and isinstance(result, list) and result:
        # Drop the result of our own "abort", if the server got that far.
        last = result[-1]
        if isinstance(last, dict) and last.get("error") == "aborted":
            result = result[:-1]
    ctx.out.write(json_to_string(result, sort_keys=True, pretty=ctx.style.pretty) + "\n")
    return 0


def cmd_transact(ctx: Context, args: list[str]) -> int:
    return _transact(ctx, args[0], abort=False)


def cmd_query(ctx: Context, args: list[str]) -> int:
    return _transact(ctx, args[0], abort=True)


def _row_sort_key(types: list) -> Callable[[list], tuple]:
    """The key that orders dump's rows as ovsdb-client does: by each column
    in turn, first the columns without uuids (uuids are random, so they make
    a poor order), then the others; a datum sorts by its number of elements,
    then atom by atom."""
    order = ([i for i, t in enumerate(types) if not _has_uuid(t)] +
             [i for i, t in enumerate(types) if _has_uuid(t)])
    scalar = [types[i].is_scalar for i in order]

    def key(values: list) -> tuple:
        return tuple(values[i] if s else (len(values[i]), values[i]) for i, s in zip(order, scalar))
    return key


def cmd_dump(ctx: Context, args: list[str]) -> int:
    sj, schema = ctx.schema()
    if args:
        tname = args[0]
        if tname not in schema.tables:
            raise Fatal(f'No table "{tname}" found.')
        for c in args[1:]:
            if c not in schema.tables[tname].columns and c not in ("_uuid", "_version"):
                raise Fatal(f'Table "{tname}" has no column {c}.')
        # _version is never dumped; the others are requested in the order of
        # OVS's hash table of names, duplicates included (the server refuses
        # those, and the error says so).
        given = [c for c in args[1:] if c != "_version"]
        tables = [(tname, _hash_order(given) if args[1:] else None)]
    else:
        tables = [(t, None) for t in sorted(schema.tables)]
    ops = []
    for tname, cols in tables:
        if cols is None:
            cols = [c for c in column_order(sj["tables"][tname]) if c != "_version"]
        ops.append({"op": "select", "table": tname, "where": [], "columns": cols})
    try:
        results = ctx.call("transact", [ctx.database] + ops)
    except RpcError as e:
        raise Fatal(f"transaction returned error: {json_to_string(e.error, sort_keys=True)}") from None
    printer = ctx.printer()
    for op, r in zip(ops, results):
        tname = op["table"]
        if not isinstance(r, dict) or not isinstance(r.get("rows"), list):
            raise Fatal(f'{tname} table reply is not an object with a "rows" member array: '
                        f'{json_to_string(_in_hash_order(r))}')
        cols = sorted(op["columns"])
        types = [_column_type(schema, tname, c) for c in cols]
        rows = []
        for row in r["rows"]:
            rows.append([t.datum_from_json(row[c]) for t, c in zip(types, cols)])
        rows.sort(key=_row_sort_key(types))
        t = Table(cols, caption=f"{tname} table")
        for values in rows:
            t.add_row([Datum(ty, v) for ty, v in zip(types, values)])
        ctx.out.write(printer.format(t))
    return 0


def _in_hash_order(j: Any) -> Any:
    """j with every object's members in the order OVS prints an unsorted object."""
    if isinstance(j, dict):
        return {k: _in_hash_order(j[k]) for k in _hash_order(j)}
    if isinstance(j, list):
        return [_in_hash_order(x) for x in j]
    return j


def _has_uuid(t) -> bool:
    from pyvswitch.ovsdb.types import AtomicType

    return t.key.type is AtomicType.UUID or (t.value is not None and t.value.type is AtomicType.UUID)


_UUID_TYPE = None


def _uuid_type():
    global _UUID_TYPE
    if _UUID_TYPE is None:
        from pyvswitch.ovsdb.types import Type

        _UUID_TYPE = Type.from_json("uuid")
    return _UUID_TYPE


def _column_type(schema, table: str, column: str):
    if column in ("_uuid", "_version"):
        return _uuid_type()
    return schema.tables[table].columns[column].type


# --- monitor ---

_SELECTS = {"!initial": "initial", "!insert": "insert", "!delete": "delete", "!modify": "modify"}


class MonitoredTable:
    """One table of a monitor: its name, the columns as printed, in order,
    and the monitor requests for it."""

    __slots__ = ("name", "columns", "requests")

    def __init__(self, name: str, columns: list[str], requests: list[dict]) -> None:
        self.name = name
        self.columns = columns
        self.requests = requests


def _monitor_requests(ctx: Context, schema, tname: str, specs: list[str]) -> MonitoredTable:
    where = f"{ctx.server}: "
    if tname not in schema.tables:
        # Only "monitor" names the server in this message.
        prefix = where if ctx.command == "monitor" else ""
        raise Fatal(f'{prefix}{ctx.database} does not have a table named "{tname}"')
    ts = schema.tables[tname]
    all_cols = sorted(ts.columns) + ["_version"]
    requests = []
    printed: list[str] = []
    seen: set[str] = set()
    for spec in specs or [""]:
        cols: list[str] = []
        select = {"initial": True, "insert": True, "delete": True, "modify": True}
        for word in spec.split(","):
            if not word:
                continue
            if word in _SELECTS:
                select[_SELECTS[word]] = False
            elif word in ts.columns or word in ("_uuid", "_version"):
                cols.append(word)
            else:
                raise Fatal(f'{where}table "{tname}" in {ctx.database} does not have a column named "{word}"')
        if not cols:
            cols = all_cols
        for c in cols:
            if c in seen:
                raise Fatal(f'{where}column "{c}" mentioned multiple times')
            seen.add(c)
            printed.append(c)
        req: dict[str, Any] = {"columns": cols}
        if not all(select.values()):
            req["select"] = select
        requests.append(req)
    return MonitoredTable(tname, printed, requests)


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + ".%03d" % (int(now * 1000) % 1000)


def _print_updates(ctx: Context, printer: TablePrinter, schema, tables: list[MonitoredTable],
                   updates: Any, initial: bool, version2: bool, caption: str | None = None) -> None:
    if not isinstance(updates, dict):
        return
    stamp = _timestamp() if ctx.timestamp else None
    for mt in tables:
        tu = updates.get(mt.name)
        if not isinstance(tu, dict):
            continue
        types = [_column_type(schema, mt.name, c) for c in mt.columns]
        t = Table(["row", "action"] + mt.columns,
                  caption=mt.name if len(tables) > 1 else caption,
                  timestamp=stamp)
        for uuid in _hash_order(tu):
            ru = tu[uuid]
            if not isinstance(ru, dict):
                continue
            if version2:
                for action in ("initial", "insert", "delete", "modify"):
                    if action in ru:
                        _add_row(t, uuid, action, ru[action], mt.columns, types, diff=action == "modify")
                        break
                continue
            old, new = ru.get("old"), ru.get("new")
            if old is None and new is not None:
                _add_row(t, uuid, "initial" if initial else "insert", new, mt.columns, types)
            elif new is None and old is not None:
                _add_row(t, uuid, "delete", old, mt.columns, types)
            elif old is not None:
                _add_row(t, uuid, "old", old, mt.columns, types)
                _add_row(t, "", "new", new, mt.columns, types)
        ctx.out.write(printer.format(t))
    ctx.out.flush()


def _add_row(t: Table, uuid: str, action: str, row: Any, columns: list[str], types: list,
             diff: bool = False) -> None:
    cells: list[Any] = [uuid, action]
    row = row if isinstance(row, dict) else {}
    for c, ty in zip(columns, types):
        if c not in row:
            cells.append(None)
            continue
        if diff and not ty.is_scalar:
            ty = ty.with_bounds(0, math.inf)
        try:
            cells.append(Datum(ty, ty.datum_from_json(row[c])))
        except Exception:
            cells.append(JsonCell(row[c]))
    t.add_row(cells)


def _run_monitor(ctx: Context, args: list[str], method: str) -> int:
    sj, schema = ctx.schema()
    last_id = None
    if method == "monitor_cond_since" and args and is_uuid(args[0]):
        last_id = args.pop(0)
    if method != "monitor":
        if len(args) < 2:
            raise Fatal(f"invalid syntax for '{ctx.command}' (use --help for help)")
        cond_text = args[0]
        args = args[1:]
    if args and args[0] == "ALL" and method == "monitor":
        if len(args) > 1:
            raise Fatal("ALL tables are being monitored; no other table can be given")
        tables = [_monitor_requests(ctx, schema, tn, []) for tn in sorted(schema.tables)]
    else:
        tables = [_monitor_requests(ctx, schema, args[0], args[1:])]
    # The tables and columns are checked before the condition is parsed.
    cond = parse_json_arg(cond_text) if method != "monitor" else None
    requests: dict[str, Any] = {}
    for mt in tables:
        reqs = mt.requests
        if cond is not None:
            reqs = [dict(r, where=cond) for r in reqs]
        requests[mt.name] = reqs
    if ctx.db_change_aware:
        # As the real client does, so that the server keeps us across
        # schema conversions and database removals.
        ctx.call("set_db_change_aware", [True])
    params: list[Any] = [ctx.database, None, requests]
    if method == "monitor_cond_since":
        params.append(last_id or ZERO_UUID)
    try:
        initial = ctx.call(method, params)
    except RpcError as e:
        raise Fatal(f"{ctx.server}: {method} failed: {json_to_string(e.error, sort_keys=True)}") from None
    version2 = method != "monitor"
    printer = ctx.printer()
    caption = None
    if method == "monitor_cond_since":
        # The reply is [found, last-id, updates]; the first two head the table.
        found, last, initial = initial
        caption = f"found: {'true' if found else 'false'}, last_id: {last}"
    _print_updates(ctx, printer, schema, tables, initial, True, version2, caption)
    ctx.initial_printed()
    update = {"monitor": "update", "monitor_cond": "update2", "monitor_cond_since": "update3"}[method]
    while True:
        try:
            note = ctx.rpc.next_notification()
        except ConnectionClosed:
            return 0
        if note.method != update or len(note.params) < 2:
            continue
        if update == "update3" and len(note.params) >= 3:
            _print_updates(ctx, printer, schema, tables, note.params[2], False, True,
                           f"last_id: {note.params[1]}")
        else:
            _print_updates(ctx, printer, schema, tables, note.params[1], False, version2)


def cmd_monitor(ctx: Context, args: list[str]) -> int:
    return _run_monitor(ctx, args, "monitor")


def cmd_monitor_cond(ctx: Context, args: list[str]) -> int:
    return _run_monitor(ctx, args, "monitor_cond")


def cmd_monitor_cond_since(ctx: Context, args: list[str]) -> int:
    return _run_monitor(ctx, args, "monitor_cond_since")


# --- schema conversion ---

def _read_schema(path: str):
    from pyvswitch.ovsdb.schema import DatabaseSchema

    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise Fatal(f'failed to read schema: "{path}" could not be read as JSON '
                    f'(error opening "{path}": {posix.strerror(e.errno)})') from None
    try:
        j = json_loads(text)
        return j, DatabaseSchema.from_json(j)
    except ValueError as e:
        raise Fatal(f'failed to read schema: "{path}" could not be read as JSON ({e})') from None
    except OvsdbError as e:
        raise Fatal(f"failed to read schema: {e}") from None


def cmd_needs_conversion(ctx: Context, args: list[str]) -> int:
    from pyvswitch.ovsdb.schema import DatabaseSchema

    _, schema = _read_schema(args[0])
    current = DatabaseSchema.from_json(ctx.call("get_schema", [schema.name]))
    ctx.out.write("no\n" if current.to_json() == schema.to_json() else "yes\n")
    return 0


def cmd_convert(ctx: Context, args: list[str]) -> int:
    j, schema = _read_schema(args[0])
    try:
        ctx.call("convert", [schema.name, schema.to_json()])
    except RpcError as e:
        raise Fatal(json_to_string(e.error, sort_keys=True)) from None
    return 0


# --- wait ---

_WAIT_STATES = ("added", "connected", "removed")


def cmd_wait(ctx: Context, args: list[str]) -> int:
    """Waits until database args[0] is added to, connected in or removed from
    the server.  Like OVS, this keeps a reconnecting session: a server that
    is not up yet, or goes away, is tried again after 1, 2, 4, then every 8
    seconds."""
    log = vlog.module("reconnect")
    remotes = ctx.server.split(",")
    backoff = 0
    attempt = 0
    while True:
        remote = remotes[attempt % len(remotes)]
        attempt += 1
        log.info("%s: connecting...", remote)
        try:
            ctx.rpc = Client.open(remote, ctx.ssl)
        except ClientError as e:
            log.info("%s: connection attempt failed (%s)", remote, _reason(e))
        else:
            log.info("%s: connected", remote)
            try:
                if _wait_once(ctx, *args):
                    return 0
            except ConnectionClosed:
                log.info("%s: connection closed by peer", remote)
            ctx.rpc.close()
            ctx.rpc = None
        backoff = min(backoff * 2, 8) if backoff else 1
        if backoff > 1:
            log.info("%s: waiting %d seconds before reconnect", remote, backoff)
        time.sleep(backoff)


def _wait_once(ctx: Context, db: str, state: str) -> bool:
    """Watches the server's _Server database until db reaches state."""
    where = [["name", "==", db]]
    requests = {"Database": [{"columns": ["name", "connected"], "where": where}]}
    rows: dict[str, dict] = {}

    def apply(updates: Any) -> None:
        for uuid, ru in (updates or {}).get("Database", {}).items():
            if "delete" in ru:
                rows.pop(uuid, None)
            for k in ("initial", "insert", "modify"):
                if k in ru:
                    rows.setdefault(uuid, {}).update(ru[k])

    def reached() -> bool:
        if state == "removed":
            return not rows
        return bool(rows) and (state == "added" or any(r.get("connected", True) for r in rows.values()))
    try:
        apply(ctx.rpc.call("monitor_cond", ["_Server", None, requests]))
    except RpcError as e:
        raise Fatal(f"{ctx.server}: monitor_cond failed: {json_to_string(e.error, sort_keys=True)}") from None
    while not reached():
        note = ctx.rpc.next_notification()
        if note.method == "update2" and len(note.params) >= 2:
            apply(note.params[1])
    return True


def _reason(e: ClientError) -> str:
    """The parenthesized reason at the end of a connection error."""
    text = str(e)
    return text[text.rfind("(") + 1:-1] if text.endswith(")") else text


# --- backup and restore ---

def cmd_backup(ctx: Context, args: list[str]) -> int:
    """Writes a standalone database file: the schema record, then one record
    holding every row (as ovsdb-tool compact would write it)."""
    sj, schema = ctx.schema()
    names = table_order(sj)
    # Ephemeral columns are not backed up, as they are not kept on disk.
    ops = [{"op": "select", "table": n, "where": [],
            "columns": [c for c in column_order(sj["tables"][n])
                        if c == "_uuid" or (c != "_version" and not schema.tables[n].columns[c].ephemeral)]}
           for n in names]
    results = ctx.call("transact", [ctx.database] + ops)
    record: dict[str, Any] = {}
    for name, r in zip(names, results):
        if not isinstance(r, dict) or "rows" not in r:
            raise Fatal(f"transaction returned error: {json_to_string(r, sort_keys=True)}")
        rows = {}
        for row in r["rows"]:
            # The row as received, less its _uuid: OVS removes that member
            # from the object it parsed, which leaves the others' order.
            rows[row["_uuid"][1]] = {c: row[c] for c in _hash_order(row) if c != "_uuid"}
        if rows:
            record[name] = {u: rows[u] for u in _hash_order(rows)}
    record["_comment"] = 'produced by "ovsdb-client backup"'
    record["_is_diff"] = True
    record["_date"] = int(time.time() * 1000)
    record = {k: record[k] for k in _hash_order(record)}
    # Objects in OVS's order and numbers in its format, so that the file is
    # byte for byte what the real client writes (the date aside).
    data = _record_bytes(_in_hash_order(_schema_json(sj, schema))) + _record_bytes(record)
    ctx.out.flush()
    out = getattr(ctx.out, "buffer", None)
    if out is not None:
        out.write(data)
        out.flush()
    else:
        ctx.out.write(data.decode())
    return 0


def _schema_json(sj: dict, schema) -> dict:
    """schema.to_json() with tables and columns inserted in the order OVS
    iterates them, which decides the order it writes them in."""
    j = schema.to_json()
    tables = {}
    for tname in table_order(sj):
        t = j["tables"][tname]
        cols = {c: t["columns"][c] for c in column_order(sj["tables"][tname]) if c in t["columns"]}
        tables[tname] = {k: cols if k == "columns" else t[k]
                         for k in ("columns", "isRoot", "maxRows", "indexes") if k in t}
    j["tables"] = tables
    return j


def _record_bytes(j: Any) -> bytes:
    """One standalone-log record: header line, then the JSON and a newline."""
    import hashlib

    data = (json_to_string(j) + "\n").encode()
    return b"OVSDB JSON %d %s\n%s" % (len(data), hashlib.sha1(data).hexdigest().encode(), data)


def _row_name(uuid: str) -> str:
    return "row" + uuid.replace("-", "_")


_CONVERT_HINT = '(use --force to override differences, or "ovsdb-client convert" to change the schema)'


def cmd_restore(ctx: Context, args: list[str]) -> int:
    """Replaces the database's contents by a backup read from stdin, in one
    transaction that deletes every row and inserts the backup's rows with
    their uuids."""
    from pyvswitch.ovsdb.log import parse_log
    from pyvswitch.ovsdb.schema import DatabaseSchema

    records, err = parse_log(sys.stdin.buffer.read(), "/dev/stdin")
    if not records:
        raise Fatal(str(err) if err is not None else "ovsdb error: /dev/stdin: cannot identify file type")
    # ovsdb-client opens the backup as a database file, which must be
    # seekable: a pipe is refused once the file has been identified.
    try:
        posix.lseek(sys.stdin.fileno(), 0, 1)   # SEEK_CUR
    except OSError as e:
        raise Fatal(f"I/O error: /dev/stdin: seek failed ({posix.strerror(e.errno)})") from None
    try:
        backup = DatabaseSchema.from_json(records[0].value)
    except Exception as e:
        raise Fatal(f"ovsdb error: /dev/stdin: {e}") from None
    _, schema = ctx.schema()
    if not ctx.force:
        if backup.version != schema.version:
            raise Fatal(f'backup schema has version "{backup.version}" but database schema has version '
                        f'"{schema.version}" {_CONVERT_HINT}')
        if backup.to_json() != schema.to_json():
            raise Fatal(f"backup schema and database schema are both version {schema.version} "
                        f"but still differ {_CONVERT_HINT}")
    # Replay the backup's records into one image of each row.
    rows: dict[str, dict[str, dict]] = {}
    for rec in records[1:]:
        for tname, trows in rec.value.items():
            if tname.startswith("_") or not isinstance(trows, dict):
                continue
            tab = rows.setdefault(tname, {})
            for uuid, row in trows.items():
                if row is None:
                    tab.pop(uuid, None)
                else:
                    tab.setdefault(uuid, {}).update(row)
    # Rows get new uuids (a server refuses to reuse a uuid deleted in the
    # same transaction); references among them become named-uuids.
    known = {u for trows in rows.values() for u in trows}

    def rename(j: Any) -> Any:
        if isinstance(j, list):
            if len(j) == 2 and j[0] == "uuid" and j[1] in known:
                return ["named-uuid", _row_name(j[1])]
            return [rename(x) for x in j]
        return j
    ops: list[Any] = []
    for tname in sorted(schema.tables):
        ops.append({"op": "delete", "table": tname, "where": []})
        for uuid, row in rows.get(tname, {}).items():
            ops.append({"op": "insert", "table": tname, "uuid-name": _row_name(uuid),
                        "row": {c: rename(v) for c, v in row.items()}})
    try:
        results = ctx.call("transact", [ctx.database] + ops)
    except RpcError as e:
        raise Fatal(f"transaction returned error: {json_to_string(e.error, sort_keys=True)}") from None
    for r in results:
        if isinstance(r, dict) and "error" in r:
            raise Fatal(f"transaction returned error: {json_to_string(r, sort_keys=True)}")
    return 0


# --- locks ---

def _lock(ctx: Context, args: list[str], method: str) -> int:
    """Sends the request, prints its reply (lock, steal), then prints each
    lock notification ("locked", "stolen") until killed."""
    result = ctx.call(method, [args[0]], f"{ctx.server}: receive failed")
    pretty = ctx.style.pretty
    if method != "unlock":
        ctx.out.write(json_to_string(result, sort_keys=True, pretty=pretty) + "\n")
        # A lock granted at once is reported as the notification would be.
        if isinstance(result, dict) and result.get("locked") is True:
            ctx.out.write(f"locked\n{json_to_string([args[0]], pretty=pretty)}\n")
    ctx.out.flush()
    while True:
        try:
            note = ctx.rpc.next_notification()
        except ConnectionClosed:
            return 0
        ctx.out.write(f"{note.method}\n{json_to_string(note.params, sort_keys=True, pretty=pretty)}\n")
        ctx.out.flush()


def cmd_lock(ctx: Context, args: list[str]) -> int:
    return _lock(ctx, args, "lock")


def cmd_steal(ctx: Context, args: list[str]) -> int:
    return _lock(ctx, args, "steal")


def cmd_unlock(ctx: Context, args: list[str]) -> int:
    return _lock(ctx, args, "unlock")


class Command:
    """A row of the command table (immutable)."""

    __slots__ = ("name", "need_db", "min_args", "max_args", "run")

    def __init__(self, name: str, need_db: bool, min_args: int, max_args: int | float,
                 run: Callable[[Context, list[str]], int]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "need_db", need_db)
        object.__setattr__(self, "min_args", min_args)
        object.__setattr__(self, "max_args", max_args)
        object.__setattr__(self, "run", run)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")


COMMANDS = {c.name: c for c in [
    Command("list-dbs", False, 0, 0, cmd_list_dbs),
    Command("get-schema", True, 0, 0, cmd_get_schema),
    Command("get-schema-version", True, 0, 0, cmd_get_schema_version),
    Command("get-schema-cksum", True, 0, 0, cmd_get_schema_cksum),
    Command("list-tables", True, 0, 0, cmd_list_tables),
    Command("list-columns", True, 0, 1, cmd_list_columns),
    Command("transact", False, 1, 1, cmd_transact),
    Command("query", False, 1, 1, cmd_query),
    Command("dump", True, 0, math.inf, cmd_dump),
    Command("monitor", True, 1, math.inf, cmd_monitor),
    Command("monitor-cond", True, 2, 3, cmd_monitor_cond),
    Command("monitor-cond-since", True, 2, 4, cmd_monitor_cond_since),
    Command("convert", False, 1, 1, cmd_convert),
    Command("needs-conversion", False, 1, 1, cmd_needs_conversion),
    Command("wait", False, 2, 2, cmd_wait),
    Command("backup", True, 0, 0, cmd_backup),
    Command("restore", True, 0, 0, cmd_restore),
    Command("lock", False, 1, 1, cmd_lock),
    Command("steal", False, 1, 1, cmd_steal),
    Command("unlock", False, 1, 1, cmd_unlock),
]}


OPTIONS = [
    Option("verbose", Arg.OPTIONAL, "v"),
    Option("help", Arg.NONE, "h"),
    Option("version", Arg.NONE, "V"),
    Option("format", Arg.REQUIRED, "f"),
    Option("data", Arg.REQUIRED, "d"),
    Option("no-headings", Arg.NONE),
    Option("pretty", Arg.NONE),
    Option("bare", Arg.NONE),
    Option("timestamp", Arg.NONE),
    Option("timeout", Arg.REQUIRED, "t"),
    Option("force", Arg.NONE),
    *SSL_KEY_OPTIONS,
    Option("db-change-aware", Arg.NONE),
    Option("no-db-change-aware", Arg.NONE),
    Option("pidfile", Arg.OPTIONAL),
    Option("overwrite-pidfile", Arg.NONE),
    Option("detach", Arg.NONE),
    Option("no-chdir", Arg.NONE),
    Option("monitor", Arg.NONE),
    Option("user", Arg.REQUIRED),
]

# The commands that run until killed; daemon options apply to them only.
_DAEMON_COMMANDS = ("monitor", "monitor-cond", "monitor-cond-since")
# The commands that may run for long: the lean launcher starts every call with
# the cyclic garbage collector off (pyvswitch.launchers), and these switch it on.
_LONG_RUNNING = _DAEMON_COMMANDS + ("wait", "lock", "steal", "unlock")
_daemon = None


def usage() -> str:
    return f"""{PROGRAM}: Open vSwitch database JSON-RPC client
usage: {PROGRAM} [OPTIONS] COMMAND [ARG...]

Commands (SERVER defaults to unix:RUNDIR/db.sock; DATABASE to the server's
only database, or Open_vSwitch):
  list-dbs [SERVER]
  get-schema [SERVER] [DATABASE]
  get-schema-version [SERVER] [DATABASE]
  get-schema-cksum [SERVER] [DATABASE]
  list-tables [SERVER] [DATABASE]
  list-columns [SERVER] [DATABASE] [TABLE]
  transact [SERVER] TRANSACTION
  query [SERVER] TRANSACTION        (transact, then abort)
  dump [SERVER] [DATABASE] [TABLE [COLUMN]...]
  monitor [SERVER] [DATABASE] TABLE [COLUMN,...]...
  monitor [SERVER] [DATABASE] ALL
  monitor-cond [SERVER] [DATABASE] CONDITION TABLE [COLUMN,...]...
  monitor-cond-since [SERVER] [DATABASE] [LASTID] CONDITION TABLE [COLUMN,...]...
  convert [SERVER] SCHEMA
  needs-conversion [SERVER] SCHEMA
  wait [SERVER] DATABASE STATE      (STATE: added, connected or removed)
  backup [SERVER] [DATABASE] > SNAPSHOT
  restore [SERVER] [DATABASE] < SNAPSHOT
  lock|steal|unlock [SERVER] LOCK

Output formatting options:
  -f, --format=FORMAT         table, list, html, csv or json
  -d, --data=FORMAT           cell format: string, bare or json
  --no-headings               omit table headings
  --pretty                    indented JSON (with --format=json)
  --bare                      --format=list --data=bare --no-headings
  --timestamp                 timestamp monitor updates

Other options:
  -t, --timeout=SECS          give up after SECS seconds
  -p, --private-key=FILE      SSL private key
  -c, --certificate=FILE      SSL certificate
  -C, --ca-cert=FILE          SSL CA certificate
  --force                     restore even if the schemas differ
  --detach, --pidfile[=FILE], --no-chdir, --overwrite-pidfile, --monitor
                              daemon options (monitor commands only)
  -v, --verbose=[SPEC]        set logging levels
  -h, --help                  display this help message
  -V, --version               display version information
"""


# An argument is a server when it starts with a method name and a colon
# ("unix:", "tcp:", even an unknown "foo:", which then fails to connect).
_METHOD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _is_remote(arg: str) -> bool:
    method, colon, _ = arg.partition(":")
    return bool(colon and method) and _METHOD_CHARS.issuperset(method)


def _default_server() -> str:
    from pyvswitch import dirs

    return "unix:" + dirs.default_db_sock()


def _connect(server: str, ssl: SslConfig) -> Client:
    """Connects to server.  A list of remotes ("unix:a,tcp:b") is tried in
    order, the attempts logged as OVS's reconnecting sessions log them."""
    remotes = server.split(",")
    if len(remotes) == 1:
        def waiting() -> None:
            vlog.module("ovsdb_client").info("%s: waiting for connection...", server)
        try:
            return Client.open(server, ssl, waiting)
        except ClientError as e:
            raise Fatal(str(e)) from None
    log = vlog.module("reconnect")
    for remote in remotes:
        log.info("%s: connecting...", remote)
        try:
            client = Client.open(remote, ssl)
        except ClientError as e:
            log.info("%s: connection attempt failed (%s)", remote, _reason(e))
            continue
        log.info("%s: connected", remote)
        return client
    raise Fatal("no servers were available")


def _on_fatal_signal(signum: int, frame) -> None:
    desc = _signal.strsignal(signum) or str(signum)
    vlog.module("fatal_signal").warn("terminating with signal %d (%s)", signum, desc)
    if _daemon is not None:
        _daemon.run_exit_hooks()
    _signal.signal(signum, _signal.SIG_DFL)
    posix.kill(posix.getpid(), signum)


def _new_daemon():
    from pyvswitch.daemon import Daemon

    return Daemon(PROGRAM)


def _apply_options(ctx: Context, opts: list) -> str | None:
    """Applies the parsed options to ctx (style, SSL files, timeout, and the
    daemon options to ctx.daemon, made at the first of them); returns text to
    print and exit with (--help, --version), else None."""
    fmt, data, headings, pretty = "table", "string", True, False
    private_key = certificate = ca_cert = None
    for name, value in opts:
        if name == "verbose":
            try:
                vlog.set_verbosity(value)
            except vlog.VlogError as e:
                raise Fatal(str(e)) from None
        elif name == "help":
            return usage()
        elif name == "version":
            return f"{PROGRAM} (Open vSwitch) {OVS_COMPAT_VERSION}\n"
        elif name == "format":
            if value not in ("table", "list", "html", "csv", "json"):
                raise Fatal(f"unknown output format \"{value}\"")
            fmt = value
        elif name == "data":
            if value not in ("string", "bare", "json"):
                raise Fatal(f"unknown data format \"{value}\"")
            data = value
        elif name == "no-headings":
            headings = False
        elif name == "pretty":
            pretty = True
        elif name == "bare":
            fmt, data, headings = "list", "bare", False
        elif name == "timestamp":
            ctx.timestamp = True
        elif name == "force":
            ctx.force = True
        elif name == "timeout":
            if not value.isdigit():
                raise Fatal("value %s on -t or --timeout is invalid" % value)
            if int(value):
                _signal.signal(_signal.SIGALRM, _on_fatal_signal)
                _signal.alarm(int(value))
        elif name in ("db-change-aware", "no-db-change-aware"):
            ctx.db_change_aware = name == "db-change-aware"
        elif name == "private-key":
            private_key = value
        elif name == "certificate":
            certificate = value
        elif name == "ca-cert":
            ca_cert = value
        else:
            if ctx.daemon is None:
                ctx.daemon = _new_daemon()
            ctx.daemon.handle_option(name, value)
    ctx.style = Style(fmt, data, headings, pretty)
    ctx.ssl = SslConfig(private_key, certificate, ca_cert)
    return None


def _choose_database(ctx: Context, cmd: Command, rest: list[str]) -> None:
    """Takes the database from rest, or picks the server's default."""
    dbs = ctx.call("list_dbs", [])
    # The first argument names the database only if the command has
    # arguments to spare and the server has that database.
    if len(rest) > cmd.min_args and rest[0] in dbs:
        ctx.database = rest.pop(0)
        return
    user = [d for d in dbs if d != "_Server"]
    if len(user) == 1:
        ctx.database = user[0]
    elif "Open_vSwitch" in dbs:
        ctx.database = "Open_vSwitch"
    else:
        raise Fatal(f"no default database for `{cmd.name}' command, please specify one")


def _check_arg_count(cmd: Command, rest: list[str]) -> None:
    if not cmd.min_args <= len(rest) <= cmd.max_args:
        raise Fatal(f"invalid syntax for '{cmd.name}' (use --help for help)")


def run(argv: list[str], out=None, argv0: str = PROGRAM) -> int:
    """Runs ovsdb-client with argv (without the program name); returns the exit status."""
    global _daemon
    out = sys.stdout if out is None else out
    vlog.set_program_name(PROGRAM)
    ctx = Context(Style(), out)
    try:
        try:
            opts, args = parse(argv, OPTIONS)
        except OptionError as e:
            # getopt names the program as it was invoked.
            out.flush()
            sys.stderr.write(f"{argv0}: {e}\n")
            return 1
        text = _apply_options(ctx, opts)
        daemon, ctx.daemon = ctx.daemon, None
        if text is not None:
            out.write(text)
            return 0
        if not args:
            raise Fatal("missing command name; use --help for help")
        cmd = COMMANDS.get(args[0])
        if cmd is None:
            raise Fatal(f"unknown command '{args[0]}'; use --help for help")
        rest = args[1:]
        ctx.command = cmd.name
        if cmd.name in _LONG_RUNNING:
            gc.enable()
        ctx.server = rest.pop(0) if rest and _is_remote(rest[0]) else _default_server()
        if cmd.name == "wait" and len(rest) == 2 and rest[1] not in _WAIT_STATES:
            raise Fatal(f"{rest[1]}: unknown state")
        if cmd.name in _DAEMON_COMMANDS and daemon is not None and (daemon.detach or daemon.pidfile
                                                                    or daemon.monitor):
            from pyvswitch.daemon import DaemonError
            try:
                daemon.start()
            except DaemonError as e:
                raise Fatal(str(e)) from None
            ctx.daemon = _daemon = daemon
        if cmd.name != "wait":  # wait keeps its own reconnecting session
            ctx.rpc = _connect(ctx.server, ctx.ssl)
        try:
            if cmd.need_db:
                _choose_database(ctx, cmd, rest)
            _check_arg_count(cmd, rest)
            return cmd.run(ctx, rest)
        except RpcError as e:
            raise Fatal(str(e)) from None
        finally:
            if ctx.rpc is not None:
                ctx.rpc.close()
            if ctx.daemon is not None:
                ctx.daemon.run_exit_hooks()
    except Fatal as e:
        try:
            out.flush()
        except BrokenPipeError:
            pass
        sys.stderr.write(f"{PROGRAM}: {e.message}\n")
        return e.status


def main() -> int:
    # Like OVS's programs, log the signal that ends us (monitors end this way).
    for signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(signum, _on_fatal_signal)
    try:
        return run(sys.argv[1:], argv0=sys.argv[0] or PROGRAM)
    except BrokenPipeError:
        return 1
