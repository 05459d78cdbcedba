"""Every Linux interface's state in one rtnetlink dump: flags, MTU, MAC, counters.

The status write-back needs, for each Linux interface, its index, flags
(administrative state, IFF_RUNNING for the link), MTU, MAC and kernel counters.
Asking per interface costs several system calls each (a few milliseconds per
interface here, seconds for a thousand); one RTM_GETLINK dump returns them all
in one round trip, as OVS's netdev-linux reads them.

`parse_links(data)` is the pure decoder (rtnetlink messages in, `LinkInfo`s
out); `dump_links()` does the I/O.

Between dumps, `LinkMonitor` keeps the same picture current from the
kernel's link notifications (the RTMGRP_LINK multicast group: an
RTM_NEWLINK whenever a device appears or its flags, MTU, MAC or name
change, an RTM_DELLINK when it goes), as OVS's netdev-linux listens to
them: a status pass then looks again only at the devices that changed,
not at a thousand that did not, and bonds see a member's carrier go down or
up as it happens (the daemon's event loop watches the socket, `fileno()`).  The kernel drops notifications a full
socket buffer cannot hold and says so (ENOBUFS); the monitor then dumps
everything again.  Counters move without notifications, so a statistics
pass still dumps.

Wire facts (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h): each message
is an nlmsghdr (len, type, flags, seq, pid) followed for RTM_NEWLINK by an
ifinfomsg (family, type, index, flags, change) and rtattrs (len, type, value,
padded to 4 bytes).  IFLA_ADDRESS=1, IFLA_IFNAME=3, IFLA_MTU=4,
IFLA_STATS64=23 (struct rtnl_link_stats64: u64 counters in a fixed order).
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import socket
import struct
from dataclasses import dataclass

from pyvswitch.netdev import linux

NLMSG_HDR = struct.Struct("=IHHII")
assert NLMSG_HDR.size == 16
IFINFOMSG = struct.Struct("=BxHiII")
assert IFINFOMSG.size == 16
RTATTR = struct.Struct("=HH")
assert RTATTR.size == 4

NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTMGRP_LINK = 1
SO_RCVBUFFORCE = 33
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_STATS64 = 23

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_LOWER_UP = 0x10000      # carrier (the kernel sets it only on a device that is up)

# struct rtnl_link_stats64, in order (later kernels append more fields).
STATS64_FIELDS = (
    "rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors",
    "rx_dropped", "tx_dropped", "multicast", "collisions", "rx_length_errors",
    "rx_over_errors", "rx_crc_errors", "rx_frame_errors", "rx_fifo_errors", "rx_missed_errors",
    "tx_aborted_errors", "tx_carrier_errors", "tx_fifo_errors", "tx_heartbeat_errors",
    "tx_window_errors",
)
_STATS64 = struct.Struct("=" + "Q" * len(STATS64_FIELDS))
_WANTED = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_STATS64))


@dataclass(frozen=True, slots=True)
class LinkInfo:
    name: str
    ifindex: int
    flags: int
    mtu: int | None
    mac: bytes | None
    counters: dict[str, int] | None     # kernel counter name -> value
    deleted: bool = False               # from an RTM_DELLINK: the device is gone

    @property
    def admin_up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def running(self) -> bool:
        return bool(self.flags & IFF_RUNNING)

    @property
    def carrier(self) -> bool:
        """What /sys/class/net/NAME/carrier says (0 for a device that is down)."""
        return bool(self.flags & IFF_LOWER_UP)


def parse_links(data: bytes) -> tuple[list[LinkInfo], bool]:
    """Decodes rtnetlink messages: (links, whether NLMSG_DONE was seen).  A link from
    an RTM_DELLINK notification is marked deleted."""
    links: list[LinkInfo] = []
    offset, done, n = 0, False, len(data)
    rtattr = RTATTR.unpack_from
    while offset + NLMSG_HDR.size <= n:
        length, mtype, _, _, _ = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size:
            break
        end = min(offset + length, n)
        if mtype == NLMSG_DONE:
            done = True
        elif mtype == NLMSG_ERROR:
            if end - offset >= 20:
                err = -struct.unpack_from("=i", data, offset + 16)[0]
                if err:
                    raise OSError(err, os.strerror(err))
            done = True
        elif (mtype == RTM_NEWLINK or mtype == RTM_DELLINK) and end - offset >= 32:
            _, _, index, flags, _ = IFINFOMSG.unpack_from(data, offset + 16)
            name, mtu, mac, counters = "", None, None, None
            # A link carries dozens of attributes; only four are wanted, so the loop
            # looks at each one's header, slices only those, and stops once it has
            # them all (the kernel puts them among the first).
            a = offset + 32
            missing = len(_WANTED)
            while a + 4 <= end and missing:
                alen, atype = rtattr(data, a)
                if alen < 4:
                    break
                atype &= 0x3fff
                if atype in _WANTED:
                    missing -= 1
                    value = data[a + 4:min(a + alen, end)]
                    if atype == IFLA_IFNAME:
                        name = value.split(b"\0", 1)[0].decode(errors="replace")
                    elif atype == IFLA_MTU and len(value) >= 4:
                        mtu = struct.unpack_from("=I", value)[0]
                    elif atype == IFLA_ADDRESS:
                        mac = bytes(value)
                    elif atype == IFLA_STATS64 and len(value) >= _STATS64.size:
                        counters = dict(zip(STATS64_FIELDS, _STATS64.unpack_from(value)))
                a += (alen + 3) & ~3
            links.append(LinkInfo(name, index, flags, mtu, mac, counters, mtype == RTM_DELLINK))
        offset += (length + 3) & ~3
    return links, done


def dump_links() -> dict[str, LinkInfo]:
    """Every interface of this network namespace, by name."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.bind((0, 0))
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        s.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(body), RTM_GETLINK,
                              NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
        out: dict[str, LinkInfo] = {}
        while True:
            links, done = parse_links(s.recv(1 << 20))
            for link in links:
                out[link.name] = link
            if done:
                return out


class LinkMonitor:
    """Every interface of this network namespace, by name, kept current from the
    kernel's link notifications; `refresh()` says which ones changed."""

    RCVBUF = 4 << 20

    def __init__(self) -> None:
        self.links: dict[str, LinkInfo] = {}
        self._names: dict[int, str] = {}         # ifindex -> name, to follow renames
        self._sock: socket.socket | None = None
        self._synced = False

    def refresh(self, full: bool = False) -> set[str] | None:
        """Brings `links` up to date.  Returns the names that changed (appeared,
        changed or went) since the last refresh, or None after a full dump (asked
        for, the first time, or after the kernel dropped notifications)."""
        self.fileno()
        if full or not self._synced:
            self._drain()
            self._load(dump_links().values(), reset=True)
            self._synced = True
            return None
        changed: set[str] = set()
        try:
            while True:
                links, _ = parse_links(self._sock.recv(1 << 20))
                changed.update(self._load(links))
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            self._synced = False
            return self.refresh(full=True)
        return changed

    def fileno(self) -> int:
        """The notification socket (opened on first use): readable when the kernel
        reported a change, for an event loop to call `refresh` then."""
        if self._sock is None:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            try:
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.RCVBUF)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)
            s.bind((0, RTMGRP_LINK))
            s.setblocking(False)
            self._sock = s
        return self._sock.fileno()

    def _drain(self) -> None:
        """Discards queued notifications: the dump that follows supersedes them."""
        try:
            while self._sock.recv(1 << 20):
                pass
        except OSError:
            pass

    def _load(self, links, reset: bool = False) -> list[str]:
        if reset:
            self.links, self._names = {}, {}
        names = []
        for link in links:
            old = self._names.pop(link.ifindex, None)
            if old is not None and self.links.get(old) is not None \
                    and self.links[old].ifindex == link.ifindex:
                del self.links[old]
                names.append(old)
            if not link.deleted:
                prev = self.links.get(link.name)
                if prev is not None and prev.ifindex != link.ifindex:
                    self._names.pop(prev.ifindex, None)
                self.links[link.name] = link
                self._names[link.ifindex] = link.name
            names.append(link.name)
        return names

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._synced = False


# ---- ethtool: driver, speed, duplex (asked once per interface) ----------------------

SIOCETHTOOL = 0x8946
ETHTOOL_GSET = 0x1
ETHTOOL_GDRVINFO = 0x3
_DRVINFO_SIZE = 196          # struct ethtool_drvinfo
_CMD = struct.Struct("=IIIHBBBBBBII")   # struct ethtool_cmd up to maxrxpkt
_SPEED_HI = struct.Struct("=H")         # speed_hi, at offset 28
SPEED_UNKNOWN = 0xffffffff


@dataclass(frozen=True, slots=True)
class EthtoolInfo:
    driver: str | None = None
    version: str | None = None
    firmware: str | None = None
    speed_mbps: int | None = None
    duplex: str | None = None


def _ethtool(sock: socket.socket, name: str, request: bytes) -> bytes:
    # The ifreq points at the command buffer, which the kernel fills in.
    buf = array.array("B", request)
    ifr = struct.pack("16sP", name.encode()[:15], buf.buffer_info()[0])
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr + bytes(40 - len(ifr)))
    return buf.tobytes()


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def ethtool_info(name: str) -> EthtoolInfo:
    """What ethtool says about a device; fields it does not support stay None."""
    driver = version = firmware = None
    speed = duplex = None
    s = linux.ioctl_socket()
    try:
        raw = _ethtool(s, name, struct.pack("=I", ETHTOOL_GDRVINFO) + bytes(_DRVINFO_SIZE - 4))
        driver, version, firmware = _cstr(raw[4:36]), _cstr(raw[36:68]), _cstr(raw[68:100])
    except OSError:
        pass
    try:
        raw = _ethtool(s, name, struct.pack("=I", ETHTOOL_GSET) + bytes(40))
        fields = _CMD.unpack_from(raw)
        mbps = fields[3] | (_SPEED_HI.unpack_from(raw, 28)[0] << 16)
        if mbps and mbps not in (0xffff, SPEED_UNKNOWN):
            speed = mbps
        duplex = {0: "half", 1: "full"}.get(fields[4])
    except OSError:
        pass
    return EthtoolInfo(driver, version, firmware, speed, duplex)
