"""The MAC table on its own: invariants under random operations, eviction fairness, aging."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from pyvswitch.ofproto.mac_learning import MacLearning

ops = st.lists(st.one_of(
    st.tuples(st.just("learn"), st.integers(0, 2), st.integers(0, 6), st.integers(1, 3)),
    st.tuples(st.just("static"), st.integers(0, 2), st.integers(0, 6), st.integers(1, 3)),
    st.tuples(st.just("del"), st.integers(0, 2), st.integers(0, 6), st.just(0)),
    st.tuples(st.just("flush"), st.just(0), st.just(0), st.integers(0, 3)),
    st.tuples(st.just("tick"), st.just(0), st.just(0), st.integers(1, 40)),
), max_size=60)


@settings(max_examples=200, deadline=None)
@given(ops=ops, size=st.integers(1, 6))
def test_invariants(ops, size):
    ml = MacLearning(idle_time=30, max_entries=size)
    now = 0.0
    statics = {}
    for op, vlan, mac, arg in ops:
        seq = ml.seq
        if op == "learn":
            changed = ml.learn(vlan, mac, arg, now)
            assert changed == (ml.seq != seq)
            if (vlan, mac) in statics:
                assert ml.lookup(vlan, mac) == statics[(vlan, mac)]
            else:
                assert ml.lookup(vlan, mac) == arg
        elif op == "static":
            ml.add_static(vlan, mac, arg, now)
            statics[(vlan, mac)] = arg
        elif op == "del":
            assert ml.del_static(vlan, mac) == ((vlan, mac) in statics)
            statics.pop((vlan, mac), None)
        elif op == "flush":
            ml.flush(port=arg or None)
            if arg:
                statics = {k: p for k, p in statics.items() if p != arg}
        else:
            now += arg
            ml.run(now)
        # Invariants: the per-port index mirrors the dynamic entries, statics stay put,
        # nothing outlives its idle time, and dynamic entries respect the bound.
        dynamic = {k for k, e in ml.entries.items() if not e.static}
        assert {k for keys in ml._by_port.values() for k in keys} == dynamic
        assert all(k in ml._by_port[ml.entries[k].port] for k in dynamic)
        assert {k: e.port for k, e in ml.entries.items() if e.static} == statics
        assert ml.n_static == len(statics)
        assert all(e.used + ml.idle_time > now for e in ml.entries.values() if not e.static)
        assert len(dynamic) <= max(size, 1)


def test_eviction_takes_from_the_port_with_most_entries():
    ml = MacLearning(max_entries=5)
    ml.learn(0, 1, "a", 0)
    ml.learn(0, 2, "b", 1)
    for m in range(10, 13):
        ml.learn(0, m, "c", 2 + m)
    ml.learn(0, 99, "d", 20)                 # full: c's oldest goes
    assert ml.lookup(0, 10) is None and ml.lookup(0, 1) == "a" and ml.lookup(0, 99) == "d"


def test_aging_and_deadline():
    ml = MacLearning(idle_time=20)
    assert ml.idle_time == 20 and MacLearning(idle_time=1).idle_time == 15
    ml.learn(0, 1, 1, 0.0)
    ml.learn(0, 2, 1, 5.0)
    assert ml.run(10.0) == 20.0
    assert ml.run(20.0) == 25.0 and ml.lookup(0, 1) is None
    assert ml.run(25.0) is None and len(ml) == 0 and ml.n_expired == 2
