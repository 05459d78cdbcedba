"""Raw frames in and out of network namespaces for the kernel fast path's tests.

A socket belongs to the network namespace of the thread that created it, so `ns_socket`
creates AF_PACKET sockets from a short-lived thread that has entered the namespace: the
test then sends and receives in any namespace without a helper process.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
_AUX = struct.Struct("=IIIHHHH")        # struct tpacket_auxdata

_libc = ctypes.CDLL(None, use_errno=True)


def ns_socket(ns: str | None, ifname: str) -> socket.socket:
    """An AF_PACKET socket bound to ifname in namespace ns (None: this one), reporting
    each frame's stripped VLAN tag (PACKET_AUXDATA)."""
    out: list = []

    def make():
        try:
            if ns is not None:
                fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET):
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            s.bind((ifname, ETH_P_ALL))
            out.append(s)
        except BaseException as e:
            out.append(e)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def mac(s: socket.socket) -> bytes:
    return s.getsockname()[4]


def frame(dst: bytes, src: bytes, ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return dst + src + tag + struct.pack("!H", ethertype) + payload.ljust(46, b"\0")


def received(s: socket.socket, marker: bytes, timeout: float = 2.0) -> tuple[bytes, int | None] | None:
    """The next incoming frame carrying marker as (frame, vlan_tci or None), or None at the
    deadline.  Outgoing frames and frames without the marker are skipped."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            data, anc, _flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(_AUX.size))
        except TimeoutError:
            return None
        if addr[2] == PACKET_OUTGOING or marker not in data:
            continue
        tci = None
        for level, kind, body in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, *_rest, vlan_tci, _tpid = _AUX.unpack(body[:_AUX.size])
                if status & TP_STATUS_VLAN_VALID:
                    tci = vlan_tci
        return data, tci
    return None


def send_until_received(sender: socket.socket, frame: bytes, receivers: list[socket.socket],
                        marker: bytes, timeout: float = 10.0, every: float = 1.0):
    """Sends frame, again every `every` seconds, until each receiver has it (on a loaded
    machine a frame can wait in a backlog, or rarely be lost).  Returns (what each receiver
    got as `received` reports it, or None at the deadline; the number of sends)."""
    got: list = [None] * len(receivers)
    sends = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sender.send(frame)
        sends += 1
        for i, r in enumerate(receivers):
            if got[i] is None:
                got[i] = received(r, marker, timeout=every if i == 0 else 0.05)
        if all(g is not None for g in got):
            break
    return got, sends


def drain(s: socket.socket) -> None:
    s.setblocking(False)
    try:
        while True:
            s.recv(65536)
    except BlockingIOError:
        pass
    finally:
        s.setblocking(True)


def ifindex(name: str) -> int:
    return socket.if_nametoindex(name)
