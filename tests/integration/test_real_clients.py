"""Real OVS clients against an ovsdb-server: the `ovs` Python IDL, ovsdbapp, and the real
ovs-vswitchd (--enable-dummy).  Each test runs against the reference server and ours, so a
failure on ours alone is ours."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from util import have_reference, needs_reference, ours, ovs_env, ref, run, stop_pid, wait_until

SCHEMA = Path(__file__).resolve().parents[2] / "src" / "pyvswitch" / "schemas" / "vswitch.ovsschema"

pytestmark = needs_reference


def _tool(kind: str, name: str) -> str:
    return ref(name) if kind == "ref" else ours(name)


def _answers(sock: str) -> bool:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sock)
        s.sendall(b'{"method":"list_dbs","params":[],"id":0}')
        s.settimeout(2)
        return b"Open_vSwitch" in s.recv(4096)
    except OSError:
        return False
    finally:
        s.close()


class Server:
    """An ovsdb-server (the reference or ours) on a fresh Open_vSwitch database in a temp dir."""

    def __init__(self, kind: str):
        self.kind = kind
        self.dir = Path(tempfile.mkdtemp(prefix=f"ovsdb-{kind}-"))
        self.env = ovs_env(self.dir)
        self.sock = str(self.dir / "db.sock")
        self.remote = f"unix:{self.sock}"
        db = self.dir / "conf.db"
        r = run([_tool(kind, "ovsdb-tool"), "create", str(db), str(SCHEMA)], env=self.env)
        assert r.returncode == 0, r.stderr
        self.proc = subprocess.Popen(
            [_tool(kind, "ovsdb-server"), str(db), f"--remote=punix:{self.sock}",
             f"--unixctl={self.dir}/ovsdb-server.ctl", f"--log-file={self.dir}/ovsdb-server.log",
             "-vconsole:off"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _answers(self.sock) or self.proc.poll() is not None, 20, what="ovsdb-server")
        assert self.proc.poll() is None, (self.dir / "ovsdb-server.log").read_text()
        r = run([ref("ovs-vsctl"), f"--db={self.remote}", "--no-wait", "init"], env=self.env)
        assert r.returncode == 0, r.stderr

    def vsctl(self, *args, wait=False) -> str:
        cmd = [ref("ovs-vsctl"), f"--db={self.remote}", "--timeout=20"]
        if not wait:
            cmd.append("--no-wait")
        r = run(cmd + list(args), env=self.env)
        assert r.returncode == 0, f"{args}: {r.stderr}"
        return r.stdout

    def close(self):
        stop_pid(self.proc.pid)
        self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["ref", "ours"])
def server(request):
    if request.param == "ours" and not _ours_ready():
        pytest.skip("pyvswitch's ovsdb-server is not built yet")
    s = Server(request.param)
    yield s
    s.close()


def _ours_ready() -> bool:
    try:
        import pyvswitch.cli.ovsdb_server  # noqa: F401
        return True
    except ImportError:
        return False


def test_ovs_python_idl_sees_changes_and_commits(server):
    import ovs.db.idl
    import ovs.poller

    helper = ovs.db.idl.SchemaHelper(str(SCHEMA))
    helper.register_all()
    idl = ovs.db.idl.Idl(server.remote, helper)
    try:
        def synced():
            idl.run()
            return idl.has_ever_connected() and idl.tables["Open_vSwitch"].rows
        wait_until(synced, 20, what="IDL initial sync")

        server.vsctl("add-br", "br0")
        wait_until(lambda: idl.run() or any(b.name == "br0" for b in idl.tables["Bridge"].rows.values()),
                   20, what="IDL to see br0")

        txn = ovs.db.idl.Transaction(idl)
        br = next(b for b in idl.tables["Bridge"].rows.values() if b.name == "br0")
        br.setkey("external_ids", "from", "idl")
        status = txn.commit()
        if status == ovs.db.idl.Transaction.INCOMPLETE:
            status = wait_until(lambda: _commit_step(idl, txn), 20, what="IDL commit")
        assert status == ovs.db.idl.Transaction.SUCCESS, status
        out = server.vsctl("br-get-external-id", "br0", "from")
        assert out.strip() == "idl"
    finally:
        idl.close()


def _commit_step(idl, txn):
    import ovs.db.idl
    idl.run()
    st = txn.commit()
    return None if st == ovs.db.idl.Transaction.INCOMPLETE else st


@pytest.fixture
def vswitchd(server):
    """The reference ovs-vswitchd, every datapath and netdev made a dummy, on `server`."""
    d = server.dir
    vs = subprocess.Popen(
        [ref("ovs-vswitchd"), server.remote, "--enable-dummy=override", "-vconsole:off",
         f"--log-file={d}/ovs-vswitchd.log", f"--unixctl={d}/ovs-vswitchd.ctl",
         f"--pidfile={d}/ovs-vswitchd.pid"],
        env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield vs
    stop_pid(vs.pid)
    vs.wait(5)


def test_ovsdbapp_open_vswitch_api(server, vswitchd):
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.open_vswitch import impl_idl

    # ovsdbapp keeps one connection per API class for the whole process: start afresh.
    impl_idl.OvsdbIdl._ovsdb_connection = None
    idl = connection.OvsdbIdl.from_server(server.remote, "Open_vSwitch")
    conn = connection.Connection(idl=idl, timeout=20)
    api = impl_idl.OvsdbIdl(conn, start=True)
    try:
        api.add_br("br-int", datapath_type="netdev").execute(check_error=True)
        with api.transaction(check_error=True) as txn:
            txn.add(api.add_port("br-int", "tap0"))
            txn.add(api.db_set("Interface", "tap0", ("type", "internal"),
                               ("external_ids", {"iface-id": "port-1"})))
        assert api.br_exists("br-int").execute(check_error=True)
        assert api.list_ports("br-int").execute(check_error=True) == ["tap0"]
        assert api.db_get("Interface", "tap0", "external_ids").execute(check_error=True) == {"iface-id": "port-1"}
        rows = api.db_find("Interface", ("type", "=", "internal"), columns=["name"]).execute(check_error=True)
        assert sorted(r["name"] for r in rows) == ["br-int", "tap0"]
        api.del_br("br-int").execute(check_error=True)
        assert not api.br_exists("br-int").execute(check_error=True)
        assert server.vsctl("list-br").strip() == ""
    finally:
        conn.stop()
        # ... and leave none behind: a later user of the class would inherit a stopped one.
        impl_idl.OvsdbIdl._ovsdb_connection = None


def test_real_ovs_vswitchd_runs_against_server(server, vswitchd):
    # Without --no-wait, ovs-vsctl returns only after vswitchd has set cur_cfg.
    server.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy",
                 "--", "add-port", "br0", "p1", "--", "set", "interface", "p1", "type=dummy",
                 "ofport_request=5", wait=True)
    assert server.vsctl("get", "interface", "p1", "ofport").strip() == "5"
    assert server.vsctl("get", "interface", "br0", "ofport").strip() == "65534"
    cur = server.vsctl("get", "open_vswitch", ".", "cur_cfg").strip()
    nxt = server.vsctl("get", "open_vswitch", ".", "next_cfg").strip()
    assert cur == nxt
    # vswitchd writes status columns back through our server.
    assert "dummy" in server.vsctl("get", "open_vswitch", ".", "iface_types")
    server.vsctl("del-port", "br0", "p1", wait=True)
    assert "p1" not in server.vsctl("list-ports", "br0")
