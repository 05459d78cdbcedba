"""What the kernel fast path leaves behind in the kernel (nothing, once it is done with it):
a datapath with real AF_PACKET ports on veths and the real eBPF tier, through the switch
turned off and on, a port removed, and the datapath closed.  Kernel objects are checked by
id (a program or map exists while any fd, link or socket filter holds it), hooks by
PROG_QUERY, socket filters with SO_GET_FILTER (EACCES while an eBPF filter is on)."""

from __future__ import annotations

import errno
import socket

import pytest

from netns import Topology
from util import needs_root, wait_until
from pyvswitch.datapath import actions as A
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev import Packet
from pyvswitch.packet.flow import FULL_MASK, FlowKey, extract

pytestmark = needs_root
SO_GET_FILTER = 26
L2 = FlowKey(**{n: getattr(FULL_MASK, n) for n in ("in_port", "dl_dst", "dl_src", "dl_type")})
FRAME = bytes.fromhex("020000000b02020000000a01") + b"\x88\xb5" + bytes(50)


@pytest.fixture
def rig():
    kfast = pytest.importorskip("pyvswitch.datapath.kfast")
    if kfast.available() is not None:
        pytest.skip(kfast.available())
    from pyvswitch.netdev.afpacket import AfPacketNetdev
    with Topology("kl") as t:
        devs = [AfPacketNetdev(t.host(i)[1]) for i in (1, 2)]
        dp = UserspaceDatapath("t")
        try:
            for i, d in enumerate(devs, 1):
                dp.port_add(d, i)
            yield dp, devs
        finally:
            if not dp._epoll.closed:        # the test may have closed it
                dp.close()
            for d in devs:
                d.close()


def offload(dp) -> None:
    """A frame from port 1 forwarded by an L2 megaflow: port 1 gets the program and the
    socket filter, the kernel an entry."""
    key = extract(FRAME, 1)
    if dp.flow_get(L2, key) is None:
        dp.flow_put(L2, key, ((A.OUTPUT, 2),))
    dp.process(1, [Packet(FRAME)])          # the attacher attaches port 1 ...
    dp.offload.settle()
    dp.process(1, [Packet(FRAME)])          # ... and the next frame gets the entry
    assert dp.offload.n_entries == 1


def objects(fp) -> list[tuple]:
    from pyvswitch.bpf import syscall
    return ([(syscall.prog_exists, syscall.obj_id(fd)) for fd in (fp._tc_prog, fp._sock_prog)] +
            [(syscall.map_exists, syscall.obj_id(m.fd)) for m in (fp._kflows, fp._kports)])


def freed(objs) -> None:
    # The kernel frees them after an RCU grace period.
    wait_until(lambda: not any(exists(i) for exists, i in objs), 10, what="kernel objects freed")


def hooked(dev) -> list[int]:
    from pyvswitch.bpf import syscall
    return syscall.prog_query(dev.ifindex, syscall.TCX_INGRESS)


def filtered(dev) -> bool:
    s = socket.socket(fileno=socket.dup(dev.fileno()))
    try:
        s.getsockopt(socket.SOL_SOCKET, SO_GET_FILTER)
    except PermissionError as e:
        assert e.errno == errno.EACCES
        return True
    finally:
        s.close()
    return False


def test_nothing_is_left_in_the_kernel(rig):
    dp, (d1, d2) = rig
    offload(dp)
    fp = dp.offload.fp
    objs = objects(fp)
    assert hooked(d1) and filtered(d1) and not hooked(d2) and not filtered(d2)

    # Off: entries, links, socket filters, programs and maps all go.
    dp.set_kernel_fastpath(False)
    assert not hooked(d1) and not filtered(d1)
    freed(objs)

    # On again: a new tier, used as before.
    dp.set_kernel_fastpath(True)
    offload(dp)
    fp = dp.offload.fp
    objs = objects(fp)
    assert hooked(d1) and filtered(d1)
    assert fp.counters(d2.ifindex) == (0, 0, 0, 0) and d2.ifindex.to_bytes(4, "little") in fp._kports.keys()

    # A port removed: its hook, filter and counters row go; the tier stays.
    dp.port_del(1)
    assert not hooked(d1) and not filtered(d1) and dp.offload.n_entries == 0
    assert d1.ifindex.to_bytes(4, "little") not in fp._kports.keys()
    assert all(exists(i) for exists, i in objs)

    # The datapath closed: everything goes.
    dp.port_add(d1, 1)
    offload(dp)
    assert hooked(d1) and filtered(d1)
    dp.close()
    assert not hooked(d1) and not filtered(d1)
    freed(objs)
