"""The "dummy" netdev: in memory, for tests and `--enable-dummy`.

Frames a test injects come out of `recv_batch`; frames the datapath sends are kept in
`transmitted` (bounded) for the test to read.  A pipe gives it a pollable descriptor, so
the datapath's poll loop treats it like any other netdev.
"""

from __future__ import annotations

import collections
import os

from . import NetdevStats, Packet
from .offload import finish


class DummyNetdev:
    type = "dummy"

    def __init__(self, name: str, *, keep: int = 10000):
        self.name = name
        self.ifindex = 0
        self._stats = NetdevStats()
        self._rx: collections.deque[Packet] = collections.deque()
        self.transmitted: collections.deque[bytes] = collections.deque(maxlen=keep)
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def inject(self, frame: bytes) -> None:
        """A frame arrives on this port from the outside."""
        self._rx.append(Packet(frame))
        try:
            os.write(self._w, b"x")
        except BlockingIOError:
            pass

    def fileno(self) -> int:
        return self._r

    def recv_batch(self, limit: int) -> list[Packet]:
        out = []
        while self._rx and len(out) < limit:
            p = self._rx.popleft()
            out.append(p)
            self._stats.rx_packets += 1
            self._stats.rx_bytes += len(p.frame)
        if not self._rx:
            try:
                os.read(self._r, 65536)
            except BlockingIOError:
                pass
        return out

    def send_batch(self, packets: list[Packet]) -> int:
        for p in packets:
            for frame in finish(p.vnet, p.frame):
                frame = bytes(frame)      # the sender's frame may be a view it reuses
                self.transmitted.append(frame)
                self._stats.tx_packets += 1
                self._stats.tx_bytes += len(frame)
        return len(packets)

    def stats(self) -> NetdevStats:
        return self._stats

    def close(self) -> None:
        if self._r >= 0:
            os.close(self._r)
            os.close(self._w)
            self._r = self._w = -1
