"""The kernel fast path (eBPF at TC, datapath/offload.py) under our whole stack, with real
packets between namespace hosts: NORMAL traffic gets kernel entries and stops reaching the
Python datapath, VLAN access<->trunk is pushed and popped in the kernel, a MAC that moves
between ports is followed, a port removed under traffic takes its entries, the switch turned
off still forwards, statistics and MAC learning see kernel-forwarded frames, and a dead
ovs-vswitchd (SIGTERM or SIGKILL) leaves nothing forwarding behind it."""

from __future__ import annotations

import re
import signal
import os

import pytest

from sysframes import ETH_P_8021Q, Port, udp_frame
from sysstack import bridged_hosts, hwaddr, hwaddr_text, ping, unreachable
from util import needs_root, process_gone, wait_until

pytestmark = needs_root


def _kfast_available() -> bool:
    try:
        from pyvswitch.datapath import kfast
    except Exception:       # noqa: BLE001 - no bpf support at all
        return False
    return kfast.available() is None


needs_kfast = pytest.mark.skipif(not _kfast_available(), reason="the kernel refuses eBPF here")


def counters(stack) -> dict[str, int]:
    """hit/missed from dpctl/show, and the kernel fast path's hit; `userspace` is what the
    Python datapath itself looked up."""
    out = stack.appctl("dpctl/show").stdout
    m = re.search(r"lookups: hit:(\d+) missed:(\d+)", out)
    k = re.search(r"kernel fast path: active \(eBPF at TC\), ports:\d+ flows:(\d+) hit:(\d+)", out)
    assert m and k, out
    hit, missed, kflows, khit = (int(x) for x in (*m.groups(), *k.groups()))
    return {"hit": hit, "missed": missed, "kernel_hit": khit, "kernel_flows": kflows,
            "userspace": hit - khit + missed}


def offloaded(stack) -> list[str]:
    return stack.appctl("dpctl/dump-flows", "-m", "type=tc").stdout.splitlines()[1:]


def probe(marker: bytes):
    return lambda f: marker in f.data


def burst(port: Port, frame: bytes, n: int) -> None:
    for _ in range(n):
        port.send(frame)


@needs_kfast
def test_normal_traffic_moves_into_the_kernel(stack, topo, br):
    [(h1, p1), (h2, p2)] = bridged_hosts(stack, topo, br, "10.230.0", 2)
    assert ping(topo, h1, "10.230.0.2")
    wait_until(lambda: len(offloaded(stack)) >= 2, 10, what="kernel entries for both directions")
    lines = offloaded(stack)
    assert all(", offloaded:yes, dp:tc, actions:" in line for line in lines), lines
    before = counters(stack)
    assert ping(topo, h1, "10.230.0.2", "-i", "0.05", count=40)
    after = counters(stack)
    # 80 frames crossed (40 requests, 40 replies); the Python datapath saw at most the odd
    # one (an ARP refresh has its own L2 key and goes up once).
    assert after["kernel_hit"] - before["kernel_hit"] >= 80, (before, after)
    assert after["userspace"] - before["userspace"] <= 4, (before, after)
    # dump-flows statistics include what the kernel carried.
    pkts = [int(m.group(1)) for line in offloaded(stack)
            for m in [re.search(r"packets:(\d+)", line)] if m]
    assert sum(pkts) >= 80
    # dpif/show says so after OVS's lines; dpif/dump-flows shows the bridge's flows, named.
    show = stack.appctl("dpif/show").stdout.splitlines()
    assert re.fullmatch(r"  kernel fast path: active \(eBPF at TC\), ports:\d+ flows:\d+ "
                        r"hit:\d+ refused:0", show[-1]), show
    flows = stack.appctl("dpif/dump-flows", "--names", br).stdout.splitlines()
    assert any(f"in_port({p1})," in line and line.endswith(f"actions:{p2}") for line in flows)
    # Interface statistics (dpctl/show -s and the Interface table) count them too.
    out = stack.appctl("dpctl/show", "-s").stdout
    m = re.search(rf"port \d+: {re.escape(p1)}\b[^\n]*\n\s+RX packets:(\d+)", out)
    assert m and int(m.group(1)) >= 40, out
    wait_until(lambda: _statistic(stack, p1, "rx_packets") >= 40, 15, what="Interface statistics")


def _statistic(stack, iface: str, name: str) -> int:
    text = stack.get("Interface", iface, f"statistics:{name}")
    return int(text) if text.isdigit() else 0


@needs_kfast
def test_vlan_access_to_trunk_in_the_kernel(stack, topo, br):
    h1, p1 = topo.host(1)
    h2, p2 = topo.host(2)
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "tag=10", "--", "add-port", br, p2,
                "trunks=10,20")
    m1, m2 = hwaddr(h1), hwaddr(h2)
    with Port(h1) as s1, Port(h2) as s2:
        # Learn both hosts (the first frames go through Python and install entries).
        s1.send(udp_frame(m2, m1, b"learn-1"))
        s2.send(udp_frame(m1, m2, b"learn-2", vlan=10))
        assert s2.expect(probe(b"learn-1")) and s1.expect(probe(b"learn-2"))
        stack.wait_learned(br, hwaddr_text(h1))
        stack.wait_learned(br, hwaddr_text(h2))
        s1.send(udp_frame(m2, m1, b"warm-1"))
        s2.send(udp_frame(m1, m2, b"warm-2", vlan=10))
        assert s2.expect(probe(b"warm-1")) and s1.expect(probe(b"warm-2"))
        wait_until(lambda: len(offloaded(stack)) >= 2, 10, what="kernel entries")
        flows = "\n".join(offloaded(stack))
        assert "push_vlan(vid=10,pcp=0)" in flows and "pop_vlan" in flows, flows
        before = counters(stack)
        burst(s1, udp_frame(m2, m1, b"k-to-trunk"), 20)
        burst(s2, udp_frame(m1, m2, b"k-to-access", vlan=10), 20)
        got2 = s2.frames(3, stop=lambda fs: sum(b"k-to-trunk" in f.data for f in fs) >= 20)
        got1 = s1.frames(3, stop=lambda fs: sum(b"k-to-access" in f.data for f in fs) >= 20)
        tagged = [f for f in got2 if b"k-to-trunk" in f.data]
        plain = [f for f in got1 if b"k-to-access" in f.data]
        assert len(tagged) == 20 and all(f.vlan == 10 for f in tagged)
        assert len(plain) == 20 and all(f.vlan is None for f in plain)
        # VLAN 20 on the trunk never reaches the access port of VLAN 10.
        s2.send(udp_frame(m1, m2, b"vlan-20", vlan=20))
        assert not s1.expect(probe(b"vlan-20"), timeout=0.5)
        after = counters(stack)
    assert after["kernel_hit"] - before["kernel_hit"] >= 40
    assert after["userspace"] - before["userspace"] <= 2, (before, after)


@needs_kfast
def test_mac_moving_between_ports_is_followed(stack, topo, br):
    hosts = [topo.host(i) for i in (1, 2, 3)]
    stack.vsctl("add-br", br, *[a for _ns, p in hosts for a in ("--", "add-port", br, p)])
    (h1, _), (h2, _), (h3, _) = hosts
    mover = bytes.fromhex("02aa00000001")
    m3 = hwaddr(h3)
    with Port(h1) as s1, Port(h2) as s2, Port(h3) as s3:
        s1.send(udp_frame(m3, mover, b"from-mover"))
        assert s3.expect(probe(b"from-mover"))
        stack.wait_learned(br, "02:aa:00:00:00:01")
        for i in range(3):              # to the mover, twice through the kernel
            s3.send(udp_frame(mover, m3, b"to-mover-%d" % i))
            assert s1.expect(probe(b"to-mover-%d" % i))
        wait_until(lambda: any("02:aa:00:00:00:01" in line for line in offloaded(stack)), 10,
                   what="a kernel entry towards the mover")
        # The mover shows up on port 2: frames to it follow, from the kernel too.
        s2.send(udp_frame(m3, mover, b"moved"))
        assert s3.expect(probe(b"moved"))
        wait_until(lambda: any(p == _ofport(stack, hosts[1][1]) and m == "02:aa:00:00:00:01"
                               for p, _v, m in stack.fdb(br)), 10, what="the move learned")

        def delivered_to_2() -> bool:
            s3.send(udp_frame(mover, m3, b"after-move"))
            return s2.expect(probe(b"after-move"), timeout=0.3) is not None
        wait_until(delivered_to_2, 10, what="frames to the mover reaching port 2")
        s1.drain()
        burst(s3, udp_frame(mover, m3, b"after-move-burst"), 10)
        assert len(s2.frames(2, stop=lambda fs: sum(b"after-move-burst" in f.data for f in fs) >= 10)) >= 10
        assert not s1.expect(probe(b"after-move-burst"), timeout=0.3)


def _ofport(stack, iface: str) -> str:
    return stack.get("Interface", iface, "ofport")


@needs_kfast
def test_port_removed_with_traffic_flowing(stack, topo, br):
    [(h1, p1), (h2, p2), (h3, p3)] = bridged_hosts(stack, topo, br, "10.231.0", 3)
    assert ping(topo, h1, "10.231.0.2")
    assert ping(topo, h1, "10.231.0.3")
    wait_until(lambda: len(offloaded(stack)) >= 4, 10, what="kernel entries")
    flood = topo.popen(h1, "ping", "-q", "-i", "0.01", "-w", "4", "10.231.0.2")
    try:
        stack.vsctl("del-port", br, p2)
        wait_until(lambda: all(f"({p2})" not in line and f",{p2}" not in line and f":{p2}" not in line
                               for line in stack.appctl("dpctl/dump-flows", "--names").stdout.splitlines()),
                   10, what=f"no flow naming {p2}")
    finally:
        flood.wait(15)
    assert unreachable(topo, h1, "10.231.0.2")
    assert ping(topo, h1, "10.231.0.3")
    stack.vsctl("add-port", br, p2)
    assert ping(topo, h1, "10.231.0.2")


@needs_kfast
def test_fast_path_off_still_forwards_and_on_again(stack, topo, br):
    [(h1, p1), (h2, p2)] = bridged_hosts(stack, topo, br, "10.232.0", 2)
    assert ping(topo, h1, "10.232.0.2")
    wait_until(lambda: offloaded(stack), 10, what="kernel entries")
    stack.vsctl("set", "Open_vSwitch", ".", "other_config:kernel-fastpath=false")
    wait_until(lambda: "kernel fast path: off" in stack.appctl("dpctl/show").stdout, 10,
               what="the fast path off")
    assert not offloaded(stack)
    out = stack.appctl("dpctl/show").stdout
    hit = int(re.search(r"lookups: hit:(\d+) missed:(\d+)", out).group(1))
    assert ping(topo, h1, "10.232.0.2", count=5)
    out = stack.appctl("dpctl/show").stdout
    assert int(re.search(r"lookups: hit:(\d+)", out).group(1)) >= hit + 8     # in userspace
    assert not offloaded(stack)
    stack.vsctl("remove", "Open_vSwitch", ".", "other_config", "kernel-fastpath")
    wait_until(lambda: "kernel fast path: active" in stack.appctl("dpctl/show").stdout, 10,
               what="the fast path on again")
    assert ping(topo, h1, "10.232.0.2")
    wait_until(lambda: offloaded(stack), 10, what="kernel entries again")


@needs_kfast
def test_mac_learning_kept_alive_by_kernel_traffic(stack, topo, br):
    h1, p1 = topo.host(1, "10.233.0.1/24")
    h2, p2 = topo.host(2, "10.233.0.2/24")
    h3, p3 = topo.host(3, "10.233.0.3/24")
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "--", "add-port", br, p2, "--",
                "add-port", br, p3, "--", "set", "bridge", br, "other_config:mac-aging-time=15")
    assert ping(topo, h1, "10.233.0.2")
    wait_until(lambda: len(offloaded(stack)) >= 2, 10, what="kernel entries")
    with Port(h3) as spy:
        # 20 s of ping that only the kernel carries: without refresh both entries age out
        # at 15 s and the replies would be flooded to the third host.
        assert ping(topo, h1, "10.233.0.2", "-i", "0.2", count=100, deadline=40)
        seen = spy.frames(0.2)
    macs = {m for _p, _v, m in stack.fdb(br)}
    assert {hwaddr_text(h1), hwaddr_text(h2)} <= macs
    assert all(f.dst[0] & 1 for f in seen), "unicast flooded to the third host"


@needs_kfast
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_nothing_forwards_after_vswitchd_dies(stack, topo, br, sig):
    [(h1, p1), (h2, p2)] = bridged_hosts(stack, topo, br, "10.234.0", 2)
    assert ping(topo, h1, "10.234.0.2")
    wait_until(lambda: len(offloaded(stack)) >= 2, 10, what="kernel entries")
    assert all(_programs(p) for p in (p1, p2))
    pid = stack.pid("ovs-vswitchd")
    os.kill(pid, sig)
    wait_until(lambda: process_gone(pid), 10, what="ovs-vswitchd gone")
    # The programs and entries died with the process: a dead switch forwards nothing.
    wait_until(lambda: not any(_programs(p) for p in (p1, p2)), 10, what="programs detached")
    assert unreachable(topo, h1, "10.234.0.2")
    stack.start("ovs-vswitchd")
    assert ping(topo, h1, "10.234.0.2", deadline=20)


@needs_kfast
def test_host_traffic_through_the_internal_port_in_the_kernel(stack, topo, br):
    from netns import ip
    [(h1, p1)] = bridged_hosts(stack, topo, br, "10.235.0", 1)
    ip("addr", "add", "10.235.0.254/24", "dev", br)
    ip("link", "set", br, "up")
    assert ping(topo, h1, "10.235.0.254")
    # Both directions: the host's frames leave the TAP's egress (the TC program there
    # redirects them to the veth), the replies are delivered into the TAP's receive path.
    wait_until(lambda: sum(f"in_port({name})" in line for line in _named_offloaded(stack)
                           for name in (p1, br)) >= 2, 10, what="kernel entries both ways")
    assert any(f"actions:{br}" in line for line in _named_offloaded(stack))
    before = counters(stack)
    assert ping(topo, h1, "10.235.0.254", "-i", "0.05", count=30)
    after = counters(stack)
    assert after["kernel_hit"] - before["kernel_hit"] >= 60, (before, after)
    # Besides ARP refreshes (a key of their own each way, request and reply), the host
    # sends its own IPv6 chatter through the TAP now and then: a few frames, never the 60.
    assert after["userspace"] - before["userspace"] <= 10, (before, after)


def _named_offloaded(stack) -> list[str]:
    return stack.appctl("dpctl/dump-flows", "--names", "type=tc").stdout.splitlines()[1:]


def _programs(dev: str) -> list[int]:
    """The eBPF programs attached at the device's TCX ingress."""
    from pyvswitch.bpf import syscall
    from pyvswitch.netdev import linux
    return syscall.prog_query(linux.ifindex(dev), syscall.TCX_INGRESS)
