"""The lone-transaction fast paths give the general paths' answers.

A string map's one-key insert or delete skips the general parse of its
argument; a column with a constraint on its strings always takes the general
one, so running the same mutations on both columns must give the same values,
results, errors and log records.  A modified row's reference bookkeeping looks
only at the columns whose value changed; the server's transaction ids come
from a pool of random bits.
"""

import json

from hypothesis import given, settings, strategies as st

from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.server import LogCommit, Send, ServerCore
from pyvswitch.ovsdb.types import is_uuid

PLAIN = {"key": "string", "value": "string"}
# Same strings, but constrained: the general parse every time.
CONSTRAINED = {"key": {"type": "string", "maxLength": 1000}, "value": {"type": "string", "maxLength": 1000}}

SCHEMA = DatabaseSchema.from_json({
    "name": "t", "version": "1.0.0",
    "tables": {
        "T": {"columns": {
            "fast": {"type": {**PLAIN, "min": 0, "max": 4}},
            "slow": {"type": {**CONSTRAINED, "min": 0, "max": 4}},
            "ref": {"type": {"key": {"type": "uuid", "refTable": "C"}, "min": 0, "max": "unlimited"}},
            "n": {"type": "integer"},
        }, "isRoot": True},
        "C": {"columns": {"x": {"type": "integer"}}},
    }})

KEYS = st.sampled_from(["a", "b", "c", "d", "e", "", "k\u00e9", "\ud800", "x" * 40])
VALUES = st.sampled_from(["1", "2", "", "v\u00e9"])
OP = st.one_of(
    st.tuples(st.just("insert"), st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=2)),
    st.tuples(st.just("delete"), st.lists(KEYS, min_size=1, max_size=2)),
    st.tuples(st.just("bare"), KEYS))


def _arg(op):
    kind, arg = op
    if kind == "insert":
        return "insert", ["map", [list(p) for p in arg]]
    if kind == "delete":
        return "delete", ["set", arg]
    return "delete", arg


def _run(db, u, col, ops):
    where = [["_uuid", "==", ["uuid", u]]]
    txn = [{"op": "mutate", "table": "T", "where": where,
            "mutations": [[col, *_arg(op)]]} for op in ops]
    return db.execute(txn, now=0)


def _strip(results):
    return json.loads(json.dumps(results).replace('"slow"', '"fast"'))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3), st.lists(OP, max_size=5))
def test_one_key_mutations_match_the_general_parse(start, ops):
    results = {}
    for col in ("fast", "slow"):
        db = Database(SCHEMA)
        m = ["map", [[k, v] for k, v in start.items()]]
        u = db.execute([{"op": "insert", "table": "T", "row": {col: m}}], now=0).results[0]["uuid"][1]
        out = _run(db, u, col, ops)
        rec = out.commit.record(date_ms=0) if out.commit is not None else None
        results[col] = (_strip(out.results), db.tables["T"].rows[u][col],
                        _strip(rec["T"][u]) if rec else None)
    assert results["fast"] == results["slow"]


def test_a_full_map_reports_the_same_error_either_way():
    for col in ("fast", "slow"):
        db = Database(SCHEMA)
        m = ["map", [[k, "v"] for k in "abcd"]]
        u = db.execute([{"op": "insert", "table": "T", "row": {col: m}}], now=0).results[0]["uuid"][1]
        out = _run(db, u, col, [("insert", [("e", "v")])])
        assert out.results[0] == {
            "error": "constraint violation",
            "details": "Attempted to store 5 elements in map of up to 4 (string, string) pairs."}


def test_references_counted_when_other_columns_change_too():
    db = Database(SCHEMA)
    res = db.execute([{"op": "insert", "table": "C", "row": {"x": 1}, "uuid-name": "c1"},
                      {"op": "insert", "table": "T", "row": {"ref": ["named-uuid", "c1"]}}], now=0).results
    c1, u = res[0]["uuid"], res[1]["uuid"][1]
    where = [["_uuid", "==", ["uuid", u]]]
    # Changing only a plain column keeps the reference (and so the referenced row).
    db.execute([{"op": "update", "table": "T", "where": where, "row": {"n": 5}},
                {"op": "mutate", "table": "T", "where": where,
                 "mutations": [["fast", "insert", ["map", [["a", "1"]]]]]}], now=0)
    assert c1[1] in db.tables["C"].rows and db.strong_in[c1[1]] == 1
    # Changing both drops the old reference: the unreferenced C row is collected.
    out = db.execute([{"op": "insert", "table": "C", "row": {"x": 2}, "uuid-name": "c2"},
                      {"op": "update", "table": "T", "where": where,
                       "row": {"n": 6, "ref": ["named-uuid", "c2"]}}], now=0)
    c2 = out.results[0]["uuid"][1]
    assert c1[1] not in db.tables["C"].rows
    assert db.strong_in == {c2: 1}


def test_transaction_ids_are_distinct_version_4_uuids():
    core = ServerCore(now=0.0)
    db = Database(SCHEMA)
    core.add_database(db, None, 0.0)
    sid = core.open_session(0.0, name="unix#1")
    ids = []
    for i in range(200):   # more than one read of random bits
        req = {"method": "transact", "id": i, "params": [
            "t", {"op": "insert", "table": "T", "row": {"n": i}}]}
        effects = core.receive(sid, json.dumps(req).encode(), 0.0)
        assert [type(e) for e in effects] == [LogCommit, Send]
        ids.append(core.dbs["t"].current_id(core))
    assert len(set(ids)) == len(ids)
    for u in ids:
        assert is_uuid(u) and u[14] == "4" and u[19] in "89ab"


def test_an_id_named_late_still_finds_the_later_commits():
    core = ServerCore(now=0.0)
    core.add_database(Database(SCHEMA), None, 0.0)

    def call(sid, method, params, i=1):
        effects = core.receive(sid, json.dumps({"method": method, "params": params, "id": i}).encode(), 0.0)
        return json.loads([e for e in effects if type(e) is Send][-1].data)["result"]

    def insert(n):
        a = core.open_session(0.0, name="unix#a")
        call(a, "transact", ["t", {"op": "insert", "table": "T", "row": {"n": n}}])
        core.close_session(a, 0.0)

    req = {"T": {"columns": ["n"]}}
    insert(1)          # nobody watches: its id is not made yet
    b = core.open_session(0.0, name="unix#b")
    found, id1, rows = call(b, "monitor_cond_since", ["t", "m", req, "00000000-0000-0000-0000-000000000000"])
    assert found is False and [r["initial"]["n"] for r in rows["T"].values()] == [1]
    core.close_session(b, 0.0)
    insert(2)
    c = core.open_session(0.0, name="unix#c")
    found, id2, rows = call(c, "monitor_cond_since", ["t", "m", req, id1])
    assert found is True and id2 != id1 and is_uuid(id2)
    assert [r["insert"]["n"] for r in rows["T"].values()] == [2]
    assert call(c, "monitor_cond_since", ["t", "m2", req, id2]) == [True, id2, {}]
