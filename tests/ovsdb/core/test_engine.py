"""Unit tests of the engine, no reference needed: datums, waits, GC, weak refs, records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pyvswitch.ovsdb.condition import compile_where
from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.types import ZERO_UUID, BaseType, Type, new_uuid

HERE = Path(__file__).resolve().parent
SCHEMA = DatabaseSchema.from_json(json.loads((HERE / "test.ovsschema").read_text()))


def db() -> Database:
    return Database(SCHEMA)


def insert_root(d: Database, name: str, **row) -> str:
    o = d.execute([{"op": "insert", "table": "Root", "row": {"name": name, "sset": "x", **row}}], now=1.0)
    assert "error" not in o.results[-1], o.results
    return o.results[0]["uuid"][1]


def test_datums_are_canonical_python_values():
    t = Type.from_json({"key": "string", "value": "integer", "min": 0, "max": "unlimited"})
    v = t.datum_from_json(["map", [["b", 2], ["a", 1]]])
    assert v == (("a", 1), ("b", 2))
    assert t.datum_to_json(v) == ["map", [["a", 1], ["b", 2]]]
    s = Type.from_json({"key": "uuid", "min": 0, "max": "unlimited"})
    u1, u2 = sorted([new_uuid(), new_uuid()])
    assert s.datum_from_json(["set", [["uuid", u2], ["uuid", u1]]]) == (u1, u2)
    assert s.datum_to_json((u1,)) == ["uuid", u1]
    assert Type.from_json("real").datum_from_json(3) == 3.0
    assert Type.from_json({"key": "integer", "min": 0, "max": 1}).default() == ()
    assert Type.from_json({"key": "uuid", "min": 1, "max": 2}).default() == (ZERO_UUID,)


def test_diff_and_apply_diff_are_inverse():
    t = Type.from_json({"key": "string", "value": "string", "min": 0, "max": "unlimited"})
    old, new = (("a", "1"), ("b", "2")), (("b", "3"), ("c", "4"))
    d = t.diff(old, new)
    assert d == (("a", "1"), ("b", "3"), ("c", "4"))
    assert t.apply_diff(old, d) == new
    s = Type.from_json({"key": "integer", "min": 0, "max": "unlimited"})
    assert s.apply_diff((1, 2), s.diff((1, 2), (2, 3))) == (2, 3)
    o = Type.from_json({"key": "integer", "min": 0, "max": 1})
    assert o.diff((1,), ()) == ()


def test_uuids_are_version_4_and_distinct():
    us = {new_uuid() for _ in range(1000)}
    assert len(us) == 1000
    assert all(u[14] == "4" and u[19] in "89ab" for u in us)


def test_type_english():
    assert Type.from_json({"key": "string", "min": 1, "max": 3}).to_english() == "set of 1 to 3 strings"
    assert Type(BaseType.from_json("integer"), BaseType.from_json("real"), 0, 4).to_english() == \
        "map of up to 4 (integer, real) pairs"
    assert Type.from_json({"key": "uuid", "min": 1, "max": "unlimited"}).to_english() == "set of 1 or more uuids"


def test_wait_not_yet_satisfied_asks_for_retry_then_times_out():
    d = db()
    ops = [{"op": "wait", "table": "Root", "where": [], "columns": ["name"], "until": "==",
            "rows": [{"name": "a"}], "timeout": 500}]
    o = d.execute(ops, now=10.0)
    assert o.results is None and o.wait_until == pytest.approx(10.5)
    o = d.execute(ops, now=10.2, started=10.0)
    assert o.results is None
    insert_root(d, "a")
    o = d.execute(ops, now=10.3, started=10.0)
    assert o.results == [{}]
    o = d.execute([dict(ops[0], rows=[])], now=10.6, started=10.0)
    assert o.results == [{"error": "timed out", "details": '"wait" timed out after 600 ms'}]


def test_wait_without_timeout_waits_forever():
    d = db()
    o = d.execute([{"op": "wait", "table": "Root", "where": [], "until": "!=", "rows": []}], now=0)
    assert o.results is None and o.wait_until == math.inf


def test_assert_lock():
    d = db()
    assert d.execute([{"op": "assert", "lock": "l"}], now=0, locks={"l"}).results == [{}]
    assert d.execute([{"op": "assert", "lock": "l"}], now=0).results[0]["error"] == "not owner"


def test_failed_transaction_changes_nothing():
    d = db()
    u = insert_root(d, "a")
    before = d.tables["Root"].rows[u]
    o = d.execute([{"op": "update", "table": "Root", "where": [], "row": {"i": 5}},
                   {"op": "abort"}], now=0)
    assert o.commit is None and o.results[1]["error"] == "aborted"
    assert d.tables["Root"].rows[u] is before


def test_commit_changes_and_versions():
    d = db()
    u = insert_root(d, "a")
    v0 = d.tables["Root"].rows[u].version
    o = d.execute([{"op": "update", "table": "Root", "where": [], "row": {"i": 5}}], now=2.5)
    old, new = o.commit.changes["Root"][u]
    assert old.version == v0 and new.version != v0 and new["i"] == 5 and new["_uuid"] == u
    assert o.commit.record() == {"_date": 2500, "Root": {u: {"i": 5}}, "_is_diff": True}
    o = d.execute([{"op": "update", "table": "Root", "where": [], "row": {"i": 5}}], now=3)
    assert o.results == [{"count": 1}] and o.commit is None


def test_ephemeral_only_change_commits_but_has_no_record():
    d = db()
    insert_root(d, "a")
    o = d.execute([{"op": "update", "table": "Root", "where": [], "row": {"eph": "x"}}], now=0)
    assert o.commit is not None and o.commit.record() is None


def test_garbage_collection_cascades_and_weak_refs_are_cleaned():
    d = db()
    o = d.execute([
        {"op": "insert", "table": "Root", "row": {"name": "r", "sset": "x", "kid": ["named-uuid", "k1"]}},
        {"op": "insert", "table": "Kid", "uuid-name": "k1", "row": {"n": 1, "sib": ["named-uuid", "k2"]}},
        {"op": "insert", "table": "Kid", "uuid-name": "k2", "row": {"n": 2}},
        {"op": "insert", "table": "Root", "row": {"name": "w", "sset": "x",
                                                  "weak": ["set", [["named-uuid", "k1"], ["named-uuid", "k2"]]]}},
    ], now=0)
    assert len(d.tables["Kid"].rows) == 2
    w = o.results[3]["uuid"][1]
    assert len(d.tables["Root"].rows[w]["weak"]) == 2
    d.execute([{"op": "update", "table": "Root", "where": [["name", "==", "r"]], "row": {"kid": ["set", []]}}],
                  now=0)
    assert d.tables["Kid"].rows == {}
    assert d.tables["Root"].rows[w]["weak"] == ()
    assert d.strong_in == {} and d.weak_in == {}


def test_snapshot_and_replay_keep_references():
    d = db()
    d.execute([
        {"op": "insert", "table": "Root", "row": {"name": "r", "sset": "x", "kids": ["named-uuid", "k"]}},
        {"op": "insert", "table": "Kid", "uuid-name": "k", "row": {"n": 1}}], now=0)
    e = db()
    e.apply_record(d.snapshot_record())
    assert e.strong_in == d.strong_in
    o = e.execute([{"op": "delete", "table": "Kid", "where": []}], now=0)
    assert o.results[-1]["error"] == "referential integrity violation"


def test_index_lookup_sees_transaction_changes():
    d = db()
    insert_root(d, "a")
    o = d.execute([{"op": "update", "table": "Root", "where": [["name", "==", "a"]], "row": {"name": "b"}},
                   {"op": "select", "table": "Root", "where": [["name", "==", "a"]], "columns": ["name"]},
                   {"op": "select", "table": "Root", "where": [["name", "==", "b"]], "columns": ["name"]}], now=0)
    assert o.results[1:] == [{"rows": []}, {"rows": [{"name": "b"}]}]


def test_compile_where_is_usable_on_rows():
    d = db()
    u = insert_root(d, "a", i=3)
    row = d.tables["Root"].rows[u]
    assert compile_where(SCHEMA.tables["Root"], [["i", ">", 2], ["name", "!=", "b"]])(row)
    assert not compile_where(SCHEMA.tables["Root"], [["i", ">", 3]])(row)
    with pytest.raises(OvsdbError):
        compile_where(SCHEMA.tables["Root"], [["nope", "==", 1]])


def test_apply_record_full_form_and_deletes():
    d = db()
    u = new_uuid()
    d.apply_record({"Root": {u: {"name": "a", "sset": "x", "iset": ["set", [1, 2]]}}})
    d.apply_record({"Root": {u: {"iset": ["set", [3]]}}})
    assert d.tables["Root"].rows[u]["iset"] == (3,)
    d.apply_record({"Root": {u: {"iset": ["set", [3, 4]]}}, "_is_diff": True})
    assert d.tables["Root"].rows[u]["iset"] == (4,)
    d.apply_record({"Root": {u: None}})
    assert d.tables["Root"].rows == {}


def test_unexpected_member_beats_waiting():
    d = db()
    o = d.execute([{"op": "wait", "table": "Root", "where": [], "until": "!=", "rows": [], "bogus": 1}], now=0)
    assert o.results[0]["details"] == ("Parsing ovsdb operation 1 of 1 failed: "
                                       "Member 'bogus' is present but not allowed here.")


def test_bad_record_changes_nothing():
    d = db()
    u = new_uuid()
    with pytest.raises(OvsdbError):
        d.apply_record({"Root": {u: {"name": "a", "sset": "x"}}, "Kid": {new_uuid(): {"n": "not a number"}}})
    assert d.tables["Root"].rows == {}
    with pytest.raises(OvsdbError):
        d.apply_record({"Root": {"not-a-uuid": {"name": "a"}}})
    with pytest.raises(OvsdbError):
        d.apply_record({"Nope": {}})


def test_deeply_nested_values_are_errors_not_crashes():
    v = json.loads("[" * 900 + "]" * 900)
    d = db()
    for ops in ([{"op": "insert", "table": "Root", "row": {"name": v}}],
                [{"op": "select", "table": "Root", "where": [["name", "==", v]]}],
                [{"op": "insert", "table": "Root", "row": {"name": "x", "nope": v}}], [v]):
        assert d.execute(ops, now=0).results[0]["error"] in ("syntax error", "unknown column")
