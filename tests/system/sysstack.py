"""Our whole stack in a private directory, as a user runs it: `pyvswitch start --rundir DIR`
starts our ovsdb-server and ovs-vswitchd; our ovs-vsctl and ovs-appctl talk to them through
OVS_RUNDIR.  `close()` deletes every bridge first (so the daemon removes its TAP devices),
then stops both daemons by pid and removes the directory.

Also here: namespace hosts on a bridge, and what tests ask of a host (ping, its MAC address)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sysframes import mac_bytes
from util import ours, ovs_env, process_gone, stop_pid, wait_until

DAEMONS = ("ovsdb-server", "ovs-vswitchd")


class Stack:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pyvs-sys-"))
        self.env = ovs_env(self.dir)
        try:
            self.pyvswitch("start")
        except BaseException:
            self._stop_all()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def pyvswitch(self, *args: str) -> subprocess.CompletedProcess:
        r = subprocess.run([ours("pyvswitch"), *args, "--rundir", str(self.dir)], env=self.env,
                           capture_output=True, text=True, timeout=60)
        if r.returncode:
            raise AssertionError(f"pyvswitch {' '.join(args)}: {r.stdout}{r.stderr}")
        return r

    def pid(self, daemon: str) -> int | None:
        try:
            return int((self.dir / f"{daemon}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self, daemon: str) -> bool:
        pid = self.pid(daemon)
        return pid is not None and not process_gone(pid)

    def stop(self, daemon: str) -> None:
        pid = self.pid(daemon)
        if pid is not None:
            stop_pid(pid)

    def start(self, daemon: str) -> None:
        self.pyvswitch("start", daemon)

    def vsctl(self, *args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
        r = subprocess.run([ours("ovs-vsctl"), f"--timeout={int(timeout)}", *args], env=self.env,
                           capture_output=True, text=True, timeout=timeout + 10)
        if check and r.returncode:
            raise AssertionError(f"ovs-vsctl {' '.join(args)}: {r.stderr}")
        return r

    def get(self, table: str, record: str, column: str) -> str:
        return self.vsctl("--if-exists", "get", table, record, column).stdout.strip()

    def appctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([ours("ovs-appctl"), "-t", "ovs-vswitchd", *args], env=self.env,
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode:
            raise AssertionError(f"ovs-appctl {' '.join(args)}: {r.stderr}")
        return r

    def fdb(self, bridge: str) -> list[tuple[int, int, str]]:
        """fdb/show as (port, vlan, mac) rows."""
        rows = []
        for line in self.appctl("fdb/show", bridge).stdout.splitlines()[1:]:
            f = line.split()
            if len(f) >= 3:
                rows.append((f[0], int(f[1]), f[2]))
        return rows

    def wait_learned(self, bridge: str, mac: str, timeout: float = 10) -> None:
        wait_until(lambda: any(m == mac for _p, _v, m in self.fdb(bridge)), timeout,
                   what=f"{mac} in fdb/show {bridge}")

    def _stop_all(self) -> None:
        for d in reversed(DAEMONS):
            self.stop(d)

    def close(self) -> None:
        try:
            if self.alive("ovsdb-server") and self.alive("ovs-vswitchd"):
                bridges = self.vsctl("list-br", check=False).stdout.split()
                if bridges:
                    args: list[str] = []
                    for br in bridges:
                        args += ["--", "del-br", br]
                    self.vsctl(*args[1:], check=False)
        finally:
            self._stop_all()
            shutil.rmtree(self.dir, ignore_errors=True)


def bridged_hosts(stack: Stack, topo, br: str, subnet: str, n: int) -> list[tuple[str, str]]:
    """Hosts 1..n at SUBNET.i/24 (subnet like "10.230.0"), their ports on a new bridge `br`
    added in one ovs-vsctl call; returns their (namespace, port) pairs."""
    hosts = [topo.host(i, f"{subnet}.{i}/24") for i in range(1, n + 1)]
    args = ["add-br", br]
    for _, port in hosts:
        args += ["--", "add-port", br, port]
    stack.vsctl(*args)
    return hosts


def ping(topo, ns, addr, *extra: str, count: int = 3, deadline: int = 10) -> bool:
    """True once count echo replies came back; false if they did not within deadline seconds
    (ping -w keeps sending until then, so a daemon slowed by a loaded machine still passes)."""
    r = topo.run(ns, "ping", "-c", str(count), "-i", "0.2", "-w", str(deadline), *extra, addr,
                 timeout=deadline + 30)
    return r.returncode == 0


def unreachable(topo, ns, addr) -> bool:
    """True if two echo requests a second apart get no reply."""
    return topo.run(ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", addr).returncode != 0


def hwaddr_text(ns: str) -> str:
    """The MAC address of a host's eth0."""
    r = subprocess.run(["ip", "-n", ns, "-br", "link", "show", "eth0"], capture_output=True,
                       text=True, timeout=10, check=True)
    return r.stdout.split()[2]


def hwaddr(ns: str) -> bytes:
    return mac_bytes(hwaddr_text(ns))
