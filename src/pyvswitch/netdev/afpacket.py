"""The "system" netdev: an existing Linux interface through an AF_PACKET socket.

Receive uses a memory-mapped TPACKET_V3 ring: the kernel fills blocks of frames and
flips a block's status to USER; we walk every frame of a ready block and hand the block
back, so a burst costs no syscall per frame.  `PACKET_VNET_HDR` is on, so each frame is
preceded in the ring by its virtio-net header (see offload.py) and GSO super-frames come
up whole; sends carry the header back down with one `sendmsg` per frame.

Frames whose VLAN tag the kernel stripped into metadata (TP_STATUS_VLAN_VALID) get the
tag put back, so above this layer a frame is exactly what was on the wire; a checksum
offset in the header moves with it.

Ring layout facts (linux/if_packet.h): a block starts with `tpacket_block_desc`
(block_status at byte 8, num_pkts at 12, offset_to_first_pkt at 16); each frame starts
with `tpacket3_hdr` (next_offset, sec, nsec, snaplen, len, status, mac, net,
rxhash, vlan_tci, vlan_tpid).  The vnet header sits just before the MAC header.
"""

from __future__ import annotations

import mmap
import select
import socket
import struct

from . import NetdevError, NetdevStats, Packet, linux
from .offload import VNET_HDR

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
PACKET_STATISTICS = 6
PACKET_VNET_HDR = 15
PACKET_IGNORE_OUTGOING = 23
PACKET_QDISC_BYPASS = 20
TPACKET_V3 = 2

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6

_REQ3 = struct.Struct("7I")
_BLOCK_HDR = struct.Struct("=III")        # block_status, num_pkts, offset_to_first_pkt @ 8
_FRAME_HDR = struct.Struct("=IIIIIIHHIIH")  # tpacket3_hdr up to vlan_tpid
assert _FRAME_HDR.size == 38
_U32 = struct.Struct("=I")

# A block must hold the largest frame: a 64 KiB GSO super-frame plus headers.
BLOCK_SIZE = 1 << 18
BLOCK_COUNT = 32
FRAME_SIZE = 1 << 11
RETIRE_MS = 1          # a partly filled block is handed up after this long


class AfPacketNetdev:
    type = "system"

    def __init__(self, name: str, *, blocks: int = BLOCK_COUNT):
        self.name = name
        self._stats = NetdevStats()
        try:
            self.ifindex = linux.ifindex(name)
        except OSError as e:
            raise NetdevError(name, linux.strerror(e)) from None
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
            s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            s.setsockopt(SOL_PACKET, PACKET_RX_RING, _REQ3.pack(
                BLOCK_SIZE, blocks, FRAME_SIZE, BLOCK_SIZE // FRAME_SIZE * blocks, RETIRE_MS, 0, 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            s.bind((name, ETH_P_ALL))
            s.setblocking(False)
        except OSError as e:
            s.close()
            raise NetdevError(name, linux.strerror(e)) from None
        self._sock = s
        self._blocks = blocks
        self._ring = mmap.mmap(s.fileno(), BLOCK_SIZE * blocks, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE)
        self._next_block = 0
        # Enable promiscuous mode for the socket's life only (PACKET_MR_PROMISC).
        mreq = struct.pack("iHH8s", self.ifindex, 1, 0, b"")
        s.setsockopt(SOL_PACKET, 1, mreq)  # PACKET_ADD_MEMBERSHIP

    def fileno(self) -> int:
        return self._sock.fileno()

    def recv_batch(self, limit: int) -> list[Packet]:
        out: list[Packet] = []
        ring = self._ring
        while len(out) < limit:
            base = self._next_block * BLOCK_SIZE
            status, num, off = _BLOCK_HDR.unpack_from(ring, base + 8)
            if not status & TP_STATUS_USER:
                break
            pos = base + off
            for _ in range(num):
                (nxt, _sec, _nsec, snaplen, length, fstatus, mac, _net,
                 _hash, tci, tpid) = _FRAME_HDR.unpack_from(ring, pos)
                start = pos + mac
                vnet = ring[start - 10:start]
                frame = ring[start:start + snaplen]
                if fstatus & TP_STATUS_VLAN_VALID:
                    frame, vnet = _put_back_vlan(frame, vnet, tci & 0xFFFF,
                                                 tpid if fstatus & TP_STATUS_VLAN_TPID_VALID else 0x8100)
                out.append(Packet(frame, vnet if vnet[0] or vnet[1] else None))
                self._stats.rx_packets += 1
                self._stats.rx_bytes += length
                pos += nxt
            _U32.pack_into(ring, base + 8, TP_STATUS_KERNEL)
            self._next_block = (self._next_block + 1) % self._blocks
        return out

    def send_batch(self, packets: list[Packet]) -> int:
        sent = 0
        sendmsg = self._sock.sendmsg
        for p in packets:
            try:
                sendmsg([p.vnet or _NO_VNET, p.frame])
            except BlockingIOError:
                if not _wait_writable(self._sock):
                    self._stats.tx_dropped += len(packets) - sent
                    break
                try:
                    sendmsg([p.vnet or _NO_VNET, p.frame])
                except OSError:
                    self._stats.tx_errors += 1
                    continue
            except OSError:
                self._stats.tx_errors += 1
                continue
            sent += 1
            self._stats.tx_packets += 1
            self._stats.tx_bytes += len(p.frame)
        return sent

    def stats(self) -> NetdevStats:
        return self._stats

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._ring.close()
            self._sock.close()


_NO_VNET = VNET_HDR.pack(0, 0, 0, 0, 0, 0)


def _wait_writable(sock: socket.socket, timeout: float = 0.01) -> bool:
    """A full socket buffer usually drains in microseconds; waiting briefly beats dropping."""
    return bool(select.select([], [sock], [], timeout)[1])


def _put_back_vlan(frame: bytes, vnet: bytes, tci: int, tpid: int) -> tuple[bytes, bytes]:
    tagged = frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]
    flags, gso_type, hdr_len, gso_size, csum_start, csum_off = VNET_HDR.unpack(vnet)
    if flags or gso_type:
        vnet = VNET_HDR.pack(flags, gso_type, hdr_len + 4 if hdr_len else 0, gso_size,
                             csum_start + 4 if csum_start else 0, csum_off)
    return tagged, vnet
