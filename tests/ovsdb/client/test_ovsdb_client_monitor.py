"""monitor and monitor-cond: our ovsdb-client and the real one watch the same
reference server through the same changes and must print the same bytes."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from client_harness import TEST_SCHEMA, Server
from util import ours, ref, stop_pid, wait_until, needs_reference

pytestmark = needs_reference


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path, [TEST_SCHEMA])
    subprocess.run([ref("ovs-appctl"), "-t", str(s.dir / "ovsdb-server.ctl"), "vlog/set", "jsonrpc:file:dbg"],
                   env=s.env, check=True, capture_output=True)
    try:
        s.transact(json.dumps(["Test",
                               {"op": "insert", "table": "T2", "row": {"name": "x"}},
                               {"op": "insert", "table": "T2", "row": {"name": "w"}},
                               {"op": "insert", "table": "T", "row": {"e": "a", "i": 1, "si": ["set", [1, 2]]}},
                               {"op": "insert", "table": "T", "row": {"e": "b c", "i": 2, "m": ["map", [["k", "v"]]]}}]))
        yield s
    finally:
        s.close()


CHANGES = [
    '["Test",{"op":"insert","table":"T2","row":{"name":"y"}}]',
    '["Test",{"op":"update","table":"T2","where":[["name","==","y"]],"row":{"name":"zz"}}]',
    '["Test",{"op":"delete","table":"T2","where":[["name","==","zz"]]}]',
    '["Test",{"op":"mutate","table":"T","where":[["i","==",1]],"mutations":[["si","insert",["set",[7]]]]}]',
    '["Test",{"op":"update","table":"T","where":[["i","==",2]],"row":{"m":["map",[["a","b"]]],"r":2.5}}]',
    '["Test",{"op":"insert","table":"T2","row":{"name":"y"}},{"op":"insert","table":"T","row":{"e":"a"}}]',
    '["Test",{"op":"update","table":"T2","where":[["name","==","y"]],"row":{"name":"x2"}}]',
]


def run_monitors(server, tmp_path, args):
    procs = []
    outs = []
    base = _monitor_requests(server)
    try:
        for name, prog in (("ref", ref("ovsdb-client")), ("ours", ours("ovsdb-client"))):
            out = tmp_path / f"{name}.out"
            with open(out, "wb") as f:
                procs.append(subprocess.Popen([prog, *args], env=server.env, stdout=f,
                                              stderr=subprocess.DEVNULL))
            outs.append(out)
        # The server registers a monitor as it receives the request, and
        # logs each request it receives (jsonrpc debug logging is on).
        wait_until(lambda: _monitor_requests(server) >= base + 2, what="monitor requests")
        for txn in CHANGES:
            server.transact(txn)
        # The last change renames y to x2; wait for both to print it.
        wait_until(lambda: all(b"x2" in p.read_bytes() for p in outs) or _settled(outs),
                   what="monitors to print every change")
        wait_until(lambda: _text(outs[0]) == _text(outs[1]), timeout=3, what="identical monitor output")
        return _text(outs[0])
    except AssertionError:
        if len(outs) == 2:
            assert _text(outs[1]) == _text(outs[0])
        raise
    finally:
        for p in procs:
            stop_pid(p.pid)
            p.wait(timeout=5)


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")


def _text(path) -> str:
    """The output with --timestamp times made equal."""
    return TIMESTAMP.sub("TIME", path.read_text())


def _monitor_requests(server) -> int:
    text = (server.dir / "ovsdb-server.log").read_text(errors="replace")
    return text.count('received request, method="monitor')


_last: dict = {}


def _settled(outs):
    # For monitors that never print "x2": output unchanged for a few polls.
    now = tuple(p.read_bytes() for p in outs)
    key = tuple(outs)
    same = _last.get(key) == now
    _last[key] = now
    return same and now[0] == now[1] and now[0] != b""


@pytest.mark.parametrize("args", [
    ["monitor", "{remote}", "Test", "T2"],
    ["monitor", "{remote}", "Test", "T"],
    ["monitor", "{remote}", "Test", "T", "si,i", "m"],
    ["-f", "list", "monitor", "{remote}", "Test", "T2", "name,!initial"],
    ["-f", "csv", "monitor", "{remote}", "Test", "T2", "name,!delete,!modify"],
    ["-f", "html", "monitor", "{remote}", "T2", "name,_version"],
    ["-f", "json", "monitor", "{remote}", "Test", "ALL"],
    ["-d", "json", "monitor", "{remote}", "Test", "ALL"],
    ["monitor-cond", "{remote}", "Test", '[["name","==","y"]]', "T2"],
    ["monitor-cond", "{remote}", "Test", "[]", "T"],
    ["monitor-cond-since", "{remote}", "Test", "[]", "T2"],
    ["-d", "json", "monitor-cond-since", "{remote}", "Test", "00000000-0000-0000-0000-000000000000",
     '[["i","<",2]]', "T", "i,si,m"],
    ["--timestamp", "monitor", "{remote}", "Test", "ALL"],
    ["--timestamp", "-f", "html", "monitor", "{remote}", "Test", "T2"],
    ["--timestamp", "-f", "list", "monitor-cond", "{remote}", "Test", "[]", "T2"],
])
def test_monitor_matches_reference(server, tmp_path, args):
    args = [a.replace("{remote}", server.remote) for a in args]
    run_monitors(server, tmp_path, args)


def test_detached_monitor_keeps_printing(server, tmp_path):
    pidfile = tmp_path / "monitor.pid"
    out = tmp_path / "monitor.out"
    # The daemon keeps stdout and stderr, so they go to files, not pipes.
    with open(out, "w") as f, open(tmp_path / "monitor.err", "w") as e:
        r = subprocess.run([ours("ovsdb-client"), "--detach", "--no-chdir", f"--pidfile={pidfile}", "monitor",
                            server.remote, "Test", "T2", "name"], env=server.env, stdout=f, stderr=e, timeout=20)
    # The parent returns once the initial contents are printed.
    assert r.returncode == 0, (tmp_path / "monitor.err").read_text()
    pid = int(pidfile.read_text())
    try:
        assert "initial" in out.read_text()
        server.transact('["Test",{"op":"insert","table":"T2","row":{"name":"detached"}}]')
        wait_until(lambda: "insert detached" in out.read_text(), what="update after detaching")
    finally:
        stop_pid(pid)
    wait_until(lambda: not pidfile.exists(), what="pidfile removed")
