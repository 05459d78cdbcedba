"""The fast path's TC program run by the kernel on frames we make (PROG_TEST_RUN): the key it
builds is the key kfast.key() makes from the same fields, whatever the frame."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from util import needs_root
from pyvswitch.bpf import syscall
from pyvswitch.bpf.programs import TCX_DROP, TCX_NEXT, TCX_REDIRECT
from pyvswitch.datapath import kfast
from pyvswitch.datapath.kfast import OUT, OUT_INGRESS, POP_VLAN, PUSH_VLAN

pytestmark = needs_root
LO = 1                      # PROG_TEST_RUN runs the program on the loopback device

macs = st.integers(0, 2 ** 48 - 1)
ethertypes = st.integers(0x0600, 0xFFFF).filter(lambda t: t not in (0x8100, 0x88A8))


@pytest.fixture(scope="module")
def fp():
    with kfast.KernelFastPath.open(max_flows=64) as f:
        yield f


def run(fp, frame: bytes) -> int:
    return syscall.prog_test_run(fp._tc_prog, frame)[0]


def eth(dst: int, src: int, ethertype: int, payload: bytes = b"") -> bytes:
    return dst.to_bytes(6, "big") + src.to_bytes(6, "big") + struct.pack("!H", ethertype) + payload


@settings(max_examples=60, deadline=None)
@given(dst=macs, src=macs, ethertype=ethertypes, payload=st.binary(max_size=100), other=macs)
def test_program_key_is_kfast_key(fp, dst, src, ethertype, payload, other):
    frame = eth(dst, src, ethertype, payload)
    k = kfast.key(LO, dst, src, 0, ethertype)
    fp.flush()
    assert run(fp, frame) == TCX_NEXT
    assert fp.put(k, [])
    assert run(fp, frame) == TCX_DROP
    assert fp.dump() == [(k, 1, len(frame), fp.dump()[0][3])]
    # Any other field value misses.
    if other != dst:
        assert run(fp, eth(other, src, ethertype, payload)) == TCX_NEXT
    if other != src:
        assert run(fp, eth(dst, other, ethertype, payload)) == TCX_NEXT
    assert fp.delete(k)


def test_in_band_tags_always_miss(fp):
    fp.flush()
    for tpid in (0x8100, 0x88A8):
        frame = eth(2, 3, tpid, struct.pack("!HH", 10, 0x0800) + bytes(46))
        for k in (kfast.key(LO, 2, 3, 0, tpid), kfast.key(LO, 2, 3, 0x100A, 0x0800),
                  kfast.key(LO, 2, 3, 0, 0x0800)):
            fp.put(k, [])
        assert run(fp, frame) == TCX_NEXT


def test_steps_end_in_a_redirect(fp):
    fp.flush()
    frame = eth(2, 3, 0x88B5, bytes(50))
    # Clone outputs to devices that do not exist fail quietly; the last output decides.
    assert fp.put(kfast.key(LO, 2, 3, 0, 0x88B5),
                  [(POP_VLAN, 0), (OUT, 999999), (PUSH_VLAN, 0x8100 << 16 | 5), (OUT_INGRESS, 999998)])
    assert run(fp, frame) == TCX_REDIRECT


def test_every_step_slot_runs(fp):
    fp.flush()
    frame = eth(2, 3, 0x88B5, bytes(50))
    steps = [(OUT, 999990 + i) for i in range(kfast.MAX_STEPS)]
    assert fp.put(kfast.key(LO, 2, 3, 0, 0x88B5), steps)
    fp._kports.update(struct.pack("<I", 999990 + kfast.MAX_STEPS - 1), bytes(32))
    assert run(fp, frame) == TCX_REDIRECT
    assert fp.counters(999990 + kfast.MAX_STEPS - 1) == (0, 0, 1, len(frame))


def ipv4(flags_offset: int) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, flags_offset, 64, 17, 0, bytes(4), bytes(4)) + bytes(8)


def ipv6(nexthdr: int) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, 8, nexthdr, 64, bytes(16), bytes(16)) + bytes(8)


@pytest.mark.parametrize("ethertype,l3,hits", [
    (0x0800, ipv4(0), True),
    (0x0800, ipv4(0x4000), True),           # DF
    (0x0800, ipv4(0x2000), False),          # MF: a first fragment
    (0x0800, ipv4(0x0001), False),          # a later fragment
    (0x0800, ipv4(0x00FF), False),
    (0x86DD, ipv6(17), True),
    (0x86DD, ipv6(58), True),
    (0x86DD, ipv6(44), False),              # Fragment header
    (0x86DD, ipv6(0), False),               # hop-by-hop: a Fragment header may follow
    (0x86DD, ipv6(60), False),
    (0x0806, b"\0" * 28, True),
])
def test_ip_fragments_never_hit(fp, ethertype, l3, hits):
    fp.flush()
    assert fp.put(kfast.key(LO, 2, 3, 0, ethertype), [])
    assert run(fp, eth(2, 3, ethertype, l3)) == (TCX_DROP if hits else TCX_NEXT)
