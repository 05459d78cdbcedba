"""Our ovsdb-server on our storage, end to end: a torn tail is cut off, and a
commit acknowledged to a client is on disk even if the server is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from util import needs_reference, ours, ovs_env, process_gone, ref, run, stop_pid, wait_until

SCHEMA = {"name": "t", "version": "1.0.0",
          "tables": {"R": {"isRoot": True, "columns": {"n": {"type": "integer"}}}}}


def _create(d):
    """Makes d/t.db with SCHEMA; returns the environment for d."""
    env = ovs_env(d)
    (d / "t.ovsschema").write_text(json.dumps(SCHEMA))
    assert run([ours("ovsdb-tool"), "create", "t.db", "t.ovsschema"], cwd=d, env=env).returncode == 0
    return env


def _start(d, env):
    """Starts our ovsdb-server on d/t.db; returns it once its sockets are up,
    with their paths."""
    sock, ctl = d / "db.sock", d / "ctl"
    proc = subprocess.Popen([ours("ovsdb-server"), "t.db", f"--remote=punix:{sock}", f"--unixctl={ctl}",
                             f"--pidfile={d}/s.pid", f"--log-file={d}/s.log"],
                            cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: sock.exists() and ctl.exists(), what="our server's sockets")
    except BaseException:
        stop_pid(proc.pid)
        proc.wait(timeout=10)
        raise
    return proc, sock, ctl


@needs_reference
def test_acknowledged_commits_survive_kill_and_torn_tail_is_cut(tmp_path):
    d = tmp_path
    env = _create(d)
    r = run([ours("ovsdb-tool"), "transact", "t.db", '["t",{"op":"insert","table":"R","row":{"n":1}}]'],
            cwd=d, env=env)
    assert r.returncode == 0, r.stderr
    with open(d / "t.db", "ab") as f:
        f.write(b"OVSDB JSON 999 " + b"0" * 40 + b"\n{\"half")         # a torn append
    proc, sock, _ = _start(d, env)
    try:
        for n in (2, 3):
            r = run([ref("ovsdb-client"), "transact", f"unix:{sock}",
                     json.dumps(["t", {"op": "insert", "table": "R", "row": {"n": n}}])], env=env)
            assert r.returncode == 0 and '"uuid"' in r.stdout, r.stdout + r.stderr
        os.kill(proc.pid, signal.SIGKILL)
        wait_until(lambda: process_gone(proc.pid), what="the server to die")
    finally:
        stop_pid(proc.pid)
        proc.wait(timeout=10)
    r = run([ref("ovsdb-tool"), "show-log", "t.db"], cwd=d, env=env)
    assert r.returncode == 0, r.stderr                   # the torn tail is gone
    r = run([ref("ovsdb-tool"), "query", "t.db", '["t",{"op":"select","table":"R","where":[],"columns":["n"]}]'],
            cwd=d, env=env)
    rows = json.loads(r.stdout)[0]["rows"]
    assert sorted(row["n"] for row in rows) == [1, 2, 3]


@needs_reference
def test_online_compaction_through_appctl(tmp_path):
    d = tmp_path
    env = _create(d)
    proc, sock, ctl = _start(d, env)
    try:
        ops = [{"op": "insert", "table": "R", "row": {"n": n}} for n in range(20)]
        r = run([ref("ovsdb-client"), "transact", f"unix:{sock}", json.dumps(["t"] + ops)], env=env)
        assert r.returncode == 0, r.stderr
        for n in range(5):
            r = run([ref("ovsdb-client"), "transact", f"unix:{sock}",
                     json.dumps(["t", {"op": "delete", "table": "R", "where": [["n", "==", n]]}])], env=env)
            assert r.returncode == 0, r.stderr
        r = run([ref("ovs-appctl"), "-t", str(ctl), "ovsdb-server/compact"], env=env)
        assert r.returncode == 0, r.stderr
        r = run([ref("ovsdb-tool"), "show-log", "t.db"], cwd=d, env=env)
        assert r.returncode == 0 and r.stdout.count("record ") == 2, r.stdout
        assert '"compacting database online"' in r.stdout
        r = run([ref("ovsdb-client"), "transact", f"unix:{sock}",
                 json.dumps(["t", {"op": "insert", "table": "R", "row": {"n": 99}}])], env=env)
        assert r.returncode == 0, r.stderr
    finally:
        stop_pid(proc.pid)
        proc.wait(timeout=10)
    r = run([ref("ovsdb-tool"), "query", "t.db", '["t",{"op":"select","table":"R","where":[],"columns":["n"]}]'],
            cwd=d, env=env)
    assert sorted(row["n"] for row in json.loads(r.stdout)[0]["rows"]) == list(range(5, 20)) + [99]
