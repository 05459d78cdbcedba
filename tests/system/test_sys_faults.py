"""Faults with real packets: an interface deleted from under its port, ovsdb-server and
ovs-vswitchd restarted under a running configuration, a MAC flood, and malformed frames.
In every case the daemon keeps running and the ports that still exist keep forwarding."""

from __future__ import annotations

import os
import random
import re
import signal
import struct

import pytest

from netns import ip
from sysframes import (BROADCAST, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, Port, ethernet, ipv4, mac,
                       udp_frame)
from sysstack import bridged_hosts, hwaddr, ping, unreachable
from util import needs_root, process_gone, wait_until

pytestmark = needs_root


def status(stack, iface: str) -> dict[str, str]:
    out = stack.vsctl("--columns=ofport,error,link_state,admin_state", "list", "Interface",
                      iface).stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines())}


def rx_packets(stack, port: str) -> int:
    """The datapath's receive counter for a port, from dpctl/show -s."""
    out = stack.appctl("dpctl/show", "-s").stdout
    m = re.search(rf"port \d+: {re.escape(port)}\b[^\n]*\n\s+RX packets:(\d+)", out)
    assert m, out
    return int(m.group(1))


def statistic(stack, iface: str, name: str) -> int:
    r = stack.vsctl("--if-exists", "get", "Interface", iface, f"statistics:{name}", check=False)
    text = r.stdout.strip()
    return int(text) if r.returncode == 0 and text.isdigit() else 0


def test_interface_deleted_from_under_its_port(stack, topo, br):
    [(h1, p1), (h2, p2), (h3, p3)] = bridged_hosts(stack, topo, br, "10.220.0", 3)
    assert ping(topo, h1, "10.220.0.3")
    ip("link", "del", p3)
    # As the reference does with a userspace datapath: the port keeps its number, the
    # device reads as down, and there is no error until the port is opened again.
    wait_until(lambda: status(stack, p3)["link_state"] == "down", 10, what="link_state down")
    st = status(stack, p3)
    assert st["admin_state"] == "down" and st["error"] == "[]" and int(st["ofport"]) > 0
    assert ping(topo, h1, "10.220.0.2")
    assert ping(topo, h2, "10.220.0.1")
    # A port whose device does not exist gets OVS's error and ofport -1; the rest go on.
    gone = f"sygone{os.getpid() % 10000}"
    r = stack.vsctl("add-port", br, gone, check=False)
    assert f"could not open network device {gone} (No such device)" in r.stderr
    st = status(stack, gone)
    assert st["ofport"] == "-1"
    assert st["error"] == f'"could not open network device {gone} (No such device)"'
    assert ping(topo, h1, "10.220.0.2")
    assert stack.alive("ovs-vswitchd")


def test_ovsdb_server_restart(stack, topo, br):
    h1, p1 = topo.host(1, "10.221.0.1/24")
    h2, p2 = topo.host(2, "10.221.0.2/24")
    h3, p3 = topo.host(3, "10.221.0.3/24")
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "--", "add-port", br, p2)
    assert ping(topo, h1, "10.221.0.2")
    pid = stack.pid("ovsdb-server")
    stack.stop("ovsdb-server")
    assert process_gone(pid)
    # The switch forwards with the configuration it has while the database is away.
    assert ping(topo, h1, "10.221.0.2")
    assert stack.alive("ovs-vswitchd")
    stack.start("ovsdb-server")
    # ovs-vsctl waits for cur_cfg: returning means vswitchd reconnected and applied it.
    stack.vsctl("add-port", br, p3)
    assert int(stack.get("Interface", p3, "ofport")) > 0
    assert ping(topo, h1, "10.221.0.3")
    assert ping(topo, h3, "10.221.0.2")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_ovs_vswitchd_restart(stack, topo, br, sig):
    h1, p1 = topo.host(1, "10.222.0.1/24")
    h2, p2 = topo.host(2, "10.222.0.2/24")
    h3, p3 = topo.host(3, "10.222.0.3/24")
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "tag=10", "--", "add-port", br, p2, "tag=10",
                "--", "add-port", br, p3, "tag=20")
    assert ping(topo, h1, "10.222.0.2")
    before = {p: stack.get("Interface", p, "ofport") for p in (p1, p2, p3)}
    pid = stack.pid("ovs-vswitchd")
    os.kill(pid, sig)
    wait_until(lambda: process_gone(pid), 10, what="ovs-vswitchd gone")
    # After SIGKILL the pidfile is stale; starting again must cope with it.
    stack.start("ovs-vswitchd")
    assert stack.pid("ovs-vswitchd") != pid
    wait_until(lambda: os.path.exists(f"/sys/class/net/{br}"), 15, what="the bridge's internal port")
    wait_until(lambda: stack.vsctl("--columns=ofport", "find", "Interface", "ofport=-1").stdout == ""
               and all(stack.get("Interface", p, "ofport") not in ("", "[]") for p in before), 15,
               what="ports reopened")
    assert {p: stack.get("Interface", p, "ofport") for p in before} == before
    assert ping(topo, h1, "10.222.0.2", count=1, deadline=15)
    assert unreachable(topo, h1, "10.222.0.3")
    # And a change made now is applied.
    stack.vsctl("set", "Port", p3, "tag=10")
    assert ping(topo, h1, "10.222.0.3")


def test_mac_flood_keeps_the_table_bounded(stack, topo, br):
    size = 200
    h1, p1 = topo.host(1, "10.223.0.1/24")
    h2, p2 = topo.host(2, "10.223.0.2/24")
    h3, p3 = topo.host(3)
    stack.vsctl("add-br", br, "--", "set", "Bridge", br, f"other_config:mac-table-size={size}",
                "--", "add-port", br, p1, "--", "add-port", br, p2, "--", "add-port", br, p3)
    assert ping(topo, h1, "10.223.0.2")
    # Paced in bursts the daemon's receive ring can hold: a single burst of thousands of
    # new source MACs, each a miss and an upcall, overflows the ring and most frames never
    # reach the switch at all, which would test the ring rather than the MAC table.
    burst, bursts = 200, 15
    rng = random.Random(13)
    start = rx_packets(stack, p3)
    with Port(h3) as attacker:
        for _ in range(bursts):
            before = rx_packets(stack, p3)
            for _ in range(burst):
                src = bytes([rng.randrange(256) & 0xFE | 0x02]) + rng.randbytes(5)
                attacker.send(udp_frame(BROADCAST, src, b"flood"))
            wait_until(lambda: rx_packets(stack, p3) - before >= burst // 2, 20,
                       what="a burst of the flood received")
            assert len(stack.appctl("fdb/show", br).stdout.splitlines()) <= size + 1
    received = rx_packets(stack, p3) - start
    assert received >= 4 * size
    print(f"MAC flood: {received} of {burst * bursts} frames reached the switch")
    lines = stack.appctl("fdb/show", br).stdout.splitlines()
    assert size // 2 <= len(lines) - 1 <= size, len(lines)
    assert ping(topo, h1, "10.223.0.2")
    assert ping(topo, h2, "10.223.0.1")
    assert len(stack.appctl("fdb/show", br).stdout.splitlines()) <= size + 1
    assert stack.alive("ovs-vswitchd")


def malformed(src: bytes) -> list[bytes]:
    """Broken frames that reach the switch.  (A frame cut inside its 802.1Q tag never does:
    the kernel drops it while taking the tag out, before any socket sees it.)"""
    ip_ok = ipv4("10.224.0.9", "10.224.0.1", 17, b"\0" * 16)
    return [
        # Runts.  The kernel refuses to send less than an Ethernet header.
        ethernet(BROADCAST, src, 0x0800, b""),                    # a header and nothing more
        ethernet(BROADCAST, src, 0x0800, b"\x45"),               # one byte of IPv4
        ethernet(BROADCAST, src, ETH_P_IP, b"\x45\0\0"),          # truncated IPv4 header
        ethernet(BROADCAST, src, ETH_P_IP, b"\x42" + ip_ok[1:]),  # IHL 2
        ethernet(BROADCAST, src, ETH_P_IP, b"\x4f" + ip_ok[1:]),  # IHL 15, longer than the packet
        ethernet(BROADCAST, src, ETH_P_IP, b"\x65" + ip_ok[1:]),  # version 6 under 0x0800
        ethernet(BROADCAST, src, ETH_P_IP, ip_ok[:2] + b"\xff\xff" + ip_ok[4:]),  # total length lies
        ethernet(BROADCAST, src, ETH_P_IP, ip_ok[:10] + b"\xde\xad" + ip_ok[12:]),  # bad checksum
        ethernet(BROADCAST, src, ETH_P_IP, ipv4("10.224.0.9", "10.224.0.1", 6, b"\x00\x50\x01")),  # TCP cut
        ethernet(BROADCAST, src, ETH_P_IP, ipv4("10.224.0.9", "10.224.0.1", 6,
                                                struct.pack("!HHIIBB", 1, 2, 0, 0, 0x20, 2))),  # TCP offset 2
        ethernet(BROADCAST, src, ETH_P_IP, ipv4("10.224.0.9", "10.224.0.1", 17, b"\0\1")),  # UDP cut
        ethernet(BROADCAST, src, ETH_P_IP, ipv4("10.224.0.9", "10.224.0.1", 1, b"\x08")),  # ICMP cut
        ethernet(BROADCAST, src, ETH_P_ARP, b"\0\1\x08\0"),      # truncated ARP
        ethernet(BROADCAST, src, 0x86DD, b"\x60\0\0"),            # truncated IPv6
        ethernet(BROADCAST, src, 0x8847, b"\0\0"),                # truncated MPLS
        BROADCAST + src + struct.pack("!HHHH", ETH_P_8021Q, 5, ETH_P_8021Q, 6),  # QinQ, no payload
        ethernet(BROADCAST, src, 0x1234, b"bogus"),               # unknown ethertypes
        ethernet(BROADCAST, src, 0xFFFF, b""),
        ethernet(BROADCAST, src, 0x0005, b"an 802.3 length field"),
        os.urandom(60),
    ]


def test_malformed_frames_are_counted_and_survived(stack, topo, br):
    h1, p1 = topo.host(1, "10.224.0.1/24")
    h2, p2 = topo.host(2, "10.224.0.2/24")
    h3, p3 = topo.host(3)
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "--", "add-port", br, p2, "--",
                "add-port", br, p3, "--", "set", "Open_vSwitch", ".",
                "other_config:stats-update-interval=1000")
    assert ping(topo, h1, "10.224.0.2")
    before = rx_packets(stack, p3)
    frames = malformed(mac(0xBAD))
    rounds = 20
    with Port(h3) as s3:
        for i in range(rounds):
            for f in frames:
                s3.send(f)
            s3.send(os.urandom(random.randrange(14, 1500)))
            sent = (i + 1) * (len(frames) + 1)
            wait_until(lambda: rx_packets(stack, p3) - before >= sent, 10,
                       what="the malformed frames counted")
    # And the Interface's statistics column, which vswitchd writes back from the kernel's
    # counters, has them too.
    wait_until(lambda: statistic(stack, p3, "rx_packets") >= sent, 20,
               what="the malformed frames in Interface statistics")
    assert stack.alive("ovs-vswitchd")
    assert ping(topo, h1, "10.224.0.2")
    assert ping(topo, h2, "10.224.0.1")
    # The well-formed parts still forward: a plain frame from the same port arrives.
    with Port(h3) as s3, Port(h1) as s1:
        s3.send(udp_frame(hwaddr(h1), mac(0xBAD), b"after-garbage"))
        assert s1.expect(lambda f: b"after-garbage" in f.data)


def test_vswitchd_restart_keeps_the_internal_port_and_its_address(stack, topo, br):
    """The reference leaves a bridge's internal device in place when it exits, so the host's
    addresses on it, and the datapath ID taken from its MAC, survive a restart."""
    [(h1, p1)] = bridged_hosts(stack, topo, br, "10.225.0", 1)
    ip("addr", "add", "10.225.0.254/24", "dev", br)
    ip("link", "set", br, "up")
    assert ping(topo, h1, "10.225.0.254")
    dpid = stack.get("Bridge", br, "datapath_id")
    stack.stop("ovs-vswitchd")
    assert os.path.exists(f"/sys/class/net/{br}")
    stack.start("ovs-vswitchd")
    wait_until(lambda: stack.get("Interface", p1, "ofport") not in ("", "[]", "-1"), 15,
               what="the port reopened")
    assert stack.get("Bridge", br, "datapath_id") == dpid
    assert ping(topo, h1, "10.225.0.254", count=1, deadline=15)
