"""ovs-appctl's and ovs-dpctl's import paths stay lean.

Like ovs-vsctl (tests/vsctl/test_startup.py), these tools live for one
request, so most of a call is Python starting and importing.  The tests are
structural: a whole call, run as the lean launcher runs it, must not load
any of the costly modules (startup_probe.HEAVY).  Error paths count too: a
daemon that is not there, a command it refuses.
"""

from __future__ import annotations

import pytest

from pyvswitch.unixctl.client import pidfile_owner
from startup_probe import HEAVY, our_ovsdb_server, probe


@pytest.fixture(scope="module")
def server():
    """Our ovsdb-server with its pidfile and control socket in a private run directory."""
    with our_ovsdb_server("appctl-", "--pidfile", ready="ovsdb-server.{pid}.ctl") as (env, d, pid):
        yield env, d, pid


APPCTL = ("pyvswitch.cli.ovs_appctl", "ovs-appctl")
DPCTL = ("pyvswitch.cli.ovs_dpctl", "ovs-dpctl")


def assert_lean(server, module: tuple[str, str], args: list[str], status: int) -> None:
    """One call of `module` with `args` exits with `status` and loads nothing HEAVY."""
    env, _, _ = server
    got, loaded, _, _ = probe(env, *module, *args)
    assert got == status
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


@pytest.mark.parametrize("args,status", [
    (["-t", "ovsdb-server", "version"], 0),
    (["-t", "ovsdb-server", "vlog/list"], 0),
    (["--target=ovsdb-server", "-T", "30", "list-commands"], 0),
    (["-t", "ovsdb-server", "nonexist"], 2),
    (["-t", "nosuch", "version"], 1),
    (["-t", "/nonexistent.ctl", "version"], 1),
    (["-t", "ovsdb-server", "-vdbg", "vlog/set", "xyzzy:dbg"], 2),
    (["--help"], 0),
])
def test_an_appctl_call_stays_lean(server, args, status):
    assert_lean(server, APPCTL, args, status)


@pytest.mark.parametrize("module,args", [
    (APPCTL, ["-t", "ovsdb-server", "version"]), (APPCTL, ["-t", "ovsdb-server", "vlog/list"]),
    (DPCTL, ["--help"]), (DPCTL, ["dump-flows"])])
def test_a_call_that_logs_nothing_does_not_load_vlog(server, module, args):
    env, _, _ = server
    _, loaded, _, _ = probe(env, *module, *args)
    assert "pyvswitch.vlog" not in loaded


def test_the_error_paths_log_as_before(server, tmp_path):
    """Logging set up at first use: the warnings still come, in OVS's format,
    and -v still applies to them."""
    env, _, _ = server
    status, loaded, _, err = probe(env, *APPCTL, "-t", "nosuch", "version")
    assert status == 1 and "pyvswitch.vlog" in loaded
    assert err.endswith(f'|daemon_unix|WARN|{env["OVS_RUNDIR"]}/nosuch.pid: open: No such file or directory\n'
                        f'ovs-appctl: cannot read pidfile "{env["OVS_RUNDIR"]}/nosuch.pid" (No such file or '
                        f'directory)\n'), err
    status, _, _, err = probe(env, *APPCTL, "-vconsole:off", "-t", "nosuch", "version")
    assert (status, err) == (1, f'ovs-appctl: cannot read pidfile "{env["OVS_RUNDIR"]}/nosuch.pid" '
                                f'(No such file or directory)\n')


def test_the_appctl_probe_sees_real_work(server):
    env, _, _ = server
    status, _, out, _ = probe(env, *APPCTL, "-t", "ovsdb-server", "version")
    assert (status, out) == (0, "ovsdb-server (Open vSwitch) 3.1.0\n")
    status, _, out, err = probe(env, *APPCTL, "-t", "ovsdb-server", "nonexist")
    assert status == 2 and '"nonexist" is not a valid command' in err


@pytest.mark.parametrize("args,status", [
    (["dump-flows"], 1),                      # no ovs-vswitchd
    (["nonsense"], 1),
    (["--help"], 0),
    (["-V"], 0),
])
def test_a_dpctl_call_stays_lean(server, args, status):
    assert_lean(server, DPCTL, args, status)


def test_a_dpctl_call_through_a_control_socket_stays_lean(server):
    """A whole request and reply (ovsdb-server refuses dpctl/ commands: the error path)."""
    env, d, pid = server
    status, loaded, _, err = probe(env, *DPCTL, f"--unixctl={d}/ovsdb-server.{pid}.ctl", "-t", "30", "dump-dps")
    assert status == 1 and '"dpctl/dump-dps" is not a valid command' in err
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_dpctl_knows_the_daemons_command_names():
    from pyvswitch.cli import ovs_dpctl
    from pyvswitch.datapath import dpctl
    assert ovs_dpctl.COMMANDS == set(dpctl.COMMANDS) and ovs_dpctl.DAEMON == dpctl.PROGRAM


def test_pidfile_owner(server, tmp_path):
    _, d, pid = server
    assert pidfile_owner(str(d / "ovsdb-server.pid")) == pid
    (tmp_path / "x.pid").write_text("1\n")
    assert pidfile_owner(str(tmp_path / "x.pid")) is None
    assert pidfile_owner(str(tmp_path / "none.pid")) is None
