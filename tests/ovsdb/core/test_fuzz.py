"""Property tests: random transactions never make the engine raise, and keep its invariants."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyvswitch.ovsdb.database import Database, _refs
from pyvswitch.ovsdb.schema import DatabaseSchema

HERE = Path(__file__).resolve().parent
SCHEMA = DatabaseSchema.from_json(json.loads((HERE / "test.ovsschema").read_text()))
TABLES = list(SCHEMA.tables) + ["Nope"]
COLUMNS = sorted({c for t in SCHEMA.tables.values() for c in t.columns} | {"_uuid", "_version", "zz"})
FIXED_UUIDS = ["01234567-89ab-cdef-0123-456789abcdef", "00000000-0000-0000-0000-000000000000"]

atoms = st.one_of(
    st.integers(-10, 12), st.floats(-5, 20, allow_nan=False), st.booleans(),
    st.sampled_from(["a", "b", "c", "x", "ab", "abcdef", ""]),
    st.sampled_from(FIXED_UUIDS).map(lambda u: ["uuid", u]),
    st.sampled_from(["n1", "n2", "n3"]).map(lambda n: ["named-uuid", n]))
values = st.one_of(
    atoms,
    st.lists(atoms, max_size=4).map(lambda xs: ["set", xs]),
    st.lists(st.tuples(atoms, atoms).map(list), max_size=4).map(lambda xs: ["map", xs]),
    st.just(None), st.just({}), st.just([]))
functions = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "includes", "excludes", "~"])
mutators = st.sampled_from(["+=", "-=", "*=", "/=", "%=", "insert", "delete", "?"])
clause = st.one_of(st.tuples(st.sampled_from(COLUMNS), functions, values).map(list), st.booleans())
where = st.lists(clause, max_size=3)
row = st.dictionaries(st.sampled_from(COLUMNS), values, max_size=4)
table = st.sampled_from(TABLES)
op = st.one_of(
    st.fixed_dictionaries({"op": st.just("insert"), "table": table, "row": row},
                          optional={"uuid-name": st.sampled_from(["n1", "n2", "n3", "9"])}),
    st.fixed_dictionaries({"op": st.just("select"), "table": table, "where": where},
                          optional={"columns": st.lists(st.sampled_from(COLUMNS), max_size=3)}),
    st.fixed_dictionaries({"op": st.just("update"), "table": table, "where": where, "row": row}),
    st.fixed_dictionaries({"op": st.just("mutate"), "table": table, "where": where,
                           "mutations": st.lists(st.tuples(st.sampled_from(COLUMNS), mutators, values).map(list),
                                                 max_size=3)}),
    st.fixed_dictionaries({"op": st.just("delete"), "table": table, "where": where}),
    st.fixed_dictionaries({"op": st.just("wait"), "table": table, "where": where,
                           "until": st.sampled_from(["==", "!=", "<"]), "rows": st.lists(row, max_size=2),
                           "timeout": st.just(0)}),
    st.fixed_dictionaries({"op": st.sampled_from(["commit", "abort", "comment", "assert", "bogus"])},
                          optional={"durable": st.booleans(), "comment": st.just("c"), "lock": st.just("l")}),
    values)


def _atom_for(base, draw):
    t = base.type.value
    if base.enum is not None:
        return draw(st.sampled_from(list(base.enum) + ["zz"]))
    if t == "integer":
        return draw(st.integers(-6, 12))
    if t == "real":
        return draw(st.sampled_from([0.5, 1, 2.5, 11.0]))
    if t == "boolean":
        return draw(st.booleans())
    if t == "string":
        return draw(st.sampled_from(["a", "b", "ab", "abc", "x"]))
    return draw(st.one_of(st.sampled_from(["n1", "n2", "n3"]).map(lambda n: ["named-uuid", n]),
                          st.sampled_from(FIXED_UUIDS).map(lambda u: ["uuid", u])))


def _value_for(ctype, draw):
    if ctype.is_scalar and draw(st.booleans()):
        return _atom_for(ctype.key, draw)
    n = draw(st.integers(ctype.n_min, min(ctype.n_max, 3)))
    if ctype.value is not None:
        pairs = {}
        for _ in range(n):
            k = _atom_for(ctype.key, draw)
            pairs[json.dumps(k)] = [k, _atom_for(ctype.value, draw)]
        return ["map", list(pairs.values())]
    return ["set", list({json.dumps(a): a for a in (_atom_for(ctype.key, draw) for _ in range(n))}.values())]


@st.composite
def good_op(draw, schema=SCHEMA):
    """An operation that is well formed and mostly well typed, so that many transactions commit."""
    tname = draw(st.sampled_from(list(schema.tables)))
    ts = schema.tables[tname]
    cols = list(ts.columns)

    def row():
        names = draw(st.lists(st.sampled_from(cols), max_size=4, unique=True))
        return {n: _value_for(ts.columns[n].type, draw) for n in names}

    def where():
        out = []
        for n in draw(st.lists(st.sampled_from(cols + ["_uuid"]), max_size=2)):
            if n == "_uuid":
                out.append([n, draw(st.sampled_from(["==", "!="])),
                            draw(st.sampled_from(["n1", "n2", "n3"]).map(lambda x: ["named-uuid", x]))])
                continue
            c = ts.columns[n]
            f = ["==", "!=", "includes", "excludes"]
            if c.type.key.type.value in ("integer", "real") and c.type.value is None and c.type.n_max == 1:
                f += ["<", "<=", ">", ">="]
                if draw(st.booleans()):
                    out.append([n, draw(st.sampled_from(f[4:])), _atom_for(c.type.key, draw)])
                    continue
            out.append([n, draw(st.sampled_from(f[:4])), _value_for(c.type, draw)])
        return out
    kind = draw(st.sampled_from(["insert", "insert", "update", "mutate", "delete", "select", "wait", "other"]))
    if kind == "wait":
        names = draw(st.lists(st.sampled_from(cols), min_size=1, max_size=2, unique=True))
        rows = [{n: _value_for(ts.columns[n].type, draw) for n in names} for _ in range(draw(st.integers(0, 2)))]
        return {"op": "wait", "table": tname, "where": where(), "columns": names,
                "until": draw(st.sampled_from(["==", "!="])), "rows": rows, "timeout": 0}
    if kind == "other":
        return draw(st.sampled_from([{"op": "comment", "comment": "fuzz"}, {"op": "commit", "durable": False},
                                     {"op": "abort"}, {"op": "select", "table": tname, "where": [],
                                                       "columns": ["_uuid"]}]))
    if kind == "insert":
        o = {"op": "insert", "table": tname, "row": row()}
        if draw(st.booleans()):
            o["uuid-name"] = draw(st.sampled_from(["n1", "n2", "n3"]))
        return o
    if kind == "update":
        return {"op": "update", "table": tname, "where": where(), "row": row()}
    if kind == "mutate":
        muts = []
        for n in draw(st.lists(st.sampled_from(cols), max_size=2)):
            c = ts.columns[n]
            m = draw(st.sampled_from(["insert", "delete", "+=", "-=", "*=", "/=", "%="]))
            arg = _atom_for(c.type.key, draw) if m in ("+=", "*=") else _value_for(c.type, draw)
            muts.append([n, m, arg])
        return {"op": "mutate", "table": tname, "where": where(), "mutations": muts}
    if kind == "delete":
        return {"op": "delete", "table": tname, "where": where()}
    return {"op": "select", "table": tname, "where": where()}


def check_invariants(d: Database) -> None:
    strong: dict[str, int] = {}
    weak_in: dict[str, dict] = {}
    for tname, t in d.tables.items():
        for ix, idx in enumerate(t.indexes):
            keys = [t.index_key(ix, r) for r in t.rows.values()]
            assert len(keys) == len(set(keys)) == len(idx)
        assert len(t.rows) <= t.schema.max_rows
        for u, r in t.rows.items():
            assert r.uuid == u and len(r.values) == len(t.schema.columns)
            for i, c in t.ref_cols:
                for rt, v, weak in _refs(c.type, r.values[i]):
                    if v == u and not weak:
                        continue  # ovsdb-server does not check or count self-references
                    assert v in d.tables[rt].rows, (tname, c.name, v)
                    if not weak:
                        strong[v] = strong.get(v, 0) + 1
                    else:
                        w = weak_in.setdefault(v, {})
                        w[(tname, u)] = w.get((tname, u), 0) + 1
            for c in t.schema.columns.values():
                v = r.values[c.index]
                if c.type.is_scalar:
                    assert not isinstance(v, tuple)
                else:
                    assert isinstance(v, tuple) and c.type.n_min <= len(v) <= c.type.n_max
    assert strong == d.strong_in
    assert weak_in == d.weak_in
    for tname, t in d.tables.items():
        if not t.schema.is_root:
            for u in t.rows:
                assert strong.get(u, 0) > 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.one_of(good_op(), good_op(), good_op(), good_op(), op), min_size=1, max_size=5), min_size=1, max_size=6))
def test_random_transactions_produce_results_and_keep_invariants(txns):
    d = Database(SCHEMA)
    for ops in txns:
        o = d.execute(ops, now=1.0)
        if o.results is None:
            assert o.wait_until is not None
            continue
        assert len(o.results) in (len(ops), len(ops) + 1)
        json.dumps(o.results)
        if o.commit is not None:
            json.dumps(o.commit.record())
        check_invariants(d)


VSWITCH = DatabaseSchema.from_json(json.loads(Path("/usr/share/openvswitch/vswitch.ovsschema").read_text())) \
    if Path("/usr/share/openvswitch/vswitch.ovsschema").exists() else SCHEMA
ALL_TYPES = [c.type for s in (SCHEMA, VSWITCH) for t in s.tables.values() for c in t.columns.values()]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_datum_json_round_trip(data):
    t = data.draw(st.sampled_from(ALL_TYPES))
    j = data.draw(st.builds(lambda d: _value_for(t, d.draw), st.data()))
    try:
        v = t.datum_from_json(j, {})
    except Exception as e:  # noqa: BLE001 - only OvsdbError is allowed
        from pyvswitch.ovsdb.errors import OvsdbError
        assert isinstance(e, OvsdbError), e
        return
    assert t.datum_from_json(t.datum_to_json(v)) == v
    hash(v)
    if not t.is_scalar:
        assert isinstance(v, tuple) and t.n_min <= len(v) <= t.n_max
        keys = [p[0] for p in v] if t.is_map else list(v)
        assert keys == sorted(set(keys))
    assert t.apply_diff(t.default(), t.diff(t.default(), v)) == v
