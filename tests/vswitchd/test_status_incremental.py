"""The status pass on real TAPs looks again only at what changed: a device the kernel
reported (link notifications), everything after a reconfiguration, everything when
statistics are sampled; an idle port keeps the status observed before."""

from __future__ import annotations

import os

import pytest

from test_reconcile import Snapshot
from pyvswitch.netdev import linux
from pyvswitch.vswitchd.config import Dummy
from pyvswitch.vswitchd.reconcile import reconcile
from pyvswitch.vswitchd.switch import Switch
from util import needs_root

pytestmark = needs_root


@pytest.fixture
def switch():
    sw = Switch(Dummy.OFF)
    yield sw
    sw.close(keep_devices=False)


def test_idle_ports_keep_their_status_and_changes_are_seen(switch):
    tag = os.getpid() % 10000
    br, p1, p2 = f"vwsb{tag}", f"vws{tag}a", f"vws{tag}b"
    s = Snapshot()
    s.bridge(br, datapath_type="netdev")
    s.port(br, p1, type="internal")
    s.port(br, p2, type="internal")
    switch.apply(reconcile(switch.running, s.state(Dummy.OFF)), 0.0)
    first, _ = switch.status(False)
    assert first[p1].admin_state == "down" and first[p1].statistics is not None

    again, _ = switch.status(False)
    assert again[p1] is first[p1] and again[p2] is first[p2]

    linux.set_up(p1)
    seen, _ = switch.status(False)
    assert seen[p1].admin_state == "up" and seen[p1].statistics is None
    assert seen[p2] is first[p2]

    sampled, _ = switch.status(True)
    assert sampled[p2] is not first[p2] and sampled[p2].statistics is not None

    # A reconfiguration looks at every port again.
    s.tables["Port"][next(u for u, r in s.tables["Port"].items() if r["name"] == p2)]["tag"] = (5,)
    switch.apply(reconcile(switch.running, s.state(Dummy.OFF)), 0.0)
    after, _ = switch.status(False)
    assert after[p1] is not sampled[p1] and after[p1].admin_state == "up"
