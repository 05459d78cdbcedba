"""The `_Server` database: what an ovsdb-server says about its own databases.

Every ovsdb-server serves a read-only database named `_Server` with one
table, `Database`, holding one row per database it serves (including
`_Server` itself): its name, its storage model, whether it is connected and
the leader (always true for a standalone database), its schema as JSON text,
and for clustered databases the cluster and server ids and the log index.
Clients such as the ovs IDL monitor this table to learn of schema changes
and of databases being added or removed.

The server core keeps the table current by running ordinary transactions on
an ordinary `Database`, so that monitors on `_Server` see inserts, updates
and deletes like any others.  Clients may read it but not write it; the core
refuses writes with ovsdb-server's "not allowed" error.
"""

from __future__ import annotations

from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.jsonrpc import dumps
from pyvswitch.ovsdb.schema import DatabaseSchema

SERVER_DB = "_Server"

SERVER_SCHEMA_JSON = {
    "name": "_Server",
    "version": "1.2.0",
    "cksum": "3009684573 744",
    "tables": {
        "Database": {
            "columns": {
                "name": {"type": "string"},
                "model": {"type": {"key": {"type": "string",
                                           "enum": ["set", ["clustered", "relay", "standalone"]]}}},
                "connected": {"type": "boolean"},
                "leader": {"type": "boolean"},
                "schema": {"type": {"key": "string", "min": 0}},
                "cid": {"type": {"key": "uuid", "min": 0}},
                "sid": {"type": {"key": "uuid", "min": 0}},
                "index": {"type": {"key": "integer", "min": 0}},
            },
        },
    },
}

# Operations a client may not run on _Server.
WRITE_OPS = frozenset(("insert", "update", "mutate", "delete"))


def server_schema() -> DatabaseSchema:
    return DatabaseSchema.from_json(SERVER_SCHEMA_JSON)


def schema_text(schema: DatabaseSchema) -> str:
    """The schema as the `schema` column holds it: compact JSON, sorted keys."""
    return dumps(_sorted(schema.to_json()))


def _sorted(j):
    if isinstance(j, dict):
        return {k: _sorted(j[k]) for k in sorted(j)}
    if isinstance(j, list):
        return [_sorted(v) for v in j]
    return j


def insert_ops(name: str, schema: DatabaseSchema) -> list:
    """The transaction that adds the row for a newly served database."""
    return [{"op": "insert", "table": "Database",
             "row": {"name": name, "model": "standalone", "connected": True, "leader": True,
                     "schema": schema_text(schema)}}]


def update_schema_ops(name: str, schema: DatabaseSchema) -> list:
    """The transaction that records a database's new schema after conversion."""
    return [{"op": "update", "table": "Database", "where": [["name", "==", name]],
             "row": {"schema": schema_text(schema)}}]


def delete_ops(name: str) -> list:
    """The transaction that removes the row of a database no longer served."""
    return [{"op": "delete", "table": "Database", "where": [["name", "==", name]]}]


def first_write(ops: list) -> int | None:
    """The index of the first operation that would write, if any."""
    for i, op in enumerate(ops):
        if isinstance(op, dict) and isinstance(op.get("op"), str) and op["op"] in WRITE_OPS:
            return i
    return None


def refuse_write(db: Database, ops: list, i: int, now: float) -> list:
    """The results of a transaction on _Server whose operation i would write.

    ovsdb-server checks a writing operation completely, and reports its
    errors, before it refuses it; so the operations up to i run on a scratch
    copy of the (small) database, and only if they all succeed does
    operation i get "not allowed".  Operations after a failure get null.
    """
    scratch = Database(db.schema)
    scratch.apply_record(db.snapshot_record())
    results = list(scratch.execute(ops[:i + 1], now=now).results or [None] * (i + 1))[:i + 1]
    if not any(isinstance(r, dict) and "error" in r for r in results):
        op = ops[i]["op"]
        results[i] = OvsdbError("not allowed",
                                f"{op} operation not allowed on table in reserved database {SERVER_DB}").to_json()
    return results + [None] * (len(ops) - len(results))
