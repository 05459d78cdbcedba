"""ovsdbapp's own functional-test fixture (ovsdbapp.venv.OvsVenvFixture) running our
ovsdb-tool, ovsdb-server, ovs-vsctl and ovs-vswitchd, found through a directory laid out
like an OVS source tree, with each of its dummy levels."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness import OUR_SCHEMA
from util import needs_root, ours, process_gone, stop_pid, wait_until

venv = pytest.importorskip("ovsdbapp.venv")

LAYOUT = {"ovsdb": ("ovsdb-tool", "ovsdb-server", "ovsdb-client"),
          "utilities": ("ovs-vsctl", "ovs-appctl"), "vswitchd": ("ovs-vswitchd",)}


@pytest.fixture
def ovsdir():
    d = Path(tempfile.mkdtemp(prefix="ovsdir-"))
    for sub, tools in LAYOUT.items():
        (d / sub).mkdir()
        for t in tools:
            (d / sub / t).symlink_to(ours(t))
    shutil.copy(OUR_SCHEMA, d / "vswitch.ovsschema")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("dummy", [
    venv.DUMMY_OVERRIDE_ALL,
    pytest.param(venv.DUMMY_OVERRIDE_NONE, marks=needs_root),    # the bridge's port is a TAP
])
def test_ovs_venv_fixture(ovsdir, dummy):
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.open_vswitch import impl_idl

    fx = venv.OvsVenvFixture(ovsdir=str(ovsdir), dummy=dummy, remove=True)
    fx.setUp()
    pids = []
    try:
        rundir = Path(fx.venv.venvdir)
        pids = [int((rundir / f"{n}.pid").read_text()) for n in ("db", "ovs-vswitchd")]
        impl_idl.OvsdbIdl._ovsdb_connection = None
        idl = connection.OvsdbIdl.from_server(fx.ovs_connection, "Open_vSwitch")
        conn = connection.Connection(idl=idl, timeout=20)
        api = impl_idl.OvsdbIdl(conn, start=True)
        try:
            api.add_br("br-test", datapath_type="netdev").execute(check_error=True)
            with api.transaction(check_error=True) as txn:
                txn.add(api.add_port("br-test", "p1"))
                txn.add(api.db_set("Interface", "p1", ("type", "dummy")))
            def ofport(name):
                return api.db_get("Interface", name, "ofport").execute(check_error=True)

            wait_until(lambda: ofport("p1") in (1, [1]), 10,
                       what=f"ofport written by our vswitchd ({ofport('p1')!r})")
            if dummy == venv.DUMMY_OVERRIDE_ALL:
                wait_until(lambda: ofport("br-test") in (65534, [65534]), 10,
                           what="the bridge's port")
            api.del_br("br-test").execute(check_error=True)
        finally:
            conn.stop()
            impl_idl.OvsdbIdl._ovsdb_connection = None
    finally:
        fx.cleanUp()
        for pid in pids:
            wait_until(lambda: process_gone(pid), 10, what="fixture process exit")
            stop_pid(pid)
    assert not os.path.exists(fx.venv.venvdir)
