"""Differential tests: the same JSON-RPC conversation with the reference
ovsdb-server and with `ServerCore`, replies compared with uuids normalized."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from server_harness import TEST_SCHEMA, Harness

from pyvswitch.ovsdb.jsonrpc import Framer, dumps
from util import needs_reference, ours, ovs_env, ref, stop_pid, wait_until

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _connect(path: Path) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(str(path))
    except OSError:
        s.close()
        return None
    return s


class RefClients:
    """N raw JSON-RPC connections to a private ovsdb-server (the reference by default)."""

    def __init__(self, d: Path, n: int, tool=ref) -> None:
        db = d / "t.db"
        subprocess.run([ref("ovsdb-tool"), "create", str(db), str(TEST_SCHEMA)], check=True,
                       env=ovs_env(d), capture_output=True)
        sock = d / "db.sock"
        self.proc = subprocess.Popen(
            [tool("ovsdb-server"), str(db), f"--remote=punix:{sock}", f"--pidfile={d / 's.pid'}",
             f"--unixctl={d / 's.ctl'}", f"--log-file={d / 's.log'}", "-vconsole:off"],
            env=ovs_env(d), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.socks = []
        try:
            for _ in range(n):
                s = wait_until(lambda: _connect(sock), 20, what="ovsdb-server to accept")
                s.settimeout(10)
                self.socks.append((s, Framer(), []))
        except BaseException:
            self.close()
            raise

    def send(self, i: int, msg: dict) -> None:
        self.socks[i][0].sendall(dumps(msg).encode())

    def until_reply(self, i: int, id_json) -> list:
        """Everything client i receives up to and including the reply with id_json."""
        s, framer, queue = self.socks[i]
        out = []
        while True:
            while queue:
                m = queue.pop(0)
                out.append(m)
                if m.get("method") is None and m.get("id") == id_json:
                    return out
            data = s.recv(1 << 20)
            assert data, "reference ovsdb-server closed the connection"
            queue.extend(framer.feed_json(data))

    def close(self) -> None:
        for s, _, _ in self.socks:
            s.close()
        stop_pid(self.proc.pid)
        self.proc.wait(timeout=5)


class CoreClients:
    def __init__(self, n: int) -> None:
        self.h = Harness()
        self.clients = [self.h.client() for _ in range(n)]

    def send(self, i: int, msg: dict) -> None:
        self.clients[i].send(msg)

    def until_reply(self, i: int, id_json) -> list:
        msgs = self.clients[i].take()
        assert msgs and msgs[-1].get("id") == id_json and "method" not in msgs[-1], msgs
        return msgs


def normalize(j, names: dict):
    if isinstance(j, str):
        return UUID.sub(lambda m: names.get(m.group(), "<uuid>"), j)
    if isinstance(j, list):
        return [normalize(v, names) for v in j]
    if isinstance(j, dict):
        out = {}
        unnamed = []
        for k, v in j.items():
            if UUID.fullmatch(k) and k not in names:
                # Rows no reply named (such as _Server's): compare them as a bag.
                unnamed.append(json.dumps(normalize(v, names), sort_keys=True))
            else:
                out[normalize(k, names)] = normalize(v, names)
        if unnamed:
            out["<unnamed rows>"] = sorted(unnamed)
        return out
    return j


def name_inserted(reply: dict, names: dict) -> None:
    """Names the uuids of inserted rows in order, so both servers' match."""
    result = reply.get("result")
    if isinstance(result, list):
        for r in result:
            if isinstance(r, dict) and isinstance(r.get("uuid"), list):
                names.setdefault(r["uuid"][1], f"row{len(names)}")


def converse(server, n: int, steps: list) -> list:
    """Runs steps (client, method, params); returns what each client saw per step."""
    names: dict = {}
    transcript = []
    for k, (i, method, params) in enumerate(steps):
        rid = f"r{k}"
        server.send(i, {"method": method, "params": params, "id": rid})
        if method == "transact" and any(isinstance(op, dict) and op.get("op") == "wait" for op in params[1:]):
            # A waiting transaction answers later; its reply shows up in a later sync.
            seen = {i: []}
        else:
            seen = {i: server.until_reply(i, rid)}
            name_inserted(seen[i][-1], names)
        for j in range(n):
            sync = f"sync{k}.{j}"
            server.send(j, {"method": "echo", "params": [], "id": sync})
            seen.setdefault(j, []).extend(server.until_reply(j, sync)[:-1])
        for msgs in seen.values():
            for m in msgs:
                name_inserted(m, names)
        step = {}
        for j, msgs in seen.items():
            # Notifications for several monitors come in the server's own order.
            step[j] = sorted(json.dumps(normalize(m, names), sort_keys=True) for m in msgs)
        transcript.append(step)
    return transcript


def transcript_of(tool, n: int, steps: list) -> list:
    with tempfile.TemporaryDirectory() as d:
        server = RefClients(Path(d), n, tool)
        try:
            return converse(server, n, steps)
        finally:
            server.close()


def compare(n: int, steps: list, through_daemon: bool = False) -> None:
    """Compares the core (or our whole ovsdb-server) with the reference."""
    expected = transcript_of(ref, n, steps)
    got = transcript_of(ours, n, steps) if through_daemon else converse(CoreClients(n), n, steps)
    for k, (e, g) in enumerate(zip(expected, got)):
        assert g == e, f"step {k}: {steps[k]}"


def ins(table, **row):
    return {"op": "insert", "table": table, "row": row}


@needs_reference
def test_basic_methods_and_errors():
    compare(1, [
        (0, "list_dbs", []),
        (0, "get_schema", ["T"]),
        (0, "get_schema", ["nope"]),
        (0, "get_schema", []),
        (0, "frobnicate", []),
        (0, "echo", [1, "two", {"x": 3}]),
        (0, "transact", []),
        (0, "transact", ["nope"]),
        (0, "transact", ["T"]),
        (0, "set_db_change_aware", [True]),
        (0, "set_db_change_aware", ["yes"]),
        (0, "monitor_cancel", ["nothing"]),
        (0, "monitor", ["nope", "m", {}]),
        (0, "monitor", ["T", "m", 5]),
        (0, "monitor", ["T", "m", {"Nope": {}}]),
        (0, "monitor", ["T", "m", {"A": 5}]),
        (0, "monitor", ["T", "m", {"A": {"columns": ["nope"]}}]),
        (0, "monitor", ["T", "m", {"A": {"columns": ["i", "i"]}}]),
        (0, "monitor", ["T", "m", {"A": {"columns": 5}}]),
        (0, "monitor", ["T", "m", {"A": {"select": {"bogus": True}}}]),
        (0, "monitor", ["T", "m", {"A": {"where": []}}]),
        (0, "monitor_cond", ["T", "m", {"A": {"where": [["nope", "==", 1]]}}]),
        (0, "monitor_cond_since", ["T", "m", {"A": {}}]),
        (0, "monitor_cond_change", ["m"]),
        (0, "monitor_cond_change", ["m", "m", {}]),
        (0, "lock", []),
        (0, "lock", ["not an id"]),
        (0, "unlock", ["L"]),
        (0, "transact", ["_Server", {"op": "select", "table": "Database", "where": [["name", "==", "T"]],
                                     "columns": ["name", "model", "connected", "leader", "cid", "sid",
                                                 "index"]}]),
        (0, "transact", ["_Server", {"op": "delete", "table": "Database", "where": []}]),
        (0, "transact", ["_Server", {"op": "select", "table": "Database", "where": [["name", "==", "T"]],
                                     "columns": ["schema"]}]),
        (0, "transact", ["_Server", {"op": "select", "table": "Database", "where": [["name", "==", "_Server"]],
                                     "columns": ["schema"]}]),
        (0, "monitor", ["_Server", "s", {"Database": {"columns": ["name", "model", "connected", "leader",
                                                                  "cid", "sid", "index"]}}]),
        (0, "monitor_cond", ["_Server", "s2", {"Database": [{"columns": ["name", "model", "connected",
                                                                         "leader", "schema", "index"]}]}]),
    ])


@needs_reference
def test_monitors_and_updates():
    compare(2, [
        (0, "transact", ["T", ins("A", i=1, s="x", set=["set", [1, 2]], map=["map", [["a", "b"]]])]),
        (1, "monitor", ["T", "m1", {"A": {}}]),
        (1, "monitor", ["T", ["m", 2], {"A": {"columns": ["i"], "select": {"initial": False}}}]),
        (1, "monitor_cond", ["T", "mc", {"A": [{"columns": ["i", "s", "set", "map", "opt"],
                                                "where": [["i", "<", 5]]}]}]),
        (1, "monitor_cond", ["T", "mc", {"A": [{"columns": ["i"]}]}]),
        (0, "transact", ["T", {"op": "update", "table": "A", "where": [],
                               "row": {"s": "y", "set": ["set", [2, 3]],
                                       "map": ["map", [["a", "c"], ["d", "e"]]]}}]),
        (0, "transact", ["T", {"op": "update", "table": "A", "where": [], "row": {"i": 7}}]),
        (1, "monitor_cond_change", ["mc", "mc2", {"A": [{"where": [["i", ">", 5]]}]}]),
        (1, "monitor_cond_change", ["mc2", "mc2", {"A": [{"where": [False]}]}]),
        (1, "monitor_cond_change", ["nope", "x", {"A": [{"where": [False]}]}]),
        (1, "monitor_cond_change", ["mc2", "m1", {"A": [{"where": [False]}]}]),
        (1, "monitor_cond_change", ["mc2", "mc3", {"A": [{"columns": ["s"], "where": []}]}]),
        (1, "monitor_cond_change", ["mc2", "mc3", {"B": [{"where": []}]}]),
        (1, "monitor_cond_change", ["mc2", "mc3", {"A": {"where": []}}]),
        (0, "transact", ["T", ins("A", i=2), ins("B", name="b", a=["named-uuid", "x"]) | {"uuid-name": "y"}]),
        (0, "transact", ["T", {"op": "mutate", "table": "A", "where": [["i", "==", 2]],
                               "mutations": [["set", "insert", ["set", [9]]]]}]),
        (1, "monitor_cancel", ["m1"]),
        (0, "transact", ["T", {"op": "delete", "table": "A", "where": [["i", "==", 7]]}]),
        (0, "monitor_cond", ["T", "own", {"A": [{"columns": ["i"]}]}]),
        (0, "transact", ["T", ins("A", i=5)]),
    ])


@needs_reference
def test_locks():
    compare(3, [
        (0, "lock", ["L"]),
        (1, "lock", ["L"]),
        (2, "lock", ["L"]),
        (2, "steal", ["L"]),
        (0, "lock", ["L"]),
        (2, "unlock", ["L"]),
        (1, "unlock", ["L"]),
        (1, "steal", ["L"]),
        (1, "transact", ["T", {"op": "assert", "lock": "L"}]),
        (0, "transact", ["T", ins("A", i=1), {"op": "assert", "lock": "L"}]),
        (1, "unlock", ["L"]),
        (0, "transact", ["T", {"op": "assert", "lock": "L"}]),
    ])


@needs_reference
def test_wait_is_retried_after_commits():
    wait = {"op": "wait", "table": "A", "where": [], "columns": ["i"], "until": "==", "rows": [{"i": 3}]}
    compare(2, [
        (0, "transact", ["T", wait]),
        (1, "transact", ["T", ins("A", i=2)]),
        (1, "transact", ["T", {"op": "update", "table": "A", "where": [], "row": {"i": 3}}]),
        (0, "transact", ["T", {**wait, "timeout": 0, "rows": [{"i": 4}]}]),
    ])


def _random_steps(seed: int, n: int) -> list:
    import random
    rnd = random.Random(seed)

    def row():
        r = {"i": rnd.randrange(6)}
        if rnd.random() < 0.5:
            r["s"] = rnd.choice(["", "x", "y", "zz"])
        if rnd.random() < 0.5:
            r["set"] = ["set", sorted(rnd.sample(range(5), rnd.randrange(4)))]
        if rnd.random() < 0.4:
            r["map"] = ["map", [[k, rnd.choice("ab")] for k in sorted(rnd.sample("pqrs", rnd.randrange(3)))]]
        if rnd.random() < 0.3:
            r["opt"] = ["set", rnd.sample(["o1", "o2"], rnd.randrange(2))]
        return r

    def where():
        return rnd.choice([[], [["i", "==", rnd.randrange(6)]], [["i", ">", rnd.randrange(6)]],
                           [["s", "!=", "x"]], [["set", "includes", rnd.randrange(5)]]])

    def op():
        k = rnd.random()
        if k < 0.35:
            return ins("A", **row())
        if k < 0.6:
            return {"op": "update", "table": "A", "where": where(), "row": {k: v for k, v in row().items()
                                                                          if rnd.random() < 0.6}}
        if k < 0.75:
            return {"op": "delete", "table": "A", "where": where()}
        if k < 0.9:
            return {"op": "mutate", "table": "A", "where": where(),
                    "mutations": [rnd.choice([["i", "+=", 1], ["set", "insert", ["set", [rnd.randrange(5)]]],
                                              ["set", "delete", rnd.randrange(5)],
                                              ["map", "insert", ["map", [["q", "c"]]]],
                                              ["map", "delete", ["set", ["p", "q"]]]])]}
        return {"op": "insert", "table": "B", "row": {"name": rnd.choice("bc")}}

    steps = [
        (1, "monitor", ["T", "v1", {"A": {}, "B": {"columns": ["name"]}}]),
        (1, "monitor_cond", ["T", "v2", {"A": [{"where": [["i", "<", 3]]}]}]),
        (2, "monitor_cond", ["T", "sel", {"A": [{"columns": ["i", "set", "map"],
                                                 "select": {"insert": False, "modify": True}}]}]),
        (2, "monitor", ["T", "del", {"A": {"columns": ["s"], "select": {"insert": False, "modify": False}}}]),
        # The reference's standalone databases report the zero transaction id;
        # normalized, ids compare equal.
        (2, "monitor_cond_since", ["T", "v3", {"A": [{"columns": ["i", "s"], "where": [["i", "!=", 2]]}]},
                                   "00000000-0000-0000-0000-000000000000"]),
    ]
    for _ in range(n):
        if rnd.random() < 0.1:
            # Monitor conditions are disjunctions: try several clauses too.
            steps.append((1, "monitor_cond_change", ["v2", "v2", {"A": [{"where": where() + where()}]}]))
        elif rnd.random() < 0.05:
            # Conditions on columns a monitor does not report make ovsdb-server
            # send empty "modify" updates (which the core does not imitate),
            # so v3's conditions use only its own columns.
            w = rnd.choice([[], [["i", "==", rnd.randrange(6)]], [["s", "!=", "x"]],
                            [["i", "<", rnd.randrange(6)], ["s", "==", "x"]]])
            steps.append((2, "monitor_cond_change", ["v3", "v3", {"A": [{"where": w}]}]))
        else:
            steps.append((0, "transact", ["T"] + [op() for _ in range(rnd.randrange(1, 4))]))
    return steps


@needs_reference
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_transactions_and_monitors(seed):
    compare(3, _random_steps(seed, 40))


@needs_reference
def test_through_our_daemon():
    """The same comparison end to end through our ovsdb-server and its sockets."""
    compare(3, _random_steps(7, 30), through_daemon=True)


def _malformed_steps() -> list:
    """Requests with parameters of every wrong shape, for every method."""
    vals = [None, True, 1, 1.5, "x", "T", [], [1], {}, {"a": 1}]
    steps = []

    def add(method, params):
        steps.append((0, method, params))

    for method in ["list_dbs", "get_schema", "transact", "echo", "lock", "steal", "unlock",
                   "set_db_change_aware", "monitor_cancel"]:
        add(method, [])
        for v in vals:
            add(method, [v])
            add(method, ["T", v])
    for method in ["monitor", "monitor_cond"]:
        for v in vals:
            add(method, ["T", f"m{len(steps)}", v])
            add(method, [v, "m", {}])
            add(method, ["T", f"m{len(steps)}", {"A": v}])
            if v not in ([], {}):
                add(method, ["T", f"m{len(steps)}", {"A": {"columns": v}}])
                add(method, ["T", f"m{len(steps)}", {"A": {"select": v}}])
            add(method, ["T", f"m{len(steps)}", {"A": {"select": {"insert": v}}}])
    for v in vals:
        add("monitor_cond", ["T", f"w{len(steps)}", {"A": {"where": v}}])
        add("monitor_cond", ["T", f"w{len(steps)}", {"A": {"where": [v]}}])
        add("monitor_cond", ["T", f"w{len(steps)}", {"A": {"where": [["i", "==", v]]}}])
        add("monitor_cond", ["T", f"w{len(steps)}", {"A": [v]}])
    add("monitor_cond", ["T", "cc", {"A": [{"columns": ["i"]}]}])
    for v in vals:
        add("monitor_cond_change", ["cc", "cc", v])
        add("monitor_cond_change", ["cc", "cc", {"A": v}])
        if v != {}:
            # (ovsdb-server 3.1 crashes on a request without "where")
            add("monitor_cond_change", ["cc", "cc", {"A": [{"where": v}]}])
        add("monitor_cond_change", [v, "cc", {}])
        add("monitor_cond_change", ["cc", v, {}])
    for v in vals:
        add("transact", ["T", {"op": v}])
        add("transact", ["_Server", {"op": "insert", "table": "Database", "row": v}])
    select = {"op": "select", "table": "Database", "where": [["name", "==", "T"]], "columns": ["name"]}
    add("transact", ["_Server", select, {"op": "delete", "table": "Database", "where": []}, select])
    add("transact", ["_Server", select, {"op": "update", "table": "Database", "where": [],
                                         "row": {"leader": False}}, select])
    add("transact", ["_Server", {"op": "mutate", "table": "Database", "where": [],
                                 "mutations": [["index", "insert", ["set", [1]]]]}])
    return steps


@needs_reference
def test_malformed_requests():
    compare(1, _malformed_steps())


@needs_reference
def test_monitor_conditions_are_disjunctions_and_selects_are_per_column():
    conds = [[True, False], [False, False], [["i", "==", 1], False], [True, ["i", "==", 1]],
             [["i", "==", 1], ["i", "==", 2]], [["i", "==", 1], ["s", "==", "q"]], []]
    steps = [(0, "transact", ["T", ins("A", i=1, s="q"), ins("A", i=2), ins("A", i=3, s="q")])]
    # Every monitor has all columns or its own column set: ovsdb-server shares
    # state between monitors with equal column sets in ways not imitated here.
    for k, w in enumerate(conds):
        steps.append((1, "monitor_cond", ["T", f"c{k}", {"A": [{"where": w}]}]))
    steps += [
        (2, "monitor", ["T", "none", {"A": {"columns": []}}]),
        (2, "monitor", ["T", "e2", {"A": [{"columns": ["i"]}, {"columns": ["s"], "select": {"initial": False}}]}]),
        (2, "monitor", ["T", "e3", {"A": [{"columns": ["set"], "select": {"initial": False, "delete": False}},
                                          {"columns": ["map"], "select": {"modify": False}}]}]),
        (2, "monitor_cond", ["T", "e4", {"A": [{"columns": ["opt"], "select": {"insert": False}},
                                               {"columns": ["s", "i"]}]}]),
        (0, "transact", ["T", {"op": "update", "table": "A", "where": [["i", "==", 1]], "row": {"s": "r"}}]),
        (0, "transact", ["T", {"op": "update", "table": "A", "where": [["i", "==", 2]],
                               "row": {"set": ["set", [1]], "map": ["map", [["a", "b"]]], "opt": "o"}}]),
        (1, "monitor_cond_change", ["c6", "c6", {"A": [{"where": [["i", "==", 3], ["s", "==", "r"]]}]}]),
        (0, "transact", ["T", ins("A", i=1, s="q", set=["set", [2]], opt="p")]),
        (0, "transact", ["T", {"op": "delete", "table": "A", "where": [["i", "==", 2]]}]),
        (0, "transact", ["T", {"op": "update", "table": "A", "where": [], "row": {"i": 2}}]),
    ]
    compare(3, steps)


@needs_reference
@pytest.mark.parametrize("seed", [1, 2])
def test_random_locking(seed):
    import random
    rnd = random.Random(seed)
    steps = []
    for _ in range(60):
        c, name = rnd.randrange(3), rnd.choice(["L", "M"])
        k = rnd.random()
        if k < 0.35:
            steps.append((c, "lock", [name]))
        elif k < 0.5:
            steps.append((c, "steal", [name]))
        elif k < 0.8:
            steps.append((c, "unlock", [name]))
        else:
            steps.append((c, "transact", ["T", {"op": "assert", "lock": name}]))
    compare(3, steps)
