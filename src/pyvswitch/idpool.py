"""Lowest-free numbering, as OVS numbers OpenFlow and datapath ports.

A new port takes the lowest number nobody holds; a number asked for explicitly
(`ofport_request`, a number kept across a restart) is taken as is.  Searching
from 1 for every new port costs O(n) each, so adding n ports is O(n^2): ~20 ms
per port at a thousand.  `IdPool` makes it O(log n) amortised.

The caller keeps the numbers in use (its own dict of ports); the pool only
remembers where to look.  Invariant: every number below `_next` that is not in
use is in the heap `_freed` -- numbers at or above `_next` have never been
handed out, so the search continues upwards from there.  The heap may also hold
stale numbers (given back, then taken by an explicit request): `alloc` drops
them when it meets them.  So the caller must call `free(n)` whenever a number
stops being in use, and may take numbers behind the pool's back.
"""

from __future__ import annotations

import heapq
from collections.abc import Container


class IdPool:
    __slots__ = ("_next", "_freed")

    def __init__(self, base: int = 1) -> None:
        self._next = base
        self._freed: list[int] = []

    def alloc(self, used: Container[int]) -> int:
        """The lowest number at or above the base that is not in `used`.  The caller
        then marks it used, or gives it back with `free` if it does not use it."""
        freed = self._freed
        while freed:
            n = heapq.heappop(freed)
            if n not in used:
                return n
        n = self._next
        while n in used:
            n += 1
        self._next = n + 1
        return n

    def free(self, n: int) -> None:
        """Number n is no longer in use."""
        if n < self._next:
            heapq.heappush(self._freed, n)
