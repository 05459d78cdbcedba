"""`pyvswitch start|stop|restart|status` under a private --rundir."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pyvswitch.cli import lifecycle
from util import needs_reference, ours, process_gone, ref, run, stop_pid, wait_until


@pytest.fixture
def rundir(tmp_path, monkeypatch):
    """A private directory every OVS directory points at; whatever was started there is stopped after."""
    d = tmp_path / "run"
    d.mkdir()
    for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
        monkeypatch.setenv(var, str(d))
    yield d
    for pidfile in d.glob("*.pid"):
        try:
            stop_pid(int(pidfile.read_text().split()[0]))
        except (ValueError, IndexError, OSError):
            pass


@pytest.fixture
def ref_bindir(tmp_path):
    """The reference ovsdb-server and ovsdb-tool, and no ovs-vswitchd."""
    b = tmp_path / "bin"
    b.mkdir()
    for tool in ("ovsdb-server", "ovsdb-tool"):
        (b / tool).symlink_to(ref(tool))
    return b


# The end-to-end tests run both the reference ovsdb-server and ovsdb-tool and ours.
IMPLS = [
    pytest.param("reference", marks=needs_reference),
    pytest.param("ours"),
]


@pytest.fixture(params=IMPLS)
def bindir(request, ref_bindir):
    return ref_bindir if request.param == "reference" else None


def pyvswitch(rundir: Path, *args: str, bindir: Path | None = None):
    cmd = [ours("pyvswitch"), *args, "--rundir", str(rundir)]
    if bindir is not None:
        cmd += ["--bindir", str(bindir)]
    return run(cmd)


def pid_of(rundir: Path, daemon: str) -> int:
    return int((rundir / f"{daemon}.pid").read_text().split()[0])


# In-process checks of the pieces that need no daemon.

def test_status_with_nothing_running(rundir):
    out = io.StringIO()
    assert lifecycle.status(lifecycle.Programs(None), out) == 1
    assert "ovsdb-server is not running" in out.getvalue()


def test_stale_pidfiles_are_recognized(rundir):
    pidfile = rundir / "ovsdb-server.pid"
    pidfile.write_text("999999999\n")
    st = lifecycle.pid_status(lifecycle.OVSDB_SERVER)
    assert st.state is lifecycle.State.STALE and "is not running" in st.why
    pidfile.write_text(f"{os.getpid()}\n")
    st = lifecycle.pid_status(lifecycle.OVSDB_SERVER)
    assert st.state is lifecycle.State.STALE and "is not ovsdb-server" in st.why
    pidfile.write_text("garbage\n")
    assert lifecycle.pid_status(lifecycle.OVSDB_SERVER).state is lifecycle.State.STALE
    out = io.StringIO()
    assert lifecycle.status(lifecycle.Programs(None), out) == 1
    assert f"Pidfile for ovsdb-server ({pidfile}) is stale" in out.getvalue()


def test_stop_removes_a_stale_pidfile_and_is_idempotent(rundir):
    pidfile = rundir / "ovsdb-server.pid"
    pidfile.write_text("999999999\n")
    out = io.StringIO()
    assert lifecycle.stop(1.0, out) == 0
    assert not pidfile.exists()
    assert "Removing stale pidfile" in out.getvalue()
    assert lifecycle.stop(1.0, io.StringIO()) == 0


def test_missing_binary_is_a_clear_error(rundir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = pyvswitch(rundir, "start", bindir=empty)
    assert r.returncode == 1
    assert r.stderr.strip() == f"pyvswitch: ovsdb-server not found in {empty}"


def test_socket_in_use_by_someone_else(rundir, bindir):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(rundir / "db.sock"))
    s.listen()
    try:
        r = pyvswitch(rundir, "start", bindir=bindir)
    finally:
        s.close()
    assert r.returncode == 1
    assert f"{rundir / 'db.sock'} is in use by another process" in r.stderr
    assert not (rundir / "ovsdb-server.pid").exists()


def test_unwritable_directory_says_how_to_fix(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
        monkeypatch.setenv(var, "/proc/pyvswitch-nowhere")
    with pytest.raises(lifecycle.LifecycleError, match="use --rundir DIR"):
        lifecycle.start(lifecycle.Programs(None), io.StringIO())


def test_full_lifecycle(rundir, bindir):
    r = pyvswitch(rundir, "start", bindir=bindir)
    assert r.returncode == 0, r.stderr + r.stdout
    assert f"Creating empty database {rundir / 'conf.db'}" in r.stdout
    pid = pid_of(rundir, "ovsdb-server")
    assert f"Started ovsdb-server with pid {pid}" in r.stdout
    assert "Not starting ovs-vswitchd" in r.stdout or "ovs-vswitchd with pid" in r.stdout
    assert (rundir / "db.sock").exists() and (rundir / "ovsdb-server.log").exists()

    # The root row exists, as after `ovs-vsctl --no-wait init`, with ovs-ctl's ids.
    conn = lifecycle.JsonRpcSession(str(rundir / "db.sock"), 5.0)
    try:
        rows = conn.transact({"op": "select", "table": "Open_vSwitch", "where": [],
                              "columns": ["db_version", "ovs_version", "external_ids"]})[0]["rows"]
    finally:
        conn.close()
    assert len(rows) == 1
    assert rows[0]["db_version"] == "8.3.1" and rows[0]["ovs_version"] == "3.1.0"
    ids = dict(rows[0]["external_ids"][1])
    assert ids["rundir"] == str(rundir)
    assert ids["system-id"] == (rundir / "system-id.conf").read_text().strip()

    r = pyvswitch(rundir, "status", bindir=bindir)
    assert r.returncode == 0, r.stdout
    assert f"ovsdb-server is running with pid {pid}" in r.stdout
    assert f"database socket {rundir / 'db.sock'}: responding (databases: Open_vSwitch, _Server)" in r.stdout
    assert f"control socket {rundir / f'ovsdb-server.{pid}.ctl'}: responding (ovsdb-server (Open vSwitch) 3.1.0)" \
        in r.stdout

    r = pyvswitch(rundir, "start", bindir=bindir)
    assert r.returncode == 0 and f"ovsdb-server is already running with pid {pid}" in r.stdout
    assert pid_of(rundir, "ovsdb-server") == pid

    r = pyvswitch(rundir, "stop", bindir=bindir)
    assert r.returncode == 0 and f"Stopped ovsdb-server (pid {pid})" in r.stdout
    assert process_gone(pid)
    assert not (rundir / "ovsdb-server.pid").exists() and not (rundir / "db.sock").exists()
    r = pyvswitch(rundir, "stop", bindir=bindir)
    assert r.returncode == 0 and "ovsdb-server is not running" in r.stdout
    r = pyvswitch(rundir, "status", bindir=bindir)
    assert r.returncode == 1 and "ovsdb-server is not running" in r.stdout


def test_recovers_from_a_killed_server(rundir, bindir):
    assert pyvswitch(rundir, "start", bindir=bindir).returncode == 0
    pid = pid_of(rundir, "ovsdb-server")
    os.kill(pid, signal.SIGKILL)  # leaves what a crash leaves: pidfile, sockets
    wait_until(lambda: process_gone(pid), what="ovsdb-server to die")
    assert (rundir / "ovsdb-server.pid").exists()
    r = pyvswitch(rundir, "status", bindir=bindir)
    assert r.returncode == 1 and "is stale" in r.stdout
    r = pyvswitch(rundir, "restart", bindir=bindir)
    assert r.returncode == 0, r.stderr
    assert "Removing stale pidfile" in r.stdout
    new = pid_of(rundir, "ovsdb-server")
    assert new != pid
    r = pyvswitch(rundir, "status", bindir=bindir)
    assert r.returncode == 0 and "responding" in r.stdout
    assert pyvswitch(rundir, "stop", bindir=bindir).returncode == 0
    assert process_gone(new)


@needs_reference
def test_named_daemons(rundir, ref_bindir):
    r = pyvswitch(rundir, "start", "ovs-vswitchd", bindir=ref_bindir)
    assert r.returncode == 1
    assert r.stderr.strip() == f"pyvswitch: ovs-vswitchd not found in {ref_bindir}"
    r = pyvswitch(rundir, "start", "ovsdb-server", bindir=ref_bindir)
    assert r.returncode == 0, r.stderr
    assert "ovs-vswitchd" not in r.stdout
    r = pyvswitch(rundir, "status", "ovsdb-server", bindir=ref_bindir)
    assert r.returncode == 0 and "ovs-vswitchd" not in r.stdout
    r = pyvswitch(rundir, "status", "ovs-vswitchd", bindir=ref_bindir)
    assert r.returncode == 0 and "ovs-vswitchd not found in" in r.stdout
    r = pyvswitch(rundir, "stop", "ovsdb-server", bindir=ref_bindir)
    assert r.returncode == 0 and "Stopped ovsdb-server" in r.stdout
    r = pyvswitch(rundir, "status", "bogus")
    assert r.returncode == 2 and "unknown daemon 'bogus'" in r.stderr


def test_upgrades_an_old_database(rundir, bindir, tmp_path):
    tool = ours("ovsdb-tool") if bindir is None else ref("ovsdb-tool")
    old = json.loads(lifecycle.schema_path().read_text())
    old["version"] = "8.2.0"
    del old["tables"]["Open_vSwitch"]["columns"]["dpdk_version"]
    old_schema = tmp_path / "old.ovsschema"
    old_schema.write_text(json.dumps(old))
    db = rundir / "conf.db"
    assert run([tool, "create", str(db), str(old_schema)]).returncode == 0
    cksum = run([tool, "db-cksum", str(db)]).stdout.strip()
    r = pyvswitch(rundir, "start", bindir=bindir)
    assert r.returncode == 0, r.stderr
    backup = rundir / f"conf.db.backup8.2.0-{cksum.replace(' ', '-')}"
    assert f"Backing up database to {backup}" in r.stdout
    assert f"Upgrading database schema of {db} from 8.2.0 to 8.3.1" in r.stdout
    assert backup.exists()
    assert run([tool, "db-version", str(db)]).stdout.strip() == "8.3.1"
    r = pyvswitch(rundir, "restart", bindir=bindir)
    assert r.returncode == 0 and "Upgrading" not in r.stdout


def test_our_programs_never_resolve_to_a_foreign_binary(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setattr(sys, "executable", str(bindir / "python3"))
    tool = bindir / "ovsdb-tool"
    tool.write_text("\x7fELF the reference ovsdb-tool\n")
    cmd = lifecycle.Programs(None).command(lifecycle.OVSDB_TOOL)
    assert cmd[:2] == [sys.executable, "-c"] and "from pyvswitch.cli.ovsdb_tool import main" in cmd[2]
    tool.write_text("import sys\nfrom pyvswitch.cli.ovsdb_tool import main\nsys.exit(main())\n")
    assert lifecycle.Programs(None).command(lifecycle.OVSDB_TOOL) == [str(tool)]


def test_creates_the_database_behind_a_dangling_symlink(rundir, bindir, tmp_path):
    # As Debian's openvswitch packages leave /etc/openvswitch/conf.db.
    target = tmp_path / "var-lib" / "conf.db"
    (rundir / "conf.db").symlink_to(target)
    r = pyvswitch(rundir, "start", bindir=bindir)
    assert r.returncode == 0, r.stderr
    assert target.is_file() and (rundir / "conf.db").is_symlink()
    assert pyvswitch(rundir, "stop", bindir=bindir).returncode == 0


def test_stop_kills_a_daemon_that_ignores_sigterm(rundir):
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, "ovsdb-server"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        (rundir / "ovsdb-server.pid").write_text(f"{proc.pid}\n")
        out = io.StringIO()
        assert lifecycle.stop(0.2, out, (lifecycle.OVSDB_SERVER,)) == 0
        assert "did not exit on SIGTERM; killing it with SIGKILL" in out.getvalue()
        assert f"Stopped ovsdb-server (pid {proc.pid})" in out.getvalue()
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert not (rundir / "ovsdb-server.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_default_paths_are_ovs_defaults(monkeypatch):
    for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
        monkeypatch.delenv(var, raising=False)
    assert lifecycle.OVSDB_SERVER.pidfile() == Path("/var/run/openvswitch/ovsdb-server.pid")
    assert lifecycle.OVSDB_SERVER.log_file() == Path("/var/log/openvswitch/ovsdb-server.log")
    assert lifecycle.OVSDB_SERVER.options() == [
        "/etc/openvswitch/conf.db", "--remote=punix:/var/run/openvswitch/db.sock",
        "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
        "--pidfile=/var/run/openvswitch/ovsdb-server.pid", "--log-file=/var/log/openvswitch/ovsdb-server.log",
        "--detach", "--no-chdir"]
    assert lifecycle.OVS_VSWITCHD.options()[0] == "unix:/var/run/openvswitch/db.sock"


def test_rundir_points_every_directory_there(tmp_path, monkeypatch, capsys):
    for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
        monkeypatch.setenv(var, "/nonexistent")
    monkeypatch.chdir(tmp_path)
    assert lifecycle.main(["status", "--rundir", "here"]) == 1
    for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
        assert os.environ[var] == str(tmp_path / "here")
    assert "ovsdb-server is not running" in capsys.readouterr().out
