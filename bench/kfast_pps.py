"""Kernel fast path microbenchmark: 64-byte frames/s and ping RTT between two namespace hosts
forwarded only by kernel entries, side by side with a Linux bridge on the same topology.

    .venv/bin/python bench/kfast_pps.py [ROUNDS]      as root; T=SECONDS per figure (default 5)

Measured as ../shared/bench/measure.sh does (so the figures compare with its table):
trafgen sends 64-byte UDP frames from h1 for T seconds; frames/s is what h2's eth0 received
divided by T; RTT is the average of 50 pings 10 ms apart; TCP is iperf3 for T seconds with
the veths' offloads on.  On a shared machine the figures
follow the load: compare within a round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from netns import Topology, ip  # noqa: E402

from pyvswitch.datapath import kfast  # noqa: E402

T = float(os.environ.get("T", "5"))


def mac(t: Topology, ns: str) -> bytes:
    out = t.run(ns, "cat", "/sys/class/net/eth0/address").stdout.strip()
    return bytes.fromhex(out.replace(":", ""))


def rx_packets(t: Topology, ns: str) -> int:
    return int(t.run(ns, "cat", "/sys/class/net/eth0/statistics/rx_packets").stdout)


def tcp(t: Topology, h1: str, h2: str) -> str:
    """iperf3 TCP throughput in Gbit/s, offloads on (as the veths have them)."""
    port = str(5200 + os.getpid() % 500)
    srv = t.popen(h2, "iperf3", "-s", "-1", "-p", port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if t.run(h2, "ss", "-Hltn", f"sport = :{port}", timeout=5).stdout.strip():
                break
            time.sleep(0.05)
        r = t.run(h1, "iperf3", "-c", "10.0.0.2", "-p", port, "-t", str(int(T)), "-J", timeout=T + 30)
        try:
            return f"{json.loads(r.stdout)['end']['sum_received']['bits_per_second'] / 1e9:.2f}"
        except (ValueError, KeyError):
            return "fail"
    finally:
        srv.kill()
        srv.wait()


def measure(t: Topology, h1: str, h2: str, m1: bytes, m2: bytes) -> tuple[str, int, str]:
    ping = t.run(h1, "ping", "-c", "50", "-i", "0.01", "-q", "-W", "1", "10.0.0.2")
    rtt = next((ln.split("/")[4] for ln in ping.stdout.splitlines() if ln.startswith("rtt")), "fail")
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as cfg:
        cfg.write(f"{{ eth(da={m2.hex(':')}, sa={m1.hex(':')}), ipv4(saddr=10.0.0.1, daddr=10.0.0.2, "
                  "ttl=64), udp(sp=1000, dp=9), fill(0x41, 18) }\n")
    try:
        r0 = rx_packets(t, h2)
        t.run(h1, "timeout", str(T), "trafgen", "-o", "eth0", "-i", cfg.name, "-q", timeout=T + 30)
        time.sleep(1)          # frames still in flight are counted as measure.sh counts them
        r1 = rx_packets(t, h2)
    finally:
        os.unlink(cfg.name)
    return rtt, int((r1 - r0) / T), tcp(t, h1, h2)


def program_cost() -> str:
    """ns per run of the TC program in the kernel (PROG_TEST_RUN, 100k runs): a miss, and a
    hit on a drop entry (key built, entry and port counted)."""
    from pyvswitch.bpf import syscall
    frame = bytes.fromhex("020000000b02020000000a010800") + bytes(50)
    with kfast.KernelFastPath.open() as fp:
        miss = syscall.prog_test_run(fp._tc_prog, frame, 100000)[1]
        fp.put(kfast.key(1, 0x020000000B02, 0x020000000A01, 0, 0x0800), [])
        hit = syscall.prog_test_run(fp._tc_prog, frame, 100000)[1]
    return f"TC program per frame: miss {miss} ns, hit (drop entry) {hit} ns"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    print(program_cost())
    with Topology("kb") as t:
        (h1, p1), (h2, p2) = t.host(1, "10.0.0.1/24"), t.host(2, "10.0.0.2/24")
        m1, m2 = mac(t, h1), mac(t, h2)
        br = f"{t.tag}br"
        for r in range(rounds):
            load = open("/proc/loadavg").read().split()[:3]
            ip("link", "add", br, "type", "bridge")
            try:
                ip("link", "set", br, "up")
                for p in (p1, p2):
                    ip("link", "set", p, "master", br)
                subprocess.run(["ip", "netns", "exec", h1, "ping", "-c", "1", "-W", "2", "10.0.0.2"],
                               capture_output=True)
                bridge = measure(t, h1, h2, m1, m2)
            finally:
                ip("link", "del", br, check=False)
            with kfast.KernelFastPath.open() as fp:
                i1, i2 = (int(open(f"/sys/class/net/{p}/ifindex").read()) for p in (p1, p2))
                for a, b, ia, ib, ma, mb in ((p1, p2, i1, i2, m1, m2), (p2, p1, i2, i1, m2, m1)):
                    fp.attach_ingress(ia)
                    for ty in (0x0800, 0x0806):
                        fp.put(kfast.key(ia, int.from_bytes(mb, "big"), int.from_bytes(ma, "big"), 0, ty),
                               [(kfast.OUT, ib)])
                    fp.put(kfast.key(ia, 0xFFFFFFFFFFFF, int.from_bytes(ma, "big"), 0, 0x0806),
                           [(kfast.OUT, ib)])
                cpu0 = os.times()
                fast = measure(t, h1, h2, m1, m2)
                hits = sum(p for _k, p, _b, _u in fp.dump())
            print(f"round {r + 1} of {rounds}, load average {' '.join(load)}")
            print(f"  {'':22} {'Linux bridge':>14} {'kernel fast path':>18}")
            print(f"  {'ping RTT (ms)':22} {bridge[0]:>14} {fast[0]:>18}")
            print(f"  {'64 B frames/s':22} {bridge[1]:>14} {fast[1]:>18}")
            print(f"  {'TCP, offloads on (Gbit/s)':22} {bridge[2]:>14} {fast[2]:>18}")
            print(f"  kernel entry hits: {hits}; this process's CPU while measuring: "
                  f"{os.times().user - cpu0.user + os.times().system - cpu0.system:.2f} s")


if __name__ == "__main__":
    main()
