"""The real ovsdb-client and ours, both against our ovsdb-server: the same
bytes out, so our client and our server agree with the reference pair."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from client_harness import TEST_SCHEMA, VSWITCH_SCHEMA, Server, compare, our_client
from test_ovsdb_client_compat import POPULATE_TEST
from util import needs_reference, ours, ref, stop_pid, wait_until

pytestmark = needs_reference


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("client-ours"), [TEST_SCHEMA, VSWITCH_SCHEMA], program=ours("ovsdb-server"))
    try:
        s.transact(json.dumps(["Test"] + POPULATE_TEST))
        yield s
    finally:
        s.close()


@pytest.mark.parametrize("args", [
    ["list-dbs"], ["get-schema", "Test"], ["get-schema", "Open_vSwitch"], ["get-schema-version", "Open_vSwitch"],
    ["list-tables", "Open_vSwitch"], ["list-columns", "Test"], ["dump", "Test"], ["dump", "_Server"],
    ["-f", "json", "dump", "Test"], ["--bare", "dump", "Test", "T"],
    ["transact", '["Test",{"op":"select","table":"T","where":[],"columns":["sr","i","m","ss"]}]'],
    ["query", '["Test",{"op":"delete","table":"T2","where":[]}]'],
])
def test_same_output(server, args):
    a, b = compare(server.env, args[0], server.remote, *args[1:])
    assert b == a


@pytest.mark.parametrize("args", [["monitor", "Test", "ALL"], ["monitor-cond", "Test", "[]", "T2"],
                                  ["monitor-cond-since", "Test", "[]", "T", "i,si,m"]])
def test_monitors_agree(server, tmp_path, args):
    procs, outs = [], []
    try:
        for name, prog in (("ref", ref("ovsdb-client")), ("ours", ours("ovsdb-client"))):
            out = tmp_path / f"{name}.out"
            with open(out, "w") as f:
                procs.append(subprocess.Popen([prog, args[0], server.remote, *args[1:]], env=server.env,
                                              stdout=f, stderr=subprocess.DEVNULL))
            outs.append(out)
        # Both have registered once both have printed the initial contents.
        wait_until(lambda: all("initial" in p.read_text() for p in outs), what="initial contents")
        name = f"new-{tmp_path.name}"
        server.transact('["Test",{"op":"insert","table":"T2","row":{"name":"%s"}},'
                        '{"op":"mutate","table":"T","where":[],"mutations":[["si","insert",["set",[99]]]]}]'
                        % name)
        wait_until(lambda: all("99" in p.read_text() or name in p.read_text() for p in outs)
                   and outs[0].read_text() == outs[1].read_text(), what="the same update from both")
    finally:
        for p in procs:
            stop_pid(p.pid)
            p.wait(5)


def test_backup_and_restore(server, tmp_path):
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    before = our_client(server.env, "dump", server.remote, "Test").stdout
    backup = tmp_path / "backup.db"
    backup.write_text(our_client(server.env, "backup", server.remote, "Test").stdout)
    with open(backup) as stdin:
        r = our_client(server.env, "restore", server.remote, "Test", stdin=stdin)
    assert (r.returncode, r.stderr) == (0, "")
    assert uuid.sub("U", our_client(server.env, "dump", server.remote, "Test").stdout) == uuid.sub("U", before)
