"""Megaflow masks stay sound with bonds: a packet agreeing with a translated one on every
masked bit gets the same datapath actions, whatever the bond's mode, members' state and
MAC table (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from ofproto_harness import Switch, assert_mask_sound
from pyvswitch.ofproto import bond as B
from pyvswitch.packet.flow import FlowKey

SLOTS = {"in_port": st.sampled_from((1, 2, 10, 11, 12)),
         "dl_src": st.sampled_from((0x020000000001, 0x020000000002, 0x020000000003,
                                    0x020000000101)),
         "dl_dst": st.sampled_from((0x020000000001, 0x020000000002, 0xFFFFFFFFFFFF,
                                    0x0180C2000002)),
         "vlan_tci": st.sampled_from((0, 0x1005)),
         "dl_type": st.sampled_from((0x0800, 0x0806, 0x8809)),
         "nw_src": st.sampled_from((0x0A000001, 0x0A000002)),
         "nw_proto": st.sampled_from((17, 6)),
         "tp_src": st.sampled_from((1000, 1001, 1002)),
         "tp_dst": st.sampled_from((53, 54))}
keys = st.fixed_dictionaries(SLOTS).map(lambda d: FlowKey(**d))
modes = st.sampled_from(list(B.BondMode))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=modes, lacp=st.sampled_from(list(B.Lacp)), fallback=st.booleans(),
       down=st.sets(st.sampled_from(("b1", "b2", "b3"))), key=keys, other=keys,
       learn=st.lists(keys, max_size=4))
def test_same_masked_bits_same_actions_with_bonds(mode, lacp, fallback, down, key, other, learn):
    sw = Switch()
    try:
        br = sw.bridge()
        sw.port(br, "p1", 1)
        sw.port(br, "p2", 2, tag=5)
        for i, m in enumerate(("b1", "b2", "b3")):
            sw.port(br, m, 10 + i)
        bond = B.Bond("bond0")
        with sw.backer.lock:
            bond.reconfigure(B.BondSettings(mode=mode, lacp=lacp, lacp_fallback_ab=fallback),
                             dict.fromkeys(("b1", "b2", "b3"), bytes(6)), 0.0)
            B.install(br, [bond])
            bond.configure_lacp(bytes(6), {"b1": 10, "b2": 11, "b3": 12}, 0.0)
            for m in ("b1", "b2", "b3"):
                bond.set_may_enable(m, m not in down, 0.0)
        assert_mask_sound(sw, br, key, other, learn)
    finally:
        sw.close()
