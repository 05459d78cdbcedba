"""get_schema answers from a serialized copy of the schema, made once per schema.

Every ovs-vsctl call asks for the schema; serializing it (15 KB for
Open_vSwitch) was most of the server's work for a call.  The cached reply
must be byte for byte the reply the server made before, for any request id,
and must follow the database through an online conversion.
"""

from __future__ import annotations

import json

import pytest
from server_harness import TEST_SCHEMA, Harness

from pyvswitch.ovsdb.jsonrpc import dumps
from pyvswitch.ovsdb.server import Send


def _raw(h: Harness, c, request: dict) -> bytes:
    effects = h.core.receive(c.sid, dumps(request).encode(), h.now)
    h.apply(effects)
    c.take()
    return b"".join(e.data for e in effects if isinstance(e, Send))


@pytest.mark.parametrize("ident", [0, 7, "x", "é\u2603", ["a", 1, {"b": None}], 1.5, True])
def test_the_cached_reply_is_the_reply_serialized_whole(ident):
    h = Harness()
    c = h.client()
    for db in ("T", "_Server", "T"):
        schema = h.core.dbs[db].db.schema
        want = dumps({"id": ident, "result": schema.to_json(), "error": None}).encode()
        assert _raw(h, c, {"method": "get_schema", "params": [db], "id": ident}) == want


def test_the_schema_is_serialized_once():
    h = Harness()
    c = h.client()
    c.result("get_schema", ["T"])
    first = h.core.dbs["T"].schema_text
    assert c.result("get_schema", ["T"])["name"] == "T"
    assert h.core.dbs["T"].schema_text is first


def test_a_conversion_replaces_the_cached_schema():
    h = Harness(online_convert=True)
    a, b = h.client(), h.client()
    before = a.result("get_schema", ["T"])
    new = json.loads(TEST_SCHEMA.read_text())
    new["version"] = "1.1.0"
    new["tables"]["A"]["columns"]["added"] = {"type": "integer"}
    b.result("set_db_change_aware", [True])
    assert b.result("convert", ["T", new]) == {}
    after = b.result("get_schema", ["T"])
    assert after["version"] == "1.1.0" and "added" in after["tables"]["A"]["columns"]
    assert after != before and after == h.core.dbs["T"].db.schema.to_json()


def test_a_database_swapped_under_the_cache_is_seen():
    """Whatever replaces a database's contents with another schema (the shell
    after a conversion, a reload) cannot leave a stale schema behind."""
    from pyvswitch.ovsdb.database import Database
    from pyvswitch.ovsdb.schema import DatabaseSchema
    h = Harness()
    c = h.client()
    c.result("get_schema", ["T"])
    j = json.loads(TEST_SCHEMA.read_text())
    j["version"] = "9.9.9"
    h.core.dbs["T"].db = Database(DatabaseSchema.from_json(j))
    assert c.result("get_schema", ["T"])["version"] == "9.9.9"


def test_get_schema_errors_are_unchanged():
    c = Harness().client()
    assert c.error("get_schema", ["x"])["error"] == "unknown database"
    assert c.error("get_schema", [])["error"] == "syntax error"
