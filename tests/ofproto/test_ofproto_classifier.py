"""The classifier: unit tests, a linear-scan reference model, megaflow wildcard soundness."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.ofproto.classifier import Classifier, ClsRule
from pyvswitch.packet.flow import FULL_MASK, WIDTHS, FlowKey, extract
from pyvswitch.packet.headers import tcp_frame, udp_frame
from pyvswitch.packet.match import Match, parse_match


def rule(text: str, priority: int, value=None) -> ClsRule:
    return ClsRule(parse_match(text), priority, value)


def key(**slots) -> FlowKey:
    return FlowKey(**slots)


WEB = extract(tcp_frame(1, 2, 0x0A000001, 0x0A000002, 5555, 80), in_port=1)
DNS = extract(udp_frame(1, 2, 0x0A000001, 0x08080808, 5555, 53), in_port=2)


def test_priority_and_replace():
    c = Classifier()
    low, high = rule("ip", 10, "low"), rule("tcp,tp_dst=80", 20, "high")
    assert c.insert(low) is None and c.insert(high) is None
    assert c.lookup(WEB)[0] is high
    assert c.lookup(DNS)[0] is low
    again = rule("tcp,tp_dst=80", 20, "again")
    assert c.insert(again) is high
    assert len(c) == 2 and c.lookup(WEB)[0] is again
    assert c.remove(rule("tcp,tp_dst=80", 20)) is again
    assert c.lookup(WEB)[0] is low
    assert c.remove(rule("tcp,tp_dst=80", 20)) is None
    assert c.remove(low) is low and len(c) == 0 and c.n_subtables == 0
    assert c.lookup(WEB) == (None, FlowKey())


def test_same_match_different_priorities():
    c = Classifier()
    for p in (5, 50, 20):
        c.insert(rule("tcp", p, p))
    assert c.lookup(WEB)[0].value == 50
    c.remove(rule("tcp", 50))
    assert c.lookup(WEB)[0].value == 20
    assert c.find_exactly(parse_match("tcp"), 5).value == 5
    assert c.find_exactly(parse_match("tcp"), 6) is None
    assert c.find_exactly(parse_match("udp"), 5) is None


def test_wildcards_cover_what_was_examined():
    c = Classifier()
    c.insert(rule("tcp,tp_dst=80", 100))
    c.insert(rule("in_port=7", 50))
    r, wc = c.lookup(WEB)
    assert r.priority == 100
    # Only the first subtable was needed: its fields are exact, nothing else is.
    assert wc == parse_match("tcp,tp_dst=80").mask
    r, wc = c.lookup(DNS)
    assert r is None
    # Staged lookup: the UDP packet misses the TCP rules at the L3 stage, so tp_dst stays
    # wildcarded; the in_port subtable needed in_port.
    assert wc == FlowKey(in_port=FULL_MASK.in_port, dl_type=0xFFFF, nw_proto=0xFF)


def test_loose_iteration_version_and_overlap():
    c = Classifier()
    rules = [rule("tcp,nw_src=10.0.0.0/8,tp_dst=80", 1), rule("tcp,nw_src=10.1.0.0/16", 2),
             rule("udp", 3), rule("ip", 4)]
    g0 = c.generation
    for r in rules:
        c.insert(r)
    assert c.generation > g0
    assert set(c.rules()) == set(rules)
    assert {r.priority for r in c.rules(parse_match("tcp"))} == {1, 2}
    assert {r.priority for r in c.rules(parse_match("tcp,nw_src=10.0.0.0/8"))} == {1, 2}
    assert {r.priority for r in c.rules(parse_match("ip,nw_src=10.1.0.0/16"))} == {2}
    assert {r.priority for r in c.rules(Match())} == {1, 2, 3, 4}
    for r in c.rules():  # the iteration is a snapshot
        c.remove(r)
    assert len(c) == 0
    c.insert(rule("tcp,tp_dst=80", 7))
    assert [r.priority for r in c.overlapping(parse_match("ip,nw_src=1.2.3.4"), 7)] == [7]
    assert list(c.overlapping(parse_match("udp"), 7)) == []
    assert list(c.overlapping(parse_match("tcp,tp_dst=81"), 7)) == []
    assert list(c.overlapping(parse_match("ip"), 8)) == []
    c.clear()
    assert len(c) == 0 and c.lookup(WEB)[0] is None


# ---- the reference model: a linear scan ---------------------------------------

SLOTS = ("in_port", "dl_src", "nw_src", "tp_dst", "reg0")  # four lookup stages
WIDTH = 3  # small value spaces so random keys actually hit random rules


def _linear(rules: dict, k: FlowKey):
    best = None
    for r in rules.values():
        if r.match.matches(k) and (best is None or r.priority > best.priority):
            best = r
    return best


_slot_vm = st.tuples(st.integers(0, 2**WIDTH - 1), st.integers(0, 2**WIDTH - 1))
_match = st.fixed_dictionaries({}, optional={s: _slot_vm for s in SLOTS}).map(
    lambda d: Match.from_slots(**d))
_key = st.fixed_dictionaries({s: st.integers(0, 2**WIDTH - 1) for s in SLOTS}).map(
    lambda d: FlowKey(**d))
_ops = st.lists(st.tuples(st.sampled_from(["add", "add", "add", "del"]), _match,
                          st.integers(0, 1000)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(_ops, st.lists(_key, min_size=1, max_size=20))
def test_lookup_equals_linear_scan(ops, keys):
    c = Classifier()
    model: dict = {}
    for op, m, prio in ops:
        # Unique priorities make the expected answer unique.
        prio = prio * 64 + len(model) % 64
        if op == "add":
            r = ClsRule(m, prio)
            c.insert(r)
            model[(m, prio)] = r
        elif model:
            victim = sorted(model, key=lambda mp: mp[1])[prio % len(model)]
            assert c.remove(model.pop(victim)) is not None
    assert len(c) == len(model)
    rnd = random.Random(len(ops))
    for k in keys:
        got, wc = c.lookup(k)
        assert c.lookup_rule(k) is got
        want = _linear(model, k)
        assert (got.priority if got else None) == (want.priority if want else None)
        # Soundness of the wildcards: any key equal to k on wc's bits gets the same answer.
        for _ in range(3):
            other = FlowKey(*(
                (v & m) | (rnd.getrandbits(WIDTH) & ~m) if name in SLOTS else v
                for name, v, m in zip(FlowKey._fields, k, wc)))
            again = c.lookup(other)[0]
            assert (again.priority if again else None) == (got.priority if got else None)


def test_many_rules_smoke():
    """10k rules over several masks: every exact 5-tuple rule is found by its own packet."""
    rnd = random.Random(7)
    c = Classifier()
    exact = []
    for i in range(10_000):
        shape = i % 4
        src, dst, port = rnd.getrandbits(32), rnd.getrandbits(32), rnd.getrandbits(16)
        if shape == 0:
            m = Match.from_slots(dl_type=0x0800, nw_proto=6, nw_src=src, nw_dst=dst, tp_dst=port)
            exact.append((m, i + 10_000))
        elif shape == 1:
            m = Match.from_slots(dl_type=0x0800, nw_dst=(dst, 0xFFFFFF00))
        elif shape == 2:
            m = Match.from_slots(in_port=port & 0xFF, dl_dst=rnd.getrandbits(48))
        else:
            m = Match.from_slots(dl_type=0x0800, nw_proto=6, tp_dst=(port, 0xFFF0))
        c.insert(ClsRule(m, i + 10_000 if shape == 0 else rnd.randrange(10_000)))
    assert c.n_subtables == 4
    for m, prio in exact:
        r, _ = c.lookup(FlowKey(*m.value))
        assert r.priority == prio


# ---- versions: staged changes against a model of [rule, add, remove) entries -------------

INF = float("inf")


class _Model:
    def __init__(self):
        self.entries = []  # [rule, add, remove]
        self.version = 0

    def visible(self, v):
        return [e[0] for e in self.entries if e[1] <= v < e[2]]

    def insert(self, rule, v):
        for e in self.entries:
            if e[0].match == rule.match and e[0].priority == rule.priority and e[2] == INF:
                e[2] = v
        self.entries.append([rule, v, INF])
        self._purge()

    def make_invisible(self, rule, v):
        for e in self.entries:
            if e[0].match == rule.match and e[0].priority == rule.priority and e[2] == INF:
                e[2] = v
        self._purge()

    def publish(self, v):
        self.version = v
        self._purge()

    def revert(self, v):
        self.entries = [e for e in self.entries if e[1] != v]
        for e in self.entries:
            if e[2] == v:
                e[2] = INF

    def _purge(self):
        self.entries = [e for e in self.entries if e[2] > self.version]


_vops = st.lists(st.tuples(
    st.sampled_from(["add", "add", "del", "stage_add", "stage_add", "stage_del", "publish",
                     "revert"]),
    _match, st.integers(0, 3)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(_vops, st.lists(_key, min_size=1, max_size=8))
def test_versions_equal_model(ops, keys):
    c, model = Classifier(), _Model()
    for op, m, p in ops:
        staged = c.version + 1
        r = ClsRule(m, p * 10)
        pending = any(e[1] > model.version or e[2] != INF for e in model.entries)
        if op in ("add", "del") and pending:
            with pytest.raises(ValueError):
                c.insert(r) if op == "add" else c.remove(r)
        elif op == "add":
            c.insert(r)
            model.insert(r, model.version)
        elif op == "del":
            c.remove(r)
            model.make_invisible(r, model.version)
        elif op == "stage_add":
            c.insert(r, staged)
            model.insert(r, staged)
        elif op == "stage_del":
            c.make_invisible(r, staged)
            model.make_invisible(r, staged)
        elif op == "publish":
            c.publish(staged)
            model.publish(staged)
        else:
            c.revert(staged)
            model.revert(staged)
        assert len(c) == len(model.visible(c.version))
        for v in (c.version, c.version + 1):
            want = model.visible(v)
            assert sorted(map(id, c.rules(version=v))) == sorted(map(id, want))
            for k in keys:
                got, _ = c.lookup(k, v)
                best = max((x.priority for x in want if x.match.matches(k)), default=None)
                assert (got.priority if got else None) == best
                assert c.lookup_rule(k, v) is got


def test_bundle_commit_is_atomic():
    c = Classifier()
    old = rule("tcp,tp_dst=80", 10, "old")
    c.insert(old)
    v = c.version + 1
    c.insert(rule("tcp,tp_dst=80", 10, "new"), v)
    c.insert(rule("udp", 5, "udp"), v)
    assert c.lookup_rule(WEB) is old and c.lookup_rule(DNS) is None
    assert c.lookup_rule(WEB, v).value == "new" and c.lookup_rule(DNS, v).value == "udp"
    assert len(c) == 1
    c.publish(v)
    assert c.lookup_rule(WEB).value == "new" and c.lookup_rule(DNS).value == "udp"
    assert len(c) == 2 and c.find_exactly(parse_match("tcp,tp_dst=80"), 10).value == "new"
    v += 1
    c.make_invisible(rule("udp", 5), v)
    c.revert(v)
    c.publish(v)
    assert c.lookup_rule(DNS).value == "udp"


# ---- prefix indexes: address wildcards stop where the rules' prefixes diverge ------------

_BASES = (0x0A000000, 0x0A010000, 0x0A010200, 0xC0A80100)
_addr = st.builds(lambda b, low: b | low, st.sampled_from(_BASES), st.integers(0, 0x1FF))
_plen = st.sampled_from([8, 12, 16, 20, 24, 31, 32])
_cidr_rule = st.builds(
    lambda a, n, port, prio: ClsRule(Match.from_slots(
        dl_type=0x0800, nw_dst=(a, (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF),
        **({"tp_dst": port} if port is not None else {})), prio),
    _addr, _plen, st.none() | st.integers(0, 3), st.integers(0, 10_000))


@settings(max_examples=80, deadline=None)
@given(st.lists(_cidr_rule, max_size=25), st.lists(_addr, min_size=1, max_size=10),
       st.randoms(use_true_random=False))
def test_prefix_wildcards_are_sound(rules, addrs, rnd):
    c = Classifier()
    model = {}
    for r in rules:
        c.insert(r)
        model[(r.match, r.priority)] = r
    for a in addrs:
        k = FlowKey(dl_type=0x0800, nw_dst=a, tp_dst=a & 3)
        got, wc = c.lookup(k)
        want = _linear(model, k)
        assert (got.priority if got else None) == (want.priority if want else None)
        for _ in range(4):
            other = FlowKey(*((v & m) | (rnd.getrandbits(w) & ~m)
                              for v, m, w in zip(k, wc, WIDTHS)))
            again = _linear(model, other)
            assert (again.priority if again else None) == (got.priority if got else None)


def test_prefix_index_narrows_address_wildcards():
    c = Classifier()
    for i in range(1, 50):
        c.insert(ClsRule(Match.from_slots(dl_type=0x0800, nw_dst=0x0A000000 | i), 100))
    c.insert(ClsRule(Match.from_slots(dl_type=0x0800), 1))
    r, wc = c.lookup(FlowKey(dl_type=0x0800, nw_dst=0xC0A80101))
    assert r.priority == 1 and wc.nw_dst == 0xFF000000
    r, wc = c.lookup(FlowKey(dl_type=0x0800, nw_dst=0x0A000105))
    assert r.priority == 1 and wc.nw_dst == 0xFFFFFF00
    r, wc = c.lookup(FlowKey(dl_type=0x0800, nw_dst=0x0A000005))
    assert r.priority == 100 and wc.nw_dst == 0xFFFFFFFF


def test_prefixes_are_checked_after_the_l2_stage():
    """A packet of another ethertype is told apart by its ethertype, not by its address
    (as OVS consults its tries at the L3 stage)."""
    c = Classifier()
    c.insert(rule("ip,nw_dst=10.0.0.0/8", 44))
    r, wc = c.lookup(FlowKey(dl_type=0x4444))
    assert r is None and wc == FlowKey(dl_type=0xFFFF)
    r, wc = c.lookup(FlowKey(dl_type=0x0800, nw_dst=0xC0A80101))
    assert r is None and wc == FlowKey(nw_dst=0xFF000000)  # the address alone rules it out
