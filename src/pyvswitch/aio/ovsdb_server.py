"""ovsdb-server's event loop: connections, storage and remotes around `ServerCore`.

The sans-I/O `ServerCore` (ovsdb/server.py) decides everything about the
protocol; this shell feeds it bytes and time, and applies the effects it
returns: `LogCommit` (append to the database file), `Send`, `Close`.

Group commit: effects are queued, and the queue is flushed once the event
loop has nothing else ready to run in this iteration.  The flush writes
every queued commit of a database with one write to its file, then sends
the queued bytes in order.  So when many clients' input is ready in the
same iteration, their commits share one system call, and no reply to a
transaction leaves before its commit is in the file: a SIGKILL never loses
an acknowledged transaction.  When an effect arrives and no other callback
is waiting in the loop's ready queue (one transaction in flight: the usual
case for a command-line client), waiting could group nothing, so the flush
runs at once and the reply leaves as soon as the commit is written; else a
`call_soon` puts the flush after the callbacks already ready, which are the
other clients' input of this iteration.  (Reading the ready queue is
CPython's `BaseEventLoop._ready`; a loop without one always defers.)

Remotes: the command line's `--remote` list plus those read from the
database (`db:DB,TABLE,COLUMN`), recomputed after each commit to DB.  A
column of strings names remotes directly; a column of references names rows
whose `target` column does (Open_vSwitch.manager_options -> Manager.target),
and their `inactivity_probe` (ms) sets the probe interval of the sessions.
Sessions on Unix sockets are never probed, as in OVS.  Every 2.5 s the
rows' ephemeral `is_connected` and `status` columns are brought up to date
through an internal session of the core, when they changed.
Each remote is a `RemoteManager` (aio/stream.py) that listens or connects
with backoff; removing a remote closes its listener.

unixctl: the `ovsdb-server/*` commands are registered here, beside the
builtins every daemon has.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable

from pyvswitch import vlog
from pyvswitch.aio.stream import (Connection, Remote, RemoteError, RemoteManager,
                                  DEFAULT_MAX_BACKLOG, parse_remote, ssl_contexts)
from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.server import Close, LogCommit, Send
from pyvswitch.unixctl.core import CommandTable

log = vlog.module("ovsdb_server")
log_jsonrpc = vlog.module("jsonrpc")
log_reconnect = vlog.module("reconnect")

RESERVED_DB = "_Server"
STATUS_INTERVAL = 2.5   # seconds between checks of the remotes' status, as OVS


class DbRef:
    """A `db:DB,TABLE,COLUMN` reference."""

    __slots__ = ("text", "db", "table", "column")

    def __init__(self, text: str) -> None:
        self.text = text
        parts = text[3:].split(",")
        if len(parts) != 3 or not all(parts):
            raise RemoteError(f'"{text}": invalid syntax')
        self.db, self.table, self.column = parts


def check_remote(text: str, storages: dict) -> str | None:
    """None if remote text is usable with these databases, else OVS's error text."""
    if not text.startswith("db:"):
        return None
    try:
        ref = DbRef(text)
    except RemoteError as e:
        return str(e)
    storage = storages.get(ref.db)
    if storage is None:
        return f'"{text}": no database named {ref.db}'
    table = storage.schema.tables.get(ref.table)
    if table is None:
        return f'"{text}": no table named {ref.table}'
    if ref.column not in table.columns:
        return f'"{text}": table "{ref.table}" has no column "{ref.column}"'
    return None


class OvsdbServerShell:
    """Everything ovsdb-server does at run time, on the running asyncio loop."""

    def __init__(self, core, *, clock: Callable[[], float] = time.time,
                 max_backlog: int = DEFAULT_MAX_BACKLOG,
                 open_storage: Callable[[str], Any] | None = None) -> None:
        self.core = core
        self.clock = clock
        self.max_backlog = max_backlog
        self.open_storage = open_storage
        self.storages: dict[str, Any] = {}          # db name -> Storage
        self.conns: dict[int, Connection] = {}      # session id -> connection
        self.remotes: list[str] = []                # as configured (sorted on output)
        self.managers: dict[str, RemoteManager] = {}  # effective remote text -> manager
        self.remote_probes: dict[str, float | None] = {}  # remote text -> probe seconds
        self._status_sid: int | None = None       # the core session status updates use
        self._status_timer: asyncio.TimerHandle | None = None
        self._ssl_files: tuple = ()
        self._unsynced: set[str] = set()           # databases whose file lags memory
        self._ssl_ctx = None                       # (server, client) SSLContext, made once
        self.ssl_options: dict[str, str] = {}      # private-key, certificate, ca-cert
        self._queue: list = []
        self._watched_cache: dict[str, tuple] = {}  # db name -> (remotes, schema, tables)
        self._flush_scheduled = False
        self._flushing = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.loop = asyncio.get_running_loop()
        self.exit_requested = asyncio.Event()
        self.n_commits_written = 0

    # ---- databases ----

    def add_storage(self, storage, name: str | None = None) -> str:
        name = name or storage.schema.name
        self.storages[name] = storage
        self._apply(self.core.add_database(storage.db, name, self.clock()))
        return name

    def remove_db(self, name: str) -> None:
        storage = self.storages.pop(name)
        self._apply(self.core.remove_database(name, self.clock()))
        storage.close()
        self.update_remotes()

    def db_names(self) -> list[str]:
        return sorted(self.core.database_names())

    # ---- connections: the Peer interface of aio/stream.py ----

    def connected(self, conn: Connection) -> None:
        sid = self.core.open_session(self.clock(), name=conn.name)
        conn.context = sid
        self.conns[sid] = conn
        owner = getattr(conn, "owner", None)
        probe = self.probe_interval(owner.remote if owner is not None else None)
        if probe is not None:
            self.core.set_probe_interval(sid, probe)
        self._rearm_timer()

    def received(self, conn: Connection, data: bytes) -> None:
        sid = conn.context
        if sid not in self.conns:
            return
        try:
            effects = self.core.receive(sid, data, self.clock())
        except Exception as e:
            # A bug in the core must cost one session, never the server.
            log.err("%s: internal error processing input: %r", conn.name, e, rl=_DB_RL)
            del self.conns[sid]
            conn.abort("internal error")
            try:
                effects = self.core.close_session(sid, self.clock())
            except Exception:
                effects = []
        self._apply(effects)

    def disconnected(self, conn: Connection, reason: str) -> None:
        sid = conn.context
        if self.conns.get(sid) is conn:
            del self.conns[sid]
            self._apply(self.core.close_session(sid, self.clock()))

    # ---- effects ----

    def _apply(self, effects: list) -> None:
        if not effects:
            self._rearm_timer()
            return
        self._queue.extend(effects)
        if self._flushing or self._flush_scheduled:
            return
        if getattr(self.loop, "_ready", True):
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)
        else:
            self.flush()

    def flush(self) -> None:
        """Writes queued commits (one write per database), then sends; again
        while applying them queued more (a session dropped on a failed write)."""
        self._flush_scheduled = False
        self._flushing = True
        try:
            while self._queue:
                self._flush_queue()
        finally:
            self._flushing = False
        self._rearm_timer()

    def _flush_queue(self) -> None:
        queue, self._queue = self._queue, []
        if len(queue) == 2:
            first, second = queue
            if type(first) is LogCommit and type(second) is Send:
                # One transaction and its reply: the usual case, sorted at a glance.
                name = first.db_name
                batch = [first.commit]
                durable = name not in self.storages or self._write(name, batch)
                self._send(second, durable)
                self._after_commits({name: batch})
                return
        commits: dict[str, list] = {}
        for eff in queue:
            if type(eff) is LogCommit:
                batch = commits.get(eff.db_name)
                if batch is None:
                    commits[eff.db_name] = [eff.commit]
                else:
                    batch.append(eff.commit)
        durable = True
        if commits:
            for name, batch in commits.items():
                if name in self.storages:
                    durable = self._write(name, batch) and durable
        for eff in queue:
            kind = type(eff)
            if kind is Send:
                self._send(eff, durable)
            elif kind is Close:
                conn = self.conns.pop(eff.sid, None)
                if conn is not None:
                    if "inactivity probe" in eff.reason:
                        log_reconnect.err("%s", eff.reason, rl=_CLOSE_RL)
                    elif eff.reason:
                        log_jsonrpc.warn("%s", eff.reason, rl=_CLOSE_RL)
                    conn.close(eff.reason)
        if commits:
            self._after_commits(commits)

    def _send(self, eff: Send, durable: bool) -> None:
        conn = self.conns.get(eff.sid)
        if conn is None:
            return
        if not durable:
            # Never acknowledge what is not on disk: drop the session instead.
            del self.conns[eff.sid]
            conn.abort("database write failed")
            self._apply(self.core.close_session(eff.sid, self.clock()))
            return
        conn.send(eff.data)

    def _after_commits(self, commits: dict[str, list]) -> None:
        """Compacts the databases that are due, and follows db: remotes."""
        now = self.clock()
        refs_changed = False
        for name, batch in commits.items():
            storage = self.storages.get(name)
            if storage is not None and storage.should_compact(now):
                self.compact(name, "automatically")
            if not refs_changed:
                refs_changed = self._refs_changed(name, batch)
        if refs_changed:
            self.update_remotes()

    def _write(self, name: str, batch: list) -> bool:
        """Appends a batch of commits to name's file; True once they are there.

        If appending fails (disk full, I/O error), the file no longer matches
        memory; a compaction, which writes the whole database afresh, puts
        it right and also holds the batch.  Until one succeeds, every flush
        tries again instead of appending."""
        storage = self.storages[name]
        if name not in self._unsynced:
            try:
                storage.append_commits(batch)
                self.n_commits_written += len(batch)
                return True
            except Exception as e:
                log.err("%s: writing %d transactions failed: %s", name, len(batch), _error_text(e))
        try:
            storage.compact(self.clock())
        except Exception as e:
            if name not in self._unsynced:
                log.emer("%s: cannot write the database (%s); transactions are not being "
                         "acknowledged until it can", name, _error_text(e))
            self._unsynced.add(name)
            return False
        if name in self._unsynced:
            log.info("%s: database written again", name)
        self._unsynced.discard(name)
        self.n_commits_written += len(batch)
        return True

    def _rearm_timer(self) -> None:
        deadline = self.core.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._apply(self.core.handle_timer(self.clock()))
        self._rearm_timer()

    # ---- compaction ----

    def compact(self, name: str, why: str = "by user request") -> str | None:
        storage = self.storages.get(name)
        if storage is None:
            return "no database by that name"
        log.info("compacting %s database %s", name, why)
        try:
            storage.compact(self.clock())
        except Exception as e:
            text = f"{name}: compaction failed ({e})"
            log.err("%s", text)
            return text
        return None

    # ---- remotes ----

    def _refs_changed(self, db_name: str, commits: list) -> bool:
        """Whether these commits to db_name touched a table a db: remote reads."""
        watched = self._watched(db_name)
        if not watched:
            return False
        for c in commits:
            changes = getattr(c, "changes", None)
            if changes is None or not watched.isdisjoint(changes):
                return True
        return False

    def _watched(self, db_name: str) -> frozenset:
        """The tables of db_name that db: remotes read, worked out again only
        when the remotes or the database's schema changed."""
        storage = self.storages.get(db_name)
        schema = storage.schema if storage is not None else None
        cached = self._watched_cache.get(db_name)
        if cached is not None and cached[1] is schema and cached[0] == self.remotes:
            return cached[2]
        watched: set[str] = set()
        for r in self.remotes:
            if not r.startswith("db:"):
                continue
            try:
                ref = DbRef(r)
            except RemoteError:
                continue
            if ref.db != db_name:
                continue
            watched.add(ref.table)
            table = schema.tables.get(ref.table) if schema is not None else None
            col = table.columns.get(ref.column) if table is not None else None
            if col is not None and col.type.key.ref_table:
                watched.add(col.type.key.ref_table)
        result = frozenset(watched)
        self._watched_cache[db_name] = (list(self.remotes), schema, result)
        return result

    def check_remote(self, text: str) -> str | None:
        """None if text can be added as a remote, else the error text."""
        return check_remote(text, self.storages)

    def _db_targets(self, text: str) -> dict[str, float | None]:
        """The remotes a db: reference names now, each with its inactivity
        probe in seconds (None: the default) when the row gives one."""
        try:
            ref = DbRef(text)
        except RemoteError:
            return {}
        storage = self.storages.get(ref.db)
        if storage is None:
            log.warn('"%s": no database named %s', text, ref.db, rl=_DB_RL)
            return {}
        db = storage.db
        tschema = storage.schema.tables.get(ref.table)
        if tschema is None or ref.column not in tschema.columns:
            return {}
        ctype = tschema.columns[ref.column].type
        targets: dict[str, float | None] = {}
        for row in db.tables[ref.table].rows.values():
            value = row[ref.column]
            atoms = value if isinstance(value, tuple) else (value,)
            if ctype.key.ref_table:
                ref_table = db.tables.get(ctype.key.ref_table)
                columns = storage.schema.tables[ctype.key.ref_table].columns
                if ref_table is None or "target" not in columns:
                    continue
                for u in atoms:
                    target_row = ref_table.rows.get(u)
                    if target_row is None:
                        continue
                    probe = None
                    if "inactivity_probe" in columns:
                        ms = target_row["inactivity_probe"]
                        ms = ms[0] if isinstance(ms, tuple) and ms else ms
                        if isinstance(ms, int) and not isinstance(ms, bool):
                            probe = ms / 1000.0
                    t = target_row["target"]
                    for target in (t if isinstance(t, tuple) else (t,)):
                        targets[target] = probe
            elif ctype.value is None and ctype.key.type == "string":
                targets.update((a, None) for a in atoms if isinstance(a, str) and a)
        return targets

    def effective_remotes(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for r in self.remotes:
            if r.startswith("db:"):
                out.update(self._db_targets(r))
            else:
                out[r] = None
        return out

    def probe_interval(self, remote: Remote | None) -> float | None:
        """The inactivity probe for a session of remote: none on Unix sockets
        (as OVS: the kernel tells us when the peer goes), the Manager row's
        setting if any, else the core's default (None)."""
        if remote is None:
            return None
        if remote.kind in ("unix", "punix"):
            return 0.0
        return self.remote_probes.get(remote.text)

    def update_remotes(self) -> None:
        want = self.effective_remotes()
        for text in list(self.managers):
            if text not in want:
                self.managers.pop(text).close()
        changed = {t for t, p in want.items() if self.remote_probes.get(t) != p}
        self.remote_probes = want
        for text in changed & set(self.managers):
            mgr = self.managers[text]
            probe = self.probe_interval(mgr.remote)
            for conn in mgr.connections:
                if conn.context in self.conns and probe is not None:
                    self.core.set_probe_interval(conn.context, probe)
        for text in sorted(want.keys() - self.managers.keys()):
            try:
                remote = parse_remote(text)
            except RemoteError as e:
                log.err("%s", e, rl=_DB_RL)
                continue
            self._start_remote(remote)

    def _start_remote(self, remote: Remote) -> RemoteManager:
        mgr = RemoteManager(remote, lambda: self, ssl_server=self._ssl_server,
                            ssl_client=self._ssl_client, max_backlog=self.max_backlog)
        self.managers[remote.text] = mgr
        mgr.start()
        return mgr

    # ---- remote status written back to the database ----

    def _status_rows(self):
        """(db name, table, row uuid, target, row) for each row a db: remote names
        through a reference whose table has `target` and `is_connected`."""
        for text in self.remotes:
            if not text.startswith("db:"):
                continue
            try:
                ref = DbRef(text)
            except RemoteError:
                continue
            storage = self.storages.get(ref.db)
            tschema = storage.schema.tables.get(ref.table) if storage is not None else None
            if tschema is None or ref.column not in tschema.columns:
                continue
            rt = tschema.columns[ref.column].type.key.ref_table
            if not rt or not {"target", "is_connected", "status"} <= set(
                    storage.schema.tables[rt].columns):
                continue
            rows = storage.db.tables[rt].rows
            for row in storage.db.tables[ref.table].rows.values():
                value = row[ref.column]
                for u in (value if isinstance(value, tuple) else (value,)):
                    target_row = rows.get(u)
                    if target_row is not None:
                        yield ref.db, rt, u, target_row["target"], target_row

    def remote_status(self, target: str) -> tuple[bool, tuple]:
        """(is_connected, status map) for a remote, as OVS reports them."""
        mgr = self.managers.get(target)
        if mgr is None:
            return False, ()
        n = len(mgr.connections)
        if mgr.remote.passive:
            status = {}
            if mgr.bound_port is not None:
                status["bound_port"] = str(mgr.bound_port)
            if n > 1:
                status["n_connections"] = str(n)
            return n > 0, tuple(sorted(status.items()))
        state = "ACTIVE" if n else "BACKOFF"
        return n > 0, (("state", state),)

    def update_status(self) -> None:
        """Writes is_connected/status of the Manager-like rows that changed
        (ephemeral columns: no disk write), in one transaction per database."""
        ops: dict[str, list] = {}
        for db, table, uuid, target, row in self._status_rows():
            connected, status = self.remote_status(target)
            if row["is_connected"] == connected and row["status"] == status:
                continue
            ops.setdefault(db, []).append({
                "op": "update", "table": table, "where": [["_uuid", "==", ["uuid", uuid]]],
                "row": {"is_connected": connected, "status": ["map", [list(kv) for kv in status]]}})
        if not ops:
            return
        if self._status_sid is None:
            self._status_sid = self.core.open_session(self.clock(), name="status")
            self.core.set_probe_interval(self._status_sid, 0)
        for db, db_ops in ops.items():
            request = {"method": "transact", "params": [db, *db_ops], "id": "status"}
            self._apply(self.core.receive(self._status_sid,
                                          jsonrpc.dumps(request).encode(), self.clock()))

    def _status_tick(self) -> None:
        try:
            if self.ssl_options:
                self._ssl_pair()      # picks up changed key/certificate settings
            self.update_status()
        except Exception as e:  # status is cosmetic; never let it hurt serving
            log.err("updating remote status failed: %r", e, rl=_DB_RL)
        self._status_timer = self.loop.call_later(STATUS_INTERVAL, self._status_tick)

    async def start_remotes(self) -> None:
        """Starts every remote; waits until each passive one listens or failed once."""
        self.update_remotes()
        if self._status_timer is None:
            self._status_timer = self.loop.call_later(0.1, self._status_tick)
        waits = [asyncio.wait_for(m.tried.wait(), 5.0) for m in self.managers.values()
                 if m.remote.passive]
        for w in waits:
            try:
                await w
            except asyncio.TimeoutError:
                pass

    def _ssl_value(self, key: str) -> str | None:
        value = self.ssl_options.get(key)
        if value and value.startswith("db:"):
            try:
                ref = DbRef(value)
            except RemoteError:
                return None
            storage = self.storages.get(ref.db)
            if storage is None or ref.table not in storage.db.tables:
                return None
            for row in storage.db.tables[ref.table].rows.values():
                v = row[ref.column]
                if isinstance(v, tuple):
                    v = v[0] if v else None
                if v:
                    return v
            return None
        return value

    def _ssl_pair(self):
        """The (server, client) TLS contexts for the configured files, or None.

        The contexts are made once and kept: when the configuration names
        other files (say, after `ovs-vsctl set-ssl`), the same contexts load
        them, so listeners already open use the new ones for new sessions."""
        files = tuple(self._ssl_value(k) for k in ("private-key", "certificate", "ca-cert"))
        if not all(files):
            return None
        if files == self._ssl_files and self._ssl_ctx is not None:
            return self._ssl_ctx
        key, cert, ca = files
        try:
            if self._ssl_ctx is None:
                self._ssl_ctx = ssl_contexts(key, cert, ca)
            else:
                for ctx in self._ssl_ctx:
                    ctx.load_cert_chain(cert, key)
                    ctx.load_verify_locations(ca)
        except (OSError, ValueError) as e:
            log.err("SSL configuration failed: %s", e, rl=_DB_RL)
            return None
        self._ssl_files = files
        return self._ssl_ctx

    def _ssl_server(self):
        pair = self._ssl_pair()
        return pair[0] if pair else None

    def _ssl_client(self):
        pair = self._ssl_pair()
        return pair[1] if pair else None

    # ---- unixctl ----

    def register_commands(self, table: CommandTable) -> None:
        def compact(args):
            names = args or [n for n in self.storages]
            for n in names:
                if n == RESERVED_DB:
                    return False, "cannot compact built-in databases"
                err = self.compact(n)
                if err is not None:
                    return False, err
            return True, ""

        def add_remote(args):
            text = args[0]
            err = self.check_remote(text)
            if err is not None:
                return False, err
            if text not in self.remotes:
                self.remotes.append(text)
            self.update_remotes()
            return True, ""

        def remove_remote(args):
            if args[0] not in self.remotes:
                return False, "no such remote"
            self.remotes.remove(args[0])
            self.update_remotes()
            return True, ""

        def list_remotes(args):
            return True, "".join(f"{r}\n" for r in sorted(self.remotes))

        def add_db(args):
            path = os.path.abspath(args[0])
            if any(os.path.abspath(s.path) == path for s in self.storages.values()):
                return False, f"ovsdb error: {path}: already open"
            if self.open_storage is None:
                return False, "adding databases is not supported"
            try:
                storage = self.open_storage(args[0])
            except Exception as e:
                return False, _error_text(e)
            name = storage.schema.name
            if name in self.storages or name == RESERVED_DB:
                storage.close()
                return False, f"{args[0]}: {name} database is already open"
            self.add_storage(storage)
            self.update_remotes()
            return True, ""

        def remove_db(args):
            name = args[0]
            if name == RESERVED_DB:
                return False, "Cannot remove reserved database."
            if name not in self.storages:
                return False, "Failed to find the database."
            self.remove_db(name)
            return True, ""

        def list_dbs(args):
            return True, "".join(f"{n}\n" for n in self.db_names())

        table.register("ovsdb-server/compact", "", 0, 1, compact)
        table.register("ovsdb-server/add-remote", "REMOTE", 1, 1, add_remote)
        table.register("ovsdb-server/remove-remote", "REMOTE", 1, 1, remove_remote)
        table.register("ovsdb-server/list-remotes", "", 0, 0, list_remotes)
        table.register("ovsdb-server/add-db", "DB", 1, 1, add_db)
        table.register("ovsdb-server/remove-db", "DB", 1, 1, remove_db)
        table.register("ovsdb-server/list-dbs", "", 0, 0, list_dbs)
        table.register("ovsdb-server/reconnect", "", 0, 0, self._reconnect)

    def _reconnect(self, args):
        for sid, conn in list(self.conns.items()):
            self.conns.pop(sid)
            self._apply(self.core.close_session(sid, self.clock()))
            conn.close("reconnect requested")
        return True, ""

    def memory_report(self) -> str:
        """`atoms:A cells:C monitors:M n-weak-refs:W [sessions:S]`, OVS's figures
        counted over every database served (the core's own report if it has one)."""
        report = getattr(self.core, "memory_report", None)
        if callable(report):
            return report()
        atoms = cells = weak = monitors = 0
        for dbh in getattr(self.core, "dbs", {}).values():
            db = dbh.db
            monitors += len(getattr(dbh, "monitors", ()))
            for tname, table in db.tables.items():
                columns = db.schema.tables[tname].columns
                # _uuid and _version count too: one cell and one atom each.
                cells += len(table.rows) * (len(columns) + 2)
                atoms += len(table.rows) * 2
                for cname, col in columns.items():
                    ctype = col.type
                    per = 2 if ctype.value is not None else 1
                    weak_col = (ctype.key.ref_table and ctype.key.ref_type == "weak") or (
                        ctype.value is not None and ctype.value.ref_table
                        and ctype.value.ref_type == "weak")
                    for row in table.rows.values():
                        v = row[cname]
                        n = len(v) if isinstance(v, tuple) else 1
                        atoms += n * per
                        if weak_col:
                            weak += n
        text = f"atoms:{atoms} cells:{cells} monitors:{monitors} n-weak-refs:{weak}"
        if self.conns:
            text += f" sessions:{len(self.conns)}"
        return text

    # ---- shutdown ----

    def close(self) -> None:
        if self._status_timer is not None:
            self._status_timer.cancel()
        for mgr in self.managers.values():
            mgr.close()
        self.managers.clear()
        for sid, conn in list(self.conns.items()):
            conn.close("server exiting")
        self.conns.clear()
        if self._queue:
            self.flush()
        for storage in self.storages.values():
            storage.close()


_CLOSE_RL = vlog.RateLimit(rate=60, burst=60)
_DB_RL = vlog.RateLimit(rate=1, burst=5)


def _error_text(e: Exception) -> str:
    error = getattr(e, "error", None)
    if isinstance(error, str):
        details = getattr(e, "details", None)
        return error if not details else f"{error}: {details}"
    return str(e)
