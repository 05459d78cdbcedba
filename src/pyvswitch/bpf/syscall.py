"""The bpf(2) system call through ctypes: maps, program loading, links, socket filters.

Each command fills a zeroed `union bpf_attr` (the kernel accepts a shorter attribute than
its own as long as we pass our size, and rejects non-zero bytes it does not know) with the
fields that command reads, at their uapi offsets.  Errors come back as OSError with the
errno; a refused program raises `VerifierError` carrying the verifier's log.

Pointers handed to the kernel are addresses of ctypes buffers that this module keeps
alive for the length of the call.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
import threading

# System call numbers per machine (asm-generic is 280).
_NR_BPF = {"x86_64": 321, "aarch64": 280, "i686": 357, "armv7l": 386, "ppc64le": 361, "s390x": 351}

# enum bpf_cmd
MAP_CREATE = 0
MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
MAP_DELETE_ELEM = 3
MAP_GET_NEXT_KEY = 4
PROG_LOAD = 5
PROG_TEST_RUN = 10
PROG_GET_FD_BY_ID = 13
MAP_GET_FD_BY_ID = 14
OBJ_GET_INFO_BY_FD = 15
PROG_QUERY = 16
MAP_LOOKUP_BATCH = 24
LINK_CREATE = 28

# enum bpf_map_type, bpf_prog_type, bpf_attach_type (the ones used here)
MAP_TYPE_HASH = 1
MAP_TYPE_ARRAY = 2
PROG_TYPE_SOCKET_FILTER = 1
PROG_TYPE_SCHED_CLS = 3
TCX_INGRESS = 46
TCX_EGRESS = 47

# map_update_elem flags; map_create flags
ANY = 0
NOEXIST = 1
EXIST = 2
F_NO_PREALLOC = 1

SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27          # SO_DETACH_FILTER

_ATTR_SIZE = 144            # covers every field used here; the rest stays zero
_LOG_SIZE = 1 << 20


class VerifierError(OSError):
    """The kernel refused a program; `log` is the verifier's account of why."""

    def __init__(self, errno: int, log: str):
        super().__init__(errno, os.strerror(errno))
        self.log = log

    def first_line(self) -> str:
        """The line of the log that names the problem (the last non-empty one before the
        summary, which is where the verifier stops), or the errno text."""
        lines = [ln for ln in self.log.splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith(("processed ", "verification time"))]
        return lines[-1] if lines else self.strerror


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]


def _nr() -> int:
    try:
        return _NR_BPF[platform.machine()]
    except KeyError:
        raise OSError(errno.ENOSYS, f"bpf(2) system call number unknown on {platform.machine()}") from None


_NR = _nr() if platform.machine() in _NR_BPF else -1


def bpf(cmd: int, attr: ctypes.Array) -> int:
    """Issues one bpf(2) command; returns its non-negative result or raises OSError (the
    subclass for its errno: FileNotFoundError for ENOENT, ...)."""
    if _NR < 0:
        _nr()
    r = _syscall(_NR, cmd, ctypes.addressof(attr), _ATTR_SIZE)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def _attr(fmt: str, *fields) -> ctypes.Array:
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(fmt, buf, 0, *fields)
    return buf


def _addr(buf) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


# --- maps ---------------------------------------------------------------------------------

def map_create(map_type: int, key_size: int, value_size: int, max_entries: int,
               flags: int = 0, name: str = "") -> int:
    """Creates a map; returns its fd."""
    attr = _attr("=IIIIIII16s", map_type, key_size, value_size, max_entries, flags, 0, 0,
                 name.encode()[:15])
    return bpf(MAP_CREATE, attr)


class Map:
    """Element operations on a map by fd, one system call each.  The key and value buffers
    and the attributes pointing at them are made once and reused (the fast path installs
    entries per new microflow); a lock keeps them to one caller at a time, since ctypes
    lets other threads run during the call.  The fd stays the caller's to close."""

    def __init__(self, fd: int, key_size: int, value_size: int) -> None:
        self.fd, self.key_size, self.value_size = fd, key_size, value_size
        self._key = ctypes.create_string_buffer(key_size)
        self._next = ctypes.create_string_buffer(key_size)
        self._value = ctypes.create_string_buffer(value_size)
        # The kernel insists that fields a command does not read are zero: delete and
        # get-next-key get attributes of their own.
        self._elem = _attr("=I4xQQQ", fd, _addr(self._key), _addr(self._value), 0)
        self._del = _attr("=I4xQ", fd, _addr(self._key))
        self._next_attr = _attr("=I4xQQ", fd, _addr(self._key), _addr(self._next))
        self._first_attr = _attr("=I4xQQ", fd, 0, _addr(self._next))
        self._lock = threading.Lock()

    def update(self, key: bytes, value: bytes, flags: int = ANY) -> None:
        """Stores value under key; flags NOEXIST (FileExistsError if there) or EXIST
        (FileNotFoundError if not); a full map raises OSError E2BIG."""
        with self._lock:
            ctypes.memmove(self._key, key, self.key_size)
            ctypes.memmove(self._value, value, self.value_size)
            struct.pack_into("=Q", self._elem, 24, flags)
            bpf(MAP_UPDATE_ELEM, self._elem)

    def lookup(self, key: bytes) -> bytes | None:
        """The value stored under key, or None if there is none."""
        with self._lock:
            ctypes.memmove(self._key, key, self.key_size)
            struct.pack_into("=Q", self._elem, 24, 0)
            try:
                bpf(MAP_LOOKUP_ELEM, self._elem)
            except FileNotFoundError:
                return None
            return self._value.raw

    def delete(self, key: bytes) -> bool:
        """Deletes key; False if it was not there."""
        with self._lock:
            ctypes.memmove(self._key, key, self.key_size)
            try:
                bpf(MAP_DELETE_ELEM, self._del)
            except FileNotFoundError:
                return False
            return True

    def keys(self) -> list[bytes]:
        """Every key, by MAP_GET_NEXT_KEY (a system call per key: for small maps)."""
        out: list[bytes] = []
        with self._lock:
            attr = self._first_attr
            while True:
                try:
                    bpf(MAP_GET_NEXT_KEY, attr)
                except FileNotFoundError:
                    return out
                out.append(self._next.raw)
                ctypes.memmove(self._key, self._next, self.key_size)
                attr = self._next_attr

    def items(self, chunk: int = 4096) -> list[tuple[bytes, bytes]]:
        """Every (key, value), up to `chunk` entries per system call (MAP_LOOKUP_BATCH)."""
        ks, vs = self.key_size, self.value_size
        out: list[tuple[bytes, bytes]] = []
        for kr, vr, count in self.batches(chunk):
            out.extend((kr[i * ks:(i + 1) * ks], vr[i * vs:(i + 1) * vs]) for i in range(count))
        return out

    def batches(self, chunk: int = 4096):
        """Yields (keys, values, count): each MAP_LOOKUP_BATCH's keys and values packed end
        to end, for callers that unpack many entries at once (struct.iter_unpack).  A hash
        map hands out whole buckets and its batch token is a bucket index; a bucket larger
        than the chunk (ENOSPC) makes us retry with a larger one.  ENOENT marks the last
        batch, which may still carry entries."""
        ks, vs = self.key_size, self.value_size
        tokens = (ctypes.create_string_buffer(8), ctypes.create_string_buffer(8))
        in_batch = None
        keys = values = None
        while True:
            if keys is None or len(keys) < ks * chunk:
                keys = ctypes.create_string_buffer(ks * chunk)
                values = ctypes.create_string_buffer(vs * chunk)
            out_batch = tokens[0] if in_batch is not tokens[0] else tokens[1]
            attr = _attr("=QQQQIIQQ", _addr(in_batch), _addr(out_batch), _addr(keys),
                         _addr(values), chunk, self.fd, 0, 0)
            done = False
            try:
                bpf(MAP_LOOKUP_BATCH, attr)
            except FileNotFoundError:
                done = True
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk *= 2
                continue
            count = struct.unpack_from("=I", attr, 32)[0]
            if count:
                yield ctypes.string_at(keys, count * ks), ctypes.string_at(values, count * vs), count
            if done:
                return
            in_batch = out_batch


# --- programs -----------------------------------------------------------------------------

def prog_load(prog_type: int, insns: bytes, name: str = "", license: str = "GPL",
              expected_attach_type: int = 0) -> int:
    """Loads a program; returns its fd.  A refusal raises VerifierError with the log."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    attr = _attr("=IIQQIIQII16sII", prog_type, len(insns) // 8, _addr(code), _addr(lic),
                 0, 0, 0, 0, 0, name.encode()[:15], 0, expected_attach_type)
    try:
        return bpf(PROG_LOAD, attr)
    except OSError as e:
        if e.errno not in (13, 22, 7):          # EACCES, EINVAL, E2BIG: the verifier's words
            raise
        err = e
    # Load again with the log on (level 1 is the full trace; the last lines say why).
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attr = _attr("=IIQQIIQII16sII", prog_type, len(insns) // 8, _addr(code), _addr(lic),
                 1, _LOG_SIZE, _addr(log), 0, 0, name.encode()[:15], 0, expected_attach_type)
    try:
        fd = bpf(PROG_LOAD, attr)
    except OSError as e:
        raise VerifierError(e.errno, log.value.decode(errors="replace")) from None
    os.close(fd)
    raise VerifierError(err.errno, "")


def prog_test_run(prog_fd: int, data: bytes, repeat: int = 1) -> tuple[int, int]:
    """Runs a program on a frame built from data, in the kernel, without a device
    (PROG_TEST_RUN): returns (its return value as a signed int, ns per run).  A SCHED_CLS
    program sees the frame from its MAC header, on the loopback device; redirects are
    decided but not carried out."""
    buf = ctypes.create_string_buffer(data, len(data))
    attr = _attr("=IIIIQQII", prog_fd, 0, len(data), 0, _addr(buf), 0, repeat, 0)
    bpf(PROG_TEST_RUN, attr)
    retval, = struct.unpack_from("=i", attr, 4)
    duration, = struct.unpack_from("=I", attr, 36)
    return retval, duration


def link_create(prog_fd: int, ifindex: int, attach_type: int) -> int:
    """Attaches a program to a device hook (TCX_INGRESS/TCX_EGRESS) as a bpf link; returns
    the link's fd.  The program stays attached until the last fd of the link is closed."""
    return bpf(LINK_CREATE, _attr("=IIII", prog_fd, ifindex, attach_type, 0))


def prog_query(ifindex: int, attach_type: int, max_progs: int = 64) -> list[int]:
    """The ids of the programs attached to a device hook (PROG_QUERY), in run order."""
    ids = (ctypes.c_uint32 * max_progs)()
    attr = _attr("=IIIIQI", ifindex, attach_type, 0, 0, ctypes.addressof(ids), max_progs)
    bpf(PROG_QUERY, attr)
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[:count])


def attach_socket(sock_fd: int, prog_fd: int) -> None:
    """Attaches a SOCKET_FILTER program to a socket (SO_ATTACH_BPF)."""
    s = socket.socket(fileno=os.dup(sock_fd))
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, prog_fd)
    finally:
        s.close()


def detach_socket(sock_fd: int) -> None:
    s = socket.socket(fileno=os.dup(sock_fd))
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_DETACH_BPF, 0)
    finally:
        s.close()


# --- object ids (what the kernel still holds: for leak checks and debugging) --------------

def obj_id(fd: int) -> int:
    """The kernel-wide id of the program, map or link behind fd (OBJ_GET_INFO_BY_FD; the
    info structs of all three start with u32 type, u32 id, and the kernel fills only as
    much as we ask for)."""
    info = ctypes.create_string_buffer(8)
    bpf(OBJ_GET_INFO_BY_FD, _attr("=IIQ", fd, len(info), _addr(info)))
    return struct.unpack_from("=I", info, 4)[0]


def _exists(cmd: int, obj: int) -> bool:
    try:
        fd = bpf(cmd, _attr("=III", obj, 0, 0))
    except FileNotFoundError:
        return False
    os.close(fd)
    return True


def prog_exists(prog_id: int) -> bool:
    """Whether the kernel still holds the program with this id (something references it:
    an fd, a link, a socket filter)."""
    return _exists(PROG_GET_FD_BY_ID, prog_id)


def map_exists(map_id: int) -> bool:
    return _exists(MAP_GET_FD_BY_ID, map_id)
