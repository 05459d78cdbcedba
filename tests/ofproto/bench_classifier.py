"""Classifier benchmark (not collected by pytest): .venv/bin/python tests/ofproto/bench_classifier.py

Rates are per second of CPU time (process_time), so a busy machine does not skew them much.

100k rules spread over 10 masks (5-tuples, /24 and /16 prefixes, L2, VLAN, registers ...),
random priorities; lookups of 4000 keys, half of them hitting a rule exactly.
"""

from __future__ import annotations

import random
import time

from pyvswitch.ofproto.classifier import Classifier, ClsRule
from pyvswitch.packet.flow import FlowKey, extract
from pyvswitch.packet.headers import tcp_frame
from pyvswitch.packet.match import Match

M32, M48 = 0xFFFFFFFF, (1 << 48) - 1
SHAPES = [
    dict(dl_type=None, nw_proto=None, nw_src=M32, nw_dst=M32, tp_src=0xFFFF, tp_dst=0xFFFF),
    dict(dl_type=None, nw_dst=0xFFFFFF00),
    dict(dl_type=None, nw_src=0xFFFF0000),
    dict(dl_type=None, nw_proto=None, nw_dst=0xFFFFFF00, tp_dst=0xFFFF),
    dict(in_port=0xFFFF, dl_dst=M48),
    dict(dl_dst=M48),
    dict(in_port=0xFFFF, vlan_tci=0x1FFF),
    dict(dl_type=None, nw_src=M32),
    dict(dl_type=None, nw_proto=None, tp_dst=0xFFF0),
    dict(reg0=M32, metadata=0xFF),
]


def rules(n: int, rnd: random.Random) -> list[ClsRule]:
    out = []
    for i in range(n):
        slots = {}
        for name, m in SHAPES[i % len(SHAPES)].items():
            slots[name] = {"dl_type": 0x0800, "nw_proto": 6}.get(name) or (rnd.getrandbits(64) & m, m)
        out.append(ClsRule(Match.from_slots(**slots), rnd.randrange(1, 65535), i))
    return out


def main() -> None:
    rnd = random.Random(1)
    rs = rules(100_000, rnd)
    c = Classifier()
    t = time.process_time()
    for r in rs:
        c.insert(r)
    print(f"insert: {len(rs) / (time.process_time() - t):,.0f} rules/s "
          f"({len(c)} rules, {c.n_subtables} subtables)")
    keys = [extract(tcp_frame(rnd.getrandbits(48), rnd.getrandbits(48), rnd.getrandbits(32),
                              rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(16)),
                    rnd.getrandbits(4)) for _ in range(2000)]
    keys += [FlowKey(*r.match.value) for r in rs[:2000]]
    for name, fn in (("lookup_rule", c.lookup_rule), ("lookup (with wildcards)", c.lookup)):
        fn(keys[0])
        t = time.process_time()
        for _ in range(5):
            for k in keys:
                fn(k)
        print(f"{name}: {5 * len(keys) / (time.process_time() - t):,.0f} lookups/s")
    t = time.process_time()
    for r in rs:
        c.remove(r)
    print(f"remove: {len(rs) / (time.process_time() - t):,.0f} rules/s")


if __name__ == "__main__":
    main()
