"""Our ovsdb-client against the real one, on the same reference ovsdb-server:
same stdout bytes, same stderr, same exit status."""

from __future__ import annotations

import json

import pytest

import subprocess

from client_harness import TEST_SCHEMA, VSWITCH_SCHEMA, Server, compare, our_client
from util import needs_reference, ours, ovs_env, ref, run, stop_pid

pytestmark = needs_reference

POPULATE_TEST = [
    {"op": "insert", "table": "T2", "row": {"name": "x"}, "uuid-name": "a"},
    {"op": "insert", "table": "T2", "row": {"name": "a b"}},
    {"op": "insert", "table": "T", "row": {
        "i": -5, "r": 1.5, "b": True, "s": "", "u": ["named-uuid", "a"], "e": "b c",
        "si": ["set", [3, 1, 2]],
        "ss": ["set", ["z", "true", "1a", "a1", "a-b.c_", "_x", "-x", "a b", "é", "A", "x:y",
                       "a<b>&\"c\\d\ne\tf", "86616b66-3b06-4f0a-81ba-c10069b9f214"]],
        "sr": ["set", [0.1, 1e300, 2, 1e-7, 100000000000000000000, 123456789.123, 0.30000000000000004,
                       1e15, 1e16, 123456789012345678, 2.5e-5]],
        "m": ["map", [["k", "v"], ["", "0"], ["key with space", "é☃"]]],
        "mi": ["map", [[1, 0.5], [2, 3]]], "om": ["map", [[7, False]]], "refs": ["named-uuid", "a"]}},
    {"op": "insert", "table": "T", "row": {"e": "a", "oi": ["set", [4]], "si": ["set", [5]]}},
    {"op": "insert", "table": "T", "row": {"e": "a", "oi": ["set", [4]], "si": ["set", [1, 2]],
                                          "i": 9223372036854775807}},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("client-compat"), [TEST_SCHEMA, VSWITCH_SCHEMA])
    try:
        s.transact(json.dumps(["Test"] + POPULATE_TEST))
        s.transact(json.dumps(["Open_vSwitch",
                               {"op": "insert", "table": "Open_vSwitch", "row": {
                                   "bridges": ["named-uuid", "br0"]}},
                               {"op": "insert", "table": "Bridge", "uuid-name": "br0", "row": {
                                   "name": "br0", "ports": ["set", [["named-uuid", "p0"], ["named-uuid", "p1"]]],
                                   "external_ids": ["map", [["a", "x y"], ["b", "1"]]]}},
                               {"op": "insert", "table": "Port", "uuid-name": "p0", "row": {
                                   "name": "br0", "interfaces": ["named-uuid", "i0"]}},
                               {"op": "insert", "table": "Port", "uuid-name": "p1", "row": {
                                   "name": "p1", "interfaces": ["named-uuid", "i1"], "tag": 10}},
                               {"op": "insert", "table": "Interface", "uuid-name": "i0", "row": {
                                   "name": "br0", "type": "internal"}},
                               {"op": "insert", "table": "Interface", "uuid-name": "i1", "row": {
                                   "name": "p1", "options": ["map", [["x", "é☃"]]]}}]))
        yield s
    finally:
        s.close()


def check(server, *args, **kw):
    a, b = compare(server.env, *args, **kw)
    assert b == a


COMMANDS = [
    ["list-dbs"],
    ["get-schema"], ["get-schema", "Test"], ["get-schema", "Open_vSwitch"],
    ["get-schema-version", "Test"], ["get-schema-cksum", "Open_vSwitch"], ["get-schema-cksum", "Test"],
    ["list-tables", "Test"], ["list-tables", "Open_vSwitch"],
    ["list-columns", "Test"], ["list-columns", "Open_vSwitch"], ["list-columns", "Test", "T"],
    ["list-columns", "Test", "Nope"],
    ["dump", "Test"], ["dump", "Open_vSwitch"], ["dump", "Test", "T"], ["dump", "Test", "T", "si", "i", "sr"],
    ["dump", "Test", "T", "_uuid", "ss"], ["dump", "Open_vSwitch", "Port"],
    ["dump", "Test", "Nope"], ["dump", "Test", "T2", "nope"], ["dump", "Test", "T2", "_version"],
    ["dump", "Test", "T2", "name", "_version", "_uuid"], ["dump", "Test", "T", "b", "s", "m", "i", "_uuid", "b"],
    ["get-schema", "Nope"], ["list-tables", "Test", "extra"],
    ["needs-conversion", str(TEST_SCHEMA)], ["needs-conversion", "/nonexistent"],
    ["convert", str(TEST_SCHEMA)], ["wait", "Test", "bogus"], ["monitor-cond", "Test", "[]"],
    ["monitor-cond", "Test", "[]", "Nope"], ["monitor-cond", "Test", "x", "T2"],
    ["monitor-cond", "Test", "[]", "T2", "nope"], ["monitor-cond", "Test", "[]", "T2", "name,name"],
    ["monitor-cond", "Test", "[]", "T2", "name", "_uuid"], ["monitor", "Test", "Nope"],
    ["monitor-cond-since", "Test", "[]", "Nope"],
    ["monitor-cond-since", "Test", "00000000-0000-0000-0000-000000000000", "[]", "T", "i,si", "m"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_commands(server, args):
    check(server, args[0], server.remote, *args[1:])


@pytest.mark.parametrize("fmt", ["table", "list", "html", "csv", "json"])
@pytest.mark.parametrize("data", ["string", "bare", "json"])
def test_dump_formats(server, fmt, data):
    check(server, "-f", fmt, "-d", data, "dump", server.remote, "Test")
    check(server, f"--format={fmt}", f"--data={data}", "dump", server.remote, "Open_vSwitch")


@pytest.mark.parametrize("opts", [["--no-headings"], ["--bare"], ["-f", "json", "--pretty"],
                                  ["-f", "list", "--no-headings"], ["-f", "csv", "--no-headings"],
                                  ["-f", "html", "--no-headings"], ["-f", "json", "--no-headings"]])
def test_dump_options(server, opts):
    check(server, *opts, "dump", server.remote, "Test")


@pytest.mark.parametrize("fmt", ["table", "list", "html", "csv", "json"])
def test_list_commands_formats(server, fmt):
    check(server, "-f", fmt, "list-tables", server.remote, "Open_vSwitch")
    check(server, "-f", fmt, "list-columns", server.remote, "Test", "T")


TRANSACTIONS = [
    '["Test",{"op":"select","table":"T","where":[],"columns":["sr","i","m","ss"]}]',
    '["Test",{"op":"select","table":"T","where":[["i","==",2.0]]}]',
    '["Test",{"op":"select","table":"T","where":[["i","==",1.25e1]]}]',
    '["Test",{"op":"select","table":"T","where":[["i","==",1e400]]}]',
    '["Test",{"op":"bogus"}]',
    '["Nope"]', "[", "{}", "[]", "[1]", "x", '["Test" {}]', '["Test", tru]',
    '["Test",{"op":"comment","comment":"\\u00e9\\t"}]',
]


@pytest.mark.parametrize("txn", TRANSACTIONS)
def test_transact(server, txn):
    check(server, "transact", server.remote, txn)


@pytest.mark.parametrize("args", [
    ["transact", '["Test",{"op":"select","table":"T","where":[]},{"op":"comment","comment":"x"}]'],
    ["query", '["Test",{"op":"select","table":"T2","where":[]}]'], ["get-schema", "Test"],
    ["get-schema", "_Server"], ["-f", "json", "list-columns", "Test", "T"],
])
def test_pretty(server, args):
    check(server, "--pretty", args[0], server.remote, *args[1:])


def test_query_aborts(server):
    txn = '["Test",{"op":"delete","table":"T2","where":[]},{"op":"select","table":"T2","where":[]}]'
    check(server, "query", server.remote, txn)
    check(server, "query", server.remote, txn[:-1] + ',{"op":"abort"}]')
    check(server, "dump", server.remote, "Test", "T2")


@pytest.mark.parametrize("args", [
    [], ["bogus"], ["--format=foo", "list-dbs"], ["-d", "foo", "list-dbs"], ["--bogus"], ["-x"],
    ["--version"], ["list-dbs", "unix:/nonexistent"], ["list-dbs", "tcp:127.0.0.1:1"],
    ["list-dbs", "foo:bar"], ["--timeout=x", "list-dbs"], ["list-dbs", "a", "b"],
    ["list-dbs", "unix:/nonexistent/a,unix:/nonexistent/b"], ["list-dbs", "ssl:127.0.0.1:1"],
    ["list-dbs", "tcp:127.0.0.1:1"], ["list-dbs", "tcp:127.0.0.1:bad"], ["list-dbs", "tcp:"],
    ["list-dbs", "ptcp:bad"], ["list-dbs", "tcp:[::1]"], ["list-dbs", "ssl:"],
    ["list-dbs", "tcp:nosuchhost.invalid:1"],
])
def test_errors(server, args):
    check(server, *args, in_process=False)


def test_default_server(server):
    # With no server argument, the client uses unix:$OVS_RUNDIR/db.sock.
    check(server, "list-dbs", in_process=False)
    check(server, "list-dbs", f"unix:/nonexistent/a,{server.remote}", in_process=False)
    check(server, "dump", "Test", "T2")


def test_timeout_ends_a_monitor(server):
    r = our_client(server.env, "--timeout=1", "monitor", server.remote, "Test", "T2", "name")
    assert r.returncode == -14  # killed by SIGALRM, as the real one is
    assert r.stdout.startswith("row ")
    assert r.stderr.endswith("|fatal_signal|WARN|terminating with signal 14 (Alarm clock)\n")


def test_wait(server, tmp_path):
    for args in (["Test", "added"], ["Test", "connected"], ["Nope", "removed"]):
        r = our_client(server.env, "wait", server.remote, *args, timeout=10)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stderr.endswith("|reconnect|INFO|%s: connected\n" % server.remote)
    # Waiting for a database that appears later.
    db = tmp_path / "later.db"
    schema = json.loads(TEST_SCHEMA.read_text())
    schema["name"] = "Later"
    (tmp_path / "later.ovsschema").write_text(json.dumps(schema))
    run([ref("ovsdb-tool"), "create", str(db), str(tmp_path / "later.ovsschema")], env=server.env)
    p = subprocess.Popen([ours("ovsdb-client"), "wait", server.remote, "Later", "connected"], env=server.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = run([ref("ovs-appctl"), "-t", str(server.dir / "ovsdb-server.ctl"), "ovsdb-server/add-db", str(db)],
                env=server.env)
        assert r.returncode == 0, r.stderr
        assert p.wait(timeout=10) == 0
    finally:
        stop_pid(p.pid)
        run([ref("ovs-appctl"), "-t", str(server.dir / "ovsdb-server.ctl"), "ovsdb-server/remove-db", "Later"],
            env=server.env)


def test_wait_for_a_server_not_up_yet(tmp_path):
    # wait keeps trying (after 1, 2, 4... seconds) until the server is up.
    sock = tmp_path / "db.sock"
    p = subprocess.Popen([ours("ovsdb-client"), "wait", f"unix:{sock}", "Test", "connected"],
                         env=ovs_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    s = None
    try:
        s = Server(tmp_path, [TEST_SCHEMA])
        assert p.wait(timeout=20) == 0
        assert p.stderr.read().rstrip().endswith(f"|reconnect|INFO|unix:{sock}: connected")
    finally:
        stop_pid(p.pid)
        if s is not None:
            s.close()


def test_relative_unix_paths_are_in_the_run_directory(server, tmp_path):
    # The server's socket is $OVS_RUNDIR/db.sock; run from elsewhere.
    check(server, "list-dbs", "unix:db.sock", in_process=False, cwd=tmp_path)
    check(server, "list-dbs", "unix:nonexistent.sock", in_process=False, cwd=tmp_path)


@pytest.mark.parametrize("args", [["dump", "Test", "T2"], ["transact", '["Nope"]'], ["list-tables", "Test"]])
def test_jsonrpc_debug_log(server, args):
    # Sequence numbers and times aside, -v logs the same messages in the same words.
    a, b = compare(server.env, "-vjsonrpc:console:dbg", args[0], server.remote, *args[1:])
    assert b == a
