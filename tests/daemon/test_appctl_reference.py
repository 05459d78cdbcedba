"""Our ovs-appctl against the reference ovsdb-server: same bytes and exit codes as the real tool."""

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from util import needs_reference, ours, ovs_env, ref, run, stop_pid

pytestmark = needs_reference


@pytest.fixture(scope="module")
def ref_server():
    d = Path(tempfile.mkdtemp(prefix="h4r", dir="/tmp"))
    env = ovs_env(d)
    run([ref("ovsdb-tool"), "create", str(d / "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"], env=env)
    r = run([ref("ovsdb-server"), str(d / "conf.db"), f"--remote=punix:{d}/db.sock", "--pidfile", "--detach",
             f"--log-file={d}/ovsdb-server.log"], env=env)
    assert r.returncode == 0, r.stderr
    pid = int((d / "ovsdb-server.pid").read_text())
    yield env
    stop_pid(pid)
    shutil.rmtree(d, ignore_errors=True)


def _normalized(r):
    return r.returncode, r.stdout, re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|", "TIME|", r.stderr, flags=re.M)


@pytest.mark.parametrize("args", [
    ["version"], ["list-commands"], ["ovsdb-server/list-dbs"], ["ovsdb-server/list-remotes"],
    ["vlog/list"], ["nonexist"], ["exit", "x"], ["ovsdb-server/compact", "nodb"],
    ["vlog/set", "info:dbg"], ["memory/show"],
])
def test_same_as_real_appctl(ref_server, args):
    args = ["-t", "ovsdb-server", *args]
    assert _normalized(run([ours("ovs-appctl"), *args], env=ref_server)) == \
        _normalized(run([ref("ovs-appctl"), *args], env=ref_server))
