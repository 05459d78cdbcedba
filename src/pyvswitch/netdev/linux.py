"""Linux interface properties through ioctls and sysfs: index, MAC, MTU, flags, carrier.

Plain ioctls on a throwaway datagram socket are enough for what a netdev needs and
cost no dependency.  Link state for many interfaces at once comes from one rtnetlink
dump (vswitchd/linkstate.py); creating veths and namespaces is left to iproute2 in tests.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

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


def _ioctl(name: str, request: int, payload: bytes = b"") -> bytes:
    req = _IFREQ.pack(name.encode(), payload)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return fcntl.ioctl(s.fileno(), request, req)[16:]


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
    return ":".join(f"{b:02x}" for b in mac)


def strerror(e: OSError) -> str:
    """OVS's wording of an errno: the C library's message ("No such device")."""
    return os.strerror(e.errno) if e.errno else str(e)

