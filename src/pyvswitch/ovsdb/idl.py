"""The OVSDB IDL: a client-side replica of selected tables, and transactions on it.

What: `Idl` keeps an in-memory copy of the tables and columns a client asked
for, fed by an OVSDB monitor, and builds transactions against it.  It is sans
I/O: the driver (aio/idl.py) hands it each JSON-RPC message it receives and
sends the messages it returns; `connected()` and `disconnected()` tell it
about the session.  Nothing here reads a clock or touches a socket.

Session state machine (one pass per connection):

    connected() -> send get_schema                          SCHEMA_REQUESTED
    schema reply -> send monitor_cond_since(last_id)        MONITOR_REQUESTED
    error "unknown method" -> retry monitor_cond, then monitor
    monitor reply -> apply the initial contents             MONITORING
    update3 / update2 / update notifications -> apply
    monitor_canceled (the database was converted) -> get_schema again

`monitor_cond_since` (update3) carries a transaction id: the IDL keeps the
last one it saw, so after a reconnect the server sends only what changed since
(reply `[true, last_id, changes]`) instead of the whole database (`[false, ...]`
replaces the replica).  With `monitor_cond`/`monitor`, every reconnect replaces
the replica.

Invariants: `tables[name][uuid]` is a dict of the monitored columns holding
immutable datums (see types.py); it changes only in `receive`, and each
change bumps `change_seqno`, so a user compares seqnos to learn whether to look
again.  A transaction's reply comes back as a `TxnResult` from `receive` (and
to the callback given to `commit`).

Transactions: `Transaction` collects operations -- `verify` (a "wait" that the
columns still hold the replica's values, so a change by someone else makes
the commit fail with TRY_AGAIN rather than overwrite it), `insert` (with a
named uuid, resolved in the result), `update`, `mutate`, `delete` and
`increment` (a mutate plus a select that returns the new value, for
`next_cfg`-style counters) -- and `Idl.commit` turns them into a "transact"
request.
"""

from __future__ import annotations

import enum
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.schema import DatabaseSchema, TableSchema

ZERO_UUID = "00000000-0000-0000-0000-000000000000"


class State(enum.Enum):
    DISCONNECTED = "disconnected"
    SCHEMA_REQUESTED = "schema requested"
    MONITOR_REQUESTED = "monitor requested"
    MONITORING = "monitoring"
    FAILED = "failed"


# The monitor methods, newest first; the IDL falls back along this list.
MONITOR_METHODS = ("monitor_cond_since", "monitor_cond", "monitor")


class TxnStatus(enum.Enum):
    SUCCESS = "success"
    UNCHANGED = "unchanged"
    TRY_AGAIN = "try again"
    ERROR = "error"
    NOT_LOCKED = "not locked"


@dataclass(frozen=True, slots=True)
class TxnResult:
    status: TxnStatus
    inserted: dict = field(default_factory=dict)   # named uuid -> real uuid
    increment: int | None = None                   # the incremented column's new value
    error: str | None = None                       # error text for ERROR


class Transaction:
    """Operations to commit in one "transact"; build with the methods, then Idl.commit."""

    def __init__(self, idl: "Idl", comment: str | None = None) -> None:
        self.idl = idl
        self.ops: list[dict] = []
        self.comment = comment
        self._names = itertools.count(1)
        self._increment_index: int | None = None
        self._increment_column = ""

    def _json(self, table: str, row: dict) -> dict:
        ts = self.idl.schema.tables[table]
        return {c: ts.columns[c].type.datum_to_json(v) for c, v in row.items()}

    def verify(self, table: str, uuid: str, columns: list[str]) -> None:
        """Fails the transaction (TRY_AGAIN) if the row's columns differ from the replica."""
        row = self.idl.tables[table].get(uuid)
        if row is None:
            return
        self.ops.append({"op": "wait", "table": table, "timeout": 0,
                         "where": [["_uuid", "==", ["uuid", uuid]]], "columns": list(columns),
                         "until": "==", "rows": [self._json(table, {c: row[c] for c in columns})]})

    def insert(self, table: str, row: dict, uuid_name: str | None = None) -> str:
        """Inserts a row; returns its uuid-name for references within this transaction."""
        name = uuid_name or f"row{next(self._names)}"
        self.ops.append({"op": "insert", "table": table, "row": self._json(table, row),
                         "uuid-name": name})
        return name

    def update(self, table: str, uuid: str, row: dict) -> None:
        self.ops.append({"op": "update", "table": table,
                         "where": [["_uuid", "==", ["uuid", uuid]]], "row": self._json(table, row)})

    def mutate(self, table: str, uuid: str, mutations: list) -> None:
        """mutations: [[column, mutator, json value], ...] as RFC 7047 writes them."""
        self.ops.append({"op": "mutate", "table": table,
                         "where": [["_uuid", "==", ["uuid", uuid]]], "mutations": mutations})

    def delete(self, table: str, uuid: str) -> None:
        self.ops.append({"op": "delete", "table": table, "where": [["_uuid", "==", ["uuid", uuid]]]})

    def increment(self, table: str, uuid: str, column: str) -> None:
        """Adds 1 to an integer column; TxnResult.increment holds the value committed."""
        where = [["_uuid", "==", ["uuid", uuid]]]
        self.ops.append({"op": "mutate", "table": table, "where": where,
                         "mutations": [[column, "+=", 1]]})
        self._increment_index = len(self.ops)
        self.ops.append({"op": "select", "table": table, "where": where, "columns": [column]})
        self._increment_column = column

    def params(self) -> list:
        ops = list(self.ops)
        if self.comment:
            ops.append({"op": "comment", "comment": self.comment})
        return [self.idl.db_name, *ops]

    def result(self, reply: Any) -> TxnResult:
        """Interprets the "transact" result array."""
        if not isinstance(reply, list):
            return TxnResult(TxnStatus.ERROR, error="malformed reply")
        if not self.ops:
            return TxnResult(TxnStatus.UNCHANGED)
        for r in reply:
            if isinstance(r, dict) and "error" in r:
                if r["error"] == "timed out":
                    return TxnResult(TxnStatus.TRY_AGAIN)
                if r["error"] == "not owner":
                    return TxnResult(TxnStatus.NOT_LOCKED)
                details = r.get("details")
                return TxnResult(TxnStatus.ERROR,
                                 error=f"{r['error']}: {details}" if details else r["error"])
        inserted = {}
        for op, r in zip(self.ops, reply):
            uuid = r.get("uuid") if isinstance(r, dict) else None
            if op["op"] == "insert" and isinstance(uuid, list) and len(uuid) == 2:
                inserted[op["uuid-name"]] = uuid[1]
        increment = None
        if self._increment_index is not None and self._increment_index < len(reply) \
                and isinstance(reply[self._increment_index], dict):
            rows = reply[self._increment_index].get("rows") or []
            if rows:
                increment = rows[0].get(self._increment_column)
        return TxnResult(TxnStatus.SUCCESS, inserted, increment)


class Idl:
    def __init__(self, db_name: str, tables: dict[str, list[str] | None],
                 omit_alert: dict[str, list[str]] | None = None) -> None:
        """tables: the tables to replicate, each with its columns (None: all of them).
        omit_alert: columns whose changes alone do not bump change_seqno (a daemon's
        own status columns, so that writing them does not make it reconfigure)."""
        self.db_name = db_name
        self.wanted = dict(tables)
        self.omit_alert = {t: frozenset(c) for t, c in (omit_alert or {}).items()}
        self._alert = False
        self.schema: DatabaseSchema | None = None
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in tables}
        self.state = State.DISCONNECTED
        self.change_seqno = 0
        self.last_id = ZERO_UUID
        self.method_index = 0
        self.error: str | None = None
        self.resync_full: bool | None = None    # did the last monitor reply replace everything?
        self._ids = itertools.count(1)
        self._pending: dict[Any, tuple[str, Any]] = {}
        self._monitor_id = [db_name, "idl"]

    # ---- session ----------------------------------------------------------------------

    def _request(self, method: str, params: list, context: Any = None) -> jsonrpc.Request:
        ident = next(self._ids)
        self._pending[ident] = (method, context)
        return jsonrpc.Request(method, params, ident)

    def connected(self) -> list[jsonrpc.Message]:
        """A new session: returns the messages to send first."""
        self._pending.clear()
        self.method_index = 0
        self.state = State.SCHEMA_REQUESTED
        return [self._request("get_schema", [self.db_name])]

    def disconnected(self) -> list[TxnResult]:
        """The session is gone; transactions in flight fail with TRY_AGAIN (returned)."""
        callbacks = [ctx[1] for m, ctx in self._pending.values() if m == "transact"]
        self._pending.clear()
        if self.state is not State.FAILED:
            self.state = State.DISCONNECTED
        results = []
        for callback in callbacks:
            res = TxnResult(TxnStatus.TRY_AGAIN)
            if callback is not None:
                callback(res)
            results.append(res)
        return results

    @property
    def is_connected(self) -> bool:
        return self.state is State.MONITORING

    def _monitor_request(self) -> jsonrpc.Request:
        method = MONITOR_METHODS[self.method_index]
        requests = {}
        for t, cols in self.wanted.items():
            ts = self.schema.tables.get(t)
            if ts is None:
                continue
            names = [c for c in (cols or ts.columns) if c in ts.columns]
            requests[t] = [{"columns": names}] if method != "monitor" else {"columns": names}
        params = [self.db_name, self._monitor_id, requests]
        if method == "monitor_cond_since":
            params.append(self.last_id)
        return self._request(method, params)

    def receive(self, msg: jsonrpc.Message) -> tuple[list[jsonrpc.Message], list[TxnResult]]:
        """Handles one message: returns (messages to send, transaction results)."""
        if isinstance(msg, jsonrpc.Request):
            if msg.method == "echo":
                return [jsonrpc.Reply(msg.params, msg.id)], []
            return [jsonrpc.ErrorReply("unknown method", msg.id)], []
        if isinstance(msg, jsonrpc.Notification):
            if msg.method == "monitor_canceled":
                # The database was converted or removed: fetch the schema and monitor anew.
                self.last_id = ZERO_UUID
                self.state = State.SCHEMA_REQUESTED
                return [self._request("get_schema", [self.db_name])], []
            self._notification(msg)
            return [], []
        method, context = self._pending.pop(msg.id, (None, None))
        if method is None:
            return [], []
        if method == "get_schema":
            return self._schema_reply(msg), []
        if method in MONITOR_METHODS:
            return self._monitor_reply(method, msg), []
        if method == "transact":
            txn, callback = context
            if isinstance(msg, jsonrpc.ErrorReply):
                res = TxnResult(TxnStatus.ERROR, error=str(msg.error))
            else:
                res = txn.result(msg.result)
            if callback is not None:
                callback(res)
            return [], [res]
        return [], []

    def _schema_reply(self, msg) -> list[jsonrpc.Message]:
        if isinstance(msg, jsonrpc.ErrorReply):
            self.state = State.FAILED
            self.error = f"{self.db_name}: database not available ({msg.error})"
            return []
        schema = DatabaseSchema.from_json(msg.result)
        if self.schema is not None and schema.to_json() != self.schema.to_json():
            # A converted database: the replica's rows no longer fit; start over.
            self.last_id = ZERO_UUID
        self.schema = schema
        self.state = State.MONITOR_REQUESTED
        return [self._monitor_request()]

    def _monitor_reply(self, method: str, msg) -> list[jsonrpc.Message]:
        if isinstance(msg, jsonrpc.ErrorReply):
            if msg.error == "unknown method" and self.method_index + 1 < len(MONITOR_METHODS):
                self.method_index += 1
                return [self._monitor_request()]
            self.state = State.FAILED
            self.error = f"{method} failed: {msg.error}"
            return []
        if method == "monitor_cond_since":
            found, last_id, updates = msg.result
            self.resync_full = not found
            if not found:
                self._clear()
            self.last_id = last_id
            self._apply(updates, 2)
        else:
            self.resync_full = True
            self._clear()
            self._apply(msg.result, 2 if method == "monitor_cond" else 1)
        self.state = State.MONITORING
        self.change_seqno += 1
        return []

    def _notification(self, msg: jsonrpc.Notification) -> None:
        p = msg.params
        self._alert = False
        if msg.method == "update3" and len(p) == 3:
            self.last_id = p[1]
            self._apply(p[2], 2)
        elif msg.method == "update2" and len(p) == 2:
            self._apply(p[1], 2)
        elif msg.method == "update" and len(p) == 2:
            self._apply(p[1], 1)
        else:
            return
        if self._alert:
            self.change_seqno += 1

    def commit(self, txn: Transaction,
               callback: Callable[[TxnResult], None] | None = None) -> jsonrpc.Request:
        """The "transact" request for txn; its result comes back through receive()."""
        return self._request("transact", txn.params(), (txn, callback))

    def transaction(self, comment: str | None = None) -> Transaction:
        return Transaction(self, comment)

    # ---- the replica ----------------------------------------------------------------

    def _clear(self) -> None:
        for rows in self.tables.values():
            rows.clear()

    def _apply(self, updates: Any, version: int) -> None:
        if not isinstance(updates, dict):
            return
        for tname, rows in updates.items():
            ts = self.schema.tables.get(tname) if self.schema else None
            replica = self.tables.get(tname)
            if ts is None or replica is None or not isinstance(rows, dict):
                continue
            for uuid, change in rows.items():
                if version == 2:
                    self._apply2(ts, replica, uuid, change)
                else:
                    self._apply1(ts, replica, uuid, change)

    def _columns(self, ts: TableSchema, j: dict) -> dict[str, Any]:
        out = {}
        for name, vj in j.items():
            c = ts.columns.get(name)
            if c is not None:
                out[name] = c.type.datum_from_json(vj)
        return out

    def _fresh(self, ts: TableSchema) -> dict[str, Any]:
        cols = self.wanted.get(ts.name) or ts.columns
        return {c: ts.columns[c].type.default() for c in cols if c in ts.columns}

    def _apply2(self, ts: TableSchema, replica: dict, uuid: str, change: dict) -> None:
        if "delete" in change or change is None:
            replica.pop(uuid, None)
            self._alert = True
            return
        for kind in ("initial", "insert"):
            if kind in change:
                self._alert = True
                row = self._fresh(ts)
                row.update(self._columns(ts, change[kind]))
                replica[uuid] = row
                return
        if "modify" in change:
            row = dict(replica.get(uuid) or self._fresh(ts))
            quiet = self.omit_alert.get(ts.name, frozenset())
            for name, vj in change["modify"].items():
                c = ts.columns.get(name)
                if c is None:
                    continue
                if name not in quiet:
                    self._alert = True
                t = c.type
                if t.n_max == 1:
                    row[name] = t.datum_from_json(vj)
                else:
                    diff = t.with_bounds(0, math.inf).datum_from_json(vj)
                    row[name] = t.apply_diff(row.get(name, t.default()), diff)
            replica[uuid] = row

    def _apply1(self, ts: TableSchema, replica: dict, uuid: str, change: dict) -> None:
        new = change.get("new") if isinstance(change, dict) else None
        if new is None:
            replica.pop(uuid, None)
            self._alert = True
            return
        old = replica.get(uuid)
        quiet = self.omit_alert.get(ts.name, frozenset())
        if old is None or any(c not in quiet for c in change.get("old", {})):
            self._alert = True
        row = dict(old or self._fresh(ts))
        row.update(self._columns(ts, new))
        replica[uuid] = row

    # ---- conveniences -----------------------------------------------------------------

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        return self.tables.get(table, {})

    def first(self, table: str) -> tuple[str, dict] | None:
        for uuid, row in self.tables.get(table, {}).items():
            return uuid, row
        return None
