"""The text parsers refuse garbage with their own errors, never anything else."""

from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from pyvswitch.ofproto import ofactions as A
from pyvswitch.ofproto.flow_table import FlowModError
from pyvswitch.ofproto.ofproto import parse_flow
from pyvswitch.ofproto.trace import parse_trace_flow
from pyvswitch.packet.fields import FieldError

TOKENS = ["output", ":", "(", ")", ",", "->", "[", "]", "..", "=", "NXM_NX_REG0", "NXM_OF_ETH_SRC",
          "reg1", "load", "move", "set_field", "resubmit", "clone", "controller", "note", "1", "0x",
          "ff", "-", "65535", "4096", "mod_vlan_vid", "dec_ttl", "goto_table", "drop", "exit",
          "enqueue", "set_tunnel", "write_metadata", "/", "ip", "tcp", "in_port", "LOCAL", " ",
          "max_len", "reason", "id", "actions=", "priority", "table", "ip_dst", "1.2.3.4", "zz"]
texts = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join) | st.text(max_size=30)


@settings(max_examples=400, deadline=None)
@given(text=texts)
@example(text="¹")          # a Unicode digit that int() refuses
def test_action_parser_raises_only_action_errors(text):
    try:
        acts = A.parse_actions(text)
    except A.ActionError:
        return
    text = A.format_actions(acts)       # printing is a fixed point (notes get their padding)
    assert A.format_actions(A.parse_actions(text)) == text


@settings(max_examples=300, deadline=None)
@given(text=texts)
@example(text="in_port=¹,actions=drop")
def test_flow_parsers_raise_only_their_errors(text):
    for parse in (parse_flow, parse_trace_flow):
        try:
            parse(text)
        except (FieldError, A.ActionError, FlowModError):
            pass
