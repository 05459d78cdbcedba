"""The ovsdb-server protocol engine alone: no sockets, a fake clock."""

from __future__ import annotations

import json

from server_harness import UUID_RE, Harness, load_schema

from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.server import LogCommit, Send


def insert_a(c, **row):
    return c.transact({"op": "insert", "table": "A", "row": row})[0]["uuid"][1]


# --- simple methods and errors ---

def test_list_dbs_and_get_schema():
    h = Harness()
    c = h.client()
    assert c.result("list_dbs", []) == ["T", "_Server"]
    assert c.result("get_schema", ["T"])["name"] == "T"
    assert c.result("get_schema", ["_Server"])["version"] == "1.2.0"


def test_errors_in_ovsdb_server_words():
    c = Harness().client()
    assert c.error("nope", []) == "unknown method"
    assert c.error("get_schema", ["x"]) == {
        "error": "unknown database", "details": "get_schema request specifies unknown database x",
        "syntax": '["x"]'}
    assert c.error("transact", [1]) == {
        "error": "syntax error", "details": "transact request params must begin with <db-name>",
        "syntax": "[1]"}
    assert c.error("monitor_cancel", ["m"]) == "unknown monitor"
    assert c.error("set_db_change_aware", [1])["details"] == \
        "set_db_change_aware: true or false parameter expected"
    assert c.error("monitor_cond_since", ["T", "x", {}])["details"] == "invalid parameters"
    assert c.error("monitor", ["T", "m", 5]) == {
        "error": "syntax error", "details": "monitor-requests must be object", "syntax": "5"}
    assert c.error("monitor", ["T", "m", {"Z": {}}]) == {"error": "syntax error", "details": "no table named Z"}
    assert c.error("monitor", ["T", "m", {"A": {"columns": ["i", "i"]}}]) == {
        "error": "syntax error", "details": "column i mentioned more than once", "syntax": '["i","i"]'}
    assert c.error("monitor", ["T", "m", {"A": {"select": {"initial": 1}}}])["details"] == \
        "Parsing table A select failed: Type mismatch for member 'initial'."
    assert c.error("monitor", ["T", "m", {"A": {"where": []}}])["details"] == \
        "Parsing table A failed: Member 'where' is present but not allowed here."
    assert c.closed is None


def test_echo_and_notifications_ignored():
    c = Harness().client()
    _, reply = c.call("echo", [1, "a"], id="echo")
    assert reply == {"id": "echo", "result": [1, "a"], "error": None}
    c.send({"method": "whatever", "params": [], "id": None})
    c.send({"method": "cancel", "params": ["nothing"], "id": None})
    assert c.take() == []
    assert c.error("cancel", [1]) == "unknown method"


# --- transactions ---

def test_commit_is_logged_before_the_reply_is_sent():
    h = Harness()
    c = h.client()
    insert_a(c, i=1)
    kinds = [type(e) for e in h.effects]
    assert kinds == [LogCommit, Send]
    assert h.effects[0].db_name == "T"


def test_pipelined_requests_make_one_send():
    h = Harness()
    c = h.client()
    data = b"".join(json.dumps({"method": "transact", "id": i,
                                "params": ["T", {"op": "insert", "table": "A", "row": {"i": i}}]}).encode()
                    for i in range(5))
    effects = h.core.receive(c.sid, data, h.now)
    assert [type(e) for e in effects] == [LogCommit] * 5 + [Send]
    h.apply(effects)
    assert [m["id"] for m in c.take()] == [0, 1, 2, 3, 4]


def test_server_database_is_read_only():
    c = Harness().client()
    r = c.transact({"op": "insert", "table": "Database", "row": {"name": "x", "model": "standalone"}},
                   db="_Server")
    assert r == [{"error": "not allowed",
                  "details": "insert operation not allowed on table in reserved database _Server"}]
    rows = c.transact({"op": "select", "table": "Database", "where": [], "columns": ["name", "model"]},
                      db="_Server")[0]["rows"]
    assert sorted(r["name"] for r in rows) == ["T", "_Server"]
    assert {r["model"] for r in rows} == {"standalone"}


def test_wait_retries_after_commit_and_times_out():
    h = Harness()
    a, b = h.client(), h.client()
    wait = {"op": "wait", "table": "A", "where": [], "columns": ["i"], "until": "==",
            "rows": [{"i": 3}], "timeout": 1000}
    a.request("transact", ["T", wait], id="w")
    assert a.take() == []
    assert h.core.next_deadline() == h.now + 1.0
    insert_a(b, i=3)
    [reply] = a.take()
    assert reply["id"] == "w" and reply["result"] == [{}]
    b.transact({"op": "delete", "table": "A", "where": []})
    a.request("transact", ["T", wait], id="w2")
    h.advance(0.5)
    assert a.take() == []
    h.advance(0.6)
    [reply] = a.take()
    assert reply["result"][0]["error"] == "timed out"


def test_cancel_drops_a_waiting_transaction():
    h = Harness()
    a, b = h.client(), h.client()
    wait = {"op": "wait", "table": "A", "where": [], "columns": ["i"], "until": "==", "rows": [{"i": 3}]}
    a.request("transact", ["T", wait], id="w")
    assert a.error("transact", ["T"], id="w") == {
        "error": "syntax error", "details": "transact: duplicate request ID", "syntax": '["T"]'}
    a.send({"method": "cancel", "params": ["w"], "id": None})
    insert_a(b, i=3)
    assert a.take() == []
    assert h.core.next_deadline() is None


# --- monitors ---

def test_monitor_v1_formats():
    h = Harness()
    a, b = h.client(), h.client()
    u = insert_a(a, i=1, s="x")
    init = b.result("monitor", ["T", "m", {"A": {}}])
    row = init["A"][u]["new"]
    assert row["i"] == 1 and row["s"] == "x" and row["opt"] == ["set", []] and "_version" in row
    assert "_uuid" not in row
    a.transact({"op": "update", "table": "A", "where": [], "row": {"s": "y"}})
    [note] = b.take()
    assert note["method"] == "update" and note["id"] is None
    mid, upd = note["params"]
    assert mid == "m"
    old, new = upd["A"][u]["old"], upd["A"][u]["new"]
    assert set(old) == {"s", "_version"} and old["s"] == "x"
    assert new["s"] == "y" and new["i"] == 1
    a.transact({"op": "delete", "table": "A", "where": []})
    [note] = b.take()
    assert note["params"][1]["A"][u] == {"old": new}


def test_monitor_columns_and_selects():
    h = Harness()
    a, b = h.client(), h.client()
    insert_a(a, i=1)
    assert b.result("monitor", ["T", ["x", 1], {"A": {"columns": ["i"], "select": {"initial": False}}}]) == {}
    u = insert_a(a, i=2)
    assert b.take()[0]["params"] == [["x", 1], {"A": {u: {"new": {"i": 2}}}}]
    # A change to unmonitored columns is not reported.
    a.transact({"op": "update", "table": "A", "where": [["i", "==", 2]], "row": {"s": "q"}})
    assert b.take() == []


def test_monitor_cond_formats_and_conditions():
    h = Harness()
    a, b = h.client(), h.client()
    u = insert_a(a, i=1, s="x", set=["set", [1, 2]], map=["map", [["a", "b"]]])
    init = b.result("monitor_cond", ["T", "mc", {"A": [{"columns": ["i", "s", "set", "map", "opt"],
                                                         "where": [["i", "<", 5]]}]}])
    assert init == {"A": {u: {"initial": {"i": 1, "s": "x", "set": ["set", [1, 2]],
                                          "map": ["map", [["a", "b"]]]}}}}
    a.transact({"op": "update", "table": "A", "where": [],
                "row": {"s": "y", "set": ["set", [2, 3]], "map": ["map", [["a", "c"], ["d", "e"]]]}})
    [note] = b.take()
    assert note["method"] == "update2"
    assert note["params"] == ["mc", {"A": {u: {"modify": {
        "s": "y", "set": ["set", [1, 3]], "map": ["map", [["a", "c"], ["d", "e"]]]}}}}]
    a.transact({"op": "update", "table": "A", "where": [], "row": {"i": 7}})
    assert b.take()[0]["params"] == ["mc", {"A": {u: {"delete": None}}}]
    a.transact({"op": "update", "table": "A", "where": [], "row": {"i": 4}})
    assert b.take()[0]["params"][1]["A"][u]["insert"]["i"] == 4


def test_monitor_cond_change():
    h = Harness()
    a, b = h.client(), h.client()
    u1, u3 = insert_a(a, i=1), insert_a(a, i=3)
    b.result("monitor_cond", ["T", "m", {"A": [{"columns": ["i"], "where": [["i", "==", 1]]}]}])
    notes, reply = b.call("monitor_cond_change", ["m", "m2", {"A": [{"where": [["i", "==", 3]]}]}])
    assert reply["result"] == {}
    assert notes == [{"id": None, "method": "update2",
                      "params": ["m2", {"A": {u1: {"delete": None}, u3: {"insert": {"i": 3}}}}]}]
    assert b.error("monitor_cond_change", ["m", "m3", {"A": [{"where": [True]}]}])["details"] == \
        "unknown monitor session"
    assert b.error("monitor_cond_change", ["m2", "m2", {"A": [{"columns": ["i"], "where": []}]}])["details"] == \
        "changing columns is unsupported"
    assert b.error("monitor_cond_change", ["m2", "m2", {"B": [{"where": []}]}])["details"] == \
        "no table named B in monitor session"
    notes, _ = b.call("monitor_cond_change", ["m2", "m2", {"A": [{"where": [False]}]}])
    assert notes[0]["params"] == ["m2", {"A": {u3: {"delete": None}}}]
    insert_a(a, i=3)
    assert b.take() == []
    assert b.result("monitor_cancel", ["m2"]) == {}


def test_duplicate_monitor_id():
    c = Harness().client()
    c.result("monitor", ["T", "m", {"A": {}}])
    assert c.error("monitor_cond", ["T", "m", {"A": {}}]) == {
        "error": "syntax error", "details": "duplicate monitor ID", "syntax": '"m"'}


def test_updates_precede_the_reply_on_the_same_session():
    h = Harness()
    c = h.client()
    c.result("monitor_cond", ["T", "m", {"A": [{"columns": ["i"]}]}])
    notes, reply = c.call("transact", ["T", {"op": "insert", "table": "A", "row": {"i": 1}}])
    assert [n["method"] for n in notes] == ["update2"]
    assert reply["result"][0]["uuid"][1] in notes[0]["params"][1]["A"]


def test_monitor_cond_since():
    h = Harness()
    a, b = h.client(), h.client()
    u1 = insert_a(a, i=1)
    req = {"A": [{"columns": ["i"]}]}
    found, last, upd = b.result("monitor_cond_since", ["T", "s", req, "00000000-0000-0000-0000-000000000000"])
    assert found is False and UUID_RE.match(last)
    assert upd == {"A": {u1: {"initial": {"i": 1}}}}
    u2 = insert_a(a, i=2)
    [note] = b.take()
    assert note["method"] == "update3"
    sid_, txn, body = note["params"]
    assert sid_ == "s" and txn != last and body == {"A": {u2: {"insert": {"i": 2}}}}
    a.transact({"op": "update", "table": "A", "where": [["i", "==", 1]], "row": {"i": 5}})
    a.transact({"op": "delete", "table": "A", "where": [["i", "==", 2]]})
    u3 = insert_a(a, i=3)
    # A reconnecting client that knew `txn` gets only what changed since.
    c = h.client()
    found, last2, upd = c.result("monitor_cond_since", ["T", "s", req, txn])
    assert found is True and last2 != txn
    assert upd == {"A": {u1: {"modify": {"i": 5}}, u2: {"delete": None}, u3: {"insert": {"i": 3}}}}
    d = h.client()
    found, last3, upd = d.result("monitor_cond_since", ["T", "s", req, last2])
    assert (found, last3, upd) == (True, last2, {})
    e = h.client()
    found, _, upd = e.result("monitor_cond_since", ["T", "s", req, "11111111-0000-0000-0000-000000000000"])
    assert found is False and len(upd["A"]) == 2


def test_identical_monitors_get_identical_updates():
    h = Harness()
    a = h.client()
    watchers = [h.client() for _ in range(3)]
    for w in watchers:
        w.result("monitor_cond", ["T", "m", {"A": [{"columns": ["i"]}]}])
    insert_a(a, i=1)
    notes = [w.take() for w in watchers]
    assert notes[0] == notes[1] == notes[2] and len(notes[0]) == 1


# --- locks ---

def test_lock_steal_unlock():
    h = Harness()
    a, b, c = h.client(), h.client(), h.client()
    assert a.result("lock", ["L"]) == {"locked": True}
    assert b.result("lock", ["L"]) == {"locked": False}
    assert a.error("lock", ["L"])["details"] == 'must issue "unlock" before new "lock"'
    assert a.error("lock", ["a b"])["details"] == "lock request params must be <id>"
    assert c.error("unlock", ["L"])["details"] == 'unlock: "unlock" without "lock" or "steal"'
    assert c.result("steal", ["L"]) == {"locked": True}
    assert a.take() == [{"id": None, "method": "stolen", "params": ["L"]}]
    assert c.transact({"op": "assert", "lock": "L"}) == [{}]
    assert a.transact({"op": "assert", "lock": "L"}) == [
        {"error": "not owner", "details": "Asserted lock L not held."}]
    c.result("unlock", ["L"])
    assert a.take() == [{"id": None, "method": "locked", "params": ["L"]}]
    a.result("unlock", ["L"])
    assert b.take() == [{"id": None, "method": "locked", "params": ["L"]}]
    h.apply(h.core.close_session(b.sid, h.now))
    assert h.core.lock_owner("L") is None


# --- sessions, probes, bad input ---

def test_malformed_json_closes_only_that_session():
    h = Harness()
    bad, good = h.client(), h.client()
    bad.send_bytes(b'{"method":"echo","params":[],"id":1} {"x": nope}')
    assert bad.closed is not None
    assert good.result("echo", ["still here"]) == ["still here"]
    bad2 = h.client()
    bad2.send_bytes(b"[1, 2]")
    assert bad2.closed is not None


def test_inactivity_probe():
    h = Harness(probe_interval=5.0)
    c = h.client()
    assert h.core.next_deadline() == h.now + 5.0
    h.advance(4.9)
    assert c.take() == []
    h.advance(0.2)
    assert c.take() == [{"id": "echo", "method": "echo", "params": []}]
    c.send({"id": "echo", "result": [], "error": None})
    h.advance(5.01)
    assert c.closed is None
    assert c.take() == [{"id": "echo", "method": "echo", "params": []}]
    h.advance(5.01)
    assert c.closed == "test: no response to inactivity probe after 5 seconds, disconnecting"
    d = h.client()
    h.core.set_probe_interval(d.sid, 0)
    u = h.client("unix#7")
    h.advance(100)
    assert d.closed is None and d.take() == []
    assert u.closed is None and u.take() == []


def test_add_and_remove_database():
    h = Harness()
    aware, unaware = h.client(), h.client()
    aware.result("set_db_change_aware", [True])
    aware.result("monitor_cond", ["_Server", "s", {"Database": [{"columns": ["name"]}]}])
    aware.result("monitor", ["T", "t", {"A": {}}])
    unaware.result("monitor", ["T", "t", {"A": {}}])
    other = Database(load_schema())
    h.apply(h.core.add_database(other, "T2"))
    assert unaware.closed == "test: adding T2 database to server"
    [note] = aware.take()
    [(u, change)] = note["params"][1]["Database"].items()
    assert change == {"insert": {"name": "T2"}}
    assert aware.result("list_dbs", []) == ["T", "T2", "_Server"]
    wait = {"op": "wait", "table": "A", "where": [], "columns": ["i"], "until": "==", "rows": [{"i": 3}]}
    aware.request("transact", ["T", wait], id="w")
    h.apply(h.core.remove_database("T", h.now))
    notes = aware.take()
    assert {"id": None, "method": "monitor_canceled", "params": ["t"]} in notes
    assert {"id": "w", "error": "canceled"} in notes
    assert aware.result("list_dbs", []) == ["T2", "_Server"]


# --- framing ---

def _echo_stream():
    msgs = [{"method": "echo", "params": [i, "é\u20ac", {"a": "}]{[\\\""}, True, False, None, -1.5e-7, 12345],
             "id": i} for i in range(4)]
    return b" \n".join(json.dumps(m, ensure_ascii=i % 2 == 0).encode() for i, m in enumerate(msgs)), msgs


def test_requests_whole_split_and_byte_by_byte():
    data, msgs = _echo_stream()
    for step in (len(data), 1, 3, 17):
        h = Harness()
        c = h.client()
        for k in range(0, len(data), step):
            c.send_bytes(data[k:k + step])
        got = c.take()
        assert [m["result"] for m in got] == [m["params"] for m in msgs], step
        assert c.closed is None


def test_trailing_garbage_closes_the_session():
    data, _ = _echo_stream()
    h = Harness()
    c = h.client()
    c.send_bytes(data + b" 42")
    assert c.closed is not None


# --- online conversion ---

def _schema_json(**changes):
    from server_harness import TEST_SCHEMA
    j = json.loads(TEST_SCHEMA.read_text())
    cols = j["tables"]["A"]["columns"]
    for k, v in changes.items():
        if v is None:
            del cols[k]
        else:
            cols[k] = v
    j["version"] = "1.1.0"
    return j


def test_convert():
    from pyvswitch.ovsdb.server import ConvertDb
    h = Harness(online_convert=True)
    a, aware, unaware = h.client(), h.client(), h.client()
    u = insert_a(a, i=1, s="x", set=["set", [1, 2, 3]])
    aware.result("set_db_change_aware", [True])
    aware.result("monitor_cond", ["T", "t", {"A": [{"columns": ["i"]}]}])
    aware.result("monitor_cond", ["_Server", "s", {"Database": [{"columns": ["name", "schema"]}]}])
    new = _schema_json(s=None, new={"type": "integer"})
    notes, reply = a.call("convert", ["T", new])
    assert reply == {"id": a.next_id, "result": {}, "error": None}
    assert a.closed and unaware.closed
    conv = [e for e in h.effects if isinstance(e, ConvertDb)]
    assert len(conv) == 1 and conv[0].db_name == "T" and conv[0].db.schema.version == "1.1.0"
    got = aware.take()
    assert {"id": None, "method": "monitor_canceled", "params": ["t"]} in got
    assert any(m.get("method") == "update2" and "1.1.0" in json.dumps(m) for m in got)
    rows = aware.transact({"op": "select", "table": "A", "where": [], "columns": ["_uuid", "i", "set", "new"]})
    assert rows == [{"rows": [{"_uuid": ["uuid", u], "i": 1, "set": ["set", [1, 2, 3]], "new": 0}]}]
    assert aware.result("get_schema", ["T"])["version"] == "1.1.0"
    # Later commits are logged against the new schema.
    aware.transact({"op": "update", "table": "A", "where": [], "row": {"new": 5}})
    assert h.commits[-1].commit.record()["A"][u] == {"new": 5}


def test_convert_errors():
    h = Harness(online_convert=True)
    a = h.client()
    insert_a(a, i=1, set=["set", [1, 2, 3]])
    assert a.error("convert", ["T"]) == {"error": "syntax error", "details": "array expected", "syntax": '["T"]'}
    bad = _schema_json()
    bad["name"] = "X"
    assert a.error("convert", ["T", bad]) == {
        "error": "invalid parameters", "details": "new schema name (X) does not match database name (T)"}
    tight = _schema_json(i={"type": {"key": {"type": "integer", "maxInteger": 0}}})
    assert a.error("convert", ["T", tight]) == {
        "error": "constraint violation", "details": "1 is greater than maximum allowed value 0"}
    assert a.error("convert", ["T", _schema_json(set={"type": {"key": "integer", "min": 0, "max": 2}})])
    assert a.error("convert", ["_Server", _schema_json()])
    assert a.closed is None
    assert Harness().client().error("convert", ["T", _schema_json()])["error"] == "not supported"


def test_an_engine_failure_drops_only_the_client_that_asked():
    h = Harness()
    a, b = h.client(), h.client()
    wait = {"op": "wait", "table": "A", "where": [], "columns": ["i"], "until": "==", "rows": [{"i": 3}]}
    a.request("transact", ["T", wait], id="w")
    real = h.db.execute

    def broken(ops, **kw):
        if ops and ops[0].get("op") == "wait":
            raise RuntimeError("boom")
        return real(ops, **kw)

    h.db.execute = broken
    insert_a(b, i=3)
    assert "internal error" in a.closed
    assert b.closed is None
    assert h.core.stats() == {"monitors": 0, "sessions": 1, "triggers": 0}


def test_history_is_bounded(monkeypatch):
    from pyvswitch.ovsdb import server
    monkeypatch.setattr(server, "HISTORY_LENGTH", 3)
    monkeypatch.setattr(server, "HISTORY_ROWS", 4)
    h = Harness()
    a, b = h.client(), h.client()
    req = {"A": [{"columns": ["i"]}]}
    _, first, _ = b.result("monitor_cond_since", ["T", "s", req, "00000000-0000-0000-0000-000000000000"])
    ids = []
    for i in range(4):
        insert_a(a, i=i)
        ids.append(b.take()[0]["params"][1])
    dbh = h.core.dbs["T"]
    assert [x[0] for x in dbh.history] == ids[1:] and dbh.history_rows == 3
    assert h.client().result("monitor_cond_since", ["T", "s", req, ids[0]])[0] is False
    assert h.client().result("monitor_cond_since", ["T", "s", req, ids[1]])[0] is True
    a.transact(*[{"op": "insert", "table": "A", "row": {"i": 9}} for _ in range(5)])
    assert len(dbh.history) == 1 and dbh.history_rows == 5


def test_monitor_conditions_are_disjunctions():
    h = Harness()
    a, b = h.client(), h.client()
    u1, u2, _ = insert_a(a, i=1), insert_a(a, i=2), insert_a(a, i=3)
    init = b.result("monitor_cond", ["T", "m", {"A": [{"columns": ["i"],
                                                       "where": [["i", "==", 1], ["i", "==", 2]]}]}])
    assert set(init["A"]) == {u1, u2}
    assert b.result("monitor_cond", ["T", "n", {"A": [{"columns": ["i"], "where": [False, False]}]}]) == {}
    assert len(b.result("monitor_cond", ["T", "o", {"A": [{"columns": ["i"], "where": [False, True]}]}])["A"]) == 3


def test_selects_are_per_column():
    h = Harness()
    a, b = h.client(), h.client()
    u = insert_a(a, i=1, s="q")
    init = b.result("monitor", ["T", "m", {"A": [{"columns": ["i"]},
                                                 {"columns": ["s"], "select": {"initial": False}}]}])
    assert init == {"A": {u: {"new": {"i": 1}}}}
    assert b.result("monitor", ["T", "n", {"A": {"columns": []}}]) == {"A": {u: {"new": {}}}}
