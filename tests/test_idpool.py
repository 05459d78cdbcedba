"""IdPool: the lowest free number, whatever the order of allocations, explicit takes
and releases (checked against a linear search)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from pyvswitch.idpool import IdPool


def lowest_free(used: set[int]) -> int:
    n = 1
    while n in used:
        n += 1
    return n


def test_lowest_free_first():
    pool, used = IdPool(), set()
    for _ in range(3):
        used.add(pool.alloc(used))
    assert used == {1, 2, 3}
    used.add(6)                     # taken behind the pool's back (ofport_request)
    used.discard(2)
    pool.free(2)
    assert pool.alloc(used) == 2
    used.add(2)
    got = []
    for _ in range(3):
        got.append(pool.alloc(used))
        used.add(got[-1])
    assert got == [4, 5, 7]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("atf"), st.integers(1, 40)), max_size=80))
def test_matches_a_linear_search(ops):
    pool, used = IdPool(), set()
    for op, n in ops:
        if op == "a":
            got = pool.alloc(used)
            assert got == lowest_free(used)
            used.add(got)
        elif op == "t" and n not in used:
            used.add(n)
        elif op == "f" and used:
            victim = sorted(used)[n % len(used)]
            used.discard(victim)
            pool.free(victim)
