"""The IDL against our ovsdb-server and the reference one, through the asyncio driver:
initial replica, updates, transactions (insert, verify, increment), a server restart
mid-run (resync through monitor_cond_since's last id)."""

from __future__ import annotations

import asyncio

import pytest

from harness import DbServer
from pyvswitch.aio.idl import IdlConnection
from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.idl import MONITOR_METHODS, Idl, State, TxnStatus
from util import have_reference

KINDS = ["ours"] + (["ref"] if have_reference() else [])

TABLES = {"Open_vSwitch": ["next_cfg", "cur_cfg", "bridges"],
          "Bridge": ["name", "ports", "fail_mode", "other_config"]}


@pytest.fixture(params=KINDS)
def server(request):
    s = DbServer(request.param)
    yield s
    s.close()


async def until(cond, timeout=30.0, idl=None):
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, \
            f"timed out; idl state {idl.state if idl else '?'} tables {idl.tables if idl else '?'}"
        await asyncio.sleep(0.01)


def bridge_names(idl):
    return sorted(r["name"] for r in idl.rows("Bridge").values())


def test_replica_transactions_and_restart(server):
    async def main():
        idl = Idl("Open_vSwitch", TABLES)
        conn = IdlConnection(idl, server.remote)
        conn.start()
        try:
            await until(lambda: idl.is_connected and idl.rows("Open_vSwitch"))
            assert idl.method_index == 0        # both servers speak monitor_cond_since
            server.vsctl("--no-wait", "add-br", "br0", "--", "set-fail-mode", "br0", "secure")
            await until(lambda: bridge_names(idl) == ["br0"])
            (uuid, row), = [(u, r) for u, r in idl.rows("Bridge").items()]
            assert row["fail_mode"] == ("secure",)
            server.vsctl("--no-wait", "set", "bridge", "br0", "other_config:a=1", "other_config:b=2")
            await until(lambda: idl.rows("Bridge")[uuid]["other_config"] == (("a", "1"), ("b", "2")))
            server.vsctl("--no-wait", "remove", "bridge", "br0", "other_config", "a",
                         "--", "del-fail-mode", "br0")
            await until(lambda: idl.rows("Bridge")[uuid]["other_config"] == (("b", "2"),))
            await until(lambda: idl.rows("Bridge")[uuid]["fail_mode"] == ())

            # increment, as ovs-vsctl bumps next_cfg
            ovs_uuid, ovs = idl.first("Open_vSwitch")
            before = ovs["next_cfg"]
            txn = idl.transaction()
            txn.increment("Open_vSwitch", ovs_uuid, "next_cfg")
            res = await conn.commit(txn)
            assert res.status is TxnStatus.SUCCESS and res.increment == before + 1
            await until(lambda: idl.rows("Open_vSwitch")[ovs_uuid]["next_cfg"] == before + 1)

            # verify: a stale precondition fails with TRY_AGAIN
            idl.rows("Bridge")[uuid]["other_config"] = (("stale", "x"),)
            txn = idl.transaction()
            txn.verify("Bridge", uuid, ["other_config"])
            txn.update("Bridge", uuid, {"other_config": (("c", "3"),)})
            res = await conn.commit(txn)
            assert res.status is TxnStatus.TRY_AGAIN

            # insert with a named uuid
            txn = idl.transaction()
            name = txn.insert("Bridge", {"name": "br1"})
            txn.mutate("Open_vSwitch", ovs_uuid, [["bridges", "insert", ["named-uuid", name]]])
            res = await conn.commit(txn)
            assert res.status is TxnStatus.SUCCESS and name in res.inserted
            await until(lambda: bridge_names(idl) == ["br0", "br1"])
            assert res.inserted[name] in idl.rows("Bridge")

            # the server restarts; changes made while we were away arrive
            server.stop()
            await until(lambda: not idl.is_connected)
            server.start()
            server.vsctl("--no-wait", "del-br", "br1")
            await until(lambda: idl.is_connected and bridge_names(idl) == ["br0"], idl=idl)
        finally:
            conn.close()

    asyncio.run(main())


def test_falls_back_to_older_monitor_methods():
    idl = Idl("DB", {"T": None})
    idl.connected()
    schema = {"name": "DB", "version": "1.0.0",
              "tables": {"T": {"columns": {"a": {"type": "integer"},
                                           "s": {"type": {"key": "string", "min": 0, "max": 4}}}}}}
    out, _ = idl.receive(jsonrpc.Reply(schema, 1))
    assert out[0].method == "monitor_cond_since"
    out, _ = idl.receive(jsonrpc.ErrorReply("unknown method", out[0].id))
    assert out[0].method == "monitor_cond"
    out, _ = idl.receive(jsonrpc.ErrorReply("unknown method", out[0].id))
    assert out[0].method == "monitor" and out[0].params[2] == {"T": {"columns": ["a", "s"]}}
    u = "11111111-1111-1111-1111-111111111111"
    idl.receive(jsonrpc.Reply({"T": {u: {"new": {"a": 3, "s": ["set", ["x", "y"]]}}}}, out[0].id))
    assert idl.state is State.MONITORING and idl.rows("T")[u] == {"a": 3, "s": ("x", "y")}
    seq = idl.change_seqno
    idl.receive(jsonrpc.Notification("update", [None, {"T": {u: {"old": {"a": 3}, "new": {"a": 4, "s": "z"}}}}]))
    assert idl.rows("T")[u] == {"a": 4, "s": ("z",)} and idl.change_seqno == seq + 1
    idl.receive(jsonrpc.Notification("update", [None, {"T": {u: {"old": {"a": 4}}}}]))
    assert idl.rows("T") == {}
    assert MONITOR_METHODS[idl.method_index] == "monitor"


def test_update2_diffs_and_echo():
    idl = Idl("DB", {"T": ["s", "m", "o"]})
    idl.connected()
    schema = {"name": "DB", "version": "1.0.0",
              "tables": {"T": {"columns": {
                  "s": {"type": {"key": "integer", "min": 0, "max": "unlimited"}},
                  "m": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                  "o": {"type": {"key": "string", "min": 0, "max": 1}}}}}}
    out, _ = idl.receive(jsonrpc.Reply(schema, 1))
    u = "22222222-2222-2222-2222-222222222222"
    reply = [False, "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa",
             {"T": {u: {"initial": {"s": ["set", [1, 2]], "m": ["map", [["a", "1"]]], "o": "x"}}}}]
    idl.receive(jsonrpc.Reply(reply, out[0].id))
    assert idl.last_id.startswith("aaaa")
    idl.receive(jsonrpc.Notification("update3", [None, "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb", {"T": {u: {"modify": {
        "s": ["set", [2, 3]], "m": ["map", [["a", "1"], ["b", "2"]]], "o": ["set", []]}}}}]))
    assert idl.rows("T")[u] == {"s": (1, 3), "m": (("b", "2"),), "o": ()}
    assert idl.last_id.startswith("bbbb")
    out, _ = idl.receive(jsonrpc.Request("echo", ["x"], "e1"))
    assert out == [jsonrpc.Reply(["x"], "e1")]
    # a reconnect asks only for what changed since the last id
    idl.disconnected()
    out = idl.connected()
    out, _ = idl.receive(jsonrpc.Reply(schema, out[0].id))
    assert out[0].params[3].startswith("bbbb")
    idl.receive(jsonrpc.Reply([True, "cccccccc-cccc-cccc-cccc-cccccccccccc", {}], out[0].id))
    assert idl.rows("T")[u]["s"] == (1, 3)


def test_monitor_canceled_starts_over():
    idl = Idl("DB", {"T": None})
    out = idl.connected()
    schema = {"name": "DB", "version": "1.0.0", "tables": {"T": {"columns": {"a": {"type": "integer"}}}}}
    out, _ = idl.receive(jsonrpc.Reply(schema, out[0].id))
    u = "33333333-3333-3333-3333-333333333333"
    idl.receive(jsonrpc.Reply([False, "dddddddd-dddd-dddd-dddd-dddddddddddd",
                               {"T": {u: {"initial": {"a": 1}}}}], out[0].id))
    out, _ = idl.receive(jsonrpc.Notification("monitor_canceled", [None]))
    assert out[0].method == "get_schema" and idl.state is State.SCHEMA_REQUESTED
    out, _ = idl.receive(jsonrpc.Reply(schema, out[0].id))
    assert out[0].method == "monitor_cond_since" and out[0].params[3].startswith("0000")
    idl.receive(jsonrpc.Reply([False, "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee", {}], out[0].id))
    assert idl.rows("T") == {} and idl.is_connected


def test_transaction_ops_and_results():
    idl = Idl("DB", {"T": None})
    out = idl.connected()
    schema = {"name": "DB", "version": "1.0.0", "tables": {"T": {"columns": {
        "a": {"type": "integer"}, "m": {"type": {"key": "string", "value": "string", "min": 0,
                                                 "max": "unlimited"}}}}}}
    idl.receive(jsonrpc.Reply(schema, out[0].id))
    txn = idl.transaction(comment="hello")
    name = txn.insert("T", {"a": 1, "m": (("k", "v"),)})
    txn.delete("T", "44444444-4444-4444-4444-444444444444")
    req = idl.commit(txn)
    assert req.method == "transact" and req.params[0] == "DB"
    assert req.params[1] == {"op": "insert", "table": "T", "uuid-name": name,
                             "row": {"a": 1, "m": ["map", [["k", "v"]]]}}
    assert req.params[-1] == {"op": "comment", "comment": "hello"}
    _, results = idl.receive(jsonrpc.Reply([{"uuid": ["uuid", "5" * 8 + "-5555-5555-5555-" + "5" * 12]},
                                            {"count": 1}, {}], req.id))
    assert results[0].status is TxnStatus.SUCCESS and results[0].inserted[name].startswith("5555")
    req = idl.commit(idl.transaction())
    _, results = idl.receive(jsonrpc.Reply([], req.id))
    assert results[0].status is TxnStatus.UNCHANGED
    txn = idl.transaction()
    txn.update("T", "44444444-4444-4444-4444-444444444444", {"a": 2})
    req = idl.commit(txn)
    _, results = idl.receive(jsonrpc.Reply([{"count": 0}, {"error": "constraint violation",
                                                           "details": "bad"}], req.id))
    assert results[0].status is TxnStatus.ERROR and results[0].error == "constraint violation: bad"
    # a transaction in flight when the connection drops must be retried
    calls = []
    idl.commit(idl.transaction(), calls.append)
    assert [r.status for r in idl.disconnected()] == [TxnStatus.TRY_AGAIN]
    assert calls[0].status is TxnStatus.TRY_AGAIN


def test_reconnect_resyncs_only_what_changed():
    """After a dropped session (the server still running), monitor_cond_since with the last
    transaction id gets only the changes made meanwhile."""
    server = DbServer("ours")

    async def main():
        idl = Idl("Open_vSwitch", TABLES)
        conn = IdlConnection(idl, server.remote)
        conn.start()
        try:
            await until(lambda: idl.is_connected and idl.rows("Open_vSwitch"), idl=idl)
            assert idl.resync_full is True
            server.vsctl("--no-wait", "add-br", "br0")
            await until(lambda: bridge_names(idl) == ["br0"], idl=idl)
            if idl.last_id == "00000000-0000-0000-0000-000000000000":
                pytest.skip("this server keeps no transaction ids")
            conn.conn.abort("test")
            await until(lambda: not idl.is_connected, idl=idl)
            server.vsctl("--no-wait", "add-br", "br1")
            await until(lambda: idl.is_connected and bridge_names(idl) == ["br0", "br1"], idl=idl)
            assert idl.resync_full is False
        finally:
            conn.close()

    try:
        asyncio.run(main())
    finally:
        server.close()


def test_idl_thread_for_blocking_code():
    from pyvswitch.aio.idl import IdlThread

    server = DbServer("ours")
    t = IdlThread(Idl("Open_vSwitch", TABLES), server.remote).start()
    try:
        ovs_uuid = t.wait(lambda idl: next(iter(idl.rows("Open_vSwitch")), None))
        before = t.snapshot()["Open_vSwitch"][ovs_uuid]["next_cfg"]

        def bump(idl):
            txn = idl.transaction()
            txn.increment("Open_vSwitch", ovs_uuid, "next_cfg")
            return txn

        res = t.transact(bump)
        assert res.status is TxnStatus.SUCCESS and res.increment == before + 1
        t.wait(lambda idl: idl.rows("Open_vSwitch")[ovs_uuid]["next_cfg"] == before + 1)
        server.vsctl("--no-wait", "add-br", "br0")
        assert t.wait(lambda idl: bridge_names(idl) == ["br0"])
        with pytest.raises(TimeoutError):
            t.wait(lambda idl: False, timeout=0.2)
    finally:
        t.close()
        server.close()


def test_idl_thread_bad_remote():
    from pyvswitch.aio.idl import IdlThread
    from pyvswitch.aio.stream import RemoteError

    with pytest.raises(RemoteError):
        IdlThread(Idl("Open_vSwitch", TABLES), "bogus:x").start()
