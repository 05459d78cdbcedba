"""The engine's fast paths give the same answers as the general ones.

Map and set mutations of a few keys work by bisection, and a commit's log
record computes differences at the keys the mutations named instead of over
the whole value: random sequences of mutations check both against plain
Python models and against the general difference.
"""


from hypothesis import given, settings, strategies as st

from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.monitor import Monitor, parse_monitor_requests
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.types import Type

SCHEMA = DatabaseSchema.from_json({
    "name": "t", "version": "1.0.0",
    "tables": {"T": {"columns": {
        "m": {"type": {"key": "string", "value": "integer", "min": 0, "max": "unlimited"}},
        "s": {"type": {"key": "integer", "min": 0, "max": "unlimited"}},
    }, "isRoot": True}}})

KEYS = st.sampled_from([f"k{i:02d}" for i in range(30)])
ATOMS = st.integers(0, 40)
MAP_OP = st.one_of(
    st.tuples(st.just("insert"), st.dictionaries(KEYS, st.integers(0, 2), max_size=10)),
    st.tuples(st.just("delete"), st.lists(KEYS, max_size=10, unique=True)),
    st.tuples(st.just("delete_pairs"), st.dictionaries(KEYS, st.integers(0, 2), max_size=10)),
    st.tuples(st.just("update"), st.dictionaries(KEYS, st.integers(0, 2), max_size=5)))
SET_OP = st.tuples(st.sampled_from(["insert", "delete"]), st.lists(ATOMS, max_size=10, unique=True))


def _mutation(col, op):
    kind, arg = op
    if col == "s":
        return [[col, kind, ["set", arg]]]
    if kind == "insert":
        return [[col, "insert", ["map", [[k, v] for k, v in arg.items()]]]]
    if kind == "delete":
        return [[col, "delete", ["set", arg]]]
    return [[col, "delete", ["map", [[k, v] for k, v in arg.items()]]]]


def _model(col, value, op):
    kind, arg = op
    if col == "s":
        return set(value) | set(arg) if kind == "insert" else set(value) - set(arg)
    d = dict(value)
    if kind == "insert":
        for k, v in arg.items():
            d.setdefault(k, v)
    elif kind == "delete":
        for k in arg:
            d.pop(k, None)
    elif kind == "delete_pairs":
        for k, v in arg.items():
            if d.get(k) == v:
                del d[k]
    else:
        d = dict(arg)
    return d


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, st.integers(0, 2), max_size=25), st.lists(ATOMS, max_size=25, unique=True),
       st.lists(st.one_of(st.tuples(st.just("m"), MAP_OP), st.tuples(st.just("s"), SET_OP)), max_size=6))
def test_mutations_and_log_record(m0, s0, ops):
    db = Database(SCHEMA)
    r = db.execute([{"op": "insert", "table": "T", "row": {
        "m": ["map", [[k, v] for k, v in m0.items()]], "s": ["set", s0]}}], now=0)
    u = r.results[0]["uuid"][1]
    where = [["_uuid", "==", ["uuid", u]]]
    txn = []
    expect = {"m": dict(m0), "s": set(s0)}
    for col, op in ops:
        if op[0] == "update":
            txn.append({"op": "update", "table": "T", "where": where,
                        "row": {"m": ["map", [[k, v] for k, v in op[1].items()]]}})
        else:
            txn.append({"op": "mutate", "table": "T", "where": where, "mutations": _mutation(col, op)})
        expect[col] = _model(col, expect[col], op)
    old = db.tables["T"].rows[u]
    out = db.execute(txn, now=0)
    assert all("error" not in x for x in out.results), out.results
    row = db.tables["T"].rows[u]
    assert dict(row["m"]) == expect["m"] and list(row["m"]) == sorted(expect["m"].items())
    assert list(row["s"]) == sorted(expect["s"])
    if out.commit is None:
        assert row is old
        return
    rec = out.commit.record(date_ms=0)
    delta = rec["T"][u]
    ts = SCHEMA.tables["T"]
    for name in ("m", "s"):
        t: Type = ts.columns[name].type
        a, b = old[name], row[name]
        if a == b:
            assert name not in delta
        else:
            assert delta[name] == t.datum_to_json(t.diff(a, b))
    # A monitor's update2 is the same with and without the hints.
    mon = Monitor(1, "t", 2, parse_monitor_requests(SCHEMA, {"T": {}}, 2))
    assert mon.updates(out.commit.changes, out.commit.hints) == mon.updates(out.commit.changes)
    # The record replays to the same row.
    replay = Database(SCHEMA)
    replay.apply_record({"T": {u: {"m": ["map", [[k, v] for k, v in m0.items()]], "s": ["set", s0]}}})
    replay.apply_record(rec)
    assert replay.tables["T"].rows[u].values == row.values


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(KEYS, st.integers(0, 2)), max_size=40), st.lists(st.tuples(KEYS, st.integers(0, 2)),
                                                                             max_size=40))
def test_diff_of_large_maps(a, b):
    t = SCHEMA.tables["T"].columns["m"].type
    old, new = tuple(sorted(dict(a).items())), tuple(sorted(dict(b).items()))
    so, sn = set(old), set(new)
    added = sn - so
    changed = {k for k, _ in added}
    expect = tuple(sorted(added | {p for p in so - sn if p[0] not in changed}))
    assert t.diff(old, new) == expect
    keys = {k for k, _ in so ^ sn} | {"k00"}
    assert t.diff(old, new, keys) == expect
