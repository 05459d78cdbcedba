"""NORMAL against the reference: the same bridge (ports in every VLAN mode) in the real
ovs-vswitchd 3.1 (--enable-dummy) and in ours; for many packets, ofproto/trace's NORMAL
lines must agree and the datapath actions must deliver to the same ports with the same
VLAN tags (read by interpreting each action list; their order and port numbers differ)."""

from __future__ import annotations

import itertools
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from ofproto_harness import Switch
from util import needs_reference, ovs_env, ref, stop_pid, wait_until
from pyvswitch.ofproto.vlan import VlanConfig

# name, ofport, Port columns for ovs-vsctl, our VlanConfig arguments
PORTS = [
    ("p1", 1, [], {}),
    ("p2", 2, ["tag=10"], {"tag": 10}),
    ("p3", 3, ["tag=20"], {"tag": 20}),
    ("p4", 4, ["trunks=10,20"], {"trunks": frozenset({10, 20})}),
    ("p5", 5, ["tag=10", "trunks=20", "vlan_mode=native-tagged"],
     {"tag": 10, "trunks": frozenset({20}), "vlan_mode": "native-tagged"}),
    ("p6", 6, ["tag=20", "trunks=10", "vlan_mode=native-untagged"],
     {"tag": 20, "trunks": frozenset({10}), "vlan_mode": "native-untagged"}),
    ("p7", 7, ["vlan_mode=access"], {"vlan_mode": "access"}),
    ("p8", 8, ["tag=30", "vlan_mode=trunk"], {"tag": 30, "vlan_mode": "trunk"}),
]
VLANS = ["", "dl_vlan=0,", "dl_vlan=10,", "dl_vlan=20,", "dl_vlan=30,", "dl_vlan=0,dl_vlan_pcp=5,",
         "dl_vlan=10,dl_vlan_pcp=3,"]
DSTS = ["ff:ff:ff:ff:ff:ff", "00:00:00:00:00:aa", "01:80:c2:00:00:00", "01:00:5e:00:00:01",
        "00:00:00:00:01:01", "00:00:00:00:01:02", "00:00:00:00:01:06", "00:00:00:00:01:08"]


FLOWS = [
    "table=0,priority=100,ip,actions=dec_ttl,mod_nw_dst:10.0.0.9,resubmit(,1)",
    "table=0,priority=95,arp,arp_op=1,arp_tpa=10.0.0.9,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
    "mod_dl_src:00:00:00:00:00:09,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
    "load:0x000000000009->NXM_NX_ARP_SHA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
    "load:0x0a000009->NXM_OF_ARP_SPA[],IN_PORT",
    "table=0,priority=90,arp,actions=drop",
    "table=0,priority=80,in_port=2,actions=mod_vlan_vid:7,output:3,strip_vlan,output:1",
    "table=0,priority=70,dl_type=0x1234,actions=resubmit(3,2)",
    "table=0,priority=60,in_port=3,actions=mod_vlan_vid:5,output:1,mod_vlan_vid:6,output:2",
    "table=1,priority=10,ip,nw_dst=10.0.0.9,actions=mod_dl_dst:00:00:00:00:00:09,output:2,resubmit(,2)",
    "table=1,priority=5,ip,actions=load:0x3->NXM_NX_REG0[],resubmit(,3)",
    "table=2,priority=5,reg0=0,actions=mod_vlan_pcp:3,output:3,mod_tp_dst:99,IN_PORT",
    "table=2,priority=5,in_port=3,dl_type=0x1234,actions=FLOOD",
    "table=3,priority=5,ip,reg0=3,actions=move:NXM_OF_IP_SRC[]->NXM_NX_REG1[],note:0102,ALL",
]
PACKETS = [
    "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80,nw_ttl=64",
    "in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.3,udp_dst=53,nw_ttl=9",
    "in_port=1,arp", "in_port=2,dl_type=0x0800,nw_ttl=0",
    "in_port=1,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.9,arp_sha=00:00:00:00:00:01", "in_port=2,dl_type=0x4444",
    "in_port=2,dl_vlan=4,dl_type=0x4444", "in_port=1,dl_type=0x1234", "in_port=3,dl_type=0x5555",
    "in_port=3,dl_vlan=9,dl_vlan_pcp=2,dl_type=0x5555", "in_port=1,dl_type=0x5555",
]


# Two bridges joined by a patch pair: br3's VLAN 10 crosses untagged into br4's VLAN 20.
PATCHED = {
    "br3": [("s1", 1, [], {}, None), ("s2", 2, ["tag=10"], {"tag": 10}, None),
            ("pa", 3, ["tag=10"], {"tag": 10}, "pb")],
    "br4": [("u1", 1, ["tag=20"], {"tag": 20}, None), ("u2", 2, [], {}, None),
            ("pb", 3, ["tag=20"], {"tag": 20}, "pa")],
}
FLOW_LINES = ["in_port=1,tcp6,ipv6_src=::1,tcp_dst=80", "in_port=1,arp,arp_op=1,arp_spa=1.2.3.4",
              "in_port=1,icmp,icmp_type=8", "in_port=1,icmp6,icmp_type=135,nd_target=::1",
              "in_port=1,udp6,udp_src=5", "in_port=1,ip,nw_frag=later,nw_proto=6",
              "in_port=1,dl_vlan=5,dl_vlan1=7,dl_type=0x800", "in_port=LOCAL,sctp",
              "in_port=1,reg0=5,tun_id=3,metadata=2", "in_port=1,udp,tp_dst=53", "in_port=1,nw_dst=1.2.3.4"]


@pytest.fixture(scope="module")
def reference():
    d = Path(tempfile.mkdtemp(prefix="ofref"))
    env = ovs_env(d)
    db, sock = d / "conf.db", d / "db.sock"
    subprocess.run([ref("ovsdb-tool"), "create", str(db), "/usr/share/openvswitch/vswitch.ovsschema"],
                   check=True, env=env, timeout=30)
    pids = []
    try:
        subprocess.run([ref("ovsdb-server"), f"--remote=punix:{sock}", f"--pidfile={d}/db.pid",
                        f"--unixctl={d}/db.ctl", "--detach", f"--log-file={d}/db.log", str(db)],
                       check=True, env=env, timeout=30)
        pids.append(int((d / "db.pid").read_text()))
        vsctl = [ref("ovs-vsctl"), f"--db=unix:{sock}", "--timeout=20"]
        subprocess.run(vsctl + ["--no-wait", "init"], check=True, env=env, timeout=30)
        subprocess.run([ref("ovs-vswitchd"), "--enable-dummy=override", f"unix:{sock}",
                        f"--pidfile={d}/vs.pid", f"--unixctl={d}/vs.ctl", "--detach",
                        f"--log-file={d}/vs.log", "-vconsole:off"], check=True, env=env, timeout=30)
        pids.append(int((d / "vs.pid").read_text()))
        cmd = vsctl + ["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy"]
        for name, ofport, cols, _ in PORTS:
            cmd += ["--", "add-port", "br0", name, *cols, "--", "set", "interface", name,
                    "type=dummy", f"ofport_request={ofport}"]
        subprocess.run(cmd, check=True, env=env, timeout=60)
        cmd = vsctl + ["add-br", "br1", "--", "set", "bridge", "br1", "datapath_type=dummy",
                       "fail_mode=secure"]
        for i in (1, 2, 3):
            cmd += ["--", "add-port", "br1", f"q{i}", *(["tag=5"] if i == 3 else []),
                    "--", "set", "interface", f"q{i}", "type=dummy", f"ofport_request={i}"]
        subprocess.run(cmd, check=True, env=env, timeout=60)
        for flow in FLOWS:
            subprocess.run([ref("ovs-ofctl"), "add-flow", "br1", flow], check=True, env=env, timeout=30)
        cmd = vsctl[:]
        for br, ports in PATCHED.items():
            cmd += ["--", "add-br", br, "--", "set", "bridge", br, "datapath_type=dummy"]
            for name, ofport, cols, _, peer in ports:
                kind = ["type=patch", f"options:peer={peer}"] if peer else ["type=dummy"]
                cmd += ["--", "add-port", br, name, *cols, "--", "set", "interface", name,
                        *kind, f"ofport_request={ofport}"]
        subprocess.run(cmd, check=True, env=env, timeout=60)
        appctl = [ref("ovs-appctl"), "-t", str(d / "vs.ctl")]

        def call(*args):
            if args[0] == "__env__":
                return env
            if args[0] == "__flows__":      # replace br1's flows with these (one per line)
                subprocess.run([ref("ovs-ofctl"), "del-flows", "br1"], check=True, env=env, timeout=30)
                subprocess.run([ref("ovs-ofctl"), "add-flows", "br1", "-"], input=args[1], text=True,
                               check=True, env=env, timeout=30)
                return ""
            r = subprocess.run(appctl + list(args), capture_output=True, text=True, env=env, timeout=30)
            return r.stdout + r.stderr

        n_dummy = len(PORTS) + 3 + sum(1 for ps in PATCHED.values() for p in ps if not p[4])
        show = wait_until(lambda: (s := call("dpif/show")).count("(dummy)") == n_dummy and s,
                          what="ports in the reference")
        odp = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+) \d+/(\d+):", show, re.M)}
        yield call, odp
    finally:
        for pid in reversed(pids):
            stop_pid(pid)
        subprocess.run(["rm", "-rf", str(d)], timeout=30)


def split_top(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += (ch == "(") - (ch == ")")
        cur += ch
    if cur:
        out.append(cur)
    return out


def deliveries(trace: str, in_vid: int | None, names: dict[int, str]) -> set[tuple[str, int | None]]:
    """(port name, VLAN ID or None) for every output of the trace's datapath actions."""
    acts = re.search(r"^Datapath actions: (.*)$", trace, re.M).group(1)
    vid, out = in_vid, set()
    for a in split_top(acts):
        if a == "drop":
            continue
        if a == "pop_vlan":
            vid = None
        elif a.startswith("push_vlan("):
            vid = int(re.search(r"vid=(\d+)", a).group(1))
        elif a.isdigit():
            out.add((names[int(a)], vid))
    return out


def no_ages(fdb: str) -> list[str]:
    """fdb/show lines without the Age column (the reference's clock runs meanwhile)."""
    lines = fdb.splitlines()
    return lines[:1] + [line[:-3] for line in lines[1:]]


def normal_lines(trace: str) -> list[str]:
    return [line.strip() for line in trace.splitlines() if line.startswith("     ")]


@needs_reference
def test_normal_agrees_with_reference(reference):
    call, ref_odp = reference
    sw = Switch()
    try:
        br = sw.bridge()
        for name, ofport, _, kw in PORTS:
            sw.port(br, name, ofport, **kw)
        ref_names = {v: ("LOCAL" if k == "br0" else k) for k, v in ref_odp.items()}
        our_names = {sw.odp(n): ("LOCAL" if n == "br0" else n) for n in [p[0] for p in PORTS] + ["br0"]}
        # Learn one station per port (untagged: each port's native VLAN) in both switches.
        for name, ofport, _, _ in PORTS:
            flow = f"in_port={ofport},dl_src=00:00:00:00:01:{ofport:02x},dl_dst=ff:ff:ff:ff:ff:ff"
            theirs = call("ofproto/trace", "br0", flow, "-generate")
            assert normal_lines(br.trace(flow, sw.clock.t, generate=True)) == normal_lines(theirs)
        assert no_ages(br.fdb_show(sw.clock.t)) == no_ages(call("fdb/show", "br0"))
        n = 0
        for (name, ofport, _, _), vlan, dst in itertools.product(PORTS, VLANS, DSTS):
            flow = f"in_port={ofport},{vlan}dl_src=00:00:00:00:00:{ofport:02x},dl_dst={dst}"
            m = re.search(r"dl_vlan=(\d+)", vlan)
            in_vid = int(m.group(1)) if m else None
            theirs = call("ofproto/trace", "br0", flow)
            ours = br.trace(flow, sw.clock.t)
            assert normal_lines(ours) == normal_lines(theirs), (flow, ours, theirs)
            assert deliveries(ours, in_vid, our_names) == deliveries(theirs, in_vid, ref_names), (
                flow, ours, theirs)
            n += 1
        assert n == len(PORTS) * len(VLANS) * len(DSTS)
    finally:
        sw.close()


def pipeline_lines(trace: str) -> list[str]:
    """Every line from the first bridge header to the final flow, indentation included
    (what both must agree on; megaflows and datapath port numbers differ)."""
    lines = trace.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("bridge(")))
    end = next(i for i, line in enumerate(lines) if line.startswith("Final flow: "))
    return lines[start:end + 1]


@needs_reference
def test_pipeline_agrees_with_reference(reference):
    call, ref_odp = reference
    call("__flows__", "\n".join(FLOWS))       # other tests change br1's flows
    sw = Switch()
    try:
        br = sw.bridge("br1", fail_mode="secure")
        for i in (1, 2, 3):
            sw.port(br, f"q{i}", i, **({"tag": 5} if i == 3 else {}))
        for flow in FLOWS:
            br.add_flow(flow)
        ref_names = {v: k for k, v in ref_odp.items()}
        our_names = {sw.odp(n): n for n in ("q1", "q2", "q3", "br1")}
        for pkt in PACKETS:
            theirs = call("ofproto/trace", "br1", pkt)
            ours = br.trace(pkt, sw.clock.t)
            assert pipeline_lines(ours) == pipeline_lines(theirs), (pkt, ours, theirs)
            m = re.search(r"dl_vlan=(\d+)", pkt)
            in_vid = int(m.group(1)) if m else None
            assert deliveries(ours, in_vid, our_names) == deliveries(theirs, in_vid, ref_names), (
                pkt, ours, theirs)
    finally:
        sw.close()


@needs_reference
def test_flow_lines_and_errors_agree_with_reference(reference):
    call, _ = reference
    sw = Switch()
    try:
        br = sw.bridge()
        for flow in FLOW_LINES:
            theirs = call("ofproto/trace", "br0", flow).splitlines()[0]
            try:
                ours = br.trace(flow, sw.clock.t).splitlines()[0]
            except ValueError as e:
                ours = str(e)
            assert ours == theirs, flow
    finally:
        sw.close()


@needs_reference
def test_patch_ports_agree_with_reference(reference):
    call, ref_odp = reference
    sw = Switch()
    try:
        for brname, ports in PATCHED.items():
            br = sw.bridge(brname)
            for name, ofport, _, kw, peer in ports:
                if peer:
                    br.add_port(name, ofport_request=ofport, peer=peer, type="patch",
                                vlan=VlanConfig(**kw))
                else:
                    sw.port(br, name, ofport, **kw)
        ref_names = {v: k for k, v in ref_odp.items()}
        our_names = {n: p.name for n, (_, p) in sw.backer.odp_ports.items()}
        cases = []
        for brname, ports in PATCHED.items():
            for name, ofport, _, _, peer in ports:
                if peer:
                    continue
                for vlan in ("", "dl_vlan=10,", "dl_vlan=20,"):
                    for dst in ("ff:ff:ff:ff:ff:ff", "00:00:00:00:02:01", "00:00:00:00:02:02"):
                        cases.append((brname, f"in_port={ofport},{vlan}dl_src=00:00:00:00:0{brname[-1]}:{ofport:02x},"
                                              f"dl_dst={dst}"))
        for generate in (True, False):      # first learn everywhere, then check with the tables full
            for brname, flow in cases:
                args = ["ofproto/trace", brname, flow] + (["-generate"] if generate else [])
                theirs = call(*args)
                ours = sw.bridges[brname].trace(flow, sw.clock.t, generate=generate)
                assert normal_lines(ours) == normal_lines(theirs), (brname, flow, ours, theirs)
                assert pipeline_lines(ours) == pipeline_lines(theirs), (brname, flow, ours, theirs)
                m = re.search(r"dl_vlan=(\d+)", flow)
                in_vid = int(m.group(1)) if m else None
                assert deliveries(ours, in_vid, our_names) == deliveries(theirs, in_vid, ref_names), (
                    brname, flow, ours, theirs)
        for brname in PATCHED:
            assert no_ages(sw.bridges[brname].fdb_show(sw.clock.t)) == no_ages(call("fdb/show", brname))
    finally:
        sw.close()


RANDOM_MATCHES = ["", "ip", "udp", "udp,udp_dst=53", "ip,nw_dst=10.0.0.0/8", "in_port=1",
                  "in_port=2,ip", "dl_vlan=5", "vlan_tci=0/0x1000", "dl_dst=00:00:00:00:00:02",
                  "reg0=1", "ip,nw_ttl=1", "tcp,tcp_dst=80", "arp", "dl_src=00:00:00:00:00:01",
                  "tun_id=7"]
RANDOM_ACTIONS = ["output:2", "output:3", "NORMAL", "drop", "mod_nw_dst:10.0.0.9,output:3",
                  "dec_ttl,output:2", "resubmit(,1)", "load:1->NXM_NX_REG0[],resubmit(,1)",
                  "mod_vlan_vid:5,output:3", "strip_vlan,output:2", "mod_dl_src:00:00:00:00:00:99,output:1",
                  "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],output:2", "FLOOD", "ALL", "IN_PORT",
                  "resubmit(2,1)", "mod_vlan_pcp:5,output:1,LOCAL", "mod_tp_dst:9,output:3",
                  "mod_nw_tos:8,dec_ttl,resubmit(,1)", "CONTROLLER:64", "output:1,output:2,output:3",
                  "mod_vlan_vid:5,NORMAL", "strip_vlan,NORMAL", "mod_vlan_pcp:2,NORMAL,output:3",
                  "mod_dl_dst:ff:ff:ff:ff:ff:ff,NORMAL", "clone(mod_vlan_vid:5,output:2),output:3",
                  "resubmit(,1),exit,output:1", "exit", "set_tunnel:7,resubmit(,1)",
                  "load:2->NXM_NX_REG1[0..15],output:NXM_NX_REG1[0..15]",
                  "clone(resubmit(,1),exit),output:2",
                  "learn(table=1,priority=1,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],"
                  "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],"
                  "load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:2"]
RANDOM_PACKETS = ["in_port=1,udp,nw_dst=10.0.0.2,udp_dst=53,nw_ttl=5",
                  "in_port=2,tcp,nw_dst=10.1.0.2,tcp_dst=80,nw_ttl=1,dl_dst=00:00:00:00:00:02",
                  "in_port=3,arp", "in_port=1,dl_vlan=5,dl_type=0x1234,dl_src=00:00:00:00:00:01",
                  "in_port=2,dl_vlan=6,dl_vlan_pcp=3,ip,nw_dst=10.0.0.9,nw_ttl=64",
                  "in_port=3,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x4444",
                  "in_port=1,ipv6,nw_ttl=1", "in_port=2,tcp6,tcp_dst=80,nw_ttl=5,dl_vlan=5"]


@needs_reference
def test_random_pipelines_agree_with_reference(reference):
    import random
    call, ref_odp = reference
    rnd = random.Random(4)
    ref_names = {v: k for k, v in ref_odp.items()}
    for _ in range(25):
        flows = []
        for table in (0, 1):
            for prio in rnd.sample(range(1, 50), 3):
                flows.append(f"table={table},priority={prio},{rnd.choice(RANDOM_MATCHES)},"
                             f"actions={rnd.choice(RANDOM_ACTIONS)}")
        sw = Switch()
        try:
            br = sw.bridge("br1", fail_mode="secure")
            for i in (1, 2, 3):
                sw.port(br, f"q{i}", i, **({"tag": 5} if i == 3 else {}))
            for flow in flows:
                br.add_flow(flow)
            our_names = {sw.odp(n): n for n in ("q1", "q2", "q3", "br1")}
            call("__flows__", "\n".join(flows))
            for pkt in rnd.sample(RANDOM_PACKETS, 3):
                theirs = call("ofproto/trace", "br1", pkt)
                ours = br.trace(pkt, sw.clock.t)
                assert pipeline_lines(ours) == pipeline_lines(theirs), (flows, pkt, ours, theirs)
                m = re.search(r"dl_vlan=(\d+)", pkt)
                in_vid = int(m.group(1)) if m else None
                assert deliveries(ours, in_vid, our_names) == deliveries(theirs, in_vid, ref_names), (
                    flows, pkt, ours, theirs)
        finally:
            sw.close()


@needs_reference
def test_dump_flows_text_agrees_with_reference(reference):
    call, _ = reference
    extra = ["cookie=0x5,table=1,idle_timeout=100,hard_timeout=200,priority=5,send_flow_rem,ip,actions=drop",
             "table=3,priority=5,arp,actions=drop", "priority=0,actions=NORMAL",
             "priority=7,tcp6,ipv6_src=2001:db8::/32,tcp_dst=443,actions=clone(output:1),exit",
             "priority=8,in_port=1,dl_vlan=5,actions=strip_vlan,set_tunnel:0x123456789,output:2",
             "priority=9,ip,actions=learn(table=1,idle_timeout=10,cookie=0x5,send_flow_rem,"
             "delete_learned,eth_type=0x800,nw_src=1.2.3.4,ip_dst=NXM_OF_IP_SRC[],load:5->reg0,"
             "load:0x5->NXM_NX_REG1[0..7],output:NXM_NX_REG2[0..15])"]
    flows = FLOWS + extra
    call("__flows__", "\n".join(flows))
    r = subprocess.run([ref("ovs-ofctl"), "--no-stats", "dump-flows", "br1"], capture_output=True,
                       text=True, timeout=30, env=call("__env__"))
    theirs = sorted(r.stdout.splitlines())
    sw = Switch()
    try:
        br = sw.bridge("br1", fail_mode="secure")
        for flow in flows:
            br.add_flow(flow)
        assert sorted(br.dump_flows().splitlines()) == theirs
    finally:
        sw.close()
        call("__flows__", "\n".join(FLOWS))
