"""One ovs-vsctl invocation, start to finish.

Sequence (as OVS's ovs-vsctl does it):
1. parse the command line (parse.py) against the command table;
2. connect, get the Open_vSwitch schema, and let every command declare the
   tables and columns it needs (`pre`);
3. fetch exactly those with one "transact" of "select" operations and build
   a `View` (view.py);
4. run every command, in order, against the view;
5. turn the view's changes into one "transact": the commands' "wait"
   preconditions, the inserts/updates/mutates/deletes, `next_cfg += 1`
   (unless --no-wait) and a "comment" naming the command line.  If a "wait"
   fails because another client changed what we read, go back to 3;
6. post-process (UUIDs of created rows), print every command's output;
7. unless --no-wait, wait for ovs-vswitchd to report the new configuration
   in `cur_cfg`, then report interfaces that failed to come up.

Unlike OVS, step 7 does not wait forever by default: without --timeout it
gives up after `DEFAULT_RELOAD_WAIT` seconds with a message saying
ovs-vswitchd is not applying the configuration (exit status 1).  With
--timeout=N the whole run is bounded the OVS way: SIGALRM ends the process
(exit status 128+14); --timeout=0 asks explicitly to wait forever.
"""

from __future__ import annotations

import posix   # not os: a tool's first import of os costs it ~1 ms (pyvswitch.dirs)
import _signal as signal   # the C module: the signal module's enums cost every call time
import sys
import time

from pyvswitch.ovsdb.types import new_uuid
from pyvswitch.vsctl.command import Context, VsctlError
from pyvswitch.vsctl.view import View

DEFAULT_RELOAD_WAIT = 10.0


class Symbol:
    __slots__ = ("uuid", "created", "strong_ref")

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.created = False
        self.strong_ref = False


class Invocation:
    """State shared by the commands of one run (the `shared` of each Context)."""

    def __init__(self, schema, log) -> None:
        self.schema = schema
        self.log = log
        self.wants: dict[str, set[str] | None] = {}
        self.view: View | None = None
        self.cache = None
        self.ports_verified = False
        self.symbols: dict[str, Symbol] = {}
        self.expected_ifaces: list[str] = []

    # For pre().

    def want(self, table: str, columns) -> None:
        if columns is None:
            self.wants[table] = None
            return
        have = self.wants.setdefault(table, set())
        if have is not None:
            have.update(columns)

    # For run().

    def reset(self, view: View) -> None:
        self.view = view
        self.cache = None
        self.ports_verified = False
        self.symbols = {}
        self.expected_ifaces = []

    def invalidate_cache(self, table: str | None = None, columns=None) -> None:
        """After a write; given the table and columns written, only if the
        bridge/port/interface cache was built from one of them."""
        if self.cache is None:
            return
        if table is not None:
            from pyvswitch.vsctl.vswitch import CACHE_COLUMNS
            if CACHE_COLUMNS.get(table, set()).isdisjoint(columns):
                return
        self.cache = None

    @property
    def symtab(self) -> "Symbols":
        return Symbols(self)

    def create_symbol(self, name: str) -> Symbol:
        if not name.startswith("@"):
            raise VsctlError(f'row id "{name}" does not begin with "@"')
        sym = self.symbol(name)
        if sym.created:
            raise VsctlError(f'row id "{name}" may only be specified on one --id option')
        sym.created = True
        return sym

    def symbol(self, name: str) -> Symbol:
        sym = self.symbols.get(name)
        if sym is None:
            sym = self.symbols[name] = Symbol(new_uuid())
        return sym

    def note_refs(self, ctype, value) -> None:
        """Marks symbols that a value refers to strongly."""
        by_uuid = {s.uuid: s for s in self.symbols.values()}
        if not by_uuid:
            return
        for _table, u in ctype.refs(value, weak=False):
            if u in by_uuid:
                by_uuid[u].strong_ref = True

    def warn(self, module: str, msg: str, level: str = "WARN") -> None:
        m = self.log.module(module)
        (m.err if level == "ERR" else m.warn)(msg)

    def expect_iface(self, uuid: str) -> None:
        self.expected_ifaces.append(uuid)


class Symbols:
    """The "@name" symbol table as datum parsing sees it: name -> uuid."""

    __slots__ = ("_inv",)

    def __init__(self, inv: Invocation) -> None:
        self._inv = inv

    def __getitem__(self, name: str) -> str:
        return self._inv.symbol(name).uuid

    def __contains__(self, name: str) -> bool:
        # Any "@name" may be used before (or without) being defined; an
        # undefined one is reported once all commands have run.
        return name.startswith("@")


def _select_ops(schema, wants) -> list[dict]:
    ops = []
    for table, cols in wants.items():
        ts = schema.tables[table]
        columns = sorted(ts.columns) if cols is None else sorted(c for c in cols if c in ts.columns)
        ops.append({"op": "select", "table": table, "where": [], "columns": ["_uuid", *columns]})
    return ops


def fetch(conn, schema, wants) -> View:
    wants = dict(wants)
    wants.setdefault("Open_vSwitch", set())
    for col in ("bridges", "next_cfg", "cur_cfg"):
        if wants["Open_vSwitch"] is not None:
            wants["Open_vSwitch"].add(col)
    ops = _select_ops(schema, wants)
    results = conn.transact(schema.name, ops)
    data: dict[str, dict[str, dict]] = {}
    columns: dict[str, set[str]] = {}
    for op, result in zip(ops, results):
        table = op["table"]
        ts = schema.tables[table]
        cols = [c for c in op["columns"] if c != "_uuid"]
        columns[table] = set(cols)
        rows = data[table] = {}
        for r in result["rows"]:
            rows[r["_uuid"][1]] = {c: ts.columns[c].type.datum_from_json(r[c]) for c in cols}
    return View(schema, data, columns)


def _invoked_by() -> str:
    try:
        with open(f"/proc/{posix.getppid()}/comm") as f:
            return f.read().strip()
    except OSError:
        return "pid %d" % posix.getppid()


def escape_args(argv: list[str]) -> str:
    """The arguments as one line, quoted where needed (for logs and comments)."""
    out = []
    for a in argv:
        if a and not any(c in a for c in " \t\r\n\\'\""):
            out.append(a)
        else:
            out.append('"' + "".join("\\" + c if c in '\\"' else c for c in a) + '"')
    return " ".join(out)


class Runner:
    """Drives steps 2-7 for parsed commands, printing results to `out`."""

    def __init__(self, conn, schema, commands, opts, argv, log, out=sys.stdout) -> None:
        self.conn = conn
        self.schema = schema
        self.commands = commands
        self.opts = opts
        self.argv = argv
        self.log = log
        self.out = out
        self.inv = Invocation(schema, log)
        self.monitoring = False
        self.contexts = [Context(c.name, c.args, c.options, self.inv) for c in commands]

    def prerequisites(self) -> None:
        for c, ctx in zip(self.commands, self.contexts):
            if c.spec.pre is not None:
                c.spec.pre(ctx)

    def run(self) -> int:
        self.prerequisites()
        while True:
            view = fetch(self.conn, self.schema, self.inv.wants)
            self.inv.reset(view)
            if self._run_commands(view):
                self._wait_for_change()
                continue
            status = self._commit(view)
            if status == "retry":
                continue
            break
        for c, ctx in zip(self.commands, self.contexts):
            if c.spec.post is not None and status == "committed":
                c.spec.post(ctx)
        self._print_output()
        if status == "committed" and self.opts.wait_for_reload:
            return self._wait_for_reload(view)
        return 0

    def _run_commands(self, view: View) -> bool:
        """Runs every command; True when one asked to wait and try again."""
        if not view.rows("Open_vSwitch"):
            view.insert("Open_vSwitch")
        for c, ctx in zip(self.commands, self.contexts):
            ctx.output.clear()
            ctx.table = None
            ctx.try_again = False
            ctx.data.clear()
            c.spec.run(ctx)
            if ctx.try_again:
                return True
        for name, sym in self.inv.symbols.items():
            if not sym.created:
                raise VsctlError(f'row id "{name}" is referenced but never created '
                                 f'(e.g. with "-- --id={name} create ...")')
        for ctx in self.contexts:
            sym = ctx.data.get("symbol")
            if sym is not None and not sym.strong_ref and not ctx.data["table"].is_root:
                name = next(n for n, s in self.inv.symbols.items() if s is sym)
                self.inv.warn("vsctl", f'row id "{name}" was created but no reference to it was inserted, '
                                       "so it will not actually appear in the database")
        return False

    def _wait_for_change(self) -> None:
        """Blocks until the fetched tables change (for wait-until).

        The first call starts a monitor of everything fetched and returns at
        once: a change may have happened between the fetch and the monitor.
        Later calls block until the server sends an update."""
        if not self.monitoring:
            wants = {t: {"columns": sorted(c for c in (cols or self.schema.tables[t].columns))}
                     for t, cols in self.inv.wants.items()}
            self.conn.request("monitor", [self.schema.name, "vsctl-wait", wants])
            self.monitoring = True
            return
        self.conn.next_update()

    def _commit(self, view: View) -> str:
        if not view.has_changes():
            return "unchanged"
        ops = view.operations()
        n_waits = sum(1 for op in ops if op["op"] == "wait")
        ovs = view.rows("Open_vSwitch")[0]
        inc_index = None
        self.next_cfg = None
        if self.opts.wait_for_reload and ovs.inserted:
            view.write(ovs, "next_cfg", ovs["next_cfg"] + 1)
            ops = view.operations()
            self.next_cfg = ovs["next_cfg"]
        elif self.opts.wait_for_reload:
            where = [["_uuid", "==", ["uuid", ovs.uuid]]]
            ops.append({"op": "mutate", "table": "Open_vSwitch", "where": where,
                        "mutations": [["next_cfg", "+=", 1]]})
            inc_index = len(ops)
            ops.append({"op": "select", "table": "Open_vSwitch", "where": where, "columns": ["next_cfg"]})
        ops.append({"op": "comment",
                    "comment": f"ovs-vsctl (invoked by {_invoked_by()}): ovs-vsctl {escape_args(self.argv)}"})
        if self.opts.dry_run:
            return "unchanged"
        results = self.conn.transact(self.schema.name, ops)
        error = next((r for r in results if isinstance(r, dict) and "error" in r), None) \
            if isinstance(results, list) else results
        if error is not None:
            failed = next((i for i, r in enumerate(results) if isinstance(r, dict) and "error" in r), None)
            if failed is not None and failed < n_waits and error.get("error") == "timed out":
                return "retry"
            from pyvswitch.ovsdb.jsonrpc import dumps
            text = dumps(dict(sorted(error.items())))
            self.inv.warn("ovsdb_idl", f"transaction error: {text}")
            raise VsctlError(f"transaction error: {text}")
        view.learn_uuids(results)
        if inc_index is not None:
            rows = results[inc_index].get("rows", [])
            if rows:
                self.next_cfg = rows[0]["next_cfg"]
        return "committed"

    def _print_output(self) -> None:
        printer = None
        parts = []
        for ctx in self.contexts:
            text = "".join(ctx.output)
            if ctx.table is not None:
                if printer is None:
                    from pyvswitch.vsctl.output import Output
                    printer = Output(self.opts)
                text += printer.format(ctx.table)
            if self.opts.oneline:
                text = text[:-1] if text.endswith("\n") else text
                text = text.replace("\\", "\\\\").replace("\n", "\\n") + "\n"
            parts.append(text)
        self.out.write("".join(parts))
        self.out.flush()

    def _wait_for_reload(self, view: View) -> int:
        if self.next_cfg is None:
            return 0
        deadline = None if self.opts.timeout is not None else time.monotonic() + DEFAULT_RELOAD_WAIT
        initial = self.conn.request("monitor", [self.schema.name, "vsctl-reload",
                                                {"Open_vSwitch": {"columns": ["cur_cfg"]}}])
        cur = max((r["new"]["cur_cfg"] for r in initial.get("Open_vSwitch", {}).values()), default=None)
        while cur is None or cur < self.next_cfg:
            left = None if deadline is None else deadline - time.monotonic()
            update = self.conn.next_update(left) if left is None or left > 0 else None
            if update is None:
                sys.stderr.write(
                    f"ovs-vsctl: ovs-vswitchd has not applied the new configuration (next_cfg {self.next_cfg}, "
                    f"cur_cfg {cur}) after {DEFAULT_RELOAD_WAIT:g} seconds; the database change was "
                    "committed.  Check that ovs-vswitchd is running, or use --no-wait or --timeout.\n")
                return 1
            for row in update.get("Open_vSwitch", {}).values():
                if "new" in row and "cur_cfg" in row["new"]:
                    cur = row["new"]["cur_cfg"]
        self._report_iface_errors()
        return 0

    def _report_iface_errors(self) -> None:
        if not self.inv.expected_ifaces:
            return
        uuids = [self.inv.view.resolve(u) for u in self.inv.expected_ifaces]
        ops = [{"op": "select", "table": "Interface", "where": [["_uuid", "==", ["uuid", u]]],
                "columns": ["name", "ofport", "error"]} for u in uuids]
        results = self.conn.transact(self.schema.name, ops)
        reported = False
        for res in results:
            for row in res.get("rows", []) if isinstance(res, dict) else []:
                ofport = row["ofport"]
                if ofport == -1 or ofport == ["set", []]:
                    error = row["error"]
                    name = row["name"]
                    if isinstance(error, str):
                        sys.stderr.write(f"ovs-vsctl: Error detected while setting up '{name}': {error}.  "
                                         "See ovs-vswitchd log for details.\n")
                    else:
                        sys.stderr.write(f"ovs-vsctl: Error detected while setting up '{name}'.  "
                                         "See ovs-vswitchd log for details.\n")
                    reported = True
        if reported:
            from pyvswitch import dirs
            sys.stderr.write(f'ovs-vsctl: The default log directory is "{dirs.logdir()}".\n')


def install_fatal_signals(log, timeout: int = 0) -> None:
    """Like OVS's tools: SIGTERM, SIGINT, SIGHUP (and with --timeout=N,
    SIGALRM after N seconds) log "terminating with signal ..." and end the
    process by that signal."""
    def fatal(signum, frame):
        log.module("fatal_signal").warn("terminating with signal %d (%s)", signum, signal.strsignal(signum))
        signal.signal(signum, signal.SIG_DFL)
        posix.kill(posix.getpid(), signum)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(signum, fatal)
    if timeout:
        signal.alarm(timeout)
