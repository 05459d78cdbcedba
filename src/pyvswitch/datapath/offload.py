"""Flow offload: the kernel fast path (kfast.py) as a cache tier below the megaflows.

What: the userspace datapath forwards a packet by a megaflow; if that megaflow is
"kernel-expressible", this module puts an exact kernel entry for the packet's L2 key
(ifindex, dl_dst, dl_src, VLAN TCI, dl_type) into the kernel's flow map, so the next
packets of that key are forwarded by eBPF at TC and never reach Python.  It remembers
megaflow -> kernel keys, so that a megaflow removed, expired or flushed takes its entries
with it, and one whose actions change (revalidation) gets them rewritten.  `sync` folds
the entries' kernel counters into their megaflows (packets, bytes, used), so idle expiry,
dump-flows statistics, the datapath's hit counter and ofproto's rule statistics and MAC
refresh (which read megaflow statistics) see the traffic the kernel carried; the
kernel's per-port counters are added to the ports' netdev statistics likewise.

Expressible megaflow: its mask covers only in_port, dl_dst, dl_src, dl_type and
vlan_tci (any subset: the kernel entry is exact on all five, so it matches a subset of
the megaflow's packets), plus nw_frag for an IP megaflow of non-fragments (xlate always
looks at nw_frag for IP, as OVS does; the programs do not look up fragments); its
actions are only outputs to kernel-backed ports, push of an 802.1Q tag and pop, at most
kfast.MAX_STEPS of them.  An output to an AF_PACKET port is a redirect to that device's
egress (OUT); to a TAP, delivery into the device's receive path (OUT_INGRESS), i.e. to
the host.

Kernel-backed netdevs say so with a `kernel_hook` attribute and an `ifindex`:
"ingress" - a Linux device read through an AF_PACKET socket (`fileno()`): the TC
program goes on its ingress, and the socket gets the socket filter that hides kernel
hits from it (the socket sees a frame before TC ingress runs); "egress" - a TAP whose
frames from the host leave through its egress.  A port gets its program when it first
carries a frame worth an entry (an attachment costs ~16 ms), attached by a thread of
its own so that forwarding never waits for it; the keys of the frames it carries
meanwhile get their entries when the attachment is collected (the next frame, flow dump
or housekeeping pass).  Any kernel-backed port may be an output at once (it gets a
counters row, `count_port`); a removed port's row is deleted with it.

Invariants: `_entries` holds exactly the keys this module put and did not delete, each
with its megaflow and the kernel counters already folded; a megaflow's `kkeys` are its
keys in `_entries`; `ksteps` caches its kernel steps (None: not computed, False: not
expressible) and is reset when its actions or the ports change.  A refused put (map
full) is counted and remembered until some entry is deleted.  Around an entry's
installation or removal a frame may be seen twice (socket filter and TC program read the
map at different moments) or, on removal, miss the kernel and reach userspace: at most
the frames of a few microseconds.

When an entry appears, frames of its key already queued for userspace are forwarded after
later ones the kernel took: a flow's first few frames may be reordered, once.

Not thread-safe: the datapath calls it with its lock held.  The one thread of its own,
the attacher (see `_attach`), only attaches ports and queues the results for `offer`.
"""

from __future__ import annotations

import collections
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable

from pyvswitch import vlog
from pyvswitch.packet.flow import INDEX, FlowKey

from .actions import OUTPUT, POP_VLAN, PUSH_VLAN

log = vlog.module("netdev_offload")
_RL = vlog.RateLimit(5, 5)

INGRESS = "ingress"
EGRESS = "egress"

# Step ops and limits, as kfast.py defines them (repeated so that this module, and its
# unit tests with a stand-in, do not need the bpf package).
K_OUT, K_OUT_INGRESS, K_PUSH_VLAN, K_POP_VLAN = 1, 2, 3, 4
MAX_STEPS = 16

_L2_SLOTS = frozenset(INDEX[n] for n in ("in_port", "dl_dst", "dl_src", "dl_type", "vlan_tci"))
_NW_FRAG = INDEX["nw_frag"]
_OTHER_SLOTS = tuple(i for i in range(len(FlowKey._fields)) if i not in _L2_SLOTS and i != _NW_FRAG)
_IP_TYPES = (0x0800, 0x86DD)
_VLAN_TPIDS = (b"\x81\x00", b"\x88\xa8")
_IFINDEX = struct.Struct("<I")
_TCI = struct.Struct("<H")
SO_DETACH_BPF = 27          # = SO_DETACH_FILTER
MAX_REFUSED = 4096
MAX_WAITING = 256           # keys remembered per port while it is being attached


def kernel_key(ifindex: int, frame) -> bytes | None:
    """The kernel flow key of a frame as userspace sees it (VLAN tag in the frame), or None
    for one the kernel does not look up (short, 802.1ad, two tags).  Equal to kfast.key()
    of the frame's flow fields (a test checks it)."""
    if len(frame) < 14:
        return None
    t = bytes(frame[12:14])
    if t == b"\x81\x00":
        if len(frame) < 18:
            return None
        inner = bytes(frame[16:18])
        if inner in _VLAN_TPIDS:
            return None
        tci = (frame[14] << 8 | frame[15]) | 0x1000
        return b"".join((_IFINDEX.pack(ifindex), bytes(frame[0:12]), _TCI.pack(tci), inner))
    if t == b"\x88\xa8":
        return None
    return b"".join((_IFINDEX.pack(ifindex), bytes(frame[0:12]), b"\0\0", t))


@dataclass(frozen=True, slots=True)
class KernelPort:
    port_no: int
    ifindex: int
    hook: str               # INGRESS or EGRESS
    netdev: object


def kernel_port(port_no: int, netdev) -> KernelPort | None:
    hook = getattr(netdev, "kernel_hook", None)
    ifindex = getattr(netdev, "ifindex", 0)
    if hook not in (INGRESS, EGRESS) or not ifindex:
        return None
    return KernelPort(port_no, ifindex, hook, netdev)


def _open_kfast(max_flows: int):
    from .kfast import KernelFastPath
    return KernelFastPath.open(max_flows=max_flows)


def _unavailable_error() -> type[Exception]:
    try:
        from .kfast import FastPathUnavailable
    except Exception:           # noqa: BLE001 - no bpf package at all: nothing to catch
        return OSError
    return FastPathUnavailable


class KernelOffload:
    """The kernel tier of one datapath.  `opener(max_flows)` returns a KernelFastPath (or
    raises FastPathUnavailable); tests pass a stand-in."""

    def __init__(self, opener: Callable | None = None, *, max_flows: int = 65536,
                 clock_ns: Callable[[], int] = time.monotonic_ns, background: bool = True):
        self._opener = opener or _open_kfast
        self.background = background        # attach in a thread of its own (see _attach)
        self._attacher: _Attacher | None = None
        self._pending: set[int] = set()             # ports the attacher is attaching
        self._waiting: dict[int, dict] = {}          # pending port -> {key: megaflow}
        self._max_flows = max_flows
        self._clock_ns = clock_ns
        self.enabled = True
        self.fp = None
        self.unavailable: str | None = None    # why the kernel refused, once it did
        self.ports: dict[int, KernelPort] = {}
        self._attached: dict[int, KernelPort] = {}   # port_no -> attached port
        self._out: dict[int, tuple[int, int]] = {}   # port_no -> kernel step outputting to it
        self._entries: dict[bytes, list] = {}        # key -> [megaflow, packets, bytes]
        self._refused: set[bytes] = set()
        self._failed: set[int] = set()               # ports the kernel would not attach
        self._by_ifindex: dict[int, KernelPort] = {}
        self._counted: set[int] = set()              # ifindexes whose counters move
        self._counters: dict[int, tuple[int, int, int, int]] = {}
        self.n_refused = 0          # puts the kernel refused (map full)
        self.n_hit = 0              # packets the kernel forwarded, folded so far

    # ---- state ----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.fp is not None and self.enabled

    @property
    def n_entries(self) -> int:
        return len(self._entries)

    def status(self) -> str | None:
        """One line for dpctl/show, or None while no kernel-backed port was ever added."""
        if not self.ports and self.fp is None and self.unavailable is None:
            return None
        if not self.enabled:
            return "off (other_config:kernel-fastpath=false)"
        if self.unavailable is not None:
            return f"unavailable ({self.unavailable})"
        if self.fp is None:
            return "idle"
        return (f"active (eBPF at TC), ports:{len(self._attached)} flows:{len(self._entries)} "
                f"hit:{self.n_hit} refused:{self.n_refused}")

    def _open(self) -> bool:
        if self.fp is not None:
            return True
        if self.unavailable is not None:
            return False
        try:
            self.fp = self._opener(self._max_flows)
        except _unavailable_error() as e:
            self.unavailable = str(e) or type(e).__name__
        except (OSError, ImportError) as e:
            self.unavailable = f"{type(e).__name__}: {e}"
        if self.fp is None:
            log.warn("kernel fast path unavailable, forwarding in userspace only: %s",
                     self.unavailable)
            return False
        log.info("kernel fast path active (eBPF at TC)")
        return True

    def set_enabled(self, enabled: bool, flows=()) -> None:
        """Turns the tier on or off (flushing the entries of `flows`, detaching, closing)."""
        if enabled == self.enabled:
            return
        self.enabled = enabled
        if enabled:
            for kp in list(self.ports.values()):
                self._add_output(kp)
            return
        self._cancel(None)
        self.flush(flows)
        for port_no in list(self._attached):
            self._detach(port_no)
        self._out.clear()
        self._close_fp()

    # ---- ports ----------------------------------------------------------------------

    def port_added(self, port_no: int, netdev) -> None:
        kp = kernel_port(port_no, netdev)
        if kp is None:
            return
        self.ports[port_no] = kp
        self._by_ifindex[kp.ifindex] = kp
        if self.enabled:
            self._add_output(kp)

    def _add_output(self, kp: KernelPort) -> None:
        """Makes the port an output kernel entries may name (the redirect needs only its
        ifindex; its own program is attached later, see `_attach`)."""
        if not self._open():
            return
        self._out[kp.port_no] = (K_OUT if kp.hook == INGRESS else K_OUT_INGRESS, kp.ifindex)
        try:
            self.fp.count_port(kp.ifindex)      # so that frames output to it are counted
        except OSError as e:
            log.warn("%s: the kernel fast path cannot count the port's frames (%s)",
                     kp.netdev.name, e, rl=_RL)

    def _attach(self, kp: KernelPort) -> bool:
        """Attaches the port's program; True if it is attached now.  A TCX attachment
        costs ~16 ms here (measured: link create and release serialize in the kernel), so
        a port gets it when it first carries a frame worth an entry, not when it is added
        (a thousand idle internal ports cost nothing), and, in the background mode, in the
        attacher's thread: the forwarding thread goes on meanwhile (with the datapath's
        lock held, 16 ms of it would stall every port); the keys of the frames the port
        carries meanwhile get their entries when the attachment is collected."""
        if kp.port_no in self._failed or kp.port_no in self._pending:
            return False
        if not self.background:
            return self._attached_now(kp, _attach_port(self.fp, kp))
        if self._attacher is None:
            self._attacher = _Attacher()
        self._pending.add(kp.port_no)
        self._attacher.request(self.fp, kp)
        return False

    def _attached_now(self, kp: KernelPort, error: Exception | None) -> bool:
        if error is not None:
            self._failed.add(kp.port_no)
            log.warn("%s: cannot attach the kernel fast path (%s)", kp.netdev.name, error)
            return False
        self._attached[kp.port_no] = kp
        self._counted.add(kp.ifindex)
        return True

    def _collect(self) -> None:
        """Takes the attacher's results.  One for a port that went, or for a tier switched
        off, meanwhile is undone (`_cancel` before those changes makes that rare)."""
        done = self._attacher.done
        while done:
            fp, kp, error = done.popleft()
            self._pending.discard(kp.port_no)
            waiting = self._waiting.pop(kp.port_no, {})
            if fp is self.fp and self.ports.get(kp.port_no) is kp:
                if self._attached_now(kp, error):
                    # The keys its frames brought while it was being attached get entries
                    # now (their megaflows may have gone or changed meanwhile).
                    for k, f in waiting.items():
                        if f.dead:
                            continue
                        if f.ksteps is None:
                            f.ksteps = self.steps(f)
                        if f.ksteps is not False and k not in self._refused:
                            self._install(f, k, f.ksteps)
            elif error is None:
                _detach_port(fp, kp)

    def settle(self) -> None:
        """Waits for every attachment requested so far and takes the results (tests)."""
        if self._attacher is not None:
            self._attacher.settle()
            self._collect()

    def _cancel(self, port_no: int | None) -> None:
        """Drops the attachments requested for port_no (every port: None) and waits for
        the one in progress if it is one of them (at most one attachment's ~16 ms, not
        the whole queue's); takes the results."""
        if self._attacher is None:
            return
        self._attacher.cancel(port_no)
        self._collect()
        if port_no is None:
            self._pending.clear()
            self._waiting.clear()
        else:
            self._pending.discard(port_no)
            self._waiting.pop(port_no, None)

    def _detach(self, port_no: int) -> None:
        kp = self._attached.pop(port_no, None)
        if kp is None or self.fp is None:
            return
        _detach_port(self.fp, kp)

    def port_removed(self, port_no: int, flows) -> None:
        """Deletes the entries of every megaflow naming the port, then detaches it."""
        if port_no not in self.ports:
            return
        self._cancel(port_no)
        for f in flows:
            if f.kkeys and (f.key.in_port == port_no or
                            any(a[0] == OUTPUT and a[1] == port_no for a in f.actions)):
                self.forget(f)
            f.ksteps = None
        kp = self.ports.pop(port_no)
        self.sync_counters()
        self._detach(port_no)
        self._out.pop(port_no, None)
        self._failed.discard(port_no)
        if self._by_ifindex.get(kp.ifindex) is kp:
            # Its kernel counters are folded: the row goes (rows of ports long gone would
            # fill the kernel's port map), and a port added again counts from zero.
            del self._by_ifindex[kp.ifindex]
            self._counted.discard(kp.ifindex)
            self._counters.pop(kp.ifindex, None)
            if self.fp is not None:
                try:
                    self.fp.forget_port(kp.ifindex)
                except OSError as e:
                    log.warn("%s: kernel fast path: cannot delete the port's counters (%s)",
                             kp.netdev.name, e, rl=_RL)

    # ---- entries --------------------------------------------------------------------

    def steps(self, f) -> tuple | bool:
        """The kernel steps of megaflow f, or False if it is not kernel-expressible."""
        mask, key = f.mask, f.key
        for i in _OTHER_SLOTS:
            if mask[i]:
                return False
        if mask[_NW_FRAG] and (key.dl_type not in _IP_TYPES or key.nw_frag):
            return False
        if key.dl_type in (0x8100, 0x88A8):
            return False
        out = []
        for a in f.actions:
            op = a[0]
            if op == OUTPUT:
                s = self._out.get(a[1])
                if s is None:
                    return False
                out.append(s)
            elif op == PUSH_VLAN:
                if a[1] != 0x8100:
                    return False
                out.append((K_PUSH_VLAN, a[1] << 16 | (a[2] & 0xFFFF)))
            elif op == POP_VLAN:
                out.append((K_POP_VLAN, 0))
            else:
                return False
        if len(out) > MAX_STEPS:
            return False
        return tuple(out)

    def offer(self, f, in_port: int, frame) -> None:
        """Userspace forwarded frame by megaflow f: put the kernel entry for its key, once.
        While the port is being attached, the key is remembered and its entry put when
        the attachment is collected."""
        steps = f.ksteps
        if steps is None:
            steps = f.ksteps = self.steps(f)
        if steps is False:
            return
        kp = self._attached.get(in_port)
        if kp is None:
            if self._attacher is not None and self._attacher.done:
                self._collect()
                kp = self._attached.get(in_port)
            if kp is None:
                kp = self.ports.get(in_port)
                if kp is None or not self._attach(kp):
                    if kp is not None and kp.port_no in self._pending:
                        self._remember(kp, f, frame)
                    return
        k = kernel_key(kp.ifindex, frame)
        if k is not None and k not in self._refused:
            self._install(f, k, steps)

    def _remember(self, kp: KernelPort, f, frame) -> None:
        k = kernel_key(kp.ifindex, frame)
        waiting = self._waiting.setdefault(kp.port_no, {})
        if k is not None and len(waiting) < MAX_WAITING:
            waiting[k] = f

    def _install(self, f, k: bytes, steps: tuple) -> None:
        e = self._entries.get(k)
        if e is not None:
            if e[0] is f:
                return          # installed: this frame crossed while it was
            e[0].kkeys.discard(k)
        try:
            ok = self.fp.put(k, steps)
        except (OSError, ValueError) as err:
            log.warn("kernel fast path: cannot install an entry (%s)", err, rl=_RL)
            ok = False
        if not ok:
            self.n_refused += 1
            self._entries.pop(k, None)
            if e is not None:
                self._delete(k)
            if len(self._refused) < MAX_REFUSED:
                self._refused.add(k)
            return
        # A rewrite keeps the entry's counters: the new megaflow counts from them on.
        self._entries[k] = [f, e[1], e[2]] if e is not None else [f, 0, 0]
        for op, arg in steps:
            if op == K_OUT or op == K_OUT_INGRESS:
                self._counted.add(arg)
        if f.kkeys is None:
            f.kkeys = set()
        f.kkeys.add(k)

    def forget(self, f) -> None:
        """Deletes megaflow f's kernel entries (it is gone, or no longer expressible)."""
        keys = f.kkeys
        if not keys:
            return
        f.kkeys = None
        for k in keys:
            if self._entries.pop(k, None) is not None:
                self._delete(k)
        self._refused.clear()

    def _delete(self, k: bytes) -> None:
        if self.fp is not None:
            try:
                self.fp.delete(k)
            except OSError as e:
                log.warn("kernel fast path: cannot delete an entry (%s)", e, rl=_RL)

    def changed(self, f) -> None:
        """Megaflow f's actions changed: rewrite its entries, or delete them."""
        f.ksteps = None
        if not f.kkeys:
            return
        steps = f.ksteps = self.steps(f)
        if steps is False or self.fp is None:
            self.forget(f)
            return
        for k in list(f.kkeys):
            try:
                ok = self.fp.put(k, steps)      # a rewrite keeps the entry's counters
            except (OSError, ValueError):
                ok = False
            if not ok:
                self.n_refused += 1
                self._entries.pop(k, None)
                f.kkeys.discard(k)
                self._delete(k)

    def flush(self, flows=()) -> None:
        """Deletes every entry (flows: the megaflows, whose key sets are cleared)."""
        for f in flows:
            f.kkeys = None
            f.ksteps = None
        for k in self._entries:
            self._delete(k)
        self._entries.clear()
        self._refused.clear()

    # ---- statistics -----------------------------------------------------------------

    def sync(self, now: float) -> int:
        """Folds the kernel's entry counters into their megaflows (used times converted to
        the datapath's clock, whose `now` is given); returns the packets added."""
        if self._attacher is not None and self._attacher.done:
            self._collect()
        if self.fp is None or not self._entries:
            return 0
        now_ns = self._clock_ns()
        added = 0
        entries = self._entries
        for k, packets, nbytes, used_ns in self.fp.dump():
            e = entries.get(k)
            if e is None:
                continue
            dp = packets - e[1]
            if dp <= 0:
                continue
            f = e[0]
            f.packets += dp
            f.bytes += nbytes - e[2]
            used = now - max(0, now_ns - used_ns) / 1e9
            if used > f.used:
                f.used = used
            e[1], e[2] = packets, nbytes
            added += dp
        self.n_hit += added
        return added

    def sync_counters(self) -> None:
        """Adds the kernel's per-port counters (since the last call) to the netdevs', for
        the ports the kernel can have counted: attached ones and outputs of entries."""
        if self.fp is None:
            return
        for ifindex in self._counted:
            kp = self._by_ifindex.get(ifindex)
            if kp is None:
                continue
            try:
                now = self.fp.counters(kp.ifindex)
            except OSError:
                continue
            before = self._counters.get(kp.ifindex, (0, 0, 0, 0))
            if now == before:
                continue
            self._counters[kp.ifindex] = now
            d = [max(0, a - b) for a, b in zip(now, before)]
            s = kp.netdev.stats()
            s.rx_packets += d[0]
            s.rx_bytes += d[1]
            s.tx_packets += d[2]
            s.tx_bytes += d[3]

    def close(self) -> None:
        """Frees the kernel tier: socket filters off the ports still attached (a filter
        would keep the programs and maps alive as long as its socket), links, maps."""
        self._cancel(None)
        if self._attacher is not None:
            self._attacher.stop()
            self._attacher = None
        self._entries.clear()
        for port_no in list(self._attached):
            self._detach(port_no)
        self._out.clear()
        self._close_fp()

    def _close_fp(self) -> None:
        if self.fp is not None:
            fp, self.fp = self.fp, None
            fp.close()
        self._counters.clear()
        self._counted.clear()
        self._failed.clear()


def _attach_port(fp, kp: KernelPort) -> OSError | None:
    """Puts the TC program on the port, then the filter on its socket (a filter hiding hits
    with no program to forward them would lose frames); on failure, undoes it and returns
    the error."""
    try:
        if kp.hook == INGRESS:
            fp.attach_ingress(kp.ifindex)
            fp.filter_socket(kp.netdev.fileno())
        else:
            fp.attach_egress(kp.ifindex)
    except OSError as e:
        try:
            fp.detach(kp.ifindex)
        except OSError:
            pass
        return e
    return None


def _detach_port(fp, kp: KernelPort) -> None:
    try:
        fp.detach(kp.ifindex)
    except OSError:
        pass
    if kp.hook == INGRESS:
        _detach_socket_filter(kp.netdev)


class _Attacher:
    """A thread attaching ports' programs, one request at a time; its results wait in
    `done` for the datapath's thread to collect them under the datapath's lock."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._requests: collections.deque = collections.deque()
        self._busy: tuple | None = None         # the (fp, port) being attached
        self._stopped = False
        self.done: collections.deque = collections.deque()
        self._thread = threading.Thread(target=self._run, name="kfast-attach", daemon=True)
        self._thread.start()

    def request(self, fp, kp: KernelPort) -> None:
        with self._cond:
            self._requests.append((fp, kp))
            self._cond.notify_all()

    def cancel(self, port_no: int | None) -> None:
        """Drops the requests for port_no (all: None); waits while one of them runs."""
        def mine(item) -> bool:
            return port_no is None or item[1].port_no == port_no
        with self._cond:
            self._requests = collections.deque(r for r in self._requests if not mine(r))
            while self._busy is not None and mine(self._busy):
                self._cond.wait()

    def settle(self) -> None:
        with self._cond:
            while self._requests or self._busy is not None:
                self._cond.wait()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._requests.clear()
            self._cond.notify_all()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._requests and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                self._busy = item = self._requests.popleft()
            try:
                error = _attach_port(*item)
            except Exception as e:  # noqa: BLE001 - a bug costs the port its attachment
                error = e
            with self._cond:
                self.done.append((*item, error))
                self._busy = None
                self._cond.notify_all()


def _detach_socket_filter(netdev) -> None:
    """Takes the socket filter off an AF_PACKET netdev's socket (still open)."""
    fd = netdev.fileno()
    if fd < 0:
        return
    try:
        s = socket.socket(fileno=socket.dup(fd))
    except OSError:
        return
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_DETACH_BPF, 0)
    except OSError:
        pass
    finally:
        s.close()
