"""Linux interface properties through ioctls and sysfs: index, MAC, MTU, flags, carrier.

Plain ioctls on a datagram socket are enough for what a netdev needs and cost no
dependency.  One socket serves every call (opened at the first, kept for the life of
the process): a socket per call tripled the system calls of setting up a TAP.  Link
state for many interfaces at once comes from one rtnetlink dump (vswitchd/linkstate.py);
deleting many devices at once is one rtnetlink exchange (`delete_links`, below);
creating veths and namespaces is left to iproute2 in tests.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import threading

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCGIFMTU = 0x8921
SIOCSIFMTU = 0x8922
SIOCSIFHWADDR = 0x8924
SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_PROMISC = 0x100
ARPHRD_ETHER = 1

_IFREQ = struct.Struct("16s16s")  # ifr_name, then the 16-byte union
assert _IFREQ.size == 32


_sock: socket.socket | None = None
_sock_lock = threading.Lock()


def ioctl_socket() -> socket.socket:
    """The datagram socket interface ioctls go through (shared, opened once)."""
    global _sock
    if _sock is None:
        with _sock_lock:
            if _sock is None:
                _sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return _sock


def _ioctl(name: str, request: int, payload: bytes = b"") -> bytes:
    req = _IFREQ.pack(name.encode(), payload)
    return fcntl.ioctl(ioctl_socket().fileno(), request, req)[16:]


def ifindex(name: str) -> int:
    return struct.unpack_from("i", _ioctl(name, SIOCGIFINDEX))[0]


def exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def get_mac(name: str) -> bytes:
    return _ioctl(name, SIOCGIFHWADDR)[2:8]


def set_mac(name: str, mac: bytes) -> None:
    _ioctl(name, SIOCSIFHWADDR, struct.pack("H6s", ARPHRD_ETHER, mac))


def get_mtu(name: str) -> int:
    return struct.unpack_from("i", _ioctl(name, SIOCGIFMTU))[0]


def set_mtu(name: str, mtu: int) -> None:
    _ioctl(name, SIOCSIFMTU, struct.pack("i", mtu))


def get_flags(name: str) -> int:
    return struct.unpack_from("H", _ioctl(name, SIOCGIFFLAGS))[0]


def set_flags(name: str, on: int = 0, off: int = 0) -> None:
    flags = (get_flags(name) | on) & ~off
    _ioctl(name, SIOCSIFFLAGS, struct.pack("H", flags & 0xFFFF))


def set_up(name: str, up: bool = True) -> None:
    if up:
        set_flags(name, on=IFF_UP)
    else:
        set_flags(name, off=IFF_UP)


def carrier(name: str) -> bool:
    """True if the link has carrier ("up" in Interface.link_state)."""
    try:
        with open(f"/sys/class/net/{name}/carrier") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def strerror(e: OSError) -> str:
    """OVS's wording of an errno: the C library's message ("No such device")."""
    return os.strerror(e.errno) if e.errno else str(e)



# ---- rtnetlink: deleting many devices at once ---------------------------------------
#
# The kernel waits for an RCU grace period (about 20 ms here) each time it unregisters
# devices, so deleting a thousand TAPs one by one takes about 20 s.  It unregisters all
# the devices of one RTM_DELLINK in one go, and an RTM_DELLINK naming an interface group
# (IFLA_GROUP, no index or name) deletes every device in that group.  So `delete_links`
# first moves the devices into a group of their own (one batch of RTM_NEWLINK requests,
# by name), then deletes the group.  Wire facts: linux/netlink.h, linux/rtnetlink.h,
# linux/if_link.h (IFLA_IFNAME=3, IFLA_GROUP=27).

_NLMSG = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_RTA = struct.Struct("=HH")
_NLMSG_ERROR = 2
_RTM_NEWLINK = 16
_RTM_DELLINK = 17
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_IFLA_IFNAME = 3
_IFLA_GROUP = 27
_BATCH = 256            # requests per send: their acknowledgements fit the socket buffer


def _rta(atype: int, value: bytes) -> bytes:
    return _RTA.pack(_RTA.size + len(value), atype) + value + bytes(-len(value) % 4)


def _link_request(mtype: int, seq: int, name: str | None, group: int | None) -> bytes:
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    if name is not None:
        body += _rta(_IFLA_IFNAME, name.encode() + b"\0")
    if group is not None:
        body += _rta(_IFLA_GROUP, struct.pack("=I", group))
    return _NLMSG.pack(_NLMSG.size + len(body), mtype, _NLM_F_REQUEST | _NLM_F_ACK, seq, 0) + body


def _acks(data: bytes) -> list[tuple[int, int]]:
    """The (sequence number, errno) of each acknowledgement in data."""
    out, offset = [], 0
    while offset + _NLMSG.size <= len(data):
        length, mtype, _, seq, _ = _NLMSG.unpack_from(data, offset)
        if length < _NLMSG.size:
            break
        if mtype == _NLMSG_ERROR and length >= _NLMSG.size + 4:
            out.append((seq, -struct.unpack_from("=i", data, offset + _NLMSG.size)[0]))
        offset += (length + 3) & ~3
    return out


def _requests(sock: socket.socket, requests: list[bytes]) -> list[int]:
    """Sends requests (sequence numbers 0..n-1) in batches; the errno of each (0: done)."""
    errors = [0] * len(requests)
    for start in range(0, len(requests), _BATCH):
        chunk = requests[start:start + _BATCH]
        sock.send(b"".join(chunk))
        pending = set(range(start, start + len(chunk)))
        while pending:
            for seq, err in _acks(sock.recv(1 << 16)):
                if seq in pending:
                    pending.discard(seq)
                    errors[seq] = err
    return errors


def delete_links(names: list[str]) -> dict[str, int]:
    """Deletes the named devices, in one unregistration when the kernel can; returns the
    errno of each device that could not be deleted (a device already gone counts as
    deleted)."""
    failed: dict[str, int] = {}
    if not names:
        return failed
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.settimeout(30)
        rest = list(names)
        if len(names) > 1:
            group = 0x40000000 | int.from_bytes(os.urandom(4), "little") & 0x3fffffff
            errors = _requests(sock, [_link_request(_RTM_NEWLINK, i, n, group)
                                      for i, n in enumerate(names)])
            if not _requests(sock, [_link_request(_RTM_DELLINK, 0, None, group)])[0]:
                rest = [n for n, e in zip(names, errors) if e]
        errors = _requests(sock, [_link_request(_RTM_DELLINK, i, n, None)
                                  for i, n in enumerate(rest)])
        for name, err in zip(rest, errors):
            if err and err != errno.ENODEV:
                failed[name] = err
    return failed
