"""TAP set-up options (promiscuous, persistent, down) and deleting many devices in one
rtnetlink exchange (linux.delete_links): the request bytes, the acknowledgement parser,
and real devices created and deleted."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from util import needs_root
from pyvswitch.netdev import linux
from pyvswitch.netdev.tap import TapNetdev


def _names(n: int, tag: str) -> list[str]:
    return [f"pvd{tag}{os.getpid() % 10000}x{i}" for i in range(n)]


def test_link_request_bytes():
    """RTM_NEWLINK by name moving a device to a group, as iproute2 sends
    `ip link set dev tap0 group 7`: nlmsghdr, ifinfomsg, IFLA_IFNAME, IFLA_GROUP."""
    msg = linux._link_request(linux._RTM_NEWLINK, 5, "tap0", 7)
    assert len(msg) == struct.unpack_from("=I", msg)[0] == 16 + 16 + 12 + 8
    assert struct.unpack_from("=IHHII", msg) == (52, 16, 0x5, 5, 0)
    assert msg[16:32] == bytes(16)
    assert msg[32:44] == struct.pack("=HH", 9, 3) + b"tap0\0" + bytes(3)
    assert msg[44:] == struct.pack("=HHI", 8, 27, 7)
    group_del = linux._link_request(linux._RTM_DELLINK, 0, None, 9)
    assert struct.unpack_from("=IHHII", group_del) == (40, 17, 0x5, 0, 0)


def test_acks_parse_errors_and_skip_garbage():
    def ack(seq, err, extra=b""):
        body = struct.pack("=i", -err) + bytes(16) + extra
        return struct.pack("=IHHII", 16 + len(body), 2, 0, seq, 0) + body
    other = struct.pack("=IHHII", 20, 16, 0, 3, 0) + bytes(4)
    data = ack(1, 0) + other + ack(2, errno.ENODEV, b"abc") + bytes(1) + ack(4, 0)[:10]
    assert linux._acks(data) == [(1, 0), (2, errno.ENODEV)]
    assert linux._acks(b"") == []
    assert linux._acks(struct.pack("=IHHII", 0, 2, 0, 0, 0) * 2) == []


def test_delete_links_of_nothing():
    assert linux.delete_links([]) == {}


@needs_root
def test_tap_options_and_persistence():
    name, = _names(1, "o")
    tap = TapNetdev(name, up=False, promisc=True, persist=True)
    try:
        flags = linux.get_flags(name)
        assert flags & linux.IFF_PROMISC and not flags & linux.IFF_UP
        assert tap.ifindex == linux.ifindex(name)
        tap.close()
        assert linux.exists(name), "a persistent TAP outlives its descriptor"
        again = TapNetdev(name, up=True)
        assert linux.get_flags(name) & linux.IFF_UP
        again.set_persist(False)
        again.close()
        assert not linux.exists(name)
    finally:
        linux.delete_links([name])


@needs_root
@pytest.mark.parametrize("count", [1, 40])
def test_delete_links_removes_open_and_closed_taps(count):
    names = _names(count, "d")
    taps = [TapNetdev(n, up=False, persist=True) for n in names]
    try:
        taps[0].close()                      # one already closed, still there (persistent)
        gone = "pvdgone" + str(os.getpid() % 10000)
        assert linux.delete_links(names + [gone]) == {}
        assert not any(linux.exists(n) for n in names)
    finally:
        for t in taps:
            t.close()
        linux.delete_links(names)


@needs_root
def test_delete_links_reports_what_it_could_not_delete():
    names = _names(3, "f")
    bad = "x" * 20                           # longer than IFNAMSIZ: the kernel refuses it
    taps = [TapNetdev(n, up=False, persist=True) for n in names]
    try:
        failed = linux.delete_links(names + [bad])
        assert list(failed) == [bad] and failed[bad] != 0
        assert not any(linux.exists(n) for n in names)
    finally:
        for t in taps:
            t.close()
        linux.delete_links(names)
