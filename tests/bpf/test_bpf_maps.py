"""bpf(2) maps and program loading through ctypes, and the fast path's entry API."""

from __future__ import annotations

import os

import pytest

from util import needs_root
from pyvswitch.bpf import asm, syscall
from pyvswitch.datapath import kfast
from pyvswitch.datapath.kfast import OUT, OUT_INGRESS, POP_VLAN, PUSH_VLAN


def test_key_layout():
    k = kfast.key(7, 0x0A0B0C0D0E0F, 0x010203040506, 0x1064, 0x0800)
    assert k == (b"\x07\0\0\0" + bytes.fromhex("0a0b0c0d0e0f") + bytes.fromhex("010203040506")
                 + b"\x64\x10" + b"\x08\x00")


@needs_root
def test_hash_map_operations():
    fd = syscall.map_create(syscall.MAP_TYPE_HASH, 4, 8, 16, syscall.F_NO_PREALLOC, "t")
    m = syscall.Map(fd, 4, 8)
    try:
        assert m.lookup(b"\1\0\0\0") is None
        m.update(b"\1\0\0\0", b"A" * 8)
        with pytest.raises(FileExistsError):
            m.update(b"\1\0\0\0", b"B" * 8, syscall.NOEXIST)
        with pytest.raises(FileNotFoundError):
            m.update(b"\2\0\0\0", b"B" * 8, syscall.EXIST)
        assert m.lookup(b"\1\0\0\0") == b"A" * 8
        for i in range(2, 17):
            m.update(bytes([i, 0, 0, 0]), bytes([i]) * 8)
        with pytest.raises(OSError) as e:
            m.update(b"\x20\0\0\0", b"C" * 8)
        assert e.value.errno == 7                       # E2BIG: the map is full
        assert sorted(m.keys()) == sorted(bytes([i, 0, 0, 0]) for i in range(1, 17))
        batch = m.items(chunk=1)     # buckets of 2+ retry larger
        assert sorted(batch) == sorted([(b"\1\0\0\0", b"A" * 8)] +
                                       [(bytes([i, 0, 0, 0]), bytes([i]) * 8) for i in range(2, 17)])
        assert m.delete(b"\1\0\0\0") and not m.delete(b"\1\0\0\0")
    finally:
        os.close(fd)


@needs_root
def test_empty_batch_lookup():
    fd = syscall.map_create(syscall.MAP_TYPE_HASH, 4, 8, 16, syscall.F_NO_PREALLOC, "t")
    try:
        assert syscall.Map(fd, 4, 8).items() == []
    finally:
        os.close(fd)


@needs_root
def test_refused_program_carries_the_verifier_log():
    bad = asm.Program().exit().assemble()               # r0 never set
    with pytest.raises(syscall.VerifierError) as e:
        syscall.prog_load(syscall.PROG_TYPE_SOCKET_FILTER, bad, "bad")
    assert "R0 !read_ok" in e.value.first_line()


@needs_root
def test_put_dump_delete_and_counters():
    with kfast.KernelFastPath.open(max_flows=4) as fp:
        k1 = kfast.key(1, 2, 3, 0, 0x0800)
        assert fp.put(k1, [(PUSH_VLAN, 0x8100 << 16 | 5), (OUT, 9), (OUT_INGRESS, 10)])
        assert fp.steps(k1) == [(PUSH_VLAN, 0x8100 << 16 | 5), (OUT, 9), (OUT_INGRESS, 10)]
        # Steps after the last output do nothing; a rewrite keeps the counters.
        assert fp.put(k1, [(OUT, 9), (POP_VLAN, 0)])
        assert fp.steps(k1) == [(OUT, 9)]
        assert fp.put(k1, [(POP_VLAN, 0)]) and fp.steps(k1) == []
        assert not fp.put(kfast.key(1, 2, 3, 0, 0x0806), [(OUT, 1)] * 17)
        with pytest.raises(ValueError, match=r"step \(9, 1\) is not valid"):
            fp.put(k1, [(9, 1)])
        for i in range(3):
            assert fp.put(kfast.key(2, i, 3, 0, 0x0800), [(OUT, 1)])
        assert not fp.put(kfast.key(3, 0, 0, 0, 0x0800), [(OUT, 1)])     # full
        assert sorted(fp.dump()) == sorted([(k1, 0, 0, 0)] + [(kfast.key(2, i, 3, 0, 0x0800), 0, 0, 0)
                                                             for i in range(3)])
        assert fp.delete(k1) and not fp.delete(k1)
        assert fp.counters(1) == (0, 0, 0, 0)
        fp.flush()
        assert fp.dump() == []


def test_unavailable_is_explained(monkeypatch):
    def refuse(*a, **kw):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(syscall, "map_create", refuse)
    assert kfast.available() == "needs root (CAP_BPF and CAP_NET_ADMIN)"
    with pytest.raises(kfast.FastPathUnavailable, match="needs root"):
        kfast.KernelFastPath.open()


@needs_root
def test_verifier_refusal_is_explained(monkeypatch):
    monkeypatch.setattr(kfast.programs, "socket_filter", lambda fd: asm.Program().exit().assemble())
    with pytest.raises(kfast.FastPathUnavailable, match="kernel refused the eBPF program: R0 !read_ok"):
        kfast.KernelFastPath.open()


@needs_root
def test_unprivileged_user_is_told_to_be_root():
    """A child that drops root (uid nobody) asks the real kernel."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os.write(w, str(kfast.available()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        said = f.read().decode()
    os.waitpid(pid, 0)
    assert said == "needs root (CAP_BPF and CAP_NET_ADMIN)"


@needs_root
def test_attaching_to_a_missing_device_is_an_os_error():
    with kfast.KernelFastPath.open(max_flows=4) as fp:
        with pytest.raises(OSError, match=r"TCX ingress of ifindex 999999 \(No such device\)"):
            fp.attach_ingress(999999)
        assert fp.attached() == [] and fp._kports.keys() == []


@needs_root
def test_kernel_without_tcx_is_explained(monkeypatch):
    def old_kernel(*a, **kw):
        raise OSError(22, "Invalid argument")
    monkeypatch.setattr(syscall, "prog_query", old_kernel)
    assert kfast.available() == "kernel does not support TCX attachment (Linux 6.6 or later): Invalid argument"


@needs_root
def test_count_port_makes_a_row_without_attaching_and_forget_port_drops_it():
    lo = 1                          # PROG_TEST_RUN runs the TC program on the loopback device
    frame = bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + bytes(50)
    with kfast.KernelFastPath.open(max_flows=4) as fp:
        k = kfast.key(lo, 0x020000000002, 0x020000000001, 0, 0x88B5)
        # Outputs to devices that do not exist: the clone fails, the redirect is decided.
        assert fp.put(k, [(OUT, 999990), (OUT, 999991)])
        fp.count_port(lo)
        fp.count_port(999990)
        assert fp.attached() == [] and sorted(fp._kports.keys()) == sorted(
            [lo.to_bytes(4, "little"), (999990).to_bytes(4, "little")])
        syscall.prog_test_run(fp._tc_prog, frame, repeat=3)
        size = len(frame)
        assert fp.counters(lo) == (3, 3 * size, 0, 0)
        assert fp.counters(999991) == (0, 0, 0, 0)          # no row: not counted
        counted = fp.counters(999990)
        fp.count_port(999990)                               # a row that exists is kept
        assert fp.counters(999990) == counted
        fp.forget_port(999990)
        fp.forget_port(999990)                              # idempotent
        assert fp._kports.keys() == [lo.to_bytes(4, "little")]


@needs_root
def test_dump_spans_batches():
    with kfast.KernelFastPath.open(max_flows=10000) as fp:
        keys = [kfast.key(3, i, 7, 0, 0x0800) for i in range(9000)]     # 3 batches of 4096
        for k in keys:
            assert fp.put(k, [(OUT, 9)])
        assert sorted(fp.dump()) == [(k, 0, 0, 0) for k in sorted(keys)]
