"""ovs-appctl dpif/show's kernel fast path line and dpif/dump-flows (ofproto/trace.py), on a
datapath whose kernel tier is the in-memory stand-in (fakekfast.py)."""

from __future__ import annotations

import re

from test_dp_offload import MAC1, MAC2, MAC3, KernelDummy, Rig, udp
from pyvswitch.datapath import dpctl
from pyvswitch.netdev import Packet
from pyvswitch.ofproto.trace import COMMANDS


def run(r, cmd: str, *args: str, bridges=None):
    return COMMANDS[cmd](bridges or {"br0": r.br}, list(args), 0.0)


def test_dpif_show_keeps_ovs_lines_and_adds_the_kernel_tier_after_them():
    r = Rig()
    ok, text = run(r, "dpif/show")
    lines = text.splitlines()
    assert ok and re.fullmatch(r"\S+@\S+: hit:0 missed:0", lines[0]) and lines[1] == "  br0:"
    assert all(line.startswith("    ") for line in lines[2:-1])
    assert lines[-1] == "  kernel fast path: active (eBPF at TC), ports:0 flows:0 hit:0 refused:0"
    r.send("p1", udp(MAC1, MAC2))
    r.fp.hit(r.key("p1", udp(MAC1, MAC2)), 60, 4)
    assert run(r, "dpif/show")[1].endswith(
        "  kernel fast path: active (eBPF at TC), ports:1 flows:1 hit:4 refused:0\n")
    r.dp.set_kernel_fastpath(False)
    assert run(r, "dpif/show")[1].endswith(
        "  kernel fast path: off (other_config:kernel-fastpath=false)\n")


def test_dpif_show_says_why_the_kernel_tier_is_unavailable():
    def refuse(n):
        raise OSError(1, "Operation not permitted")
    r = Rig(opener=refuse)
    text = run(r, "dpif/show")[1]
    assert text.splitlines()[-1].startswith("  kernel fast path: unavailable (")
    assert "Operation not permitted" in text


def test_dpif_show_without_kernel_ports_says_nothing_more(monkeypatch):
    r = Rig()
    monkeypatch.setattr(r.dp, "kernel_fastpath_status", lambda: None)
    assert "kernel fast path" not in run(r, "dpif/show")[1]


def test_dpif_dump_flows_is_dpctl_dump_flows_of_one_bridge():
    r = Rig()
    r.send("p2", udp(MAC2, MAC1))
    r.send("p1", udp(MAC1, MAC2))
    r.fp.hit(r.key("p1", udp(MAC1, MAC2)), 60, 4)
    # A second bridge on the same datapath: its flows are not br0's.
    br1 = r.backer.create_bridge("br1", local_netdev=KernelDummy("br1", 30, "egress"))
    br1.add_port("p4", KernelDummy("p4", 14))
    p4 = br1.by_name["p4"].odp_port
    r.dp.process(p4, [Packet(udp(MAC3, MAC1))])
    both = {"br0": r.br, "br1": br1}
    dump = dpctl.run("dump-flows", [r.dp], [], 0.0)[1].splitlines()[1:]
    ok, text = run(r, "dpif/dump-flows", "br0", bridges=both)
    assert ok and text.endswith("\n") and len(text.splitlines()) == 2
    assert set(text.splitlines()) == {line for line in dump if f"in_port({p4})" not in line}
    assert run(r, "dpif/dump-flows", "br1", bridges=both)[1].splitlines() == [
        line for line in dump if f"in_port({p4})" in line]
    p1 = r.odp["p1"]
    line = next(x for x in text.splitlines() if x.startswith(f"recirc_id(0),in_port({p1}),"))
    assert line.endswith(", packets:5, bytes:%d, used:0.000s, actions:%d" % (
        len(udp(MAC1, MAC2)) + 240, r.odp["p2"]))
    # -m: "ufid:U " first and every field, names; no "dp:" attributes (dpctl's only).
    verbose = dpctl.run("dump-flows", [r.dp], ["-m"], 0.0)[1].splitlines()[1:]
    expect = {re.sub(r"^(ufid:\S+), ", r"\1 ", re.sub(r", (offloaded:yes, )?dp:\w+", "", v))
              for v in verbose if "in_port(p4)" not in v}
    ok, text = run(r, "dpif/dump-flows", "-m", "br0", bridges=both)
    assert set(text.splitlines()) == expect and "in_port(p1)" in text
    assert all(re.match(r"ufid:[0-9a-f-]{36} skb_priority\(0/0\)", x) for x in text.splitlines())
    named = run(r, "dpif/dump-flows", "--names", "br0")[1]
    assert "in_port(p1)" in named and "actions:p2" in named
    for opts in (["-m", "--no-names"], ["--no-names", "--names"], ["-s"]):
        assert f"in_port({p1})" in run(r, "dpif/dump-flows", *opts, "br0")[1], opts


def test_dpif_dump_flows_errors_as_ovs():
    r = Rig()
    assert run(r, "dpif/dump-flows") == (False, '"dpif/dump-flows" command requires at least 1 arguments')
    assert run(r, "dpif/dump-flows", "br9") == (False, "no such bridge")
    assert run(r, "dpif/dump-flows", "br0", "extra") == (False, "no such bridge")
    assert run(r, "dpif/dump-flows", "br0") == (True, "")
