"""The system (AF_PACKET) and internal (TAP) netdevs with real traffic between namespace
hosts.  A 30-line forwarder stands in for the datapath: what crosses it proves the netdevs
keep offloads working (TCP with the veths' offloads on) and lose nothing of the frames."""

from __future__ import annotations

import select
import socket
import struct
import threading

import pytest

from netns import Topology
from util import needs_root, wait_until
from pyvswitch.netdev import NetdevError, linux
from pyvswitch.netdev.afpacket import AfPacketNetdev
from pyvswitch.netdev.tap import TapNetdev

pytestmark = needs_root


class Forwarder(threading.Thread):
    """Copies every frame from each netdev to the other until stopped."""

    def __init__(self, a, b):
        super().__init__(daemon=True)
        self.a, self.b = a, b
        self.stop = threading.Event()
        self.gso = 0

    def run(self):
        peer = {self.a.fileno(): (self.a, self.b), self.b.fileno(): (self.b, self.a)}
        while not self.stop.is_set():
            r, _, _ = select.select(list(peer), [], [], 0.05)
            for fd in r:
                src, dst = peer[fd]
                pkts = src.recv_batch(256)
                self.gso += sum(1 for p in pkts if p.vnet and p.vnet[1])
                dst.send_batch(pkts)


@pytest.fixture
def two_hosts():
    with Topology("nd") as t:
        h1, p1 = t.host(1, "10.200.0.1/24")
        h2, p2 = t.host(2, "10.200.0.2/24")
        a, b = AfPacketNetdev(p1), AfPacketNetdev(p2)
        fwd = Forwarder(a, b)
        fwd.start()
        try:
            yield t, h1, h2, fwd
        finally:
            fwd.stop.set()
            fwd.join(5)
            a.close()
            b.close()


def test_ping_through_afpacket(two_hosts):
    t, h1, h2, _ = two_hosts
    r = t.run(h1, "ping", "-c", "3", "-i", "0.05", "-W", "2", "10.200.0.2")
    assert r.returncode == 0, r.stdout + r.stderr


def test_tcp_with_offloads_on(two_hosts):
    """Offloads stay on (the veth default): GSO super-frames cross, TCP completes."""
    t, h1, h2, fwd = two_hosts
    code = ("import socket,sys\n"
            "s=socket.socket(); s.bind(('10.200.0.2', 5555)); s.listen(1); print('ready', flush=True)\n"
            "c,_=s.accept(); n=0\n"
            "while True:\n"
            "    d=c.recv(1<<20)\n"
            "    if not d: break\n"
            "    n+=len(d)\n"
            "print(n, flush=True)\n")
    srv = t.popen(h2, "python3", "-c", code, stdout=__import__("subprocess").PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        send = ("import socket\n"
                "s=socket.create_connection(('10.200.0.2', 5555), timeout=20)\n"
                "buf=b'x'*(1<<20)\n"
                "for _ in range(64): s.sendall(buf)\n"
                "s.close()\n")
        r = t.run(h1, "python3", "-c", send, timeout=60)
        assert r.returncode == 0, r.stderr
        assert srv.stdout.readline().strip() == str(64 << 20)
        assert fwd.gso > 0, "expected GSO super-frames with offloads on"
    finally:
        srv.kill()
        srv.wait(5)


def test_missing_device_error_wording():
    with pytest.raises(NetdevError) as e:
        AfPacketNetdev("nosuchdev9")
    assert str(e.value) == "could not open network device nosuchdev9 (No such device)"


def test_tap_carries_host_traffic():
    name = f"ndtap{__import__('os').getpid() % 10000}"
    tap = TapNetdev(name, mac=bytes.fromhex("02aabbccdd01"))
    try:
        assert linux.exists(name)
        assert linux.get_mac(name) == bytes.fromhex("02aabbccdd01")
        import subprocess
        subprocess.run(["ip", "addr", "add", "192.0.2.1/24", "dev", name], check=True)
        # An ARP request for the host's address, from a station behind the TAP.
        src_mac = bytes.fromhex("02000000aa01")
        arp = (b"\xff" * 6 + src_mac + b"\x08\x06" +
               struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src_mac, socket.inet_aton("192.0.2.9"),
                           b"\0" * 6, socket.inet_aton("192.0.2.1")))
        from pyvswitch.netdev import Packet
        assert tap.send_batch([Packet(arp)]) == 1

        def reply():
            r, _, _ = select.select([tap.fileno()], [], [], 0.05)
            for p in tap.recv_batch(16) if r else []:
                if p.frame[12:14] == b"\x08\x06" and p.frame[20:22] == b"\x00\x02":
                    return p
            return None
        p = wait_until(reply, 5, what="ARP reply from the host through the TAP")
        assert p.frame[:6] == src_mac
    finally:
        tap.close()
    wait_until(lambda: not linux.exists(name), 5, what="TAP removed on close")


def test_frames_dropped_at_a_full_ring_are_counted():
    """The kernel drops what a full receive ring cannot hold; rx_dropped must say so."""
    with Topology("rd") as t:
        h1, p1 = t.host(1, "10.203.0.1/24")
        dev = AfPacketNetdev(p1, slots=4)
        try:
            send = ("import socket\n"
                    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n"
                    "for _ in range(200): s.sendto(b'x' * 20, ('10.203.0.255', 9))\n")
            r = t.run(h1, "python3", "-c", send)
            assert r.returncode == 0, r.stderr
            # Nobody read the ring: at most 4 frames fit, the rest were dropped.
            assert dev.stats().rx_dropped >= 150
            assert len(dev.recv_batch(64)) <= 4
        finally:
            dev.close()
