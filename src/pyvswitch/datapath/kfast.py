"""The kernel fast path: exact-match flow entries executed by eBPF below the Python datapath.

Theory of operation.  Every kernel-backed port gets the TC program of bpf/programs.py at
TCX ingress (AF_PACKET ports: veths, taps of VMs, NICs) or TCX egress (our internal TAPs:
frames the host sends into the bridge).  It builds a key from the frame (input ifindex,
Ethernet addresses, VLAN, EtherType) and looks it up in the "kflows" hash map; a hit is
counted and its steps (push/pop VLAN, outputs) run in the kernel, a miss goes on to the
AF_PACKET socket and the Python datapath as before.  The AF_PACKET socket sees frames
*before* TC ingress runs, so each port's socket carries a socket filter doing the same
lookup the other way round: it drops hits and keeps misses, and userspace sees exactly the
misses.  The datapath installs an entry when it forwards a packet by a megaflow the kernel
can express, exact on the packet's key (a microflow of that megaflow), and deletes or
rewrites it with the megaflow.

Races, by design: when an entry appears or vanishes between the socket filter's lookup and
the TC program's, one frame can be seen both by userspace and the kernel (forwarded
twice) or by neither (lost).  The window is the microseconds between the two lookups.

Key (20 bytes): u32 ifindex (host order), dl_dst[6], dl_src[6] (wire order), u16 vlan_tci
(host order; 0 untagged, else tci | 0x1000 as in the flow key), dl_type[2] (wire order; the
inner type once the kernel has moved a tag to metadata).  Frames shorter than 14 bytes, with
an 802.1ad tag or with a tag still in the frame never hit.

Value: u64 packets, bytes, used_ns (CLOCK_MONOTONIC, as time.monotonic_ns()), u32 n_steps,
u32 pad, then MAX_STEPS (op, arg) u32 pairs, run in order: OUT (arg: ifindex; to the
device's egress), OUT_INGRESS (arg: ifindex; into its receive path, i.e. to the host through
an internal TAP), PUSH_VLAN (arg: tpid << 16 | the wire TCI, PCP|DEI|VID), POP_VLAN.  No
steps: drop.  "kports" counts what the
kernel forwards per ifindex (rx on the input port, tx on each output) so interface
statistics can add it; only ifindexes with a row are counted (attaching makes one, so
does `count_port` for a port that is only an output; `forget_port` deletes it).

A rewrite (`put` on a key that has an entry) carries the entry's counters over: it reads
them and writes them back with the new steps, so the hits of the few microseconds between
the two calls go uncounted (never counted twice).

Programs and links are held by fd: they vanish with the process (or `close()`), and the
ports go back to the userspace path alone.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
from collections.abc import Sequence

from ..bpf import programs, syscall
from ..bpf.programs import MAX_STEPS, OUT, OUT_INGRESS, POP_VLAN, PUSH_VLAN

__all__ = ["FastPathUnavailable", "KernelFastPath", "key", "available",
           "OUT", "OUT_INGRESS", "PUSH_VLAN", "POP_VLAN", "MAX_STEPS"]

_KEY = struct.Struct("<I6s6sH2s")
assert _KEY.size == 20
_VALUE_HEAD = struct.Struct("<QQQII")
_STEP = struct.Struct("<II")
VALUE_SIZE = _VALUE_HEAD.size + MAX_STEPS * _STEP.size
assert VALUE_SIZE == 160
_KEY_BYTES = struct.Struct(f"{_KEY.size}s")
_COUNTS = struct.Struct(f"<QQQ{VALUE_SIZE - 24}x")     # a value's packets, bytes, used_ns
_PORT_KEY = struct.Struct("<I")
_PORT_VALUE = struct.Struct("<QQQQ")
_OUTPUTS = (OUT, OUT_INGRESS)
_OPS = (OUT, OUT_INGRESS, PUSH_VLAN, POP_VLAN)
_LOOPBACK_IFINDEX = 1


class FastPathUnavailable(Exception):
    """The kernel fast path cannot run here; str() says why."""


def key(ifindex: int, dl_dst: int, dl_src: int, vlan_tci: int, dl_type: int) -> bytes:
    """The kflows key of a frame received on ifindex with these flow-key fields."""
    return _KEY.pack(ifindex, dl_dst.to_bytes(6, "big"), dl_src.to_bytes(6, "big"),
                     vlan_tci, dl_type.to_bytes(2, "big"))


def _value(steps: Sequence[tuple[int, int]], packets: int = 0, nbytes: int = 0, used: int = 0) -> bytes:
    body = b"".join(_STEP.pack(op, arg) for op, arg in steps)
    return (_VALUE_HEAD.pack(packets, nbytes, used, len(steps), 0) + body).ljust(VALUE_SIZE, b"\0")


def _effective(steps: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Steps without those after the last output (they act on a frame nobody sees)."""
    steps = list(steps)
    while steps and steps[-1][0] not in _OUTPUTS:
        steps.pop()
    return steps


def _why(e: OSError, what: str) -> FastPathUnavailable:
    if isinstance(e, syscall.VerifierError):
        return FastPathUnavailable(f"kernel refused the eBPF program: {e.first_line()}")
    if e.errno in (errno.EPERM, errno.EACCES):
        return FastPathUnavailable("needs root (CAP_BPF and CAP_NET_ADMIN)")
    if e.errno in (errno.ENOSYS, errno.EINVAL):
        return FastPathUnavailable(f"kernel does not support {what}: {e.strerror}")
    return FastPathUnavailable(f"{what} failed: {e.strerror}")


class KernelFastPath:
    """The kflows/kports maps, the two programs and the links that attach them to ports."""

    def __init__(self, kflows: int, kports: int, tc_prog: int, sock_prog: int) -> None:
        self._kflows = syscall.Map(kflows, _KEY.size, VALUE_SIZE)
        self._kports = syscall.Map(kports, _PORT_KEY.size, _PORT_VALUE.size)
        self._tc_prog = tc_prog
        self._sock_prog = sock_prog
        self._links: dict[int, int] = {}            # ifindex -> link fd
        self._closed = False
        # Attaching may run in a thread of its own (it takes ~16 ms): the links, and the
        # program fds they use, change under this lock only.
        self._ports_lock = threading.Lock()

    @classmethod
    def open(cls, max_flows: int = 65536) -> KernelFastPath:
        fds: list[int] = []
        try:
            what = "eBPF maps"
            kflows = syscall.map_create(syscall.MAP_TYPE_HASH, _KEY.size, VALUE_SIZE, max_flows,
                                        syscall.F_NO_PREALLOC, "kflows")
            fds.append(kflows)
            kports = syscall.map_create(syscall.MAP_TYPE_HASH, _PORT_KEY.size, _PORT_VALUE.size,
                                        4096, syscall.F_NO_PREALLOC, "kports")
            fds.append(kports)
            what = "eBPF TC programs"
            tc = syscall.prog_load(syscall.PROG_TYPE_SCHED_CLS,
                                   programs.tc_program(kflows, kports), "kfast_tc")
            fds.append(tc)
            what = "eBPF socket filters"
            sock = syscall.prog_load(syscall.PROG_TYPE_SOCKET_FILTER,
                                     programs.socket_filter(kflows), "kfast_sock")
            fds.append(sock)
            # Asking what runs at the loopback device's TCX ingress is harmless and fails
            # on kernels without TCX (before Linux 6.6), where no port could be attached.
            what = "TCX attachment (Linux 6.6 or later)"
            syscall.prog_query(_LOOPBACK_IFINDEX, syscall.TCX_INGRESS)
        except OSError as e:
            for fd in fds:
                os.close(fd)
            raise _why(e, what) from None
        return cls(kflows, kports, tc, sock)

    # Ports

    def attach_ingress(self, ifindex: int) -> None:
        """Runs the TC program on frames ifindex receives (AF_PACKET ports).  Attaching,
        like filter_socket(), raises OSError if the kernel refuses (no such device)."""
        self._attach(ifindex, syscall.TCX_INGRESS)

    def attach_egress(self, ifindex: int) -> None:
        """Runs the TC program on frames the host sends through ifindex (internal TAPs)."""
        self._attach(ifindex, syscall.TCX_EGRESS)

    def _attach(self, ifindex: int, attach_type: int) -> None:
        with self._ports_lock:
            self._check_open()
            if ifindex in self._links:
                return
            self._attach_locked(ifindex, attach_type)

    def _check_open(self) -> None:
        if self._closed:
            raise OSError(errno.EBADF, "the kernel fast path is closed")

    def _attach_locked(self, ifindex: int, attach_type: int) -> None:
        new_port = self._port_row(ifindex)
        try:
            self._links[ifindex] = syscall.link_create(self._tc_prog, ifindex, attach_type)
        except OSError as e:
            if new_port:
                self._kports.delete(_PORT_KEY.pack(ifindex))
            hook = "ingress" if attach_type == syscall.TCX_INGRESS else "egress"
            raise OSError(e.errno, f"cannot attach the kernel fast path at TCX {hook} of "
                                   f"ifindex {ifindex} ({e.strerror})") from None

    def _port_row(self, ifindex: int) -> bool:
        """Creates ifindex's zeroed counters row unless it has one; True if it was made."""
        try:
            self._kports.update(_PORT_KEY.pack(ifindex), bytes(_PORT_VALUE.size), syscall.NOEXIST)
        except FileExistsError:
            return False
        return True

    def count_port(self, ifindex: int) -> None:
        """Gives ifindex a counters row (zeroed, only if it has none) without attaching the
        program: the programs count only ports that have a row, so this is what makes frames
        that entries output to a port never attached show on its tx counters.  OSError
        (E2BIG) when "kports" is full."""
        self._port_row(ifindex)

    def detach(self, ifindex: int) -> None:
        """Stops running the program on ifindex (its counters stay readable)."""
        with self._ports_lock:
            fd = self._links.pop(ifindex, None)
            if fd is not None:
                os.close(fd)

    def forget_port(self, ifindex: int) -> None:
        """Detaches ifindex and deletes its counters row: for a port removed for good, so
        that the rows of ports long gone do not fill "kports" (a port added again with the
        same ifindex counts from zero)."""
        self.detach(ifindex)
        self._kports.delete(_PORT_KEY.pack(ifindex))

    def attached(self) -> list[int]:
        return list(self._links)

    def filter_socket(self, sock_fd: int) -> None:
        """Attaches the socket filter to an AF_PACKET socket: it then receives only misses."""
        with self._ports_lock:
            self._check_open()
            syscall.attach_socket(sock_fd, self._sock_prog)

    # Entries

    def put(self, k: bytes, steps: Sequence[tuple[int, int]]) -> bool:
        """Installs or rewrites the entry for key k (its counters carry over a rewrite).
        False if the map is full or there are more than MAX_STEPS steps."""
        for op, arg in steps:
            if op not in _OPS or not 0 <= arg < 1 << 32:
                raise ValueError(f"kernel fast path step ({op}, {arg}) is not valid")
        steps = _effective(steps)
        if len(steps) > MAX_STEPS:
            return False
        try:
            self._kflows.update(k, _value(steps), syscall.NOEXIST)
            return True
        except FileExistsError:
            pass
        except OSError as e:
            if e.errno == errno.E2BIG:
                return False
            raise
        old = self._kflows.lookup(k)
        packets, nbytes, used = _VALUE_HEAD.unpack_from(old)[:3] if old else (0, 0, 0)
        try:
            self._kflows.update(k, _value(steps, packets, nbytes, used))
        except OSError as e:
            if e.errno == errno.E2BIG:
                return False
            raise
        return True

    def delete(self, k: bytes) -> bool:
        return self._kflows.delete(k)

    def dump(self) -> list[tuple[bytes, int, int, int]]:
        """Every entry as (key, packets, bytes, used_ns); used_ns 0 if never hit.  Unpacked
        a batch at a time (the datapath reads them every second, under its lock)."""
        out = []
        for keys, values, _count in self._kflows.batches():
            out += [(k, p, b, u) for (k,), (p, b, u) in
                    zip(_KEY_BYTES.iter_unpack(keys), _COUNTS.iter_unpack(values))]
        return out

    def steps(self, k: bytes) -> list[tuple[int, int]] | None:
        """The steps stored for k (None if no entry): for tests and debugging."""
        v = self._kflows.lookup(k)
        if v is None:
            return None
        n = _VALUE_HEAD.unpack_from(v)[3]
        return [_STEP.unpack_from(v, _VALUE_HEAD.size + 8 * i) for i in range(n)]

    def flush(self) -> None:
        """Deletes every entry."""
        for k, _v in self._kflows.items():
            self._kflows.delete(k)

    def counters(self, ifindex: int) -> tuple[int, int, int, int]:
        """(rx_packets, rx_bytes, tx_packets, tx_bytes) the kernel forwarded on ifindex."""
        v = self._kports.lookup(_PORT_KEY.pack(ifindex))
        return _PORT_VALUE.unpack(v) if v else (0, 0, 0, 0)

    def close(self) -> None:
        """Detaches every port, empties the flow map and frees the maps and programs.
        Sockets filtered by this fast path keep their filter, which now finds nothing and
        passes every frame."""
        with self._ports_lock:
            if self._closed:
                return
            self._closed = True
            links, self._links = self._links, {}
        try:
            for fd in links.values():
                os.close(fd)
            self.flush()
        finally:
            for fd in (self._sock_prog, self._tc_prog, self._kports.fd, self._kflows.fd):
                os.close(fd)

    def __enter__(self) -> KernelFastPath:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def available() -> str | None:
    """None if the kernel fast path can run here, else the reason it cannot."""
    try:
        KernelFastPath.open(max_flows=1).close()
    except FastPathUnavailable as e:
        return str(e)
    return None
