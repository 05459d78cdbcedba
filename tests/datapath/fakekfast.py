"""An in-memory stand-in for datapath/kfast.py's KernelFastPath (same API), for unit tests of
the offload logic without root: a dict for the flow map, sets for the attachments, and
`hit()` to play the kernel forwarding a frame (counting it as the programs do)."""

from __future__ import annotations

import struct
import time


class FakeKernelFastPath:
    def __init__(self, max_flows: int = 65536):
        self.max_flows = max_flows
        self.flows: dict[bytes, list] = {}      # key -> [packets, bytes, used_ns, steps]
        self.ingress: set[int] = set()
        self.egress: set[int] = set()
        self.filtered: set[int] = set()
        self.ports: dict[int, list[int]] = {}
        self.closed = False
        self.puts = 0

    @classmethod
    def opener(cls, max_flows: int = 65536):
        """An opener for KernelOffload that remembers the instances it made."""
        made: list[FakeKernelFastPath] = []

        def open_(n: int):
            fp = cls(min(n, max_flows))
            made.append(fp)
            return fp
        open_.made = made
        return open_

    def attach_ingress(self, ifindex: int) -> None:
        self.ingress.add(ifindex)
        self.count_port(ifindex)

    def attach_egress(self, ifindex: int) -> None:
        self.egress.add(ifindex)
        self.count_port(ifindex)

    def count_port(self, ifindex: int) -> None:
        self.ports.setdefault(ifindex, [0, 0, 0, 0])

    def detach(self, ifindex: int) -> None:
        self.ingress.discard(ifindex)
        self.egress.discard(ifindex)

    def forget_port(self, ifindex: int) -> None:
        self.detach(ifindex)
        self.ports.pop(ifindex, None)

    def filter_socket(self, fd: int) -> None:
        self.filtered.add(fd)

    def put(self, key: bytes, steps) -> bool:
        assert len(key) == 20
        if len(steps) > 16 or (key not in self.flows and len(self.flows) >= self.max_flows):
            return False
        self.puts += 1
        old = self.flows.get(key)          # a rewrite keeps the counters, as kfast's does
        self.flows[key] = old[:3] + [tuple(steps)] if old else [0, 0, 0, tuple(steps)]
        return True

    def steps(self, key: bytes):
        v = self.flows.get(key)
        return None if v is None else list(v[3])

    def delete(self, key: bytes) -> bool:
        return self.flows.pop(key, None) is not None

    def dump(self):
        return [(k, v[0], v[1], v[2]) for k, v in self.flows.items()]

    def counters(self, ifindex: int):
        return tuple(self.ports.get(ifindex, (0, 0, 0, 0)))

    def close(self) -> None:
        self.closed = True
        self.flows.clear()
        self.ingress.clear()
        self.egress.clear()

    def hit(self, key: bytes, size: int, n: int = 1):
        """The kernel forwards n frames of this key: counts them; returns the steps, or None
        for a miss (no entry, or its port has no program)."""
        ifindex = struct.unpack_from("<I", key)[0]
        v = self.flows.get(key)
        if v is None or not (ifindex in self.ingress or ifindex in self.egress):
            return None
        v[0] += n
        v[1] += n * size
        v[2] = time.monotonic_ns()
        # As the programs do, only ports with a counters row are counted.
        c = self.ports.get(ifindex)
        if c is not None:
            c[0] += n
            c[1] += n * size
        for op, arg in v[3]:
            o = self.ports.get(arg) if op in (1, 2) else None
            if o is not None:
                o[2] += n
                o[3] += n * size
        return v[3]
