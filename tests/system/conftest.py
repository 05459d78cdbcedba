"""Fixtures for the system tests: our daemons in a private directory (`stack`), namespace
hosts (`topo`), and bridge names unique to this test process (`br`, `br2`)."""

from __future__ import annotations

import os

import pytest

from netns import Topology, ip
from sysstack import Stack

BRIDGES = tuple(f"sybr{c}{os.getpid() % 10000}" for c in "ab")


@pytest.fixture
def topo():
    t = Topology("sy")
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
