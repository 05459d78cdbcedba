"""dpctl/* and ovs-dpctl end to end through our ovs-vswitchd with dummy ports."""

from __future__ import annotations

import subprocess

import pytest

from util import ours, wait_until
from vswitchd.harness import DbServer


@pytest.fixture
def db():
    s = DbServer("ours")
    yield s
    if s.vswitchd is not None:
        s.vsctl("--if-exists", "del-br", "br0", check=False)
    s.close()


def dpctl(db, *args):
    return subprocess.run([ours("ovs-dpctl"), *args], env=db.env, capture_output=True, text=True,
                          timeout=30)


def test_dump_flows_and_show_through_the_daemon(db):
    r = dpctl(db, "show")
    assert r.returncode == 1 and "is ovs-vswitchd running?" in r.stderr
    db.start_vswitchd("--enable-dummy=override")
    db.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev",
             "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2")
    a, b = "505400000001", "505400000002"
    frame = b + a + "0800" + "4500001c0001000040110000" + "0a0000010a000002" + "03e80009000800000000"
    assert db.appctl("netdev-dummy/receive", "p1", frame).returncode == 0
    wait_until(lambda: "flow-dump" in dpctl(db, "dump-flows").stdout, 10, what="a megaflow")
    r = dpctl(db, "dump-flows")
    assert r.returncode == 0, r.stderr
    line = r.stdout.splitlines()[1]
    assert line.startswith("recirc_id(0),in_port(") and \
        "eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:02),eth_type(0x0800),ipv4(" in line
    assert ", packets:" in line and ", actions:" in line
    shown = db.appctl("dpctl/show").stdout
    assert shown.startswith("netdev@ovs-netdev:\n  lookups: hit:0 missed:1 lost:0\n  flows: 1\n")
    assert " p1 (dummy)\n" in shown and " br0 (" in shown
    assert dpctl(db, "dump-dps").stdout == "netdev@ovs-netdev\n"
    r = dpctl(db, "dump-flows", "nosuch@dp")
    assert (r.returncode, r.stderr) == (1, "ovs-dpctl: datapath not found (Invalid argument)\n")
    assert dpctl(db, "del-flows").returncode == 0
    assert dpctl(db, "dump-flows").stdout == ""
