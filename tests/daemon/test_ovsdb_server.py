"""Our ovsdb-server end to end: detached in a private dir, driven by the real OVS tools."""

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from daemon_tls import make_pki
from util import REPO, needs_reference, ours, process_gone, ref, run, stop_pid, wait_until

pytestmark = needs_reference

SCHEMA = str(REPO / "src" / "pyvswitch" / "schemas" / "vswitch.ovsschema")


class OurServer:
    def __init__(self, rundir: Path, env: dict, *extra: str, create: bool = True):
        self.dir = rundir
        self.env = env
        self.sock = str(rundir / "db.sock")
        self.db = str(rundir / "conf.db")
        if create:
            r = run([ours("ovsdb-tool"), "create", self.db, SCHEMA], env=env)
            assert r.returncode == 0, r.stderr
        self.extra = extra
        self.pid = None
        self.start()

    def start(self):
        r = run([ours("ovsdb-server"), self.db, f"--remote=punix:{self.sock}", "--pidfile", "--detach",
                 "--no-chdir", f"--log-file={self.dir}/ovsdb-server.log", *self.extra], env=self.env)
        assert r.returncode == 0, r.stderr
        self.pid = int((self.dir / "ovsdb-server.pid").read_text())

    def log(self) -> str:
        return (self.dir / "ovsdb-server.log").read_text()

    def tool(self, name, *args, expect=0):
        r = run([ref(name), *args], env=self.env)
        if expect is not None:
            assert r.returncode == expect, f"{name} {args}: {r.stderr}"
        return r

    def vsctl(self, *args):
        return self.tool("ovs-vsctl", f"--db=unix:{self.sock}", "--no-wait", "--timeout=10", *args).stdout

    def appctl(self, *args, expect=0):
        return self.tool("ovs-appctl", "-t", "ovsdb-server", *args, expect=expect)

    def stop(self):
        if self.pid:
            stop_pid(self.pid)


@pytest.fixture
def server(rundir, env):
    s = OurServer(rundir, env)
    yield s
    s.stop()


def raw_conn(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(10)
    return s


def call(s: socket.socket, method: str, params: list, ident=1):
    s.sendall(json.dumps({"method": method, "params": params, "id": ident}).encode())
    dec = json.JSONDecoder()
    buf = ""
    while True:
        data = s.recv(1 << 20)
        if not data:
            raise EOFError
        buf += data.decode()
        try:
            obj, _ = dec.raw_decode(buf.lstrip())
        except ValueError:
            continue
        return obj


def test_detached_server_serves_the_real_tools(server):
    assert server.tool("ovsdb-client", "list-dbs", f"unix:{server.sock}").stdout == "Open_vSwitch\n_Server\n"
    server.vsctl("init")
    server.vsctl("add-br", "br0")
    out = server.vsctl("show")
    assert "Bridge br0" in out and "Interface br0" in out and "type: internal" in out
    r = server.tool("ovsdb-client", "transact", f"unix:{server.sock}",
                    '["Open_vSwitch",{"op":"select","table":"Bridge","where":[],"columns":["name"]}]')
    assert json.loads(r.stdout) == [{"rows": [{"name": "br0"}]}]
    assert "|ovsdb_server|INFO|ovsdb-server (Open vSwitch) 3.1.0" in server.log()


def test_monitor_sees_changes(server):
    import subprocess
    server.vsctl("init")
    server.vsctl("add-br", "br0")
    out = server.dir / "monitor.out"
    with open(out, "w") as f:
        # stdbuf: ovsdb-client's stdout is a file here, which C stdio would buffer.
        mon = subprocess.Popen(["stdbuf", "-oL", ref("ovsdb-client"), "monitor", f"unix:{server.sock}",
                                "Open_vSwitch", "Bridge", "name", "--format=csv"],
                               env=server.env, stdout=f, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: ",initial,br0" in out.read_text(), what="monitor's initial contents")
        server.vsctl("add-br", "br7")
        wait_until(lambda: ",insert,br7" in out.read_text(), what="monitor update for br7")
    finally:
        stop_pid(mon.pid)
        mon.wait(5)


def test_unixctl_commands_with_the_real_appctl(server):
    a = server.appctl
    assert a("version").stdout == "ovsdb-server (Open vSwitch) 3.1.0\n"
    assert a("ovsdb-server/list-dbs").stdout == "Open_vSwitch\n_Server\n"
    assert a("ovsdb-server/list-remotes").stdout == f"punix:{server.sock}\n"
    a("ovsdb-server/add-remote", "ptcp:0:127.0.0.1")
    port = int(wait_until(lambda: [l for l in server.log().splitlines() if "listening on port" in l],
                          what="ptcp listener")[0].rsplit(" ", 1)[1])
    assert server.tool("ovsdb-client", "list-dbs", f"tcp:127.0.0.1:{port}").stdout == "Open_vSwitch\n_Server\n"
    a("ovsdb-server/remove-remote", "ptcp:0:127.0.0.1")
    assert a("ovsdb-server/remove-remote", "ptcp:0:127.0.0.1", expect=2).stderr.startswith("no such remote\n")
    assert a("ovsdb-server/compact", "nodb", expect=2).stderr.startswith("no database by that name\n")
    assert a("ovsdb-server/compact", "_Server", expect=2).stderr.startswith("cannot compact built-in databases\n")
    server.vsctl("init")
    a("ovsdb-server/compact")
    assert "compacting Open_vSwitch database by user request" in server.log()
    assert a("ovsdb-server/remove-db", "_Server", expect=2).stderr.startswith("Cannot remove reserved database.\n")
    assert "cells:" in a("memory/show").stdout
    a("ovsdb-server/remove-db", "Open_vSwitch")
    assert a("ovsdb-server/list-dbs").stdout == "_Server\n"
    a("ovsdb-server/add-db", server.db)
    assert a("ovsdb-server/list-dbs").stdout == "Open_vSwitch\n_Server\n"
    r = a("ovsdb-server/add-db", server.db, expect=2)
    assert r.stderr.startswith(f"ovsdb error: {server.db}: already open\n")
    assert server.vsctl("get", "Open_vSwitch", ".", "cur_cfg").strip() == "0"
    a("exit")
    wait_until(lambda: process_gone(server.pid), what="exit")
    assert not Path(server.sock).exists() and not (server.dir / "ovsdb-server.pid").exists()


def test_manager_options_become_remotes(server):
    server.vsctl("init")
    server.appctl("ovsdb-server/add-remote", "db:Open_vSwitch,Open_vSwitch,manager_options")
    r = server.appctl("ovsdb-server/add-remote", "db:Open_vSwitch,Open_vSwitch,nope", expect=2)
    assert r.stderr.startswith('"db:Open_vSwitch,Open_vSwitch,nope": table "Open_vSwitch" has no column "nope"\n')
    path = server.dir / "mgr.sock"
    server.vsctl("set-manager", f"punix:{path}")
    wait_until(path.exists, what="manager listener")
    assert server.tool("ovsdb-client", "list-dbs", f"unix:{path}").stdout == "Open_vSwitch\n_Server\n"
    # The Manager row shows the connection, as ovs-vsctl show reports it.
    c = raw_conn(str(path))
    wait_until(lambda: "is_connected: true" in server.vsctl("show"), what="Manager.is_connected")
    c.close()
    server.vsctl("del-manager")
    wait_until(lambda: not path.exists(), what="manager listener to close")


def test_second_server_on_the_same_pidfile_refuses(server):
    r = run([ours("ovsdb-server"), server.db, "--pidfile", "--detach"], env=server.env)
    assert r.returncode == 1
    assert f"already running as pid {server.pid}, aborting" in r.stderr


def test_startup_errors(rundir, env):
    r = run([ours("ovsdb-server"), str(rundir / "missing.db")], env=env)
    assert r.returncode == 1
    assert f"I/O error: {rundir}/missing.db: open failed (No such file or directory)" in r.stderr
    r = run([ours("ovsdb-server"), "--bogus"], env=env)
    assert (r.returncode, r.stderr) == (1, "ovsdb-server: unrecognized option '--bogus'\n")
    r = run([ours("ovsdb-server"), "--log-file=/nonexistent/x.log"], env=env)
    assert r.returncode == 1
    assert r.stderr.endswith("|vlog|WARN|failed to open /nonexistent/x.log for logging: No such file or directory\n")
    r = run([ours("ovsdb-server"), "-vfoo"], env=env)
    assert r.stderr == 'ovsdb-server: processing "foo": no destination, level, or module "foo"\n'
    assert run([ours("ovsdb-tool"), "create", str(rundir / "conf.db"), SCHEMA], env=env).returncode == 0
    for remote, error in (("db:Open_vSwitch,Nope,x", "no table named Nope"), ("db:x", "invalid syntax")):
        r = run([ours("ovsdb-server"), f"--remote={remote}", "--detach", "--pidfile"], env=env)
        assert (r.returncode, r.stderr) == (1, f'ovsdb-server: "{remote}": {error}\n\n')
        assert not (rundir / "ovsdb-server.pid").exists()


def test_sigkill_loses_no_acknowledged_transaction(rundir, env):
    s = OurServer(rundir, env)
    try:
        s.vsctl("init")
        c = raw_conn(s.sock)
        acked = []
        sent = 0
        dec = json.JSONDecoder()
        buf = ""
        # Pipeline inserts, 8 in flight; SIGKILL the server part way through.
        while len(acked) < 150:
            while sent - len(acked) < 8:
                op = {"op": "mutate", "table": "Open_vSwitch", "where": [],
                      "mutations": [["external_ids", "insert", ["map", [[f"k{sent}", "v"]]]]]}
                c.sendall(json.dumps({"method": "transact", "params": ["Open_vSwitch", op],
                                      "id": sent}).encode())
                sent += 1
            buf += c.recv(1 << 16).decode()
            while True:
                buf = buf.lstrip()
                try:
                    obj, end = dec.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                if obj.get("id") is not None and obj.get("result") and "error" not in obj["result"][0]:
                    acked.append(obj["id"])
        os.kill(s.pid, signal.SIGKILL)
        wait_until(lambda: process_gone(s.pid), what="SIGKILL")
        c.close()
        (rundir / "db.sock").unlink(missing_ok=True)
        s.start()
        ids = s.vsctl("get", "Open_vSwitch", ".", "external_ids")
        missing = [i for i in acked if f"k{i}=" not in ids]
        assert not missing
    finally:
        s.stop()


def test_bad_peers_do_not_hurt_others(server):
    server.vsctl("init")
    good = raw_conn(server.sock)
    assert call(good, "list_dbs", [])["result"] == ["Open_vSwitch", "_Server"]
    bad = []
    for payload in (b"{not json at all", b"\x00\xff garbage ]]", b'{"method":"nope","params":[],"id":5}',
                    b'[1,2,3]', b'{"method":"transact","params":["Open_vSwitch",{"op":"insert"'):
        c = raw_conn(server.sock)
        c.sendall(payload)
        bad.append(c)
    unknown = bad[2]
    reply = json.loads(unknown.recv(4096))
    assert reply["id"] == 5 and reply["error"]
    # A huge message, sent in pieces, then dropped mid-message.
    huge = raw_conn(server.sock)
    huge.sendall(b'{"method":"echo","params":["' + b"x" * (8 << 20))
    huge.close()
    # A client that asks for a large reply and never reads it.
    lazy = raw_conn(server.sock)
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.setblocking(False)
    sent = 0
    try:
        for i in range(200):
            # The server stops reading from a client whose replies back up, so this fills up.
            sent += lazy.send(json.dumps({"method": "echo", "params": ["y" * 100000], "id": i}).encode())
    except BlockingIOError:
        pass
    assert sent > 100000
    for i in range(20):
        assert call(good, "echo", [i], ident=i)["result"] == [i]
    server.vsctl("add-br", "br1")
    assert "br1" in server.vsctl("list-br")
    for c in bad + [lazy, good]:
        c.close()
    assert not process_gone(server.pid)


def test_tls_remote(rundir, env):
    pki = make_pki(rundir)
    s = OurServer(rundir, env, "--remote=pssl:0:127.0.0.1", f"--private-key={pki['server-key']}",
                  f"--certificate={pki['server-cert']}", f"--ca-cert={pki['ca-cert']}")
    try:
        line = wait_until(lambda: [l for l in s.log().splitlines() if "listening on port" in l], what="pssl")[0]
        port = int(line.rsplit(" ", 1)[1])
        r = s.tool("ovsdb-client", "-p", pki["client-key"], "-c", pki["client-cert"], "-C", pki["ca-cert"],
                   "list-dbs", f"ssl:127.0.0.1:{port}")
        assert r.stdout == "Open_vSwitch\n_Server\n"
        r = s.tool("ovsdb-client", "--timeout=3", "-p", pki["rogue-key"], "-c", pki["rogue-cert"],
                   "-C", pki["ca-cert"], "list-dbs", f"ssl:127.0.0.1:{port}", expect=None)
        assert r.returncode != 0
    finally:
        s.stop()


def test_run_option_exits_with_the_command(rundir, env):
    r = run([ours("ovsdb-tool"), "create", str(rundir / "conf.db"), SCHEMA], env=env)
    assert r.returncode == 0
    sock = rundir / "db.sock"
    r = run([ours("ovsdb-server"), f"--remote=punix:{sock}", "-vconsole:off",
             f"--run={ref('ovsdb-client')} list-dbs unix:{sock}"], env=env)
    assert (r.returncode, r.stdout) == (0, "Open_vSwitch\n_Server\n")
    r = run([ours("ovsdb-server"), f"--remote=punix:{sock}", "-vconsole:off", "--run=false"], env=env)
    assert (r.returncode, r.stderr) == (1, "ovsdb-server: false: child exited, exit status 1\n")


def test_active_remote_connects_out_and_serves(rundir, env):
    listener = socket.socket(socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    port = listener.getsockname()[1]
    s = OurServer(rundir, env, f"--remote=tcp:127.0.0.1:{port}")
    try:
        conn, _ = listener.accept()
        conn.settimeout(10)
        assert call(conn, "list_dbs", [])["result"] == ["Open_vSwitch", "_Server"]
        conn.close()
        # It reconnects after losing the connection.
        conn, _ = listener.accept()
        conn.close()
        assert "tcp:127.0.0.1:%d: connected" % port in s.log()
    finally:
        listener.close()
        s.stop()


def test_two_databases_and_a_string_column_remote(rundir, env):
    schema = rundir / "remotes.ovsschema"
    schema.write_text(json.dumps({"name": "Remotes", "version": "1.0.0", "tables": {"Conf": {"columns": {
        "targets": {"type": {"key": "string", "min": 0, "max": "unlimited"}}}, "isRoot": True}}}))
    r = run([ours("ovsdb-tool"), "create", str(rundir / "remotes.db"), str(schema)], env=env)
    assert r.returncode == 0, r.stderr
    r = run([ours("ovsdb-tool"), "create", str(rundir / "conf.db"), SCHEMA], env=env)
    s = OurServer(rundir, env, str(rundir / "remotes.db"), "--remote=db:Remotes,Conf,targets", create=False)
    try:
        assert s.tool("ovsdb-client", "list-dbs", f"unix:{s.sock}").stdout == "Open_vSwitch\nRemotes\n_Server\n"
        extra = rundir / "extra.sock"
        s.tool("ovsdb-client", "transact", f"unix:{s.sock}", json.dumps(
            ["Remotes", {"op": "insert", "table": "Conf", "row": {"targets": ["set", [f"punix:{extra}"]]}}]))
        wait_until(extra.exists, what="the remote named in Remotes.Conf.targets")
        assert s.tool("ovsdb-client", "list-dbs", f"unix:{extra}").stdout == "Open_vSwitch\nRemotes\n_Server\n"
        s.tool("ovsdb-client", "transact", f"unix:{s.sock}",
               json.dumps(["Remotes", {"op": "delete", "table": "Conf", "where": []}]))
        wait_until(lambda: not extra.exists(), what="the remote to go away")
    finally:
        s.stop()


def test_manager_inactivity_probe_applies_to_its_sessions(server):
    server.vsctl("init")
    server.appctl("ovsdb-server/add-remote", "db:Open_vSwitch,Open_vSwitch,manager_options")
    server.vsctl("set-manager", "ptcp:0:127.0.0.1", "--", "set", "Manager", ".", "inactivity_probe=300")
    line = wait_until(lambda: [l for l in server.log().splitlines() if "listening on port" in l], what="ptcp")[0]
    c = socket.create_connection(("127.0.0.1", int(line.rsplit(" ", 1)[1])), timeout=10)
    t0 = time.monotonic()
    assert json.loads(c.recv(4096))["method"] == "echo"
    assert c.recv(4096) == b""          # unanswered: dropped after a second interval
    assert time.monotonic() - t0 < 5    # well before the 5 s default
    c.close()
    wait_until(lambda: "no response to inactivity probe" in server.log(), what="the probe's log line")


def test_memory_show_counts_like_the_reference(server):
    assert server.appctl("memory/show").stdout == "atoms:14 cells:20 monitors:0 n-weak-refs:0\n"
    server.vsctl("init", "--", "add-br", "br0")
    # ovs-vsctl's session may not be gone yet: " sessions:1" may follow.
    out = server.appctl("memory/show").stdout
    assert re.fullmatch(r"atoms:46 cells:124 monitors:0 n-weak-refs:0( sessions:1)?\n", out)


def test_tls_keys_from_the_database(rundir, env):
    pki = make_pki(rundir)
    s = OurServer(rundir, env, "--remote=pssl:0:127.0.0.1", "--private-key=db:Open_vSwitch,SSL,private_key",
                  "--certificate=db:Open_vSwitch,SSL,certificate", "--ca-cert=db:Open_vSwitch,SSL,ca_cert")
    try:
        s.vsctl("init")
        s.vsctl("set-ssl", pki["server-key"], pki["server-cert"], pki["ca-cert"])
        line = wait_until(lambda: [l for l in s.log().splitlines() if "listening on port" in l], 15,
                          what="pssl listening once SSL is configured")[0]
        port = int(line.rsplit(" ", 1)[1])
        r = s.tool("ovsdb-client", "-p", pki["client-key"], "-c", pki["client-cert"], "-C", pki["ca-cert"],
                   "list-dbs", f"ssl:127.0.0.1:{port}")
        assert r.stdout == "Open_vSwitch\n_Server\n"
        # New keys from another CA: the open listener uses them for new sessions.
        (rundir / "pki2").mkdir()
        pki2 = make_pki(rundir / "pki2", ca_name="second-ca")
        s.vsctl("del-ssl")
        s.vsctl("set-ssl", pki2["server-key"], pki2["server-cert"], pki2["ca-cert"])
        wait_until(lambda: s.tool("ovsdb-client", "--timeout=2", "-p", pki2["client-key"], "-c", pki2["client-cert"],
                                  "-C", pki2["ca-cert"], "list-dbs", f"ssl:127.0.0.1:{port}",
                                  expect=None).returncode == 0, 15, what="the new certificate in use")
    finally:
        s.stop()
