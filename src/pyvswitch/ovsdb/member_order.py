"""The order in which OVS walks the members of a JSON object.

OVS keeps a JSON object's members in a hash table keyed by a 32-bit
murmur-style hash of the member name, and iterates it bucket by bucket,
newest first within a bucket; the table starts with one bucket and grows to
the next power of two whenever it holds more than two members per bucket.
Tools that print what they read (ovsdb-tool show-log, ovsdb-client
list-tables, list-columns, dump and monitors) therefore list members in that
order, not in the order they arrived.  `ovs_member_order` reproduces it for
members inserted in the order given.

A module of its own, importing nothing, so that ovsdb-client's one-shot
commands get it without the storage log's imports.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

_M32 = 0xFFFFFFFF


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _mix(h: int, word: int) -> int:
    if word:
        word = (word * 0xCC9E2D51) & _M32
        word = (_rotl(word, 15) * 0x1B873593) & _M32
        h ^= word
    return (_rotl(h, 13) * 5 + 0xE6546B64) & _M32


def ovs_string_hash(s: str, basis: int = 0) -> int:
    b = s.encode()
    n = len(b)
    h = basis
    full = n - n % 4
    for i in range(0, full, 4):
        h = _mix(h, int.from_bytes(b[i:i + 4], "little"))
    if n > full:
        h = _mix(h, int.from_bytes(b[full:], "little"))
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _mask_for(n: int) -> int:
    m = n // 2
    for s in (1, 2, 4, 8, 16, 32):
        m |= m >> s
    return m | ((m & 1) << 1)


def ovs_member_order(keys: Iterable[str]) -> list[str]:
    """keys (in insertion order) in the order OVS iterates a JSON object."""
    mask = 0
    buckets: list[list[tuple[str, int]]] = [[]]
    n = 0
    for k in keys:
        h = ovs_string_hash(k)
        buckets[h & mask].append((k, h))
        n += 1
        if n // 2 > mask:
            new_mask = _mask_for(n)
            if new_mask > mask:
                grown: list[list[tuple[str, int]]] = [[] for _ in range(new_mask + 1)]
                # Moving walks each old bucket newest first and pushes onto
                # the new bucket's head, which reverses the relative order.
                for b in buckets:
                    for item in reversed(b):
                        grown[item[1] & new_mask].append(item)
                buckets, mask = grown, new_mask
    return [k for b in buckets for k, _ in reversed(b)]
