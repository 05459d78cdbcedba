"""Forwarding correctness of the fast path on real veths between namespace hosts: small
UDP frames of one and of many microflows (raw-header cache, TX ring), VLAN-tagged frames
(tags the kernel strips are put back), and TCP with offloads on through push/pop VLAN
(GSO super-frames whose checksum offsets move with the tag).  This kernel has no 8021q
module, so tagged frames are made and checked with packet sockets in the hosts."""

from __future__ import annotations

import subprocess

import pytest

from netns import Topology
from util import needs_root, wait_until
from pyvswitch.datapath import actions as A
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.packet.flow import FULL_MASK, FlowKey, packet_mask

IN_PORT = FlowKey(in_port=FULL_MASK.in_port)

RECEIVER = ("import socket,sys\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((sys.argv[1],9))\n"
            "s.setsockopt(socket.SOL_SOCKET,33,8<<20)\n"  # SO_RCVBUFFORCE: room for every datagram
            "s.settimeout(20); print('ready',flush=True); got=set()\n"
            "try:\n"
            "    while len(got) < int(sys.argv[2]):\n"
            "        d,a=s.recvfrom(100); got.add((d,a[1]))\n"
            "except socket.timeout: pass\n"
            "print(len(got),flush=True)\n")
# Senders send a burst per line read from stdin ("N"), then say "sent"; the test lets the
# datapath drain each burst before the next, so the input ring (128 slots) never overflows.
SENDER = ("import socket,sys\n"
          "many=sys.argv[2]=='many'; i=0\n"
          "socks=[socket.socket(socket.AF_INET,socket.SOCK_DGRAM) for _ in range(8 if many else 1)]\n"
          "for line in sys.stdin:\n"
          "    for _ in range(int(line)):\n"
          "        socks[i%len(socks)].sendto(b'%05d'%i,(sys.argv[1],9)); i+=1\n"
          "    print('sent',flush=True)\n")
BURST = 50


def _paced(t, h, script, args, dp, out_port, n):
    """Runs a sender in host h, BURST frames at a time, each burst forwarded before the next."""
    tx = t.popen(h, "python3", "-c", script, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 text=True)
    try:
        base = dp.ports()[out_port].stats().tx_packets
        for done in range(BURST, n + 1, BURST):
            tx.stdin.write(f"{BURST}\n")
            tx.stdin.flush()
            assert tx.stdout.readline().strip() == "sent"
            wait_until(lambda: dp.ports()[out_port].stats().tx_packets - base >= done, 10,
                       what=f"{done} frames forwarded")
        tx.stdin.close()
        assert tx.wait(10) == 0
    finally:
        if tx.poll() is None:
            tx.kill()
            tx.wait(5)


def _udp_burst(t, h1, h2, dp, dst, n, mode):
    rx = t.popen(h2, "python3", "-c", RECEIVER, dst, str(n), stdout=subprocess.PIPE, text=True)
    try:
        assert rx.stdout.readline().strip() == "ready"
        _paced(t, h1, SENDER, (dst, mode), dp, 2, n)
        return int(rx.stdout.readline())
    finally:
        rx.kill()
        rx.wait(5)


TAGGED_SENDER = ("import socket,struct,sys\n"
                 "dst,src=bytes.fromhex(sys.argv[1]),bytes.fromhex(sys.argv[2]); i=0\n"
                 "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); s.bind(('eth0',0))\n"
                 "for line in sys.stdin:\n"
                 "  for _ in range(int(line)):\n"
                 "    udp=struct.pack('!HHHH',1000,9,13,0)+b'%05d'%i\n"
                 "    ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),i,0,64,17,0,"
                 "bytes([10,205,0,1]),bytes([10,205,0,2]))\n"
                 "    s.send(dst+src+struct.pack('!HH',0x8100,10)+b'\\x08\\x00'+ip+udp); i+=1\n"
                 "  print('sent',flush=True)\n")
# Captures UDP frames to port 9 with their VLAN tag, wherever the kernel put it (inline, or
# in the auxiliary data when the receiving veth took it off).
TAG_CAPTURE = ("import socket,struct,sys\n"
               "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3)); s.bind(('eth0',0))\n"
               "s.setsockopt(263,8,1); s.setsockopt(socket.SOL_SOCKET,33,8<<20)\n"
               "s.settimeout(20); print('ready',flush=True); got={}\n"
               "try:\n"
               "    while len(got) < int(sys.argv[1]):\n"
               "        d,anc,_,_=s.recvmsg(2048,socket.CMSG_SPACE(32))\n"
               "        vid=None\n"
               "        for lvl,typ,data in anc:\n"
               "            st,_,_,_,_,tci,_=struct.unpack('IIIHHHH',data[:20])\n"
               "            if st & 16: vid=tci & 0xfff\n"
               "        if d[12:14]==b'\\x81\\x00': vid=int.from_bytes(d[14:16],'big')&0xfff; d=d[:12]+d[16:]\n"
               "        if d[12:14]==b'\\x08\\x00' and d[23]==17 and d[36:38]==b'\\x00\\x09':\n"
               "            got[d[42:47]]=vid\n"
               "except socket.timeout: pass\n"
               "print(len(got), sorted(set(got.values()), key=str), flush=True)\n")


@pytest.fixture
def hosts():
    from pyvswitch.netdev.afpacket import AfPacketNetdev
    with Topology("fp") as t:
        h1, p1 = t.host(1, "10.205.0.1/24")
        h2, p2 = t.host(2, "10.205.0.2/24")
        dp = UserspaceDatapath("t")
        dp.port_add(AfPacketNetdev(p1), 1)
        dp.port_add(AfPacketNetdev(p2), 2)
        try:
            yield t, h1, h2, dp
        finally:
            dp.close()


def _exact_hub(key, pkt):
    return ((A.OUTPUT, 3 - key.in_port),), packet_mask(key)


def _mac(t, h):
    return t.run(h, "cat", "/sys/class/net/eth0/address").stdout.strip().replace(":", "")


@needs_root
def test_small_udp_one_and_many_microflows(hosts):
    t, h1, h2, dp = hosts
    dp.set_upcall_handler(_exact_hub)
    dp.start()
    # Resolve ARP first so that the bursts are pure UDP.
    assert t.run(h1, "ping", "-c", "1", "-W", "2", "10.205.0.2").returncode == 0
    assert _udp_burst(t, h1, h2, dp, "10.205.0.2", 300, "one") == 300
    assert _udp_burst(t, h1, h2, dp, "10.205.0.2", 300, "many") == 300
    s = dp.stats()
    assert s.hit > s.missed and s.lost == 0


@needs_root
def test_vlan_tagged_frames_keep_their_tag(hosts):
    t, h1, h2, dp = hosts
    dp.set_upcall_handler(_exact_hub)
    dp.start()
    cap = t.popen(h2, "python3", "-c", TAG_CAPTURE, "200", stdout=subprocess.PIPE, text=True)
    try:
        assert cap.stdout.readline().strip() == "ready"
        _paced(t, h1, TAGGED_SENDER, (_mac(t, h2), _mac(t, h1)), dp, 2, 200)
        assert cap.stdout.readline().strip() == "200 [10]"
    finally:
        cap.kill()
        cap.wait(5)
    tagged = [f for f in dp.flow_dump() if f.key.vlan_tci]
    assert tagged and all(f.key.vlan_tci == 0x1000 | 10 for f in tagged)


@needs_root
def test_tcp_offloads_through_push_and_pop_vlan(hosts):
    """Between h1 and h2 every frame makes a detour over a root-side veth pair, tagged with
    VLAN 10 (push, out one end; in the other end, where the kernel takes the tag off and the
    netdev puts it back; pop): TCP with offloads on crosses intact both ways."""
    from pyvswitch.netdev.afpacket import AfPacketNetdev
    from netns import ip
    t, h1, h2, dp = hosts
    xa, xb = f"{t.tag}xa", f"{t.tag}xb"
    ip("link", "add", xa, "type", "veth", "peer", "name", xb)
    try:
        for x in (xa, xb):
            ip("link", "set", x, "up")
        dp.port_add(AfPacketNetdev(xa), 3)
        dp.port_add(AfPacketNetdev(xb), 4)
        route = {1: ((A.PUSH_VLAN, 0x8100, 10), (A.OUTPUT, 3)), 4: ((A.POP_VLAN,), (A.OUTPUT, 2)),
                 2: ((A.PUSH_VLAN, 0x8100, 10), (A.OUTPUT, 4)), 3: ((A.POP_VLAN,), (A.OUTPUT, 1))}
        dp.set_upcall_handler(lambda key, pkt: (route[key.in_port], IN_PORT))
        dp.start()
        assert t.run(h1, "ping", "-c", "2", "-i", "0.05", "-W", "2", "10.205.0.2").returncode == 0
        srv = t.popen(h2, "python3", "-c",
                      "import socket,hashlib\ns=socket.socket(); s.bind(('10.205.0.2', 5557)); s.listen(1)\n"
                      "print('ready', flush=True)\nc,_=s.accept(); h=hashlib.sha256()\n"
                      "while (d := c.recv(1 << 20)): h.update(d)\nc.sendall(h.hexdigest().encode()); c.close()\n",
                      stdout=subprocess.PIPE, text=True)
        try:
            assert srv.stdout.readline().strip() == "ready"
            r = t.run(h1, "python3", "-c",
                      "import socket,hashlib,os\ns=socket.create_connection(('10.205.0.2', 5557), timeout=20)\n"
                      "b=os.urandom(1<<20); h=hashlib.sha256()\n"
                      "for _ in range(16): s.sendall(b); h.update(b)\n"
                      "s.shutdown(socket.SHUT_WR); print(s.recv(100).decode() == h.hexdigest())\n")
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == "True"
        finally:
            srv.kill()
            srv.wait(5)
    finally:
        dp.stop()
        ip("link", "del", xa, check=False)
