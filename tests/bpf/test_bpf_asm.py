"""The assembler's encodings, checked against instructions as the kernel's uapi defines them."""

from __future__ import annotations

import struct

import pytest

from pyvswitch.bpf import asm
from pyvswitch.bpf.asm import FP, R0, R1, R2, R3, R6, Program


def words(code: bytes) -> list[tuple[int, int, int, int]]:
    return list(struct.iter_unpack("<BBhi", code))


def test_alu_and_moves():
    p = Program().mov(R6, R1, reg=True).mov(R0, -1).alu(asm.ADD, R3, -24).alu(asm.AND, R2, 0xFFFF, bits=32)
    assert words(p.assemble()) == [
        (0xBF, 0x16, 0, 0),          # r6 = r1
        (0xB7, 0x00, 0, -1),         # r0 = -1
        (0x07, 0x03, 0, -24),        # r3 += -24
        (0x54, 0x02, 0, 0xFFFF),     # w2 &= 0xffff
    ]


def test_byte_swap_is_alu_end_to_big_endian():
    assert words(Program().be16(R2).assemble()) == [(0xDC, 0x02, 0, 16)]


def test_memory_access():
    p = Program().ldx(4, R2, R1, 40).stx(2, FP, -8, R3).st(8, FP, -16, 7).atomic_add(8, R0, 8, R1)
    assert words(p.assemble()) == [
        (0x61, 0x12, 40, 0),         # r2 = *(u32 *)(r1 + 40)
        (0x6B, 0x3A, -8, 0),         # *(u16 *)(r10 - 8) = r3
        (0x7A, 0x0A, -16, 7),        # *(u64 *)(r10 - 16) = 7
        (0xDB, 0x10, 8, 0),          # lock *(u64 *)(r0 + 8) += r1
    ]


def test_map_fd_load_takes_two_slots():
    assert words(Program().ld_map_fd(R1, 5).assemble()) == [(0x18, 0x11, 0, 5), (0, 0, 0, 0)]


def test_jumps_resolve_labels_forward_and_back():
    p = Program().label("top").jump("==", R0, 0, "out").jump("<", R2, R3, "top", reg=True)
    p.ld_map_fd(R1, 3).goto("out").label("out").call(asm.REDIRECT).exit()
    assert words(p.assemble()) == [
        (0x15, 0x00, 4, 0),          # if r0 == 0 goto +4 (over the 2-slot load)
        (0xAD, 0x32, -2, 0),         # if r2 < r3 goto -2
        (0x18, 0x11, 0, 3), (0, 0, 0, 0),
        (0x05, 0x00, 0, 0),          # goto +0
        (0x85, 0x00, 0, 23),         # call bpf_redirect
        (0x95, 0x00, 0, 0),          # exit
    ]


def test_jump32_and_signed_conditions():
    assert words(Program().jump("s>", R1, 3, "x", bits=32).label("x").assemble()) == [(0x66, 0x01, 0, 3)]


def test_label_errors():
    with pytest.raises(ValueError, match="unknown label nowhere"):
        Program().goto("nowhere").assemble()
    with pytest.raises(ValueError, match="placed twice"):
        Program().label("a").label("a")
