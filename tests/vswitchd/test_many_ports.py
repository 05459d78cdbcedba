"""Many internal ports through the real daemons: added in one ovs-vsctl call, kept across a
restart of ovs-vswitchd (persistent TAPs, same port numbers), deleted with their bridge.

What a waiting ovs-vsctl may rely on, as with OVS: when `add-port` returns, every port
has its ofport and status; when `del-br` returns, the TAPs are gone from the kernel
(ovs-vswitchd deletes them in one rtnetlink exchange before confirming cur_cfg)."""

from __future__ import annotations

import os

import pytest

from harness import DbServer
from util import needs_root

pytestmark = needs_root

N = 120


def _tag(s: DbServer) -> str:
    """A name part unique to this test's private dir (interface names allow no '_')."""
    return s.dir.name[-6:].replace("_", "x")


@pytest.fixture
def db():
    s = DbServer("ours")
    yield s
    s.vsctl("--if-exists", "del-br", f"vwm{_tag(s)}", check=False, timeout=60)
    s.close()


def _devices(prefix: str) -> set[str]:
    return {n for n in os.listdir("/sys/class/net") if n.startswith(prefix)}


def test_many_internal_ports_added_restarted_and_deleted(db):
    tag = _tag(db)
    br, prefix = f"vwm{tag}", f"vwn{tag}"
    names = [f"{prefix}{i}" for i in range(N)]
    db.start_vswitchd()
    db.vsctl("add-br", br, "--", "set", "bridge", br, "datapath_type=netdev")
    args = []
    for n in names:
        args += ["--", "add-port", br, n, "--", "set", "interface", n, "type=internal"]
    db.vsctl(*args, timeout=120)
    rows = db.vsctl("--format=csv", "--no-headings", "--columns=name,ofport,admin_state,mac_in_use",
                    "find", "interface", "type=internal").stdout.split()
    status = {r.split(",")[0]: r.split(",")[1:] for r in rows}
    assert set(names) <= set(status)
    assert sorted(int(status[n][0]) for n in names) == list(range(1, N + 1))
    assert all(status[n][1] == "down" and len(status[n][2].strip('"')) == 17 for n in names)
    assert _devices(prefix) == set(names)

    # A restart takes the same TAPs up again, with the same port numbers.
    db.stop_vswitchd()
    assert _devices(prefix) == set(names)
    db.start_vswitchd()
    db.vsctl("set", "open_vswitch", ".", "external_ids:restarted=1", timeout=60)
    again = db.vsctl("--format=csv", "--no-headings", "--columns=name,ofport,error",
                     "find", "interface", "type=internal").stdout.split()
    assert {r.split(",")[0]: r.split(",")[1] for r in again if r.startswith(prefix)} == \
        {n: status[n][0] for n in names}
    assert all(r.endswith(",[]") for r in again)

    # Half the ports go, then the bridge: each waiting call returns with the TAPs gone.
    drop = []
    for n in names[::2]:
        drop += ["--", "del-port", br, n]
    db.vsctl(*drop, timeout=60)
    assert _devices(prefix) == set(names[1::2])
    db.vsctl("del-br", br, timeout=60)
    assert _devices(prefix) == set()
    assert not os.path.exists(f"/sys/class/net/{br}")
