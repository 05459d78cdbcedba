"""Fixtures for the system tests: our daemons in a private directory (`stack`), namespace
hosts (`topo`), and bridge names unique to this test process (`br`, `br2`)."""

from __future__ import annotations

import os

import pytest

from netns import Topology, ip
from sysstack import Stack

BRIDGES = tuple(f"sybr{c}{os.getpid() % 10000}" for c in "ab")


class SysTopology(Topology):
    """Topology whose root-side veth ends send nothing of their own: with IPv6 on, the kernel
    sends MLD and router solicitations out of them, straight to the host behind, which
    tests would take for frames the switch forwarded."""

    def host(self, i, addr=None, *, mtu=None):
        ns, port = super().host(i, addr, mtu=mtu)
        with open(f"/proc/sys/net/ipv6/conf/{port}/disable_ipv6", "w") as f:
            f.write("1")
        return ns, port


@pytest.fixture
def topo():
    t = SysTopology("sy")
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def stack(topo):
    s = Stack()
    try:
        yield s
    finally:
        s.close()
        # The daemon deletes a bridge's TAP with the bridge; if it died first the device is left.
        for name in BRIDGES:
            if os.path.exists(f"/sys/class/net/{name}"):
                ip("link", "del", name, check=False)


@pytest.fixture
def br():
    return BRIDGES[0]


@pytest.fixture
def br2():
    return BRIDGES[1]
