"""Bonds with real packets: a namespace host with two veths (eth0, eth1) bonded on the
bridge, a plain host on another port.  The kernel here has no bonding module, so the bonded
host's side is driven with packet sockets: tests assert on which member each frame left
the bridge, and that a flood reaches the bonded host once."""

from __future__ import annotations

import time

from netns import ip
from sysframes import BROADCAST, Port, mac, udp_frame
from util import needs_root, wait_until

pytestmark = needs_root


def probe(marker: bytes):
    return lambda f: marker in f.data


def bonded_host(topo, i):
    """Host i with eth0 (root side P) and eth1 (root side Q): returns (ns, P, Q)."""
    ns, p = topo.host(i)
    q = f"{topo.tag}q{i}"
    ip("link", "add", q, "type", "veth", "peer", "name", "eth1", "netns", ns)
    topo._undo.append(["link", "del", q])
    with open(f"/proc/sys/net/ipv6/conf/{q}/disable_ipv6", "w") as f:
        f.write("1")
    ip("link", "set", q, "up")
    ip("-n", ns, "link", "set", "eth1", "up")
    return ns, p, q


def members(stack, bond):
    """{member: (enabled, active)} from bond/show."""
    out, cur = {}, None
    for line in stack.appctl("bond/show", bond).stdout.splitlines():
        if line.startswith("member "):
            cur = line.split()[1].rstrip(":")
            out[cur] = [line.endswith("enabled"), False]
        elif line == "  active member" and cur:
            out[cur][1] = True
    return {k: tuple(v) for k, v in out.items()}


def active(stack, bond):
    return next((m for m, (_e, a) in members(stack, bond).items() if a), None)


def setup(stack, topo, br, mode):
    h1, p1 = topo.host(1)
    hb, pb, qb = bonded_host(topo, 2)
    stack.vsctl("add-br", br, "--", "add-port", br, p1, "--",
                "add-bond", br, "bond0", pb, qb, f"bond_mode={mode}")

    def ready():
        m = members(stack, "bond0")
        return len(m) == 2 and all(e for e, _a in m.values())

    wait_until(ready, 15, what="both members enabled")
    return h1, p1, hb, pb, qb


def send_until(sender, frame, receivers, marker, timeout=10.0):
    """Resends frame until one of receivers sees it (a loaded machine delays the first
    frames through a new port); returns the receiver that did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sender.send(frame)
        for name, r in receivers.items():
            if r.expect(probe(marker), timeout=0.2):
                return name
    return None


def test_active_backup_uses_the_active_member_and_fails_over(stack, topo, br):
    h1, p1, hb, pb, qb = setup(stack, topo, br, "active-backup")
    ifname = {pb: "eth0", qb: "eth1"}
    act = active(stack, "bond0")
    backup = qb if act == pb else pb
    with Port(h1) as s1, Port(hb, "eth0") as e0, Port(hb, "eth1") as e1:
        rx = {pb: e0, qb: e1}
        got = send_until(s1, udp_frame(BROADCAST, mac(0x101), b"ab-one"), rx, b"ab-one")
        assert got == act
        assert not rx[backup].expect(probe(b"ab-one"), timeout=0.3)
        # From the bonded host: accepted on the active member, dropped on the backup.
        rx[backup].send(udp_frame(BROADCAST, mac(0x202), b"from-backup"))
        assert not s1.expect(probe(b"from-backup"), timeout=0.5)
        assert send_until(rx[act], udp_frame(BROADCAST, mac(0x202), b"from-active"),
                          {"h1": s1}, b"from-active") == "h1"
        # No copy of the host's own broadcast comes back on its other member.
        assert not rx[backup].expect(probe(b"from-active"), timeout=0.3)

        # The active member's link goes down: traffic moves to the backup.
        ip("link", "set", act, "down")
        wait_until(lambda: active(stack, "bond0") == backup, 10, what="failover")
        assert stack.get("Port", "bond0", "bond_active_slave") != "[]"
        for r in rx.values():
            r.drain()
        assert send_until(s1, udp_frame(BROADCAST, mac(0x101), b"ab-two"), rx, b"ab-two") \
            == backup
        # Unicast to the host learned on the bond follows too.
        assert send_until(s1, udp_frame(mac(0x202), mac(0x101), b"ab-uni"), rx, b"ab-uni") \
            == backup
        # Back up: it stays a backup (no fail-back without bond-primary).
        ip("link", "set", act, "up")
        ip("-n", hb, "link", "set", ifname[act], "up")
        wait_until(lambda: members(stack, "bond0").get(act, (False,))[0], 10,
                   what="member re-enabled")
        assert active(stack, "bond0") == backup
    log = (stack.dir / "ovs-vswitchd.log").read_text()
    assert f"bond bond0: active member is now {backup}" in log
    assert f"member {act}: disabled" in log


def test_balance_slb_spreads_sources_one_copy_per_frame(stack, topo, br):
    h1, p1, hb, pb, qb = setup(stack, topo, br, "balance-slb")
    with Port(h1) as s1, Port(hb, "eth0") as e0, Port(hb, "eth1") as e1:
        rx = {pb: e0, qb: e1}
        assert send_until(s1, udp_frame(BROADCAST, mac(0x300), b"slb-warm"), rx, b"slb-warm")
        for r in rx.values():
            r.drain()
        n = 24
        for i in range(n):
            s1.send(udp_frame(BROADCAST, mac(0x400 + i), b"slb-%02d" % i))
        seen = {name: [] for name in rx}

        def collect():
            for name, r in rx.items():
                seen[name] += [f for f in r.frames(0.1) if b"slb-" in f.data]
            return sum(len(v) for v in seen.values()) >= n

        wait_until(collect, 15, what="all probes delivered")
        for name, r in rx.items():
            seen[name] += [f for f in r.frames(0.3) if b"slb-" in f.data]
        markers = [f.data[f.data.index(b"slb-"):][:6] for v in seen.values() for f in v]
        assert sorted(markers) == sorted(b"slb-%02d" % i for i in range(n))   # once each
        assert all(seen.values()), {k: len(v) for k, v in seen.items()}    # both members used
        # One source always leaves on the same member.
        by_src = {}
        for name, frames in seen.items():
            for f in frames:
                by_src.setdefault(f.data[6:12], set()).add(name)
        assert all(len(v) == 1 for v in by_src.values())
