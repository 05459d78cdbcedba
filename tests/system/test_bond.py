"""Bonds with real packets: a namespace host with two veths (eth0, eth1) bonded on the
bridge, a plain host on another port.  The kernel here has no bonding module, so the bonded
host's side is driven with packet sockets: tests assert on which member each frame left
the bridge, and that a flood reaches the bonded host once."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from netns import ip
from sysframes import BROADCAST, ETH_P_IP, Port, ethernet, ipv4, mac, udp, udp_frame
from sysstack import ping
from util import needs_reference, needs_root, ovs_env, ref, stop_pid, wait_until

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


TAP = "/sys/class/net/ovs-netdev"


class RefSwitch:
    """The reference ovsdb-server and ovs-vswitchd in a private directory."""

    def __init__(self) -> None:
        self.had_tap = Path(TAP).exists()
        self.dir = Path(tempfile.mkdtemp(prefix="pyvs-refbond-"))
        self.env = ovs_env(self.dir)
        self.procs: list[subprocess.Popen] = []
        db = self.dir / "conf.db"
        subprocess.run([ref("ovsdb-tool"), "create", str(db),
                        "/usr/share/openvswitch/vswitch.ovsschema"], check=True, env=self.env)
        self._start([ref("ovsdb-server"), str(db), f"--remote=punix:{self.dir}/db.sock",
                     f"--unixctl={self.dir}/ovsdb-server.ctl"], self.dir / "db.sock")
        self.vsctl("--no-wait", "init")
        self._start([ref("ovs-vswitchd"), f"unix:{self.dir}/db.sock", "-vconsole:off",
                     f"--log-file={self.dir}/ovs-vswitchd.log",
                     f"--unixctl={self.dir}/ovs-vswitchd.ctl"], self.dir / "ovs-vswitchd.ctl")

    def _start(self, cmd, sock: Path) -> None:
        p = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_until(lambda: sock.exists() or p.poll() is not None, 20, what=str(sock))

    def vsctl(self, *args, check=True):
        r = subprocess.run([ref("ovs-vsctl"), f"--db=unix:{self.dir}/db.sock", "--timeout=20",
                            *args], env=self.env, capture_output=True, text=True, timeout=40)
        if check and r.returncode:
            raise AssertionError(f"ovs-vsctl {' '.join(args)}: {r.stderr}")
        return r

    def appctl(self, *args) -> str:
        return subprocess.run([ref("ovs-appctl"), "-t", str(self.dir / "ovs-vswitchd.ctl"),
                               *args], env=self.env, capture_output=True, text=True,
                              timeout=30).stdout

    def close(self) -> None:
        for p in reversed(self.procs):
            stop_pid(p.pid)
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        # The reference's netdev datapath leaves its "ovs-netdev" TAP behind: remove it
        # unless it was there before (another reference switch may be using it).
        if not self.had_tap and Path(TAP).exists():
            ip("link", "del", "ovs-netdev", check=False)


@needs_reference
def test_lacp_balance_tcp_against_the_reference_switch(stack, topo, br):
    """Our bond and a reference OVS bond, joined by two veth pairs, negotiate LACP
    (balance-tcp, lacp-time fast); hosts behind each switch ping; a member's link going
    down leaves the other carrying the traffic."""
    h1, p1 = topo.host(1, "10.231.0.1/24")
    h2, p2 = topo.host(2, "10.231.0.2/24")
    links = []
    for i in (1, 2):
        ours_end, ref_end = f"{topo.tag}o{i}", f"{topo.tag}r{i}"
        ip("link", "add", ours_end, "type", "veth", "peer", "name", ref_end)
        topo._undo.append(["link", "del", ours_end])
        for end in (ours_end, ref_end):
            with open(f"/proc/sys/net/ipv6/conf/{end}/disable_ipv6", "w") as f:
                f.write("1")
            ip("link", "set", end, "up")
        links.append((ours_end, ref_end))
    refsw = RefSwitch()
    refbr = f"{br}r"
    try:
        lacp = ["bond_mode=balance-tcp", "lacp=active", "other_config:lacp-time=fast"]
        refsw.vsctl("add-br", refbr, "--", "set", "bridge", refbr, "datapath_type=netdev",
                    "--", "add-port", refbr, p1, "--",
                    "add-bond", refbr, "rbond", links[0][1], links[1][1], *lacp)
        stack.vsctl("add-br", br, "--", "add-port", br, p2, "--",
                    "add-bond", br, "bond0", links[0][0], links[1][0], *lacp)

        def negotiated():
            show = stack.appctl("bond/show", "bond0").stdout
            theirs = refsw.appctl("bond/show")
            return ("lacp_status: negotiated" in show and show.count(": enabled") == 2
                    and theirs.count(": enabled") == 2)

        wait_until(negotiated, 30, what="LACP negotiated on both switches")
        lacp_show = stack.appctl("lacp/show", "bond0").stdout
        assert "status: active negotiated" in lacp_show
        assert lacp_show.count("current attached") == 2
        theirs = refsw.appctl("lacp/show")
        assert "status: active negotiated" in theirs and theirs.count("current attached") == 2
        assert ping(topo, h1, "10.231.0.2")

        # balance-tcp: flows (here UDP source ports) spread over both links, each flow on one.
        with Port(h2) as s2, Port(None, links[0][1]) as w1, Port(None, links[1][1]) as w2:
            for sport in range(2000, 2040):
                payload = udp(sport, 7, b"tcp-hash-%d" % sport)
                s2.send(ethernet(BROADCAST, mac(0x909), ETH_P_IP,
                                 ipv4("10.231.0.9", "10.231.0.1", 17, payload)))
            seen = {1: set(), 2: set()}

            def spread():
                for n, w in ((1, w1), (2, w2)):
                    seen[n] |= {f.data[f.data.index(b"tcp-hash-"):] for f in w.frames(0.1)
                                if b"tcp-hash-" in f.data}
                return len(seen[1] | seen[2]) == 40

            wait_until(spread, 10, what="all 40 flows on the wire")
            assert seen[1] and seen[2] and not seen[1] & seen[2]

        ip("link", "set", links[0][0], "down")
        wait_until(lambda: f"member {links[0][0]}: disabled"
                   in stack.appctl("bond/show", "bond0").stdout, 10, what="member disabled")
        assert ping(topo, h1, "10.231.0.2")
    finally:
        refsw.vsctl("--if-exists", "del-br", refbr, check=False)
        refsw.close()
