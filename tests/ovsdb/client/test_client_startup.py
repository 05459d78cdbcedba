"""ovsdb-client's one-shot commands keep their import path lean.

Most ovsdb-client calls are one request, so, as for ovs-vsctl, most of a call
is Python starting and importing.  A whole call, run as the lean launcher
runs it (startup_probe), must not load the costly modules (startup_probe.HEAVY);
the daemon machinery is imported only for the monitors' daemon options.
Not covered: a transaction that is not JSON (its error is worded by the
storage log's checker, which imports re: an error path).
"""

from __future__ import annotations

import subprocess

import pytest

from startup_probe import HEAVY, our_ovsdb_server, probe
from util import ours

CLIENT = ("pyvswitch.cli.ovsdb_client", "ovsdb-client")
SELECT = '["Open_vSwitch",{"op":"select","table":"Open_vSwitch","where":[],"columns":["ovs_version"]}]'
INSERT = '["Open_vSwitch",{"op":"insert","table":"Bridge","row":{"name":"br0","datapath_type":"netdev"}}]'


@pytest.fixture(scope="module")
def server():
    """Our ovsdb-server on a fresh Open_vSwitch database in a private directory."""
    with our_ovsdb_server("client-", "--unixctl={dir}/ctl", ready="db.sock") as (env, d, _):
        yield env, f"unix:{d}/db.sock"


@pytest.mark.parametrize("args,status", [
    (["list-dbs", "S"], 0),
    (["list-dbs"], 0),                         # the default server: RUNDIR/db.sock
    (["get-schema", "S"], 0),
    (["get-schema-version", "S", "Open_vSwitch"], 0),
    (["get-schema-cksum", "S"], 0),
    (["list-tables", "S"], 0),
    (["list-columns", "S", "Open_vSwitch", "Bridge"], 0),
    (["transact", "S", INSERT], 0),
    (["transact", "S", SELECT], 0),
    (["query", "S", SELECT], 0),
    (["dump", "S"], 0),
    (["--format=json", "dump", "S", "Open_vSwitch", "Bridge", "name", "datapath_type"], 0),
    (["-f", "csv", "--data=json", "dump", "S", "Bridge"], 0),
    (["--timeout=30", "--bare", "dump", "S", "Bridge"], 0),
    (["nonsense"], 1),
    (["list-dbs", "unix:/nonexistent.sock"], 1),
    (["--help"], 0),
    (["--version"], 0),
])
def test_a_call_stays_lean(server, args, status):
    env, remote = server
    got, loaded, _, err = probe(env, *CLIENT, *[remote if a == "S" else a for a in args])
    assert got == status, err
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
    assert "pyvswitch.daemon" not in loaded


def test_the_probe_sees_real_work(server):
    env, remote = server
    status, _, out, _ = probe(env, *CLIENT, "list-dbs", remote)
    assert (status, out.split()) == (0, ["Open_vSwitch", "_Server"])
    status, _, out, _ = probe(env, *CLIENT, "--format=csv", "dump", remote, "Open_vSwitch", "Open_vSwitch",
                              "ovs_version")
    assert status == 0 and out.startswith("Open_vSwitch table\novs_version\n")
    r = subprocess.run([ours("ovsdb-client"), "get-schema-version", remote], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.count(".") == 2


def test_the_exit_status_is_returned_not_raised(server):
    """The lean launcher leaves without the interpreter's teardown only when
    main returns the status; SystemExit would bypass that."""
    from pyvswitch.cli import ovsdb_client
    env, remote = server
    r = subprocess.run([ours("ovsdb-client"), "nonsense"], env=env, capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stderr) == (1, "ovsdb-client: unknown command 'nonsense'; use --help for help\n")
    assert ovsdb_client.main.__annotations__["return"] == "int"


@pytest.mark.parametrize("args,gc_on", [
    (["list-dbs", "S"], False),
    (["dump", "S"], False),
    (["wait", "S", "Open_vSwitch", "connected"], True),    # returns at once: the database is there
])
def test_commands_that_may_run_long_switch_the_collector_on(server, args, gc_on):
    """The lean launcher starts every call with the collector off; monitors,
    wait and the lock commands may run for days and switch it on."""
    env, remote = server
    report: dict = {}
    status, _, _, err = probe(env, *CLIENT, *[remote if a == "S" else a for a in args], report=report)
    assert status == 0, err
    assert report["gc"] is gc_on
