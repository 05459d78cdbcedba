"""Raw Ethernet frames for the system tests: builders, and AF_PACKET sockets opened inside a
network namespace.

A socket belongs to the namespace that was current when it was created, and stays there
after the creating thread leaves it.  `netns_socket` enters a namespace with setns(2) on
the calling thread only (Python 3.11 has no os.setns, so through libc), creates the socket
and goes back, so a test can send and capture frames in any host without a subprocess.

`Capture` reads what arrives on a host's eth0.  The kernel takes an 802.1Q tag out of the
frame into the packet's metadata (VLAN offload on veth); the capture asks for
PACKET_AUXDATA and puts the tag back, so tests see frames as they were on the wire.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import select
import socket
import struct
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from pyvswitch.packet.headers import checksum

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
CLONE_NEWNET = 0x40000000
AUXDATA = struct.Struct("=IIIHHHH")
assert AUXDATA.size == 20

BROADCAST = b"\xff" * 6

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def in_netns(ns: str):
    """Runs the body with the calling thread in namespace ns (as `ip netns exec` names it)."""
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(back)
    finally:
        os.close(target)
        os.close(back)


def netns_socket(ns: str | None, family: int, type_: int, proto: int = 0) -> socket.socket:
    if ns is None:
        return socket.socket(family, type_, proto)
    with in_netns(ns):
        return socket.socket(family, type_, proto)


def mac(i: int) -> bytes:
    """A locally administered unicast MAC made from a number."""
    return b"\x02\x00" + i.to_bytes(4, "big")


def mac_text(m: bytes) -> str:
    return ":".join(f"{b:02x}" for b in m)


def mac_bytes(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes, vlan: int | None = None,
             pcp: int = 0) -> bytes:
    tag = struct.pack("!HH", ETH_P_8021Q, (pcp << 13) | vlan) if vlan is not None else b""
    return dst + src + tag + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def udp_frame(dst: bytes, src: bytes, payload: bytes, vlan: int | None = None,
              size: int | None = None, pcp: int = 0) -> bytes:
    """An IPv4/UDP frame from 10.99.0.1 to 10.99.0.2; size pads the payload to that frame length."""
    if size is not None:
        payload = payload + b"\0" * max(0, size - 14 - 20 - 8 - len(payload))
    return ethernet(dst, src, ETH_P_IP, ipv4("10.99.0.1", "10.99.0.2", 17, udp(4000, 5000, payload)),
                    vlan, pcp)


def arp_request(src: bytes, sip: str, tip: str) -> bytes:
    body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, src, socket.inet_aton(sip),
                       b"\0" * 6, socket.inet_aton(tip))
    return ethernet(BROADCAST, src, ETH_P_ARP, body)


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes               # as on the wire, an 802.1Q tag the kernel took out put back

    @property
    def dst(self) -> bytes:
        return self.data[:6]

    @property
    def src(self) -> bytes:
        return self.data[6:12]

    @property
    def vlan(self) -> int | None:
        if struct.unpack_from("!H", self.data, 12)[0] == ETH_P_8021Q:
            return struct.unpack_from("!H", self.data, 14)[0] & 0x0FFF
        return None

    @property
    def pcp(self) -> int | None:
        if self.vlan is None:
            return None
        return struct.unpack_from("!H", self.data, 14)[0] >> 13

    @property
    def untagged(self) -> bytes:
        return self.data[:12] + self.data[16:] if self.vlan is not None else self.data


class Port:
    """A raw socket on one interface (a host's eth0 by default) that sends and captures."""

    def __init__(self, ns: str | None, ifname: str = "eth0") -> None:
        self.sock = netns_socket(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.sock.bind((ifname, 0))
        self.sock.setblocking(False)

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def drain(self) -> None:
        while True:
            try:
                self.sock.recv(65536)
            except BlockingIOError:
                return

    def frames(self, timeout: float, stop=None) -> list[Frame]:
        """Frames received (not sent) until timeout, or until stop(frames) is true."""
        got: list[Frame] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop(got)):
                return got
            if not select.select([self.sock], [], [], left)[0]:
                continue
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(AUXDATA.size))
            except BlockingIOError:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue
            for level, kind, value in anc:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= AUXDATA.size:
                    status, _l, _s, _m, _n, tci, tpid = AUXDATA.unpack_from(value)
                    if status & TP_STATUS_VLAN_VALID or tci:
                        tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
                        data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            got.append(Frame(data))

    def expect(self, match, timeout: float = 5.0) -> Frame | None:
        """The first received frame for which match(frame) is true, or None at the timeout."""
        hit = self.frames(timeout, stop=lambda fs: any(match(f) for f in fs))
        return next((f for f in hit if match(f)), None)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def link_stats(ns: str | None, ifname: str = "eth0") -> dict:
    """The kernel's counters for an interface, {"rx": {"packets": ...}, "tx": {...}}."""
    cmd = ["ip", *(["-n", ns] if ns else []), "-s", "-j", "link", "show", ifname]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout
    return json.loads(out)[0]["stats64"]


def tcp_transfer(server_ns: str | None, server_addr: str, client_ns: str | None, total: int,
                 timeout: float = 60) -> float:
    """Sends total random bytes over one TCP connection from client_ns to a listener on
    server_addr in server_ns (None: this namespace), checks every byte arrived intact, and
    returns the seconds it took."""
    listener = netns_socket(server_ns, socket.AF_INET, socket.SOCK_STREAM)
    client = netns_socket(client_ns, socket.AF_INET, socket.SOCK_STREAM)
    received = hashlib.sha256()
    count = [0]

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(timeout)
            while data := conn.recv(1 << 20):
                received.update(data)
                count[0] += len(data)
            conn.sendall(b"done")

    try:
        listener.bind((server_addr, 0))
        listener.listen(1)
        listener.settimeout(timeout)
        server = threading.Thread(target=serve, daemon=True)
        server.start()
        client.settimeout(timeout)
        started = time.monotonic()
        client.connect(listener.getsockname())
        chunk = os.urandom(1 << 20)
        sent = hashlib.sha256()
        for _ in range(total // len(chunk)):
            client.sendall(chunk)
            sent.update(chunk)
        client.shutdown(socket.SHUT_WR)
        assert client.recv(16) == b"done"
        elapsed = time.monotonic() - started
        server.join(timeout)
        assert count[0] == total and received.digest() == sent.digest()
        return elapsed
    finally:
        client.close()
        listener.close()
