"""The rtnetlink link dump decoder, on crafted messages and on this machine's interfaces."""

from __future__ import annotations

import struct

import pytest

from util import needs_root

from pyvswitch.vswitchd.linkstate import (
    IFINFOMSG, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDR, RTM_NEWLINK, STATS64_FIELDS, dump_links,
    parse_links,
)


def attr(atype: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), atype) + value
    return raw + b"\0" * (-len(raw) % 4)


def newlink(index: int, flags: int, name: str, mtu: int, mac: bytes, stats: tuple) -> bytes:
    body = (IFINFOMSG.pack(0, 1, index, flags, 0) + attr(3, name.encode() + b"\0")
            + attr(4, struct.pack("=I", mtu)) + attr(1, mac)
            + attr(23, struct.pack("=" + "Q" * len(stats), *stats)) + attr(99, b"junk"))
    return NLMSG_HDR.pack(16 + len(body), RTM_NEWLINK, 2, 1, 0) + body


def test_parse_links():
    stats = tuple(range(1, len(STATS64_FIELDS) + 3))    # newer kernels send more fields
    data = (newlink(7, 0x1043, "eth9", 1500, bytes(range(6)), stats)
            + NLMSG_HDR.pack(20, NLMSG_DONE, 2, 1, 0) + bytes(4))
    links, done = parse_links(data)
    assert done and len(links) == 1
    link = links[0]
    assert (link.name, link.ifindex, link.mtu, link.mac) == ("eth9", 7, 1500, bytes(range(6)))
    assert link.admin_up and link.running
    assert link.counters["rx_packets"] == 1 and link.counters["multicast"] == 9
    # truncated input yields what is whole and never raises a decoding error
    for cut in range(len(data)):
        parse_links(data[:cut])


def test_parse_error_message():
    data = NLMSG_HDR.pack(36, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -1) + bytes(16)
    with pytest.raises(OSError):
        parse_links(data)


def test_dump_this_namespace():
    links = dump_links()
    assert "lo" in links and links["lo"].mtu and links["lo"].counters is not None


def test_parse_dellink_marks_the_link_deleted():
    from pyvswitch.vswitchd.linkstate import RTM_DELLINK
    msg = bytearray(newlink(7, 0, "eth9", 1500, bytes(6), (0,) * len(STATS64_FIELDS)))
    struct.pack_into("=H", msg, 4, RTM_DELLINK)
    links, done = parse_links(bytes(msg))
    assert not done and links[0].deleted and links[0].name == "eth9"


def test_monitor_follows_appearance_renames_and_deletion():
    """LinkMonitor's bookkeeping on notifications (no socket): a rename drops the old
    name, a deletion the device, each reported as changed."""
    from pyvswitch.vswitchd.linkstate import LinkInfo, LinkMonitor
    m = LinkMonitor()
    m._load([LinkInfo("a", 1, 0, 1500, None, None), LinkInfo("b", 2, 0, 1500, None, None)],
            reset=True)
    assert sorted(m._load([LinkInfo("c", 1, 1, 1500, None, None)])) == ["a", "c"]
    assert set(m.links) == {"b", "c"} and m.links["c"].admin_up
    assert m._load([LinkInfo("b", 2, 0, None, None, None, deleted=True)]) == ["b", "b"]
    assert set(m.links) == {"c"}
    # A name taken over by another device (a new index) replaces the old entry.
    m._load([LinkInfo("c", 9, 0, 1500, None, None)])
    assert m.links["c"].ifindex == 9 and m._names == {9: "c"}


@needs_root
def test_monitor_against_the_kernel():
    import os
    from pyvswitch.netdev.tap import TapNetdev
    from pyvswitch.netdev import linux
    from pyvswitch.vswitchd.linkstate import LinkMonitor
    name = f"vwlm{os.getpid() % 10000}"
    m = LinkMonitor()
    tap = None
    try:
        assert m.refresh() is None and "lo" in m.links
        assert name not in m.refresh()
        tap = TapNetdev(name, up=False)
        assert name in m.refresh() and not m.links[name].admin_up
        assert m.refresh() == set()
        linux.set_up(name)
        assert m.refresh() == {name} and m.links[name].admin_up
        assert m.refresh(full=True) is None and name in m.links
        tap.close()
        tap = None
        assert name in m.refresh() and name not in m.links
    finally:
        if tap is not None:
            tap.close()
        m.close()


@needs_root
def test_monitor_dumps_again_when_notifications_were_dropped(monkeypatch):
    import os
    from pyvswitch.netdev import linux
    from pyvswitch.netdev.tap import TapNetdev
    from pyvswitch.vswitchd.linkstate import LinkMonitor
    monkeypatch.setattr(LinkMonitor, "RCVBUF", 4096)     # the kernel's minimum, about
    names = [f"vwlo{os.getpid() % 10000}x{i}" for i in range(40)]
    m = LinkMonitor()
    taps = []
    try:
        assert m.refresh() is None
        taps = [TapNetdev(n, up=False, persist=True) for n in names]
        assert m.refresh() is None, "a full buffer (ENOBUFS) means a full dump"
        assert set(names) <= set(m.links)
        assert m.refresh() == set()
    finally:
        for t in taps:
            t.close()
        linux.delete_links(names)
        m.close()


def test_carrier_is_the_lower_up_flag():
    from pyvswitch.vswitchd.linkstate import IFF_LOWER_UP, IFF_RUNNING, IFF_UP, LinkInfo
    assert LinkInfo("a", 1, IFF_UP | IFF_RUNNING | IFF_LOWER_UP, 1500, None, None).carrier
    assert not LinkInfo("a", 1, IFF_UP, 1500, None, None).carrier


@needs_root
def test_monitor_socket_polls_readable_when_a_carrier_goes():
    """A veth whose peer goes down loses carrier: the monitor's descriptor becomes
    readable and refresh() names the device, now without carrier."""
    import os
    import select
    import subprocess
    import time
    from pyvswitch.vswitchd.linkstate import LinkMonitor
    a, b = f"vwlc{os.getpid() % 10000}", f"vwlC{os.getpid() % 10000}"
    m = LinkMonitor()
    try:
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        subprocess.run(["ip", "link", "set", a, "up"], check=True)
        subprocess.run(["ip", "link", "set", b, "up"], check=True)
        m.refresh()
        deadline = time.monotonic() + 5
        while not (a in m.links and m.links[a].carrier) and time.monotonic() < deadline:
            select.select([m.fileno()], [], [], 0.1)
            m.refresh()
        assert m.links[a].carrier
        subprocess.run(["ip", "link", "set", b, "down"], check=True)
        seen = False
        while not seen and time.monotonic() < deadline + 5:
            if select.select([m.fileno()], [], [], 0.5)[0]:
                seen = a in (m.refresh() or {a})
        assert seen and not m.links[a].carrier and m.links[a].admin_up
    finally:
        subprocess.run(["ip", "link", "del", a], check=False, capture_output=True)
        m.close()
