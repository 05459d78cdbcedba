"""ovsdb-tool: create, inspect, compact, convert and query database files.

The command surface, output bytes, error messages and exit codes are those of
Open vSwitch 3.1's ovsdb-tool, for standalone database files (clustered
databases are not supported).  The commands are one table (`COMMANDS`) of
name, argument counts, usage text and handler; `run` parses OVS-style
options, checks the argument count and runs the handler, turning any
`OvsdbError` into "ovsdb-tool: <error>" and exit status 1.

Read-only commands (db-*, show-log, query) take no lock, as in OVS, so they
work on a database a server is using; commands that write (create,
compact, convert, transact) take the database's lock file.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from pyvswitch import OVS_COMPAT_VERSION, dirs, vlog
from pyvswitch.cli.options import Arg, Option, OptionError, parse
from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.errors import OvsdbError, json_text
from pyvswitch.ovsdb.log import (CLUSTER_MAGIC, MAGIC, OvsJsonError, identify, ovs_json_loads,
                                 ovs_member_order, parse_log)
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.storage import (Storage, error_text, io_error, read_file, read_schema, snapshot,
                                     write_atomically, write_locked)

PROGRAM = "ovsdb-tool"


class Fatal(Exception):
    """Ends the program: message to stderr (if any) and the exit status."""

    def __init__(self, message: str | None, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Context:
    more: int          # -m count, for show-log
    out: Any           # stdout


def default_db() -> str:
    return dirs.default_db()


def default_schema() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "schemas", "vswitch.ovsschema")


def _dumps(value: Any) -> str:
    """JSON as ovsdb-tool prints it: compact, keys sorted, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True, allow_nan=False)


# ---------------------------------------------------------------------------
# Reading inputs.


def read_schema_file(path: str) -> DatabaseSchema:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise Fatal(f'failed to read schema: "{path}" could not be read as JSON '
                    f'(error opening "{path}": {e.strerror})') from None
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    except OSError as e:
        raise Fatal(f'failed to read schema: "{path}" could not be read as JSON '
                    f"(error reading JSON stream: {e.strerror})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        j = ovs_json_loads(data)
    except OvsJsonError as e:
        raise Fatal(f'failed to read schema: "{path}" could not be read as JSON ({e})') from None
    try:
        return DatabaseSchema.from_json(j)
    except OvsdbError as e:
        raise OvsdbError(e.error, f'failed to parse "{path}" as ovsdb schema: {e.details}', e.syntax) from None


def parse_json_arg(text: str) -> Any:
    try:
        return ovs_json_loads(text)
    except OvsJsonError as e:
        raise Fatal(f'"{text}": {e}') from None


def _args(args: list[str], n: int) -> list[str | None]:
    """args padded with None to n entries (the optional arguments left out)."""
    return args + [None] * (n - len(args))


# ---------------------------------------------------------------------------
# Commands.


def cmd_create(ctx: Context, args: list[str]) -> int:
    db, schema_file = _args(args, 2)
    schema = read_schema_file(schema_file or default_schema())
    Storage.create(db or default_db(), schema)
    return 0


def cmd_compact(ctx: Context, args: list[str]) -> int:
    db, dst = _args(args, 2)
    db = db or default_db()
    try:
        storage = Storage.open(db, strict=True)
    except OvsdbError as e:
        if e.error == "I/O error" and "failed to lock lockfile" in (e.details or ""):
            # The reference tool words this one failure without its tag.
            raise Fatal(e.details) from None
        raise
    with storage:
        storage.compact(time.time(), f"compacted by ovsdb-tool {OVS_COMPAT_VERSION}", dst=dst)
    return 0


def cmd_convert(ctx: Context, args: list[str]) -> int:
    db, schema_file, dst = _args(args, 3)
    db = db or default_db()
    with Storage.open(db, strict=True) as storage:
        new_schema = read_schema_file(schema_file or default_schema())
        new_db = Database(new_schema)
        new_db.apply_record(convert_record(storage.db.snapshot_record(), new_schema))
        now = time.time()
        values = [new_schema.to_json(), snapshot(new_db, now, f"converted by ovsdb-tool {OVS_COMPAT_VERSION}")]
        if dst is None:
            write_atomically(db, values)      # under the lock the open took
        else:
            write_locked(dst, values)
    return 0


def convert_record(record: dict, schema: DatabaseSchema) -> dict:
    """A snapshot record reduced to what `schema` can hold: tables and
    columns it lacks are dropped; every surviving value must fit its new
    type, else the conversion fails with the reason, as in OVS."""
    out: dict[str, Any] = {}
    for tname, rows in record.items():
        if tname.startswith("_") or not isinstance(rows, dict):
            continue
        table = schema.tables.get(tname)
        if table is None:
            continue
        new_rows = {}
        for uuid, row in rows.items():
            if not isinstance(row, dict):
                continue
            new_row = {}
            for cname, value in row.items():
                col = table.columns.get(cname)
                if col is None:
                    continue
                new_row[cname] = col.type.datum_to_json(col.type.datum_from_json(value))
            new_rows[uuid] = new_row
        out[tname] = new_rows
    return out


def cmd_needs_conversion(ctx: Context, args: list[str]) -> int:
    db, schema_file = _args(args, 2)
    a = read_schema(db or default_db())
    b = read_schema_file(schema_file or default_schema())
    ctx.out.write("no\n" if a.to_json() == b.to_json() else "yes\n")
    return 0


def _db_field(field: str) -> Callable[[Context, list[str]], int]:
    def run(ctx: Context, args: list[str]) -> int:
        schema = read_schema(args[0] if args else default_db())
        ctx.out.write(f"{getattr(schema, field)}\n")
        return 0
    return run


def _schema_field(field: str) -> Callable[[Context, list[str]], int]:
    def run(ctx: Context, args: list[str]) -> int:
        schema = read_schema_file(args[0] if args else default_schema())
        ctx.out.write(f"{getattr(schema, field)}\n")
        return 0
    return run


def _is_magic(magic: str) -> Callable[[Context, list[str]], int]:
    def run(ctx: Context, args: list[str]) -> int:
        return 0 if _is_clustered(args[0]) == (magic == CLUSTER_MAGIC) else 2
    return run


def _is_clustered(path: str) -> bool:
    """Whether path is a clustered database file; OvsdbError if it is neither kind."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise io_error(path, "open", e) from None
    try:
        head = os.read(fd, 1024)
    except OSError as e:
        raise OvsdbError("I/O error", f"{path}: read error ({e.strerror})") from None
    finally:
        os.close(fd)
    err = identify(head, path)
    if err is not None and "clustered" not in err.text:
        raise OvsdbError(err.kind, f"{path}: {err.text}")
    return err is not None


_UNSUPPORTED = "ovsdb error: clustered databases are not supported"


def cmd_clustered(ctx: Context, args: list[str]) -> int:
    raise Fatal(_UNSUPPORTED)


def cmd_cluster_field(ctx: Context, args: list[str]) -> int:
    if not _is_clustered(args[0]):
        raise Fatal(f"{args[0]}: not a clustered database")
    raise Fatal(_UNSUPPORTED)


def cmd_check_cluster(ctx: Context, args: list[str]) -> int:
    for path in args:
        if not _is_clustered(path):
            raise OvsdbError("ovsdb error", f"{path}: cannot identify file type")
    raise Fatal(_UNSUPPORTED)


def cmd_cluster_to_standalone(ctx: Context, args: list[str]) -> int:
    if not _is_clustered(args[1]):
        raise Fatal("Database is not clustered db.\n")
    raise Fatal(_UNSUPPORTED)


_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\Z")
_RELOPS = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, "==": lambda c: c == 0,
           ">=": lambda c: c >= 0, ">": lambda c: c > 0, "!=": lambda c: c != 0}


def cmd_compare_versions(ctx: Context, args: list[str]) -> int:
    a, op, b = args

    def version(s: str) -> tuple[int, ...]:
        m = _VERSION.match(s)
        if m is None or any(int(x) >= 1 << 32 for x in m.groups()):
            raise Fatal(f"{s}: not an OVSDB version number in format x.y.z")
        return tuple(int(x) for x in m.groups())
    va, vb = version(a), version(b)
    test = _RELOPS.get(op)
    if test is None:
        raise Fatal(f"{op}: not a relational operator")
    return 0 if test((va > vb) - (va < vb)) else 2


def _transact(ctx: Context, args: list[str], read_only: bool) -> int:
    db, trns = (default_db(), args[0]) if len(args) == 1 else args
    params = parse_json_arg(trns)
    with Storage.open(db, read_only=read_only, strict=True) as storage:
        if not isinstance(params, list):
            result: Any = OvsdbError("syntax error", "array expected", json_text(params)).to_json()
        elif not params or params[0] != storage.schema.name:
            result = OvsdbError("syntax error", "database name expected as first parameter",
                                json_text(params)).to_json()
        else:
            ops = params[1:]
            now = time.time()
            outcome = storage.db.execute(ops, now=now)
            result = outcome.results
            if result is None:
                result = _triggers_not_supported(storage.db, ops, now)
            if not read_only and outcome.commit is not None:
                storage.append_commits([outcome.commit])
        ctx.out.write(_dumps(result) + "\n")
    return 0


def _triggers_not_supported(db: Database, ops: list, now: float) -> list:
    """The results when a "wait" would have to block: ovsdb-tool has no one
    to wait for, so that operation fails with "not supported".  Running the
    transaction with every wait's timeout at 0 finds which one blocks."""
    probe = [dict(op, timeout=0) if isinstance(op, dict) and op.get("op") == "wait" else op for op in ops]
    results = list(db.execute(probe, now=now).results)
    for i, r in enumerate(results):
        if isinstance(r, dict) and r.get("error") == "timed out":
            results[i] = {"details": "triggers not supported", "error": "not supported"}
            break
    return results


def cmd_query(ctx: Context, args: list[str]) -> int:
    return _transact(ctx, args, read_only=True)


def cmd_transact(ctx: Context, args: list[str]) -> int:
    return _transact(ctx, args, read_only=False)


def cmd_show_log(ctx: Context, args: list[str]) -> int:
    path = args[0] if args else default_db()
    records, err = parse_log(read_file(path), path)
    if not records:
        raise OvsdbError(err.kind, f"{path}: {err.text}")
    names: dict[str, str] = {}
    schema = None
    out = ctx.out
    for i, rec in enumerate(records):
        out.write(f"record {i}:")
        if i == 0:
            schema = DatabaseSchema.from_json(rec.value)
            out.write(f' "{schema.name}" schema, version="{schema.version}", cksum="{schema.cksum}"\n')
        else:
            out.write(describe_record(rec.value, schema, names, ctx.more))
        out.write("\n")
    if err is not None:
        raise OvsdbError(err.kind, f"{path}: {err.text}")
    return 0


_INT_MAX = (1 << 31) - 1


def describe_record(value: dict, schema: DatabaseSchema, names: dict[str, str], more: int) -> str:
    """One transaction record as show-log prints it, after "record N:".

    `names` maps row uuids to how rows were last named (their "name"
    column as JSON, else the short uuid); it is updated as records go by."""
    parts = []
    date = value.get("_date")
    if type(date) is int:
        if date < _INT_MAX:
            date *= 1000        # old logs stored seconds
        parts.append(" " + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(date // 1000))
                     + f".{date % 1000:03d}")
    comment = value.get("_comment")
    if isinstance(comment, str):
        parts.append(f' "{comment}"')
    if more <= 0:
        return "".join(parts)
    is_diff = value.get("_is_diff") is True
    first = True
    for tname in ovs_member_order(value):
        rows = value[tname]
        if tname.startswith("_") or not isinstance(rows, dict):
            continue
        if first:
            parts.append("\n")
            first = False
        table = schema.tables.get(tname) if schema is not None else None
        for uuid in ovs_member_order(rows):
            cols = rows[uuid]
            short = uuid[:8]
            old = names.get(uuid)
            new = json_text(cols["name"]) if isinstance(cols, dict) and "name" in cols else None
            if old is not None:
                parts.append(f"  table {tname} row {old} ({short}){' diff' if is_diff else ''}:\n")
            elif new is not None:
                parts.append(f"  table {tname} insert row {new} ({short}):\n")
            else:
                parts.append(f"  table {tname} insert row {short}:\n")
            if isinstance(cols, dict):
                if more > 1:
                    for cname in ovs_member_order(cols):
                        parts.append(f"    {cname}={_value_text(table, cname, cols[cname])}\n")
                if new is not None and old != new:
                    names[uuid] = new
                elif old is None:
                    names[uuid] = short
            elif cols is None:
                parts.append("    delete row\n")
                names.pop(uuid, None)
    return "".join(parts)


def _value_text(table, cname: str, value: Any) -> str:
    col = table.columns.get(cname) if table is not None else None
    if col is not None:
        try:
            return col.type.datum_to_string(col.type.datum_from_json(value))
        except OvsdbError:
            pass
    return json_text(value)


def cmd_help(ctx: Context, args: list[str]) -> int:
    ctx.out.write(usage())
    return 0


def cmd_list_commands(ctx: Context, args: list[str]) -> int:
    lines = ["The available commands are:\n"]
    for c in COMMANDS.values():
        lines.append(f"  {c.name:<24}{c.usage}\n")
    ctx.out.write("".join(lines))
    return 0


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    min_args: int
    max_args: int | float
    run: Callable[[Context, list[str]], int]


_INF = float("inf")

COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("create", "[db [schema]]", 0, 2, cmd_create),
    Command("create-cluster", "db contents local", 3, 3, cmd_clustered),
    Command("join-cluster", "db name local remote...", 4, _INF, cmd_clustered),
    Command("compact", "[db [dst]]", 0, 2, cmd_compact),
    Command("convert", "[db [schema [dst]]]", 0, 3, cmd_convert),
    Command("needs-conversion", "", 0, 2, cmd_needs_conversion),
    Command("db-name", "[db]", 0, 1, _db_field("name")),
    Command("db-version", "[db]", 0, 1, _db_field("version")),
    Command("db-cksum", "[db]", 0, 1, _db_field("cksum")),
    Command("db-cid", "db", 1, 1, cmd_cluster_field),
    Command("db-sid", "db", 1, 1, cmd_cluster_field),
    Command("db-local-address", "db", 1, 1, cmd_cluster_field),
    Command("db-is-clustered", "db", 1, 1, _is_magic(CLUSTER_MAGIC)),
    Command("db-is-standalone", "db", 1, 1, _is_magic(MAGIC)),
    Command("schema-name", "[schema]", 0, 1, _schema_field("name")),
    Command("schema-version", "[schema]", 0, 1, _schema_field("version")),
    Command("schema-cksum", "[schema]", 0, 1, _schema_field("cksum")),
    Command("query", "[db] trns", 1, 2, cmd_query),
    Command("transact", "[db] trns", 1, 2, cmd_transact),
    Command("show-log", "[db]", 0, 1, cmd_show_log),
    Command("check-cluster", "db...", 1, _INF, cmd_check_cluster),
    Command("compare-versions", "a op b", 3, 3, cmd_compare_versions),
    Command("help", "", 0, _INF, cmd_help),
    Command("list-commands", "", 0, _INF, cmd_list_commands),
    Command("cluster-to-standalone", "db clusterdb", 2, 2, cmd_cluster_to_standalone),
)}


def usage() -> str:
    return f"""\
{PROGRAM}: Open vSwitch database management utility
usage: {PROGRAM} [OPTIONS] COMMAND [ARG...]
  create [DB [SCHEMA]]    create DB with the given SCHEMA
  [--election-timer=ms] create-cluster DB CONTENTS LOCAL
    create clustered DB with given CONTENTS and LOCAL address
  [--cid=UUID] join-cluster DB NAME LOCAL REMOTE...
    join clustered DB with given NAME and LOCAL and REMOTE addrs
  compact [DB [DST]]      compact DB in-place (or to DST)
  convert [DB [SCHEMA [DST]]]   convert DB to SCHEMA (to DST)
  db-name [DB]            report name of schema used by DB
  db-version [DB]         report version of schema used by DB
  db-cksum [DB]           report checksum of schema used by DB
  db-cid DB               report cluster ID of clustered DB
  db-sid DB               report server ID of clustered DB
  db-local-address DB     report local address of clustered DB
  db-is-clustered DB      test whether DB is clustered
  db-is-standalone DB     test whether DB is standalone
  schema-name [SCHEMA]    report SCHEMA's name
  schema-version [SCHEMA] report SCHEMA's schema version
  schema-cksum [SCHEMA]   report SCHEMA's checksum
  compare-versions A OP B  compare OVSDB schema version numbers
  query [DB] TRNS         execute read-only transaction on DB
  transact [DB] TRNS      execute read/write transaction on DB
  cluster-to-standalone DB DB    Convert clustered DB to
      standalone DB when cluster is down and cannot be
        revived
  [-m]... show-log [DB]   print DB's log entries
The default DB is {default_db()}.
The default SCHEMA is {default_schema()}.

Logging options:
  -vSPEC, --verbose=SPEC   set logging levels
  -v, --verbose            set maximum verbosity level
  --log-file[=FILE]        enable logging to specified FILE
                           (default: {os.path.join(dirs.logdir(), PROGRAM + ".log")})
  --syslog-method=(libc|unix:file|udp:ip:port)
                           specify how to send messages to syslog daemon
  --syslog-target=HOST:PORT  also send syslog msgs to HOST:PORT via UDP

Other options:
  -m, --more                  increase show-log verbosity
  --rbac-role=ROLE            RBAC role for transact and query commands
  -h, --help                  display this help message
  -V, --version               display version information
"""


OPTIONS = [
    Option("more", Arg.NONE, "m"),
    Option("verbose", Arg.OPTIONAL, "v"),
    Option("help", Arg.NONE, "h"),
    Option("version", Arg.NONE, "V"),
    Option("rbac-role", Arg.REQUIRED),
    Option("election-timer", Arg.REQUIRED),
    Option("cid", Arg.REQUIRED),
    Option("syslog-method", Arg.REQUIRED),
    Option("syslog-target", Arg.REQUIRED),
]


def run(argv: list[str], out=None, argv0: str = PROGRAM) -> int:
    """Runs ovsdb-tool with argv (without the program name); returns the exit status."""
    out = sys.stdout if out is None else out
    vlog.set_program_name(PROGRAM)
    vlog.set_levels(None, vlog.Destination.CONSOLE, vlog.Level.WARN)
    try:
        try:
            opts, args = parse(argv, OPTIONS)
        except OptionError as e:
            # getopt names the program as it was invoked.
            out.flush()
            sys.stderr.write(f"{argv0}: {e}\n")
            return 1
        more = 0
        for name, value in opts:
            if name == "more":
                more += 1
            elif name == "verbose":
                try:
                    vlog.set_verbosity(value)
                except vlog.VlogError as e:
                    raise Fatal(str(e)) from None
            elif name == "help":
                out.write(usage())
                return 0
            elif name == "version":
                out.write(f"{PROGRAM} (Open vSwitch) {OVS_COMPAT_VERSION}\n")
                return 0
        if not args:
            raise Fatal("missing command name; use --help for help")
        cmd = COMMANDS.get(args[0])
        if cmd is None:
            raise Fatal(f"unknown command '{args[0]}'; use --help for help")
        n = len(args) - 1
        if n < cmd.min_args:
            raise Fatal(f"'{cmd.name}' command requires at least {cmd.min_args} arguments")
        if n > cmd.max_args:
            raise Fatal(f"'{cmd.name}' command takes at most {cmd.max_args} arguments")
        try:
            return cmd.run(Context(more, out), args[1:])
        except OvsdbError as e:
            raise Fatal(error_text(e)) from None
    except Fatal as e:
        out.flush()
        if e.message is not None:
            sys.stderr.write(f"{PROGRAM}: {e.message}\n")
        return e.status


def main() -> None:
    try:
        sys.exit(run(sys.argv[1:], argv0=sys.argv[0] or PROGRAM))
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
