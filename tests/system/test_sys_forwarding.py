"""Real packets between namespace hosts through our bridge (NORMAL forwarding): MAC learning,
flooding, VLAN access/trunk/native ports, patch ports, the bridge's internal port, jumbo
frames, TCP with the veths' offloads on, and fail_mode=secure.

Hosts are network namespaces on veth pairs (tests/netns.py); the bridge is configured with
our ovs-vsctl against our daemons started by `pyvswitch start` (sysstack.Stack).  What a host
sees is read with a raw AF_PACKET socket in its namespace (sysframes.Port), so tests assert
what was on the wire, tags included."""

from __future__ import annotations

import subprocess

import pytest

from netns import ip
from sysframes import (BROADCAST, ETH_P_IP, Port, arp_request, mac, mac_bytes, tcp_transfer,
                       udp_frame)
from sysstack import bridged_hosts, hwaddr, hwaddr_text, ping, unreachable
from util import needs_root, wait_until

pytestmark = needs_root


def probe(marker: bytes):
    """A matcher for the UDP test frames carrying marker, tagged or not."""
    return lambda f: marker in f.data


def test_learning_then_unicast_reaches_only_its_host(stack, topo, br):
    [(h1, p1), (h2, p2), (h3, p3)] = bridged_hosts(stack, topo, br, "10.210.0", 3)
    with Port(h3) as spy:
        assert ping(topo, h1, "10.210.0.2")
        seen = spy.frames(0.5)
    # The third host saw at most the first ARP broadcast, never the unicast ICMP or ARP reply.
    assert all(f.dst[0] & 1 for f in seen), [f.data[:14].hex() for f in seen]
    m1, m2 = hwaddr_text(h1), hwaddr_text(h2)
    stack.wait_learned(br, m1)
    stack.wait_learned(br, m2)
    rows = {m: p for p, _v, m in stack.fdb(br)}
    assert rows[m1] != rows[m2]

    # Raw frames: a learned destination goes to its port only.
    with Port(h1) as s1, Port(h2) as s2, Port(h3) as s3:
        s1.send(udp_frame(hwaddr(h2), hwaddr(h1), b"to-h2-only"))
        assert s2.expect(probe(b"to-h2-only"))
        assert not s3.expect(probe(b"to-h2-only"), timeout=0.5)


def test_broadcast_and_unknown_unicast_are_flooded(stack, topo, br):
    hosts = [topo.host(i) for i in (1, 2, 3)]
    stack.vsctl("add-br", br, *[a for _ns, p in hosts for a in ("--", "add-port", br, p)])
    ports = [Port(ns) for ns, _p in hosts]
    try:
        src = mac(0x1001)
        ports[0].send(udp_frame(BROADCAST, src, b"bcast-probe"))
        ports[0].send(udp_frame(mac(0xDEAD), src, b"unknown-probe"))
        for other in ports[1:]:
            assert other.expect(probe(b"bcast-probe"))
            assert other.expect(probe(b"unknown-probe"))
        # Nothing comes back out of the port it came in on.
        assert not ports[0].expect(probe(b"probe"), timeout=0.3)
        stack.wait_learned(br, "02:00:00:00:10:01")
    finally:
        for p in ports:
            p.close()


def test_vlan_access_ports_isolate(stack, topo, br):
    h1, p1 = topo.host(1, "10.211.0.1/24")
    h2, p2 = topo.host(2, "10.211.0.2/24")
    h3, p3 = topo.host(3, "10.211.0.3/24")
    h4, p4 = topo.host(4, "10.211.0.4/24")
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "tag=10", "--", "add-port", br, p2, "tag=10",
                "--", "add-port", br, p3, "tag=20", "--", "add-port", br, p4, "tag=20")
    assert ping(topo, h1, "10.211.0.2")
    assert ping(topo, h3, "10.211.0.4")
    assert unreachable(topo, h1, "10.211.0.3")
    assert unreachable(topo, h2, "10.211.0.4")
    with Port(h1) as s1, Port(h3) as s3, Port(h4) as s4:
        s1.send(udp_frame(BROADCAST, mac(0x10), b"vlan10-bcast"))
        assert not s3.expect(probe(b"vlan10-bcast"), timeout=0.5)
        assert not s4.expect(probe(b"vlan10-bcast"), timeout=0.1)
    vlans = {m: v for _p, v, m in stack.fdb(br)}
    assert vlans[hwaddr_text(h1)] == 10 and vlans[hwaddr_text(h3)] == 20


def test_retagging_a_port_applies_to_flows_already_cached(stack, topo, br):
    """Moving a port to another VLAN cuts it off at once: the datapath's cached flows for the
    old VLAN are revalidated, not left to expire."""
    h1, p1 = topo.host(1, "10.218.0.1/24")
    h2, p2 = topo.host(2, "10.218.0.2/24")
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "tag=10", "--", "add-port", br, p2, "tag=10")
    assert ping(topo, h1, "10.218.0.2")
    stack.vsctl("set", "Port", p2, "tag=20")
    assert unreachable(topo, h1, "10.218.0.2")
    stack.vsctl("set", "Port", p1, "tag=20")
    assert ping(topo, h1, "10.218.0.2")


def test_trunk_port_carries_8021q(stack, topo, br):
    h1, p1 = topo.host(1)
    h2, p2 = topo.host(2)
    t, pt = topo.host(3)
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "tag=10", "--", "add-port", br, p2, "tag=20",
                "--", "add-port", br, pt, "trunks=10,20")
    m1, m2, mt = hwaddr(h1), hwaddr(h2), mac(0x7777)
    with Port(h1) as s1, Port(h2) as s2, Port(t) as st:
        # Access -> trunk: the frame leaves the trunk tagged with the access port's VLAN.
        s1.send(udp_frame(BROADCAST, m1, b"from-access-10"))
        f = st.expect(probe(b"from-access-10"))
        assert f is not None and f.vlan == 10
        s2.send(udp_frame(BROADCAST, m2, b"from-access-20"))
        f = st.expect(probe(b"from-access-20"))
        assert f is not None and f.vlan == 20
        # Trunk -> access: tagged frames arrive untagged on the port of their VLAN only.
        st.send(udp_frame(m1, mt, b"trunk-to-10", vlan=10))
        f = s1.expect(probe(b"trunk-to-10"))
        assert f is not None and f.vlan is None
        assert f.data[12:14] == ETH_P_IP.to_bytes(2, "big")
        assert not s2.expect(probe(b"trunk-to-10"), timeout=0.3)
        st.send(udp_frame(BROADCAST, mt, b"trunk-bcast-20", vlan=20))
        f = s2.expect(probe(b"trunk-bcast-20"))
        assert f is not None and f.vlan is None
        assert not s1.expect(probe(b"trunk-bcast-20"), timeout=0.3)
        # A VLAN the trunk does not carry is dropped, and so is an untagged frame on it.
        st.send(udp_frame(BROADCAST, mt, b"trunk-vlan-30", vlan=30))
        st.send(udp_frame(BROADCAST, mt, b"trunk-untagged"))
        assert not s1.expect(probe(b"trunk-"), timeout=0.5)
        assert not s2.expect(probe(b"trunk-"), timeout=0.1)


def test_trunk_to_trunk_keeps_vlan_and_priority(stack, topo, br):
    t1, q1 = topo.host(1)
    t2, q2 = topo.host(2)
    t3, q3 = topo.host(3)
    stack.vsctl("add-br", br, "--", "add-port", br, q1, "trunks=10,20", "--", "add-port", br, q2,
                "trunks=10,20", "--", "add-port", br, q3, "trunks=20")
    with Port(t1) as s1, Port(t2) as s2, Port(t3) as s3:
        s1.send(udp_frame(BROADCAST, mac(0x51), b"trunk-pcp-5", vlan=10, pcp=5))
        f = s2.expect(probe(b"trunk-pcp-5"))
        assert f is not None and (f.vlan, f.pcp) == (10, 5)
        assert not s3.expect(probe(b"trunk-pcp-5"), timeout=0.3)
        s2.send(udp_frame(mac(0x51), mac(0x52), b"trunk-unicast-20", vlan=20, pcp=3))
        # 0x51 was learned in VLAN 10 only: in VLAN 20 it is unknown, so flooded in 20.
        for s in (s1, s3):
            f = s.expect(probe(b"trunk-unicast-20"))
            assert f is not None and (f.vlan, f.pcp) == (20, 3)


@pytest.mark.parametrize("mode", ["native-tagged", "native-untagged"])
def test_native_vlan_modes(stack, topo, br, mode):
    h1, p1 = topo.host(1)
    h2, p2 = topo.host(2)
    n, pn = topo.host(3)
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "tag=10", "--", "add-port", br, p2, "tag=20",
                "--", "add-port", br, pn, "tag=10", f"vlan_mode={mode}", "trunks=10,20")
    m1, m2, mn = hwaddr(h1), hwaddr(h2), mac(0x4242)
    with Port(h1) as s1, Port(h2) as s2, Port(n) as sn:
        # Untagged frames on the native port belong to its native VLAN, 10.
        sn.send(udp_frame(BROADCAST, mn, b"native-untagged-in"))
        f = s1.expect(probe(b"native-untagged-in"))
        assert f is not None and f.vlan is None
        assert not s2.expect(probe(b"native-untagged-in"), timeout=0.3)
        # Tagged frames in another trunked VLAN are accepted too.
        sn.send(udp_frame(BROADCAST, mn, b"native-tagged-20", vlan=20))
        assert s2.expect(probe(b"native-tagged-20"))
        # Out of the port: the native VLAN leaves tagged or not according to the mode,
        # other VLANs always tagged.
        s1.send(udp_frame(BROADCAST, m1, b"out-native-10"))
        f = sn.expect(probe(b"out-native-10"))
        assert f is not None
        assert f.vlan == (10 if mode == "native-tagged" else None)
        s2.send(udp_frame(BROADCAST, m2, b"out-other-20"))
        f = sn.expect(probe(b"out-other-20"))
        assert f is not None and f.vlan == 20


def test_two_bridges_joined_by_patch_ports(stack, topo, br, br2):
    h1, p1 = topo.host(1, "10.212.0.1/24")
    h2, p2 = topo.host(2, "10.212.0.2/24")
    stack.vsctl("add-br", br, "--", "add-br", br2, "--", "add-port", br, p1, "--",
                "add-port", br2, p2,
                "--", "add-port", br, "patch-ab", "--", "set", "Interface", "patch-ab", "type=patch",
                "options:peer=patch-ba",
                "--", "add-port", br2, "patch-ba", "--", "set", "Interface", "patch-ba", "type=patch",
                "options:peer=patch-ab")
    assert int(stack.get("Interface", "patch-ab", "ofport")) > 0
    assert ping(topo, h1, "10.212.0.2")
    # Each bridge learned the far host behind its patch port.
    ofport = stack.get("Interface", "patch-ab", "ofport")
    rows = {m: p for p, _v, m in stack.fdb(br)}
    assert rows[hwaddr_text(h2)] == ofport
    tcp_transfer(h2, "10.212.0.2", h1, 10 * 1024 * 1024)


def test_internal_port_with_an_address_carries_host_traffic(stack, topo, br):
    [(h1, p1)] = bridged_hosts(stack, topo, br, "10.213.0", 1)
    ip("addr", "add", "10.213.0.254/24", "dev", br)
    ip("link", "set", br, "up")
    assert ping(topo, h1, "10.213.0.254")
    r = subprocess.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.213.0.1"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout


def test_jumbo_frames(stack, topo, br):
    h1, p1 = topo.host(1, "10.214.0.1/24", mtu=9000)
    h2, p2 = topo.host(2, "10.214.0.2/24", mtu=9000)
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "--", "add-port", br, p2, "--",
                "set", "Interface", p1, "mtu_request=9000", "--", "set", "Interface", p2,
                "mtu_request=9000")
    wait_until(lambda: stack.get("Interface", p1, "mtu") == "9000", 10, what="mtu 9000 reported")
    # 8972 bytes of ICMP payload: a 9000-byte IP packet, not fragmented (-M do).
    assert ping(topo, h1, "10.214.0.2", "-s", "8972", "-M", "do")
    with Port(h1) as s1, Port(h2) as s2:
        s1.send(udp_frame(hwaddr(h2), hwaddr(h1), b"jumbo-raw", size=9014))
        f = s2.expect(probe(b"jumbo-raw"))
        assert f is not None and len(f.data) == 9014


def offloads(ns: str) -> dict[str, bool]:
    out = subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-k", "eth0"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    return {k.strip(): v.split()[0] == "on" for k, v in
            (line.split(":", 1) for line in out.splitlines()[1:] if ":" in line)}


def test_tcp_with_offloads_on(stack, topo, br):
    """Tens of MB over one TCP connection, with TSO and checksum offload left on the veths
    (the kernel hands the switch 64 KB segments with partial checksums)."""
    h1, p1 = topo.host(1, "10.215.0.1/24")
    h2, p2 = topo.host(2, "10.215.0.2/24")
    for ns in (h1, h2):
        o = offloads(ns)
        assert o["tcp-segmentation-offload"] and o["tx-checksumming"], o
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "--", "add-port", br, p2)
    assert ping(topo, h1, "10.215.0.2")
    total = 40 * 1024 * 1024
    elapsed = tcp_transfer(h2, "10.215.0.2", h1, total)
    print(f"TCP through the bridge: {total * 8 / elapsed / 1e6:.0f} Mbit/s")


def test_tcp_to_the_internal_port(stack, topo, br):
    """TCP between a host and the root namespace through the bridge's internal port (TAP),
    both ways: TSO segments from the veth go out of the TAP, and the TAP's come back."""
    [(h1, p1)] = bridged_hosts(stack, topo, br, "10.217.0", 1)
    ip("addr", "add", "10.217.0.254/24", "dev", br)
    ip("link", "set", br, "up")
    assert ping(topo, h1, "10.217.0.254")
    total = 20 * 1024 * 1024
    up = tcp_transfer(None, "10.217.0.254", h1, total)
    down = tcp_transfer(h1, "10.217.0.1", None, total)
    print(f"TCP host->internal port: {total * 8 / up / 1e6:.0f} Mbit/s, "
          f"back: {total * 8 / down / 1e6:.0f} Mbit/s")


def test_normal_by_default_and_fail_mode_secure_drops(stack, topo, br):
    [(h1, p1), (h2, p2)] = bridged_hosts(stack, topo, br, "10.216.0", 2)
    assert ping(topo, h1, "10.216.0.2")
    flows = stack.appctl("bridge/dump-flows", br).stdout
    assert "actions=NORMAL" in flows
    stack.vsctl("set-fail-mode", br, "secure")
    wait_until(lambda: "actions=NORMAL" not in stack.appctl("bridge/dump-flows", br).stdout, 10,
               what="the NORMAL flow removed")
    assert unreachable(topo, h1, "10.216.0.2")
    with Port(h1) as s1, Port(h2) as s2:
        s1.send(arp_request(hwaddr(h1), "10.216.0.1", "10.216.0.2"))
        s1.send(udp_frame(BROADCAST, hwaddr(h1), b"secure-probe"))
        # Only what came through the switch: not what the kernel sent from p2 itself.
        p2_mac = mac_bytes(open(f"/sys/class/net/{p2}/address").read().strip())
        leaked = [f for f in s2.frames(0.5) if f.src != p2_mac]
        assert not leaked, [f.data[:42].hex() for f in leaked]
    stack.vsctl("del-fail-mode", br)
    assert ping(topo, h1, "10.216.0.2", count=1, deadline=15)
