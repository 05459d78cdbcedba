"""No frame ever crosses from one VLAN to another: a property test over random port VLAN
configurations and random frame sequences, checked against an independent model of
NORMAL switching (the datapath's megaflow cache included: each frame is sent twice)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from ofproto_harness import BCAST, Switch, frame, mac
from pyvswitch.packet.flow import extract

VLANS = (1, 2, 3)

port_cfg = st.one_of(
    st.builds(lambda t: ("access", t, frozenset()), st.sampled_from((None, *VLANS))),
    st.builds(lambda tr: ("trunk", None, tr), st.frozensets(st.sampled_from((0, *VLANS)), max_size=3)),
    st.builds(lambda m, t, tr: (m, t, tr), st.sampled_from(("native-tagged", "native-untagged")),
              st.sampled_from(VLANS), st.frozensets(st.sampled_from(VLANS), max_size=2)),
)
frames = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4), st.sampled_from((1, 2, 3, 4, "b")),
                            st.sampled_from((None, 0, *VLANS, 9))), min_size=1, max_size=12)


def in_vlan(cfg, vid):
    mode, tag, trunks = cfg
    if mode == "access":
        return (tag or 0) if vid in (None, 0) else None
    if mode == "trunk":
        v = vid or 0
        return v if not trunks or v in trunks else None
    if vid in (None, 0):
        return tag
    return vid if vid == tag or vid in trunks else None


def carries(cfg, vlan):
    mode, tag, trunks = cfg
    if mode == "access":
        return vlan == (tag or 0)
    if mode == "trunk":
        return not trunks or vlan in trunks
    return vlan == tag or vlan in trunks


def vlan_seen_by(cfg, data):
    """The VLAN a frame sent on a port with cfg belongs to, read back from the wire."""
    k = extract(data)
    mode, tag, _ = cfg
    if not k.vlan_tci:
        return {"access": tag or 0, "trunk": 0}.get(mode, tag)
    assert mode != "access", "tagged frame sent on an access port"
    assert not (mode == "native-untagged" and k.vlan_tci & 0xFFF == tag), "native VLAN sent tagged"
    return k.vlan_tci & 0xFFF


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfgs=st.lists(port_cfg, min_size=4, max_size=4), seq=frames)
def test_no_vlan_crossing_and_normal_matches_model(cfgs, seq):
    sw = Switch()
    try:
        br = sw.bridge()
        names = [f"p{i}" for i in range(4)]
        for i, (mode, tag, trunks) in enumerate(cfgs):
            sw.port(br, names[i], i + 1, tag=tag, trunks=trunks, vlan_mode=mode)
        all_cfg = dict(zip(names, cfgs)) | {"br0": ("trunk", None, frozenset())}
        table: dict[tuple[int, int], str] = {}
        for src_i, src_n, dst, vid in seq:
            name = names[src_i]
            dst_mac = BCAST if dst == "b" else mac(dst)
            data = frame(mac(src_n), dst_mac, vid=vid)
            v = in_vlan(all_cfg[name], vid)
            if v is None:
                expected = set()
            else:
                table[(v, mac(src_n))] = name
                out = table.get((v, dst_mac))
                if out is None:
                    expected = {q for q, c in all_cfg.items() if q != name and carries(c, v)}
                else:
                    expected = set() if out == name else {out}
            for _ in range(2):
                got = sw.send(name, data)
                assert set(got) == expected, (name, vid, dst, got.keys(), expected)
                for q, fs in got.items():
                    assert len(fs) == 1 and vlan_seen_by(all_cfg[q], fs[0]) == v
                sw.run()
    finally:
        sw.close()
