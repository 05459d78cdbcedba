"""The "internal" netdev: a TAP device, the bridge's (or a port's) face to the host.

The device is created with IFF_VNET_HDR and told (TUNSETOFFLOAD) that we accept
checksum-less and TSO super-frames, so the host's TCP through an internal port keeps its
offloads as it does through a veth.  Each read returns one frame behind its virtio-net
header; each write takes the same.  The device exists while the descriptor is open,
or, once made persistent (TUNSETPERSIST), until it is deleted: a persistent TAP outlives
its process, and opening the same name again takes it up with its addresses and MAC.

Setting one up is a handful of system calls on the device's descriptor and the shared
ioctl socket (linux.py); ovs-vswitchd creates a thousand in a fraction of a second.
Deleting one costs the kernel an RCU grace period (about 20 ms here), so many are
deleted together by rtnetlink (linux.delete_links), not one by one.
"""

from __future__ import annotations

import fcntl
import os
import struct

from . import NetdevError, NetdevStats, Packet, linux
from .offload import VNET_HDR

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08

_NO_VNET = VNET_HDR.pack(0, 0, 0, 0, 0, 0)
_READ_SIZE = 65536 + 10 + 64


class TapNetdev:
    type = "internal"
    # For the kernel fast path (datapath/offload.py): frames the host sends into the bridge
    # leave through this device's egress.
    kernel_hook = "egress"

    def __init__(self, name: str, *, mac: bytes | None = None, up: bool = True,
                 promisc: bool = False, persist: bool = False):
        self.name = name
        self._stats = NetdevStats()
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise NetdevError(name, linux.strerror(e)) from None
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
            fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR.size))
            fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
            if mac is not None:
                linux.set_mac(name, mac)
            if up or promisc:
                linux.set_flags(name, on=(linux.IFF_UP if up else 0) |
                                (linux.IFF_PROMISC if promisc else 0))
            if persist:
                fcntl.ioctl(fd, TUNSETPERSIST, 1)
            self.ifindex = linux.ifindex(name)
        except OSError as e:
            os.close(fd)
            raise NetdevError(name, linux.strerror(e)) from None
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def set_persist(self, on: bool) -> None:
        """Whether the device outlives its descriptor (raises OSError)."""
        if self._fd >= 0:
            fcntl.ioctl(self._fd, TUNSETPERSIST, 1 if on else 0)

    def recv_batch(self, limit: int) -> list[Packet]:
        out: list[Packet] = []
        read = os.read
        for _ in range(limit):
            try:
                data = read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                self._stats.rx_errors += 1
                break
            if len(data) <= 10:
                continue
            vnet = data[:10]
            out.append(Packet(data[10:], vnet if vnet[0] or vnet[1] else None))
            self._stats.rx_packets += 1
            self._stats.rx_bytes += len(data) - 10
        return out

    def send_batch(self, packets: list[Packet]) -> int:
        sent = 0
        writev = os.writev
        for p in packets:
            try:
                writev(self._fd, [p.vnet or _NO_VNET, p.frame])
            except BlockingIOError:
                self._stats.tx_dropped += 1
                continue
            except OSError:
                # EIO while the device is administratively down: the host is not listening.
                self._stats.tx_dropped += 1
                continue
            sent += 1
            self._stats.tx_packets += 1
            self._stats.tx_bytes += len(p.frame)
        return sent

    def stats(self) -> NetdevStats:
        return self._stats

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
