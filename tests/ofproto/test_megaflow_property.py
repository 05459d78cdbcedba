"""Megaflow masks are sound: a packet that agrees with a translated one on every bit of
the returned mask gets the same datapath actions (hypothesis, over random pipelines)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from ofproto_harness import Switch, assert_mask_sound
from pyvswitch.ofproto.flow_table import FlowModError
from pyvswitch.packet.flow import FlowKey

MATCHES = ["", "ip", "udp", "udp,tp_dst=53", "ip,nw_dst=10.0.0.0/8", "ip,nw_dst=10.0.0.2",
           "in_port=1", "in_port=2,ip", "dl_vlan=5", "vlan_tci=0/0x1000", "dl_dst=02:00:00:00:00:02",
           "reg0=1", "ip,nw_ttl=1", "dl_src=02:00:00:00:00:01/ff:ff:ff:ff:ff:00"]
ACTIONS = ["output:2", "output:3", "NORMAL", "drop", "mod_nw_dst:10.0.0.9,output:3",
           "dec_ttl,output:2", "resubmit(,1)", "load:1->NXM_NX_REG0[],resubmit(,1)",
           "mod_vlan_vid:5,output:3", "strip_vlan,output:2", "mod_dl_src:02:00:00:00:00:99,output:1",
           "move:NXM_OF_IP_DST[]->NXM_NX_REG0[],resubmit(,1)", "goto_table:1", "FLOOD"]

rules = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3), st.sampled_from(MATCHES),
                           st.sampled_from(ACTIONS)), max_size=8)
# Packet fields worth varying: in_port, MACs, vlan, dl_type, IPs, ttl, ports.
SLOTS = {"in_port": st.sampled_from((1, 2, 3)),
         "dl_src": st.sampled_from((0x020000000001, 0x020000000002, 0x020000000101)),
         "dl_dst": st.sampled_from((0x020000000001, 0x020000000002, 0xFFFFFFFFFFFF)),
         "vlan_tci": st.sampled_from((0, 0x1005, 0x1006, 0x3005)),
         "dl_type": st.sampled_from((0x0800, 0x0806, 0x1234)),
         "nw_dst": st.sampled_from((0x0A000002, 0x0A000003, 0x0B000002)),
         "nw_proto": st.sampled_from((17, 6)),
         "nw_ttl": st.sampled_from((1, 2, 64)),
         "tp_dst": st.sampled_from((53, 54))}
keys = st.fixed_dictionaries(SLOTS).map(lambda d: FlowKey(**d))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rules, key=keys, other=keys, learn=st.lists(keys, max_size=3))
def test_same_masked_bits_same_actions(rules, key, other, learn):
    sw = Switch()
    try:
        br = sw.bridge()
        for i in (1, 2, 3):
            sw.port(br, f"p{i}", i, **({"tag": 5} if i == 3 else {}))
        for table, prio, match, acts in rules:
            try:
                br.add_flow(f"table={table},priority={prio},{match},actions={acts}")
            except (ValueError, FlowModError):
                pass
        assert_mask_sound(sw, br, key, other, learn)
    finally:
        sw.close()
