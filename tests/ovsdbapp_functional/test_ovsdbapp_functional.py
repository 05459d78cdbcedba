"""ovsdbapp's own functional tests, run against our ovsdb-server, ovs-vswitchd and ovsdb-tool.

ovsdbapp (the OpenStack library Neutron and others use to drive OVSDB) ships functional
tests that start the daemons with its `venv` fixtures: whatever `ovsdb-server`,
`ovsdb-tool`, `ovs-vsctl` and `ovs-vswitchd` come first in PATH, in a private directory,
with the options those fixtures pass (`--detach`, `--pidfile`, `--enable-dummy=override`,
`-vvconn` ...).  The `path` fixture below puts our .venv/bin first, so every daemon and
tool they run is ours; their schema is ours too (`OursFixture`).  The test classes are
ovsdbapp's, unchanged, subclassed only to swap the fixture.

Selected, all that concern the Open_vSwitch schema or need only an ovsdb-server:
- schema/open_vswitch/test_impl_idl.py: TestOvsdbIdl, ImplIdlTestCase (the ovs-vsctl-like
  API: bridges, ports, interfaces, db_* commands, transactions, may_exist/if_exists);
- schema/open_vswitch/test_common_db.py: TestBackendDb (db_list, db_find, db_get, ...);
- backend/ovs_idl/test_connection.py: TestOvsdbIdl (changing the IDL's tables on the fly);
- backend/ovs_idl/test_idlutils.py and test_rowview.py: ovsdbapp's own "idltest" schema
  on our ovsdb-server (row printing, every column type).

The TestOvsdbIdl class runs three times: its IDL connects over unix:, tcp: and ssl: (keys
and certificates from the reference's ovs-pki, as ovsdbapp's OVN fixtures do for their servers).

Left out, because they need OVN, which is not part of this project and not installed
(no OVN schemas, no ovn-northd, no ovn-controller): backend/ovs_idl/test_indexing.py
(OVN_Northbound), test_connection.py's TestConnectionReconnect and TestLockNotify
(OVN_Northbound), test_venv.py (starts the whole OVN sandbox), and everything under
schema/ovn_*.  ovsdbapp's base class starts the OVN sandbox too (OvsOvnVenvFixture);
`OursFixture` is its Open_vSwitch half only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# ovsdbapp's tests need its test requirements (the project's `test` extra has them).
for _module in ("oslotest", "testscenarios", "ovsdbapp.tests.functional.base"):
    pytest.importorskip(_module)

from ovsdbapp import venv  # noqa: E402
from ovsdbapp.tests.functional.backend.ovs_idl import test_connection  # noqa: E402
from ovsdbapp.tests.functional.backend.ovs_idl import test_idlutils  # noqa: E402
from ovsdbapp.tests.functional.backend.ovs_idl import test_rowview  # noqa: E402
from ovsdbapp.tests.functional.schema.open_vswitch import test_common_db  # noqa: E402
from ovsdbapp.tests.functional.schema.open_vswitch import test_impl_idl  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
OUR_SCHEMA = REPO / "src" / "pyvswitch" / "schemas" / "vswitch.ovsschema"


@pytest.fixture(scope="module", autouse=True)
def path():
    """Our daemons and tools first in PATH, which ovsdbapp's fixtures copy when they start."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join((str(VENV_BIN), old))
    yield
    os.environ["PATH"] = old


class LocalServer:
    """An ovsdb-server fixture as ovs-vswitchd sees it: through its Unix socket."""

    def __init__(self, server: venv.OvsdbServerFixture) -> None:
        self.connection = f"unix:{server.unix_socket}"


class OursFixture(venv.OvsVenvFixture):
    """ovsdb-server and ovs-vswitchd (dummy netdevs) on our Open_vSwitch schema, no OVN."""

    def __init__(self, venv_, ovsdir=None, ovndir=None, protocol=None, **kwargs):
        super().__init__(venv_, ovsdir=ovsdir, **kwargs)
        # ovsdbapp serves Open_vSwitch on the Unix socket only; its OVN servers also listen
        # on tcp:/ssl: when a test class asks.  Ours does that for Open_vSwitch.
        self.protocol = protocol
        self.ovsdb_server.remote_proto = protocol

    def _setUp(self):
        # The same steps as OvsVenvFixture's, but ovs-vsctl and ovs-vswitchd use the Unix
        # socket: only the IDL under test connects over tcp: or ssl:.
        if self.protocol == "ssl":
            pki = self.useFixture(venv.PkiFixture(self.venv))
            self.ssl_config = self.ovsdb_server.ssl_config = pki.create_certificate("ovs")
        if self._setup_venv:
            self.useFixture(self.venv)
        self.useFixture(self.ovsdb_server)
        self.useFixture(venv.VswitchdFixture(self.venv, LocalServer(self.ovsdb_server), self.dummy))
        self.init_processes()

    def init_processes(self):
        for name in ("db", "ovs-vswitchd"):
            pidfile = Path(self.venv.venvdir) / f"{name}.pid"
            cmdline = Path(f"/proc/{pidfile.read_text().split()[0]}/cmdline").read_bytes()
            assert b"python" in cmdline, f"{name} is not ours: {cmdline!r}"
        self.venv.call(["ovs-vsctl", "--no-wait", f"--db=unix:{self.ovsdb_server.unix_socket}",
                        "--", "init"])

    @property
    def ovnnb_connection(self):
        return None

    @property
    def ovnsb_connection(self):
        return None


class TestOvsImplIdl(test_impl_idl.TestOvsdbIdl):
    fixture_class = OursFixture


class TestOvsImplIdlTcp(test_impl_idl.TestOvsdbIdl):
    fixture_class = OursFixture
    protocol = "tcp"


@pytest.mark.skipif(not shutil.which("ovs-pki"), reason="ovs-pki (from Open vSwitch) makes the keys")
class TestOvsImplIdlSsl(test_impl_idl.TestOvsdbIdl):
    fixture_class = OursFixture
    protocol = "ssl"


class TestOvsImplIdlCommands(test_impl_idl.ImplIdlTestCase):
    fixture_class = OursFixture


class TestOvsBackendDb(test_common_db.TestBackendDb):
    fixture_class = OursFixture


class TestOvsIdlTables(test_connection.TestOvsdbIdl):
    fixture_class = OursFixture


class TestIdlUtilsRow2Str(test_idlutils.IdlUtilsRow2StrTestCase):
    pass


class TestRowViewAsDict(test_rowview.TestRowViewAsDict):
    pass
