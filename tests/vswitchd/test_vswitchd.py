"""ovs-vswitchd end to end against our ovsdb-server, configured with the real ovs-vsctl
(which waits for cur_cfg): ports and their status, errors, restarts of either daemon."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from harness import DbServer
from util import have_reference, needs_root, ours, process_gone, stop_pid, wait_until


@pytest.fixture
def db():
    s = DbServer("ours")
    yield from _with_cleanup(s)


@pytest.fixture(params=["ours"] + (["ref"] if have_reference() else []))
def any_db(request):
    """Our ovsdb-server, and the reference one."""
    yield from _with_cleanup(DbServer(request.param))


def _with_cleanup(s):
    yield s
    if s.vswitchd is not None:
        for br in s.vsctl("list-br", check=False).stdout.split():
            s.vsctl("--if-exists", "del-br", br, check=False)
    s.close()


def ofport(db, iface):
    return db.get("Interface", iface, "ofport")


def test_ports_get_ofports_and_status(any_db):
    db = any_db
    db.start_vswitchd("--enable-dummy=override")
    assert db.appctl("version").stdout == "ovs-vswitchd (Open vSwitch) 3.1.0\n"
    db.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
    db.vsctl("add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy",
             "ofport_request=5")
    db.vsctl("add-port", "br0", "p2", "tag=10")
    assert ofport(db, "p1") == "5"
    assert ofport(db, "p2") == "1"
    assert ofport(db, "br0") == "65534"
    assert db.get("Open_vSwitch", ".", "cur_cfg") == db.get("Open_vSwitch", ".", "next_cfg")
    mac = db.get("Interface", "p1", "mac_in_use").strip('"')
    assert len(mac) == 17
    assert db.get("Interface", "p1", "link_state") == "up"
    assert db.get("Interface", "p1", "error") == "[]"
    dpid = db.get("Bridge", "br0", "datapath_id").strip('"')
    assert dpid == "0000" + db.get("Interface", "br0", "mac_in_use").strip('"').replace(":", "")
    assert db.get("Bridge", "br0", "datapath_version") == '"<built-in>"'
    wait_until(lambda: "rx_packets=" in db.get("Interface", "p1", "statistics"), 10,
               what="statistics")
    assert "dummy" in db.get("Open_vSwitch", ".", "iface_types")
    assert db.get("Open_vSwitch", ".", "dpdk_initialized") == "false"
    shown = db.appctl("dpif/show").stdout
    assert "netdev@ovs-netdev:" in shown and "p1 5/" in shown
    db.vsctl("del-port", "p2")
    assert "p2" not in db.appctl("dpif/show").stdout
    assert db.appctl("fdb/show", "br0").stdout.startswith(" port  VLAN  MAC")
    assert db.appctl("bridge/dump-flows", "br0").stdout.startswith("duration=")
    assert "Unknown bridge" in db.appctl("bridge/dump-flows", "nobr").stderr
    assert db.appctl("memory/show").stdout.startswith("handlers:1 idl-cells-Open_vSwitch:")
    assert db.appctl("ofproto/list").stdout == "br0\n"
    assert db.appctl("dpif/dump-dps").stdout == "netdev@ovs-netdev\n"


def test_patch_port_error_then_fixed(db):
    db.start_vswitchd("--enable-dummy=override")
    db.vsctl("add-br", "br0", "--", "add-br", "br1")
    db.vsctl("add-port", "br0", "pa", "--", "set", "interface", "pa", "type=patch",
             "options:peer=pb")
    assert db.get("Interface", "pa", "error") == '"No usable peer \'pb\' exists in \'system\' datapath."'
    db.vsctl("add-port", "br1", "pb", "--", "set", "interface", "pb", "type=patch",
             "options:peer=pa")
    wait_until(lambda: db.get("Interface", "pa", "error") == "[]", 10, what="error cleared")


def test_ovsdb_server_restart_resyncs(db):
    db.start_vswitchd("--enable-dummy=override")
    db.vsctl("add-br", "br0", "--", "add-port", "br0", "p1")
    db.stop()
    db.start()
    db.vsctl("add-port", "br0", "p2")               # waits for the reconnected vswitchd
    assert ofport(db, "p1") == "1" and ofport(db, "p2") == "2"
    wait_until(lambda: db.get("Interface", "p1", "mac_in_use") not in ("", "[]"), 10,
               what="status rewritten after the restart")


def test_vswitchd_started_before_the_database(db):
    db.stop()
    db.start_vswitchd("--enable-dummy=override")
    db.start()
    db.vsctl("add-br", "br0")                        # waits until vswitchd connected and applied
    assert ofport(db, "br0") == "65534"


def test_vswitchd_restart_reapplies_config(db):
    db.start_vswitchd("--enable-dummy=override")
    db.vsctl("add-br", "br0", "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2")
    db.vsctl("del-port", "p1")
    db.vsctl("add-port", "br0", "p0")
    before = {i: ofport(db, i) for i in ("p0", "p2")}
    db.stop_vswitchd()
    db.start_vswitchd("--enable-dummy=override")
    db.vsctl("add-port", "br0", "p3")
    assert {i: ofport(db, i) for i in ("p0", "p2")} == before
    shown = db.appctl("dpif/show").stdout
    assert all(f"    {p} " in shown for p in ("br0", "p0", "p2", "p3"))


def test_ovsdbapp_fixture_options_and_exit(db):
    """The command line ovsdbapp's functional tests use; `exit` stops the daemon."""
    r = subprocess.run([ours("ovs-vswitchd"), "--detach", "--no-chdir", "--pidfile",
                        "-vconsole:off", "-vvconn", "-vnetdev_dummy", "--log-file",
                        "--enable-dummy=override", "--mlockall", db.remote],
                       env=db.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pid = int((db.dir / "ovs-vswitchd.pid").read_text())
    try:
        ctl = db.dir / f"ovs-vswitchd.{pid}.ctl"
        db.vsctl("add-br", "br0")
        assert ofport(db, "br0") == "65534"
        db.vsctl("del-br", "br0")
        subprocess.run([ours("ovs-appctl"), "-t", str(ctl), "exit"], env=db.env, timeout=30,
                       capture_output=True)
        wait_until(lambda: process_gone(pid), 10, what="ovs-vswitchd exit")
        assert (db.dir / "ovs-vswitchd.log").exists()
    finally:
        stop_pid(pid)


def test_bad_options():
    r = subprocess.run([ours("ovs-vswitchd"), "--enable-dummy=bogus"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "bogus" in r.stderr
    r = subprocess.run([ours("ovs-vswitchd"), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "usage: ovs-vswitchd [OPTIONS] [DATABASE]" in r.stdout


@needs_root
def test_missing_system_interface_error(db):
    br = f"vsw{os.getpid() % 10000}"
    db.start_vswitchd("--enable-dummy")
    db.vsctl("add-br", br)
    flags = int(Path(f"/sys/class/net/{br}/flags").read_text(), 16)   # the bridge's TAP
    assert flags & 0x100 and not flags & 0x1       # promiscuous, and down until the host says
    r = db.vsctl("add-port", br, "p9")
    assert "Error detected while setting up 'p9'" in r.stderr
    assert "could not open network device p9 (No such device)" in r.stderr
    assert ofport(db, "p9") == "-1"
    assert db.get("Interface", "p9", "error") == '"could not open network device p9 (No such device)"'
    r = db.vsctl("add-port", br, "d1", "--", "set", "interface", "d1", "type=dummy")
    assert ofport(db, "d1") == "1"
    db.vsctl("del-br", br)
    wait_until(lambda: not os.path.exists(f"/sys/class/net/{br}"), 10, what="TAP removed")


def test_frames_through_dummy_ports(db):
    """netdev-dummy/receive puts frames on dummy ports; NORMAL learns and forwards them."""
    db.start_vswitchd("--enable-dummy=override")
    db.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy",
             "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2")
    a, b = "020000000001", "020000000002"
    r = db.appctl("netdev-dummy/receive", "p1", "ffffffffffff" + a + "0800" + "00" * 46)
    assert r.returncode == 0, r.stderr
    r = db.appctl("netdev-dummy/receive", "p2", a + b + "0800" + "00" * 46)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "02:00:00:00:00:02" in db.appctl("fdb/show", "br0").stdout, 10,
               what="MAC learned on p2")
    fdb = db.appctl("fdb/show", "br0").stdout
    assert any(line.split()[:1] == ["1"] and "02:00:00:00:00:01" in line for line in fdb.splitlines())
    assert "dummy@ovs-dummy: hit:" in db.appctl("dpif/show").stdout
    assert db.appctl("netdev-dummy/receive", "nope", "00").stdout == ""
    assert "bad packet" in db.appctl("netdev-dummy/receive", "p1", "zz").stderr


def test_ovsdbapp_against_our_daemons(db):
    """ovsdbapp (through the `ovs` Python IDL) configures; our vswitchd applies."""
    pytest.importorskip("ovsdbapp")
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.open_vswitch import impl_idl

    db.start_vswitchd("--enable-dummy=override")
    impl_idl.OvsdbIdl._ovsdb_connection = None
    idl = connection.OvsdbIdl.from_server(db.remote, "Open_vSwitch")
    conn = connection.Connection(idl=idl, timeout=20)
    api = impl_idl.OvsdbIdl(conn, start=True)
    try:
        api.add_br("br-int", datapath_type="netdev").execute(check_error=True)
        with api.transaction(check_error=True) as txn:
            txn.add(api.add_port("br-int", "tap0"))
            txn.add(api.db_set("Interface", "tap0", ("type", "internal")))
        wait_until(lambda: db.get("Interface", "tap0", "ofport") == "1", 10, what="ofport")
        api.del_br("br-int").execute(check_error=True)
        wait_until(lambda: "br-int" not in db.appctl("ofproto/list").stdout, 10,
                   what="bridge gone")
    finally:
        conn.stop()
        impl_idl.OvsdbIdl._ovsdb_connection = None


def _tls():
    """tests/daemon/daemon_tls.py (test certificates), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "daemon" / "daemon_tls.py"
    spec = importlib.util.spec_from_file_location("vswitchd_test_tls", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["tcp", "ssl"])
def test_database_over_tcp_and_ssl(scheme, tmp_path):
    port = _free_port()
    extra, client = (f"--remote=ptcp:{port}:127.0.0.1",), ()
    if scheme == "ssl":
        pki = _tls().make_pki(tmp_path)
        extra = (f"--remote=pssl:{port}:127.0.0.1", f"--private-key={pki['server-key']}",
                 f"--certificate={pki['server-cert']}", f"--ca-cert={pki['ca-cert']}")
        client = (f"--private-key={pki['client-key']}", f"--certificate={pki['client-cert']}",
                  f"--ca-cert={pki['ca-cert']}")
    db = DbServer("ours", extra)
    try:
        db.start_vswitchd("--enable-dummy=override", *client, remote=f"{scheme}:127.0.0.1:{port}")
        db.vsctl("add-br", "br0")
        assert ofport(db, "br0") == "65534"
        db.vsctl("del-br", "br0")
    finally:
        db.close()


@needs_root
def test_internal_port_mtu_and_mac_requests(db):
    br, iq = f"vsi{os.getpid() % 10000}", f"vsq{os.getpid() % 10000}"
    db.start_vswitchd()
    db.vsctl("add-br", br, "--", "add-port", br, iq, "--", "set", "interface", iq,
             "type=internal", "mtu_request=1400", 'mac="02:00:00:00:12:34"')
    assert db.get("Interface", iq, "mtu") == "1400"
    assert db.get("Interface", iq, "mac_in_use") == '"02:00:00:00:12:34"'
    assert Path(f"/sys/class/net/{iq}/mtu").read_text().strip() == "1400"
    db.vsctl("set", "interface", iq, "mtu_request=1300")
    wait_until(lambda: db.get("Interface", iq, "mtu") == "1300", 10, what="new MTU")
    db.vsctl("del-br", br)
    wait_until(lambda: not os.path.exists(f"/sys/class/net/{iq}"), 10, what="TAP removed")


@needs_root
def test_devices_appearing_and_disappearing(db):
    br, dev = f"vsa{os.getpid() % 10000}", f"vsd{os.getpid() % 10000}"
    db.start_vswitchd()
    db.vsctl("add-br", br)
    db.vsctl("add-port", br, dev)
    assert ofport(db, dev) == "-1"
    subprocess.run(["ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "b"],
                   check=True, timeout=30)
    try:
        wait_until(lambda: ofport(db, dev) not in ("-1", "[]"), 10, what="device added")
        assert db.get("Interface", dev, "error") == "[]"
        port = ofport(db, dev)
        # Deleted under its port: as the reference, the port stays, reading down.
        subprocess.run(["ip", "link", "del", dev], check=True, timeout=30)
        wait_until(lambda: db.get("Interface", dev, "link_state") == "down", 10,
                   what="link down")
        assert ofport(db, dev) == port and db.get("Interface", dev, "error") == "[]"
    finally:
        db.vsctl("del-br", br)
        subprocess.run(["ip", "link", "del", dev], capture_output=True, timeout=30)


@needs_root
def test_taps_outlive_the_daemon_until_exit_cleanup(db):
    br = f"vsk{os.getpid() % 10000}"
    db.start_vswitchd()
    db.vsctl("add-br", br)
    dpid = db.get("Bridge", br, "datapath_id")
    subprocess.run(["ip", "addr", "add", "10.207.0.254/24", "dev", br], check=True, timeout=30)
    db.stop_vswitchd()
    try:
        assert os.path.exists(f"/sys/class/net/{br}")          # kept, address and all
        db.start_vswitchd()
        db.vsctl("--may-exist", "add-br", br)                    # waits for the reconnection
        assert db.get("Bridge", br, "datapath_id") == dpid
        assert "10.207.0.254" in subprocess.run(["ip", "addr", "show", br], capture_output=True,
                                                text=True, timeout=30).stdout
        db.appctl("exit", "--cleanup")
        wait_until(lambda: db.vswitchd.poll() is not None, 10, what="exit")
        db.vswitchd = None
        assert not os.path.exists(f"/sys/class/net/{br}")
    finally:
        subprocess.run(["ip", "link", "del", br], capture_output=True, timeout=30)
