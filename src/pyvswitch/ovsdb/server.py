"""The ovsdb-server protocol engine (RFC 7047), sans I/O.

`ServerCore` is everything ovsdb-server does between the bytes a client sends
and the bytes it gets back, with no sockets and no clock: the shell (the
asyncio daemon) owns the listeners, the storage files and the time.

Interface for the shell::

    core = ServerCore(now=t, probe_interval=5.0, online_convert=False)
    effects = core.add_database(db, name=None, now=None)  # storage is the shell's
    effects = core.remove_database(name, now)   # (adding or removing a database
                                                # drops the clients not
                                                # db_change_aware, as OVS does)
    sid = core.open_session(now, name="unix#3") # a new client connection
    core.set_probe_interval(sid, seconds)       # 0 disables (default 5 s, as OVS;
                                                # none for "unix..." sessions)
    effects = core.receive(sid, data, now)      # bytes from that client
    effects = core.close_session(sid, now)      # the peer went away
    effects = core.handle_timer(now)            # call at core.next_deadline()
    core.next_deadline() -> float | None
    core.stats() -> {"monitors": n, "sessions": n, "triggers": n}

Every call returns a list of effects which the shell applies IN ORDER:

- `LogCommit(db_name, commit)`: append `commit.record()` to that database's
  storage (fsync first if `commit.durable`) before anything later is sent;
- `Send(sid, data)`: write bytes to that session;
- `Close(sid, reason)`: drop that session (after sending what came before);
  the core has already forgotten it;
- `ConvertDb(db_name, db)`: a client converted the database online to
  `db.schema` ("convert" method); replace its storage with that schema and a
  snapshot of `db`, as `ovsdb-tool convert` does, before anything later is
  sent; later `LogCommit`s for it are in the new schema.  The core answers
  "convert" only if the shell says it can do this (`online_convert=True`).

Ordering: a session's bytes are sent in the order the core produced them, and
a "transact" reply follows the update notifications its commit caused on the
same session, as ovsdb-server does.  Within one call the core gathers each
session's output into a single `Send` placed after every `LogCommit` of that
call, so a batch of pipelined requests costs one write per session.
"""

from __future__ import annotations

import math
import posix
from collections import deque
from dataclasses import dataclass
from typing import Any

from pyvswitch.ovsdb import server_db
from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.errors import OvsdbError, json_text
from pyvswitch.ovsdb.jsonrpc import (Framer, JsonRpcError, Notification, Request, dumps,
                                     parse_message)
from pyvswitch.ovsdb.monitor import (VERSIONS, Monitor, compose, parse_condition_changes,
                                     parse_monitor_requests)
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.types import ZERO_UUID, is_id, new_uuid, syntax_error


@dataclass(frozen=True, slots=True)
class LogCommit:
    db_name: str
    commit: object


@dataclass(frozen=True, slots=True)
class Send:
    sid: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    sid: int
    reason: str


@dataclass(frozen=True, slots=True)
class ConvertDb:
    db_name: str
    db: object


Effect = LogCommit | Send | Close | ConvertDb

DEFAULT_PROBE_INTERVAL = 5.0


# Theory of operation.  Each session has a JSON-RPC `Framer`, its monitors,
# the locks it holds or waits for, its pending transactions ("triggers") and
# an output buffer.  Handling a call appends bytes to output buffers and
# commits to `_log`; `_flush` turns them into effects at the end of the call.
#
# A transaction runs at once.  If a "wait" operation is not yet satisfied the
# engine says until when to wait (`Outcome.wait_until`); the transaction then
# waits as a trigger of its database and runs again after each commit to that
# database and at its deadline, when the engine reports "timed out".  Every
# commit is logged, recorded in the database's bounded history under a new
# transaction id (for "monitor_cond_since"; the id is made when a client is
# first told it, which without monitors is rarely), and turned into update
# notifications for every monitor of that database, computed and encoded
# once per set of identical monitors.
#
# Locks: each lock name has a queue of waiting sessions; the first one owns
# it.  "steal" puts the thief first; the victim stays queued behind it if it
# asked with "lock", and leaves the queue if it had stolen the lock itself.
#
# Inactivity probes follow OVS's reconnect state machine: after
# `probe_interval` seconds with nothing received the core sends an "echo"
# request; if nothing arrives within another interval, it closes the session.


# How much each database remembers of recent commits for monitor_cond_since:
# at most this many commits, and at most this many row changes in all (but
# always the last commit), so that big transactions do not pin memory.
HISTORY_LENGTH = 100
HISTORY_ROWS = 100_000

_DEFERRED = object()
_NO_LOCKS: frozenset = frozenset()
_NO_QUEUE = [None]


# Transaction ids are random (version 4) uuids like new_uuid's, their bits read
# from the OS a block at a time: one getrandom system call per this many
# commits instead of one per commit.  The pool belongs to one ServerCore, made
# after the daemon forked, so no two processes ever share it.
_IDS_PER_READ = 64
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)

# The inactivity probe, as OVS sends it.
_ECHO = b'{"id":"echo","method":"echo","params":[]}'


class _BareError(Exception):
    """An error ovsdb-server reports as a bare string, not an error object."""


class _Db:
    __slots__ = ("name", "db", "monitors", "history", "history_rows", "last_id", "triggers", "schema_text")

    def __init__(self, name: str, db) -> None:
        self.name = name
        self.db = db
        self.monitors: list[tuple["_Session", Monitor]] = []
        # (txn id, changes, rows); the id is None until someone is told it.
        self.history: deque[tuple[str | None, dict, int]] = deque()
        self.history_rows = 0
        # An id for the contents as loaded; never the zero uuid, which
        # clients send to mean "I know nothing".  None after a commit whose
        # id nobody was told yet: see current_id.
        self.last_id: str | None = new_uuid()
        self.triggers: list[_Trigger] = []
        # (schema, its JSON text as bytes): every ovs-vsctl call asks for the
        # schema, and serializing it costs more than the rest of most calls.
        self.schema_text: tuple[DatabaseSchema, bytes] | None = None

    def current_id(self, core: "ServerCore") -> str:
        """The id of the contents now, named on first use: a client can only
        ever send back ids it was told, so a commit nobody hears of (no
        monitor_cond_since session watching) needs none."""
        u = self.last_id
        if u is None:
            u = self.last_id = core._txn_id()
            history = self.history
            if history and history[-1][0] is None:
                history[-1] = (u, *history[-1][1:])
        return u

    def schema_json(self) -> bytes:
        """The database's schema as get_schema answers it, serialized once per
        schema: a conversion replaces db and with it the schema, so the cached
        text is kept only while it is the text of db's schema."""
        schema = self.db.schema
        if self.schema_text is None or self.schema_text[0] is not schema:
            self.schema_text = (schema, dumps(schema.to_json()).encode())
        return self.schema_text[1]


class _Trigger:
    __slots__ = ("session", "id", "dbh", "ops", "start", "deadline")

    def __init__(self, session, id_json, dbh, ops, start, deadline) -> None:
        self.session = session
        self.id = id_json
        self.dbh = dbh
        self.ops = ops
        self.start = start
        self.deadline = deadline


class _Session:
    __slots__ = ("sid", "name", "framer", "monitors", "locks", "triggers", "out",
                 "db_change_aware", "probe_interval", "last_rx", "probe_sent_at", "open")

    def __init__(self, sid: int, name: str, now: float, probe_interval: float) -> None:
        self.sid = sid
        self.name = name
        self.framer = Framer()
        self.monitors: dict[str, Monitor] = {}     # by id_text
        self.locks: dict[str, str] = {}            # lock name -> "lock" or "steal"
        self.triggers: list[_Trigger] = []
        self.out: list[bytes] = []
        self.db_change_aware = False
        self.probe_interval = probe_interval
        self.last_rx = now
        self.probe_sent_at: float | None = None
        self.open = True


def _reply(id_json: Any, result: Any) -> bytes:
    return dumps({"id": id_json, "result": result, "error": None}).encode()


def _error_reply(id_json: Any, error: Any) -> bytes:
    # ovsdb-server leaves "result" out of an error reply.
    return ('{"id":%s,"error":%s}' % (dumps(id_json), dumps(error))).encode()


def _notify(method: str, params: list) -> bytes:
    return ('{"id":null,"method":"%s","params":%s}' % (method, dumps(params))).encode()


class ServerCore:
    """The protocol engine of ovsdb-server (see the module docstring)."""

    def __init__(self, now: float = 0.0, probe_interval: float = DEFAULT_PROBE_INTERVAL,
                 online_convert: bool = False) -> None:
        self.probe_interval = probe_interval
        self.online_convert = online_convert
        self.dbs: dict[str, _Db] = {}
        self._sessions: dict[int, _Session] = {}
        # The sessions with an inactivity probe: only they have deadlines.
        self._probed: dict[int, _Session] = {}
        self._next_sid = 1
        self._locks: dict[str, list[_Session]] = {}
        self._log: list[LogCommit] = []
        self._dirty: list[_Session] = []
        self._closing: list[Close] = []
        self._ids: list[int] = []
        self._now = now
        schema = server_db.server_schema()
        self._server = _Db(server_db.SERVER_DB, Database(schema))
        self.dbs[server_db.SERVER_DB] = self._server
        self._server_update(server_db.insert_ops(server_db.SERVER_DB, schema), now)
        self._flush()

    # --- the shell's interface ---

    def add_database(self, db, name: str | None = None, now: float | None = None) -> list:
        """Serves db under name (its schema's name by default)."""
        name = name or db.schema.name
        if name in self.dbs:
            raise ValueError(f"{name}: database already open")
        if now is not None:
            self._now = now
        self.dbs[name] = _Db(name, db)
        self._server_update(server_db.insert_ops(name, db.schema), self._now)
        self._reconnect_unaware(f"adding {name} database to server")
        return self._flush()

    def remove_database(self, name: str, now: float) -> list:
        self._now = now
        dbh = self.dbs.pop(name)
        self._detach(dbh)
        self._server_update(server_db.delete_ops(name), now)
        self._reconnect_unaware(f"removing {name} database from server")
        return self._flush()

    def _detach(self, dbh: "_Db") -> None:
        """Ends the monitors and waiting transactions on a database that goes
        away or changes schema: db_change_aware clients are told of their
        monitors, and every waiting transaction is answered "canceled"."""
        for s, mon in dbh.monitors:
            if s.open and s.db_change_aware:
                s.monitors.pop(mon.id_text, None)
                self._out(s, _notify("monitor_canceled", [mon.id]))
        for t in dbh.triggers:
            if t in t.session.triggers:
                t.session.triggers.remove(t)
            if t.session.open:
                self._out(t.session, _error_reply(t.id, "canceled"))
        dbh.monitors.clear()
        dbh.triggers.clear()

    def database_names(self) -> list[str]:
        return sorted(self.dbs)

    def open_session(self, now: float, name: str = "", probe_interval: float | None = None) -> int:
        """A new client connection.  Like ovsdb-server, the core does not probe
        unix socket peers (names starting "unix") unless told to."""
        sid = self._next_sid
        self._next_sid += 1
        name = name or f"session#{sid}"
        if probe_interval is None:
            probe_interval = 0.0 if name.startswith("unix") else self.probe_interval
        s = self._sessions[sid] = _Session(sid, name, now, probe_interval)
        if probe_interval > 0:
            self._probed[sid] = s
        return sid

    def set_probe_interval(self, sid: int, seconds: float) -> None:
        s = self._sessions.get(sid)
        if s is not None:
            s.probe_interval = seconds
            if seconds > 0:
                self._probed[sid] = s
            else:
                self._probed.pop(sid, None)

    def receive(self, sid: int, data: bytes, now: float) -> list:
        s = self._sessions.get(sid)
        if s is None:
            return []
        self._now = now
        s.last_rx = now
        s.probe_sent_at = None
        error = None
        try:
            texts = s.framer.feed_json(data)
        except JsonRpcError as e:
            # What came before the fault is answered, as ovsdb-server does.
            texts, error = e.values, e
        for text in texts:
            if not s.open:
                break
            try:
                msg = parse_message(text)
            except JsonRpcError as e:
                self._close(s, f"{s.name}: received bad JSON-RPC message: {e}")
                break
            try:
                self._dispatch(s, msg, now)
            except Exception as e:  # a bug: drop this client, keep serving the others
                self._close(s, f"{s.name}: internal error: {e!r}")
                break
        if error is not None:
            self._close(s, f"{s.name}: receive error: {error}")
        return self._flush()

    def close_session(self, sid: int, now: float) -> list:
        s = self._sessions.get(sid)
        if s is None:
            return []
        self._now = now
        self._forget(s)
        s.out.clear()
        return self._flush()

    def next_deadline(self) -> float | None:
        best = math.inf
        for s in self._probed.values():
            t = (s.last_rx if s.probe_sent_at is None else s.probe_sent_at) + s.probe_interval
            if t < best:
                best = t
        for dbh in self.dbs.values():
            if dbh.triggers:
                for t in dbh.triggers:
                    if t.deadline < best:
                        best = t.deadline
        return None if best == math.inf else best

    def handle_timer(self, now: float) -> list:
        self._now = now
        for s in list(self._probed.values()):
            if s.probe_sent_at is None:
                if now >= s.last_rx + s.probe_interval:
                    s.probe_sent_at = now
                    self._out(s, _ECHO)
            elif now >= s.probe_sent_at + s.probe_interval:
                self._close(s, f"{s.name}: no response to inactivity probe after "
                               f"{s.probe_interval:g} seconds, disconnecting")
        for dbh in list(self.dbs.values()):
            if any(t.deadline <= now for t in dbh.triggers):
                self._run_triggers(dbh, now, only_expired=True)
        return self._flush()

    # --- effects ---

    def _out(self, s: _Session, data: bytes) -> None:
        if not s.out:
            self._dirty.append(s)
        s.out.append(data)

    def _flush(self) -> list:
        effects: list = self._log
        self._log = []
        for s in self._dirty:
            if s.out:
                effects.append(Send(s.sid, b"".join(s.out)))
                s.out.clear()
        self._dirty.clear()
        if self._closing:
            effects.extend(self._closing)
            self._closing = []
        return effects

    def _close(self, s: _Session, reason: str) -> None:
        if s.open:
            self._forget(s)
            self._closing.append(Close(s.sid, reason))

    def _forget(self, s: _Session) -> None:
        s.open = False
        self._sessions.pop(s.sid, None)
        self._probed.pop(s.sid, None)
        for mon in s.monitors.values():
            dbh = self.dbs.get(mon.db_name)
            if dbh is not None:
                dbh.monitors = [(ss, m) for ss, m in dbh.monitors if m is not mon]
        s.monitors.clear()
        for t in s.triggers:
            if t in t.dbh.triggers:
                t.dbh.triggers.remove(t)
        s.triggers.clear()
        for name in list(s.locks):
            self._unlock(s, name)

    def _reconnect_unaware(self, reason: str) -> None:
        for s in list(self._sessions.values()):
            if not s.db_change_aware:
                self._close(s, f"{s.name}: {reason}")

    # --- dispatch ---

    def _dispatch(self, s: _Session, msg, now: float) -> None:
        if type(msg) is Request:
            handler = _METHODS.get(msg.method)
            if handler is None:
                self._out(s, _error_reply(msg.id, "unknown method"))
                return
            try:
                result = handler(self, s, msg, now)
            except OvsdbError as e:
                self._out(s, _error_reply(msg.id, e.to_json()))
                return
            except _BareError as e:
                self._out(s, _error_reply(msg.id, e.args[0]))
                return
            if result is not _DEFERRED:
                self._out(s, _reply(msg.id, result))
        elif type(msg) is Notification:
            if msg.method == "cancel" and len(msg.params) == 1:
                self._cancel(s, msg.params[0])
        # Replies (to our echo probes) need nothing beyond the activity.

    def _lookup_db(self, req: Request) -> _Db:
        params = req.params
        if not params or not isinstance(params[0], str):
            raise OvsdbError("syntax error", f"{req.method} request params must begin with <db-name>",
                             json_text(params))
        dbh = self.dbs.get(params[0])
        if dbh is None:
            raise OvsdbError("unknown database",
                             f"{req.method} request specifies unknown database {params[0]}",
                             json_text(params))
        return dbh

    # --- methods ---

    def _m_echo(self, s, req, now):
        return req.params

    def _m_list_dbs(self, s, req, now):
        return sorted(self.dbs)

    def _m_get_schema(self, s, req, now):
        text = self._lookup_db(req).schema_json()
        self._out(s, b'{"id":%s,"result":%s,"error":null}' % (dumps(req.id).encode(), text))
        return _DEFERRED

    def _m_set_db_change_aware(self, s, req, now):
        if len(req.params) != 1 or not isinstance(req.params[0], bool):
            raise syntax_error(req.params, "set_db_change_aware: true or false parameter expected")
        s.db_change_aware = req.params[0]
        return {}

    def _m_transact(self, s, req, now):
        dbh = self._lookup_db(req)
        if s.triggers and self._find_trigger(s, req.id) is not None:
            raise syntax_error(req.params, "transact: duplicate request ID")
        t = _Trigger(s, req.id, dbh, req.params[1:], now, math.inf)
        if not self._try_trigger(t, now):
            dbh.triggers.append(t)
            s.triggers.append(t)
        return _DEFERRED

    @staticmethod
    def _find_trigger(s: _Session, id_json) -> _Trigger | None:
        text = dumps(id_json)
        for t in s.triggers:
            if dumps(t.id) == text:
                return t
        return None

    def _cancel(self, s, id_json) -> None:
        t = self._find_trigger(s, id_json)
        if t is not None:
            s.triggers.remove(t)
            t.dbh.triggers.remove(t)

    # --- transactions ---

    def _execute(self, t: _Trigger, now: float):
        """Runs a trigger's transaction; returns (results, commit, wait_until)."""
        ops = t.ops
        dbh = t.dbh
        if dbh is self._server:
            i = server_db.first_write(ops)
            if i is not None:
                return server_db.refuse_write(dbh.db, ops, i, now), None, None
        outcome = dbh.db.execute(ops, now=now, started=t.start, locks=self._owned(t.session))
        return outcome.results, outcome.commit, outcome.wait_until

    def _try_trigger(self, t: _Trigger, now: float) -> bool:
        """Runs a transaction; True if it completed (and was answered)."""
        try:
            results, commit, wait_until = self._execute(t, now)
        except Exception as e:  # an engine bug: drop the client that asked, not the caller
            self._close(t.session, f"{t.session.name}: internal error: {e!r}")
            return True
        if wait_until is not None and commit is None:
            t.deadline = wait_until
            return False
        if commit is not None:
            self._commit(t.dbh, commit)
        self._out(t.session, _reply(t.id, results))
        return True

    def _txn_id(self) -> str:
        ids = self._ids
        if not ids:
            block = posix.urandom(16 * _IDS_PER_READ)
            ids.extend(int.from_bytes(block[i:i + 16], "big") for i in range(0, len(block), 16))
        h = "%032x" % (ids.pop() & _VERSION_MASK | _VERSION_BITS)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _commit(self, dbh: _Db, commit) -> None:
        if dbh is not self._server:
            self._log.append(LogCommit(dbh.name, commit))
        # Monitors may hand the id out (update3); otherwise it is named when asked.
        txn_id = self._txn_id() if dbh.monitors else None
        changes = commit.changes
        if len(changes) == 1:
            for rows in changes.values():
                n = len(rows)
        else:
            n = sum(map(len, changes.values()))
        history = dbh.history
        history.append((txn_id, changes, n))
        dbh.history_rows += n
        if len(history) > HISTORY_LENGTH or dbh.history_rows > HISTORY_ROWS:
            while len(history) > HISTORY_LENGTH or (dbh.history_rows > HISTORY_ROWS and len(history) > 1):
                dbh.history_rows -= history.popleft()[2]
        dbh.last_id = txn_id
        if dbh.monitors:
            cache: dict = {}
            hints = getattr(commit, "hints", None)
            for s, mon in dbh.monitors:
                # Monitors alike (same key, same id) get the very same bytes.
                k = (mon.key, mon.id_text)
                note = cache.get(k, _DEFERRED)
                if note is _DEFERRED:
                    body = cache.get(mon.key, _DEFERRED)
                    if body is _DEFERRED:
                        upd = mon.updates(changes, hints)
                        body = cache[mon.key] = dumps(upd) if upd else None
                    note = cache[k] = None if body is None else mon.notification(body, txn_id)
                if note is not None:
                    self._out(s, note)
        if dbh.triggers:
            self._run_triggers(dbh, self._now)

    def _run_triggers(self, dbh: _Db, now: float, only_expired: bool = False) -> None:
        # A commit by one trigger reruns the others from within _commit.
        for t in list(dbh.triggers):
            if t not in dbh.triggers or (only_expired and t.deadline > now):
                continue
            dbh.triggers.remove(t)
            t.session.triggers.remove(t)
            if not self._try_trigger(t, now):
                dbh.triggers.append(t)
                t.session.triggers.append(t)

    def _server_update(self, ops: list, now: float) -> None:
        outcome = self._server.db.execute(ops, now=now)
        if outcome.commit is not None:
            self._commit(self._server, outcome.commit)

    # --- online conversion ---

    def _m_convert(self, s, req, now):
        dbh = self._lookup_db(req)
        params = req.params
        if len(params) != 2:
            raise syntax_error(params, "array expected")
        schema = DatabaseSchema.from_json(params[1])
        if schema.name != dbh.name:
            raise OvsdbError("invalid parameters", f"new schema name ({schema.name}) does not match "
                             f"database name ({dbh.name})")
        if not self.online_convert or dbh is self._server:
            raise OvsdbError("not supported", f"online conversion of database {dbh.name} is not supported")
        new_db = convert_database(dbh.db, schema)
        self._log.append(ConvertDb(dbh.name, new_db))
        self._detach(dbh)
        dbh.db = new_db
        dbh.history.clear()
        dbh.history_rows = 0
        dbh.last_id = new_uuid()
        dbh.schema_text = None
        self._server_update(server_db.update_schema_ops(dbh.name, schema), now)
        self._out(s, _reply(req.id, {}))
        self._reconnect_unaware(f"{dbh.name} database was converted to schema version {schema.version}")
        return _DEFERRED

    # --- monitors ---

    def _m_monitor(self, s, req, now):
        dbh = self._lookup_db(req)
        version = VERSIONS[req.method]
        params = req.params
        if len(params) != (4 if version == 3 else 3):
            raise syntax_error(params, "invalid parameters")
        id_text = dumps(params[1])
        if id_text in s.monitors:
            raise syntax_error(params[1], "duplicate monitor ID")
        tables = parse_monitor_requests(dbh.db.schema, params[2], version)
        mon = Monitor(params[1], dbh.name, version, tables)
        if version == 3:
            found, changes = self._since(dbh, params[3])
            result = [found, dbh.current_id(self), mon.updates(changes) if found else mon.initial(dbh.db)]
        else:
            result = mon.initial(dbh.db)
        s.monitors[id_text] = mon
        dbh.monitors.append((s, mon))
        return result

    def _since(self, dbh: _Db, last_id: Any) -> tuple[bool, dict]:
        if not isinstance(last_id, str) or last_id == ZERO_UUID:
            return False, {}
        if last_id == dbh.current_id(self):
            return True, {}
        ids = [h[0] for h in dbh.history]
        if last_id not in ids:
            return False, {}
        k = ids.index(last_id)
        return True, compose(h[1] for h in list(dbh.history)[k + 1:])

    def _m_monitor_cond_change(self, s, req, now):
        params = req.params
        if len(params) != 3:
            raise syntax_error(params, "invalid parameters")
        old_text = dumps(params[0])
        mon = s.monitors.get(old_text)
        if mon is None:
            raise syntax_error(params[0], "unknown monitor session")
        new_text = dumps(params[1])
        if new_text != old_text and new_text in s.monitors:
            raise syntax_error(params[1], "duplicate monitor ID")
        wheres = parse_condition_changes(mon, params[2])
        dbh = self.dbs[mon.db_name]
        upd = mon.change_conditions(dbh.db, wheres)
        if new_text != old_text:
            del s.monitors[old_text]
            mon.id = params[1]
            mon.id_text = new_text
            s.monitors[new_text] = mon
        if upd:
            self._out(s, mon.notification(dumps(upd), dbh.current_id(self)))
        return {}

    def _m_monitor_cancel(self, s, req, now):
        params = req.params
        if len(params) != 1:
            raise _BareError("invalid parameters")
        mon = s.monitors.pop(dumps(params[0]), None)
        if mon is None:
            raise _BareError("unknown monitor")
        dbh = self.dbs.get(mon.db_name)
        if dbh is not None:
            dbh.monitors = [(ss, m) for ss, m in dbh.monitors if m is not mon]
        return {}

    # --- locks ---

    def _lock_name(self, req) -> str:
        p = req.params
        if len(p) != 1 or not is_id(p[0]):
            raise syntax_error(p, f"{req.method} request params must be <id>")
        return p[0]

    def _m_lock(self, s, req, now):
        name = self._lock_name(req)
        if name in s.locks:
            raise syntax_error(req.params, f'must issue "unlock" before new "{req.method}"')
        queue = self._locks.setdefault(name, [])
        s.locks[name] = req.method
        if req.method == "steal":
            if queue:
                victim = queue[0]
                self._out(victim, _notify("stolen", [name]))
                if victim.locks.get(name) == "steal":
                    # A thief robbed in turn is not queued: only "lock" waits.
                    queue.pop(0)
            queue.insert(0, s)
            return {"locked": True}
        queue.append(s)
        return {"locked": queue[0] is s}

    def _m_unlock(self, s, req, now):
        name = self._lock_name(req)
        if name not in s.locks:
            raise syntax_error(req.params, 'unlock: "unlock" without "lock" or "steal"')
        self._unlock(s, name)
        return {}

    def _unlock(self, s: _Session, name: str) -> None:
        del s.locks[name]
        queue = self._locks.get(name)
        if not queue or s not in queue:
            return
        queue.remove(s)
        if queue:
            # ovsdb-server tells the owner after any waiter leaves, even
            # when the owner did not change.
            self._out(queue[0], _notify("locked", [name]))
        else:
            del self._locks[name]

    def _owned(self, s: _Session) -> frozenset:
        if not s.locks:
            return _NO_LOCKS
        locks = self._locks
        return frozenset(n for n in s.locks if locks.get(n, _NO_QUEUE)[0] is s)

    def stats(self) -> dict:
        """Counts for ovsdb-server/memory/show."""
        return {"monitors": sum(len(d.monitors) for d in self.dbs.values()),
                "sessions": len(self._sessions),
                "triggers": sum(len(d.triggers) for d in self.dbs.values())}

    def lock_owner(self, name: str) -> int | None:
        queue = self._locks.get(name)
        return queue[0].sid if queue else None


def convert_database(db: Database, schema: DatabaseSchema) -> Database:
    """A copy of db in a new schema, as online conversion makes it: tables and
    columns the schema lacks are dropped, new ones get defaults, and every
    value kept must fit its new type (else the OvsdbError says why)."""
    record: dict = {}
    for tname, t in db.tables.items():
        ts = schema.tables.get(tname)
        if ts is None or not t.rows:
            continue
        pairs = [(old, ts.columns[name]) for name, old in t.schema.columns.items() if name in ts.columns]
        rows = {}
        for u, row in t.rows.items():
            out = {}
            for old, new in pairs:
                j = old.type.datum_to_json(row.get(old.index))
                new.type.datum_from_json(j)
                out[new.name] = j
            rows[u] = out
        record[tname] = rows
    new_db = Database(schema)
    new_db.apply_record(record)
    return new_db


_METHODS = {
    "echo": ServerCore._m_echo,
    "list_dbs": ServerCore._m_list_dbs,
    "get_schema": ServerCore._m_get_schema,
    "set_db_change_aware": ServerCore._m_set_db_change_aware,
    "transact": ServerCore._m_transact,
    "monitor": ServerCore._m_monitor,
    "monitor_cond": ServerCore._m_monitor,
    "monitor_cond_since": ServerCore._m_monitor,
    "monitor_cond_change": ServerCore._m_monitor_cond_change,
    "monitor_cancel": ServerCore._m_monitor_cancel,
    "convert": ServerCore._m_convert,
    "lock": ServerCore._m_lock,
    "steal": ServerCore._m_lock,
    "unlock": ServerCore._m_unlock,
}
