"""Fuzzing the server core: garbage and random JSON-RPC never make it raise,
never hit an internal error, and never disturb another session."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_harness import Harness

from pyvswitch.ovsdb.jsonrpc import dumps
from pyvswitch.ovsdb.server import Close

METHODS = ["echo", "list_dbs", "get_schema", "transact", "monitor", "monitor_cond", "monitor_cond_since",
           "monitor_cond_change", "monitor_cancel", "lock", "steal", "unlock", "set_db_change_aware",
           "cancel", "convert", "bogus"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["T", "_Server", "A", "B", "i", "s", "set", "map", "opt", "name", "a", "m",
                                     "L", "==", "<", "includes", "insert", "select", "update", "delete",
                                     "mutate", "wait", "set", "map", "uuid", "named-uuid",
                                     "00000000-0000-0000-0000-000000000000"]),
                    st.text(max_size=5))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["op", "table", "row", "where", "columns", "select",
                                                             "initial", "insert", "delete", "modify", "A", "B",
                                                             "Database", "i", "s", "rows", "until", "timeout",
                                                             "mutations", "lock", "uuid-name", "durable"]),
                                            inner, max_size=4)),
    max_leaves=20)

ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["insert", "select", "update", "delete", "mutate", "wait", "commit", "abort",
                            "comment", "assert"]),
     "table": st.sampled_from(["A", "B", "Database", "Z"])},
    optional={"row": st.fixed_dictionaries({}, optional={"i": st.integers(-2, 9), "s": st.text(max_size=3),
                                                         "set": json_values}),
              "where": st.lists(st.tuples(st.sampled_from(["i", "s", "_uuid", "zz"]),
                                          st.sampled_from(["==", "!=", "<", "includes"]), json_values)
                                .map(list), max_size=2),
              "columns": st.lists(st.sampled_from(["i", "s", "set", "_uuid", "zz"]), max_size=3),
              "timeout": st.integers(0, 3000), "until": st.sampled_from(["==", "!="]),
              "rows": st.lists(st.just({"i": 1}), max_size=1), "lock": st.sampled_from(["L", "M", 5]),
              "mutations": json_values, "durable": st.booleans()})

monitor_requests = st.dictionaries(
    st.sampled_from(["A", "B", "Database", "Z"]),
    st.one_of(json_values, st.lists(st.fixed_dictionaries(
        {}, optional={"columns": st.lists(st.sampled_from(["i", "s", "set", "map", "name", "_version"]),
                                          max_size=3, unique=True),
                      "where": st.one_of(st.just([True]), st.just([False]),
                                         st.lists(st.tuples(st.sampled_from(["i", "s"]),
                                                            st.sampled_from(["==", "<"]),
                                                            st.integers(0, 5)).map(list), max_size=2)),
                      "select": st.fixed_dictionaries({}, optional={"initial": st.booleans(),
                                                                    "insert": st.booleans()})}),
        max_size=2)),
    max_size=2)


@st.composite
def requests(draw):
    method = draw(st.sampled_from(METHODS))
    db = draw(st.sampled_from(["T", "_Server", "nope", 1]))
    if method == "transact":
        params = [db] + draw(st.lists(st.one_of(ops, json_values), max_size=3))
    elif method.startswith("monitor") and method not in ("monitor_cancel", "monitor_cond_change"):
        params = [db, draw(st.sampled_from(["m", "n", ["m", 1]])), draw(st.one_of(monitor_requests, json_values))]
        if method == "monitor_cond_since" and draw(st.booleans()):
            params.append(draw(json_values))
    elif method == "monitor_cond_change":
        params = [draw(st.sampled_from(["m", "n"])), draw(st.sampled_from(["m", "n"])),
                  draw(st.one_of(monitor_requests, json_values))]
    else:
        params = draw(st.lists(json_values, max_size=3))
    ident = draw(st.one_of(st.none(), st.integers(0, 3), st.just("echo")))
    return {"method": method, "params": params, "id": ident}


def check_alive(h: Harness) -> None:
    for e in h.effects:
        if isinstance(e, Close):
            assert "internal error" not in e.reason, e.reason
    witness = h.client()
    assert witness.result("echo", ["ok"]) == ["ok"]
    assert witness.transact({"op": "select", "table": "A", "where": []})[0].keys() == {"rows"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=40), max_size=5))
def test_garbage_bytes(chunks):
    h = Harness(probe_interval=1.0)
    bystander = h.client()
    bystander.result("monitor_cond", ["T", "m", {"A": [{"columns": ["i"]}]}])
    victim = h.client()
    for chunk in chunks:
        victim.send_bytes(chunk)
        h.advance(0.3)
    check_alive(h)
    bystander.send({"method": "echo", "params": [], "id": 99})
    assert bystander.take()[-1]["id"] == 99


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1), requests()), max_size=12), st.booleans())
def test_random_requests(steps, split):
    h = Harness()
    clients = [h.client(), h.client()]
    for i, msg in steps:
        data = json.dumps(msg).encode()
        if split:
            for k in range(0, len(data), 7):
                clients[i].send_bytes(data[k:k + 7])
        else:
            clients[i].send_bytes(data)
        for c in clients:
            c.take()
        h.advance(0.5)
    check_alive(h)
    # Whatever happened, every live monitor still matches a fresh one.
    for c in clients:
        if c.closed is None:
            c.result("echo", [])


def test_rpc_shapes_that_are_not_requests():
    h = Harness()
    c = h.client()
    for msg in [{"result": 1, "id": 5}, {"error": "x", "id": 5}, {"method": "echo", "params": {}},
                {"method": 5, "params": []}]:
        c.send_bytes(dumps(msg).encode())
    check_alive(h)


# --- framing: any valid stream, cut anywhere, gives back exactly its messages ---
