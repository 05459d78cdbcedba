"""Test hosts in network namespaces, wired by veth pairs to the root namespace.

`Topology` records everything it creates and removes it all in `close()`, in reverse, even
after a failure half-way: tests use it as a context manager or fixture.  Names carry the
test process's pid so parallel runs never collide.
"""

from __future__ import annotations

import os
import subprocess


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


class Topology:
    def __init__(self, tag: str = "t"):
        self.tag = f"{tag}{os.getpid() % 10000}"
        self._undo: list[list[str]] = []

    def host(self, i: int, addr: str | None = None, *, mtu: int | None = None) -> tuple[str, str]:
        """Namespace host i with eth0 (addr like 10.0.0.1/24) and its root-side port.
        Returns (namespace, port name)."""
        ns, port = f"{self.tag}h{i}", f"{self.tag}p{i}"
        ip("netns", "add", ns)
        self._undo.append(["netns", "del", ns])
        ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self._undo.append(["link", "del", port])
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], capture_output=True, timeout=30)
        if mtu:
            ip("link", "set", port, "mtu", str(mtu))
            ip("-n", ns, "link", "set", "eth0", "mtu", str(mtu))
        ip("link", "set", port, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", "eth0", "up")
        if addr:
            ip("-n", ns, "addr", "add", addr, "dev", "eth0")
        return ns, port

    def run(self, ns: str, *cmd: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                              timeout=timeout, **kw)

    def popen(self, ns: str, *cmd: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], **kw)

    def close(self) -> None:
        while self._undo:
            ip(*self._undo.pop(), check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
