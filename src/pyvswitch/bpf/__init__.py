"""eBPF from Python, without libbpf or a compiler.

`syscall` wraps the bpf(2) system call through ctypes (maps, program loading, links,
socket filters); `asm` assembles eBPF instructions from named helpers that read like the
program's logic; `programs` holds the kernel fast path's two programs (see
datapath/kfast.py for the theory of operation).  Every fact here (command numbers,
attribute layouts, opcodes, helper ids, `__sk_buff` offsets) comes from the kernel's
uapi/linux/bpf.h; the kernel's verifier checks the programs when they load.
"""
