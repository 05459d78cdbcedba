"""ovs-vswitchd forwarding real packets: namespace hosts on veths, a bridge configured
through the real ovs-vsctl, ping between hosts and to the bridge's internal port."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness import DbServer
from netns import Topology, ip
from util import needs_root, wait_until

pytestmark = needs_root


@pytest.fixture
def setup():
    db = DbServer("ours")
    topo = Topology("vs")
    br = f"vsbr{os.getpid() % 10000}"
    try:
        db.start_vswitchd()
        yield db, topo, br
    finally:
        db.vsctl("--if-exists", "del-br", br, check=False)
        topo.close()
        db.close()


def ping(topo, ns, addr):
    return topo.run(ns, "ping", "-c", "3", "-i", "0.1", "-W", "2", addr).returncode == 0


def test_two_hosts_ping_through_a_bridge(setup):
    db, topo, br = setup
    h1, p1 = topo.host(1, "10.204.0.1/24")
    h2, p2 = topo.host(2, "10.204.0.2/24")
    db.vsctl("add-br", br, "--", "add-port", br, p1, "--", "add-port", br, p2)
    assert db.get("Interface", p1, "error") == "[]"
    assert int(db.get("Interface", p1, "ofport")) > 0
    assert ping(topo, h1, "10.204.0.2")
    assert ping(topo, h2, "10.204.0.1")
    fdb = db.appctl("fdb/show", br).stdout
    assert fdb.count("\n") >= 3         # header and both hosts learned
    wait_until(lambda: "rx_packets=0" not in db.get("Interface", p1, "statistics"), 15,
               what="statistics written back")


def test_bridge_internal_port_carries_host_traffic(setup):
    db, topo, br = setup
    h1, p1 = topo.host(1, "10.205.0.1/24")
    db.vsctl("add-br", br, "--", "add-port", br, p1)
    ip("addr", "add", "10.205.0.254/24", "dev", br)
    ip("link", "set", br, "up")
    assert ping(topo, h1, "10.205.0.254")
    r = subprocess.run(["ping", "-c", "2", "-i", "0.1", "-W", "2", "10.205.0.1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout


def test_access_vlans_separate_hosts(setup):
    db, topo, br = setup
    h1, p1 = topo.host(1, "10.206.0.1/24")
    h2, p2 = topo.host(2, "10.206.0.2/24")
    h3, p3 = topo.host(3, "10.206.0.3/24")
    db.vsctl("add-br", br, "--", "add-port", br, p1, "tag=10", "--", "add-port", br, p2, "tag=10",
             "--", "add-port", br, p3, "tag=20")
    assert ping(topo, h1, "10.206.0.2")
    assert topo.run(h1, "ping", "-c", "1", "-W", "1", "10.206.0.3").returncode != 0
    db.vsctl("set", "port", p3, "tag=10")            # in place: p1 and p2 keep their ports
    assert ping(topo, h1, "10.206.0.3")
