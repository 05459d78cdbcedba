"""A small eBPF assembler: instructions from named helpers, jumps to labels.

An eBPF instruction is 8 bytes: opcode, dst and src register nibbles, a signed 16-bit
offset and a signed 32-bit immediate (`struct bpf_insn`).  The opcode is a class (ALU64,
JMP, LDX, ...) or'ed with an operation and a source (K: the immediate, X: the src
register) or with a size and a mode for memory access.  Loading a 64-bit immediate takes
two slots; with src = PSEUDO_MAP_FD the immediate is a map fd the kernel swaps for the
map's address.

`Program` collects instructions; a jump names a label, and `assemble()` turns labels into
the relative offsets the kernel wants (counted in slots from the instruction after the
jump).  Registers: r0 return value, r1-r5 arguments (clobbered by calls), r6-r9 kept
across calls, r10 the read-only frame pointer (the stack is the 512 bytes below it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
# Sizes and modes
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
IMM, MEM, ATOMIC = 0x00, 0x60, 0xC0
SIZES = {1: B, 2: H, 4: W, 8: DW}
# Sources
K, X = 0x00, 0x08
# ALU operations
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0)
TO_BE = 0x08
# Jump operations
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT, JLT, JLE, JSLT, JSLE = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0)
JUMPS = {"==": JEQ, "!=": JNE, ">": JGT, ">=": JGE, "<": JLT, "<=": JLE, "&": JSET,
         "s>": JSGT, "s>=": JSGE, "s<": JSLT, "s<=": JSLE}
PSEUDO_MAP_FD = 1

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
FP = R10

# Helper function ids (enum bpf_func_id)
MAP_LOOKUP_ELEM = 1
KTIME_GET_NS = 5
CLONE_REDIRECT = 13
SKB_VLAN_PUSH = 18
SKB_VLAN_POP = 19
REDIRECT = 23
SKB_LOAD_BYTES = 26

_INSN = struct.Struct("<BBhi")
assert _INSN.size == 8


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One encoded instruction."""
    return _INSN.pack(code, (src << 4) | dst, off, imm)


@dataclass(slots=True)
class _Jump:
    code: int
    dst: int
    src: int
    imm: int
    label: str


class Program:
    """Instructions in order; jumps refer to labels placed with `label()`."""

    def __init__(self) -> None:
        self._items: list[bytes | _Jump] = []
        self._labels: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def _emit(self, *encoded: bytes) -> Program:
        self._items.extend(encoded)
        return self

    def label(self, name: str) -> Program:
        if name in self._labels:
            raise ValueError(f"label {name} placed twice")
        self._labels[name] = len(self._items)
        return self

    # ALU
    def mov(self, dst: int, src_or_imm: int, *, reg: bool = False) -> Program:
        """dst = src (a register when reg=True) or an immediate (64-bit move)."""
        return self.alu(MOV, dst, src_or_imm, reg=reg)

    def alu(self, op: int, dst: int, src_or_imm: int, *, reg: bool = False, bits: int = 64) -> Program:
        cls = ALU64 if bits == 64 else ALU
        if reg:
            return self._emit(insn(cls | op | X, dst, src_or_imm))
        return self._emit(insn(cls | op | K, dst, 0, 0, src_or_imm))

    def be16(self, dst: int) -> Program:
        """dst = htons(dst) (the low 16 bits, swapped to network order)."""
        return self._emit(insn(ALU | END | TO_BE, dst, 0, 0, 16))

    def ld_map_fd(self, dst: int, map_fd: int) -> Program:
        """dst = the address of the map whose fd is map_fd (a two-slot load)."""
        return self._emit(insn(LD | DW | IMM, dst, PSEUDO_MAP_FD, 0, map_fd), insn(0))

    # Memory
    def ldx(self, size: int, dst: int, src: int, off: int) -> Program:
        """dst = *(size *)(src + off)."""
        return self._emit(insn(LDX | MEM | SIZES[size], dst, src, off))

    def stx(self, size: int, dst: int, off: int, src: int) -> Program:
        """*(size *)(dst + off) = src."""
        return self._emit(insn(STX | MEM | SIZES[size], dst, src, off))

    def st(self, size: int, dst: int, off: int, imm: int) -> Program:
        """*(size *)(dst + off) = imm."""
        return self._emit(insn(ST | MEM | SIZES[size], dst, 0, off, imm))

    def atomic_add(self, size: int, dst: int, off: int, src: int) -> Program:
        """*(size *)(dst + off) += src, atomically (size 4 or 8)."""
        return self._emit(insn(STX | ATOMIC | SIZES[size], dst, src, off, ADD))

    # Control
    def jump(self, cond: str, dst: int, src_or_imm: int, label: str, *, reg: bool = False,
             bits: int = 64) -> Program:
        """if (dst cond src_or_imm) goto label; cond is one of JUMPS ("==", "<", "s>", ...)."""
        cls = JMP if bits == 64 else JMP32
        op = JUMPS[cond]
        if reg:
            return self._emit(_Jump(cls | op | X, dst, src_or_imm, 0, label))
        return self._emit(_Jump(cls | op | K, dst, 0, src_or_imm, label))

    def goto(self, label: str) -> Program:
        return self._emit(_Jump(JMP | JA, 0, 0, 0, label))

    def call(self, helper: int) -> Program:
        return self._emit(insn(JMP | CALL, 0, 0, 0, helper))

    def exit(self) -> Program:
        return self._emit(insn(JMP | EXIT))

    def ret(self, value: int) -> Program:
        """return value (r0 = value; exit)."""
        return self.mov(R0, value).exit()

    def assemble(self) -> bytes:
        out = bytearray()
        for pc, item in enumerate(self._items):
            if isinstance(item, _Jump):
                if item.label not in self._labels:
                    raise ValueError(f"jump to unknown label {item.label}")
                off = self._labels[item.label] - pc - 1
                if not -32768 <= off <= 32767:
                    raise ValueError(f"jump to {item.label} too far ({off} slots)")
                out += insn(item.code, item.dst, item.src, off, item.imm)
            else:
                out += item
        return bytes(out)
