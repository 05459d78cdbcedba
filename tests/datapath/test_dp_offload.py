"""The kernel fast path's bookkeeping (datapath/offload.py) with an in-memory stand-in for the
kernel (fakekfast.py): which megaflows get kernel entries, that every removal or change of a
megaflow reaches the kernel, statistics folded back (megaflows, hit counter, port counters,
MAC refresh), the map full, the switch turned off and on, and the kernel refusing."""

from __future__ import annotations

import struct

import pytest

from fakekfast import FakeKernelFastPath
from util import needs_root, wait_until
from pyvswitch.datapath import actions as A
from pyvswitch.datapath.offload import (
    K_OUT, K_OUT_INGRESS, K_POP_VLAN, K_PUSH_VLAN, KernelOffload, kernel_key,
)
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.ofproto.ofproto import Backer
from pyvswitch.ofproto.vlan import VlanConfig
from pyvswitch.packet import headers as H
from pyvswitch.packet.flow import FULL_MASK, FlowKey, extract

MAC1, MAC2, MAC3 = 0x020000000001, 0x020000000002, 0x020000000003


class KernelDummy(DummyNetdev):
    """A dummy netdev that claims to be a kernel device read by AF_PACKET (or a TAP)."""

    def __init__(self, name: str, ifindex: int, hook: str = "ingress"):
        super().__init__(name)
        self.ifindex = ifindex
        self.kernel_hook = hook


def udp(src: int, dst: int, vid: int | None = None, sport: int = 1000) -> bytes:
    u = struct.pack("!HHHH", sport, 9, 12, 0) + b"data"
    frame = H.eth_frame(dst, src, H.ETH_TYPE_IP, H.ipv4_packet(0x0A000001, 0x0A000002, 17, u))
    if vid is not None:
        frame = frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]
    return frame


class Rig:
    """A datapath on the fake kernel, three kernel ports (ifindex 11-13) and a TAP (20),
    with one NORMAL bridge on top."""

    def __init__(self, *, max_flows: int = 65536, vlans=(None, None, None), opener=None,
                 ifindexes=(11, 12, 13), background: bool = False):
        self.opener = opener or FakeKernelFastPath.opener(max_flows)
        # Attached inline: each frame's entry is there when send() returns (the
        # background attacher has tests of its own).
        self.dp = UserspaceDatapath(offload=KernelOffload(self.opener, background=background))
        self.backer = Backer(self.dp)
        self.tap = KernelDummy("br0", 20, "egress")
        self.br = self.backer.create_bridge("br0", local_netdev=self.tap)
        self.ifindexes = dict(zip(("p1", "p2", "p3"), ifindexes), br0=20)
        self.devs = [KernelDummy(f"p{i}", ifindexes[i - 1]) for i in (1, 2, 3)]
        for d, v in zip(self.devs, vlans):
            self.br.add_port(d.name, d, vlan=v or VlanConfig())
        self.odp = {p.name: p.odp_port for p in self.br.ports.values()}

    @property
    def fp(self) -> FakeKernelFastPath:
        return self.dp.offload.fp

    def send(self, dev: str, frame: bytes) -> None:
        self.dp.process(self.odp[dev], [_pkt(frame)])

    def key(self, dev: str, frame: bytes) -> bytes:
        return kernel_key(self._ifindex(dev), frame)

    def _ifindex(self, dev: str) -> int:
        return self.ifindexes[dev]

    def megaflows(self):
        return self.dp.flow_dump()


def _pkt(frame):
    from pyvswitch.netdev import Packet
    return Packet(frame)


def test_kernel_key_layout():
    f = udp(MAC1, MAC2)
    k = kernel_key(7, f)
    assert k == struct.pack("<I", 7) + f[:12] + b"\0\0" + b"\x08\x00"
    t = udp(MAC1, MAC2, vid=0x2005)     # PCP 1, VID 5
    assert kernel_key(7, t) == struct.pack("<I", 7) + t[:12] + struct.pack("<H", 0x3005) + b"\x08\x00"
    qinq = t[:16] + b"\x81\x00\x00\x07" + t[16:]
    assert kernel_key(7, qinq) is None
    assert kernel_key(7, f[:12] + b"\x88\xa8\x00\x05" + f[12:]) is None
    assert kernel_key(7, f[:13]) is None
    assert kernel_key(7, memoryview(t)) == kernel_key(7, t)


def test_kernel_key_matches_kfast_key():
    kfast = pytest.importorskip("pyvswitch.datapath.kfast")
    for frame in (udp(MAC1, MAC2), udp(MAC1, MAC2, vid=0x2005)):
        k = extract(frame, 1)
        assert kernel_key(9, frame) == kfast.key(9, k.dl_dst, k.dl_src, k.vlan_tci, k.dl_type)


def test_normal_unicast_gets_an_exact_kernel_entry():
    r = Rig()
    r.send("p2", udp(MAC2, MAC1))               # learn MAC2 on p2 (flooded)
    flood = r.key("p2", udp(MAC2, MAC1))
    assert r.fp.flows[flood][3] == ((K_OUT, 11), (K_OUT, 13), (K_OUT_INGRESS, 20))
    r.backer.run(0.0)                           # revalidates after learning
    r.send("p1", udp(MAC1, MAC2))
    k = r.key("p1", udp(MAC1, MAC2))
    assert r.fp.flows[k][3] == ((K_OUT, 12),)
    # Other UDP ports of the same hosts need no new entry: the key is L2 only.
    puts = r.fp.puts
    r.send("p1", udp(MAC1, MAC2, sport=2000))
    assert r.fp.puts == puts
    # Only ports that carried a frame worth an entry got the program (attaching costs
    # ~16 ms each); outputs need none.
    assert r.fp.ingress == {11, 12} and r.fp.egress == set()
    assert r.fp.filtered == {d.fileno() for d in r.devs[:2]}


def test_vlan_access_to_trunk_pushes_and_back_pops():
    r = Rig(vlans=(VlanConfig(tag=10), VlanConfig(trunks=frozenset({10})), None))
    r.send("p1", udp(MAC1, MAC2))
    r.send("p2", udp(MAC2, MAC1, vid=10))
    r.backer.run(0.0)
    r.send("p1", udp(MAC1, MAC2))
    r.send("p2", udp(MAC2, MAC1, vid=10))
    assert r.fp.flows[r.key("p1", udp(MAC1, MAC2))][3] == ((K_PUSH_VLAN, 0x8100 << 16 | 10), (K_OUT, 12))
    assert r.fp.flows[r.key("p2", udp(MAC2, MAC1, vid=10))][3] == ((K_POP_VLAN, 0), (K_OUT, 11))


def test_not_expressible_megaflows_stay_in_userspace():
    r = Rig()
    r.br.add_flow("priority=10,ip,nw_dst=10.0.0.2,actions=output:2")     # masks nw_dst
    r.br.add_flow("priority=10,udp,tp_dst=7,actions=mod_dl_src:02:00:00:00:00:09,output:2")
    r.backer.run(0.0)
    r.send("p1", udp(MAC1, MAC2))
    assert not r.fp.flows
    (f,) = r.megaflows()
    assert f.ksteps is False and f.packets == 1


def test_megaflow_removal_paths_delete_kernel_entries():
    r = Rig()
    r.send("p1", udp(MAC1, MAC2))
    (f,) = r.megaflows()
    assert f.kkeys and len(r.fp.flows) == 1
    assert r.dp.flow_del(f) and not r.fp.flows
    r.send("p1", udp(MAC1, MAC2))
    assert len(r.fp.flows) == 1
    r.dp.flow_flush()
    assert not r.fp.flows
    r.send("p1", udp(MAC1, MAC2))
    (f,) = r.megaflows()
    # Idle expiry (housekeeping): unused megaflows go, and their entries.
    for g in r.dp.table.expire(f.created + 100, 10):
        r.dp.offload.forget(g)
    assert not r.fp.flows


def test_revalidation_rewrites_or_deletes_entries():
    r = Rig()
    r.send("p1", udp(MAC1, MAC2))               # flooded: MAC2 unknown
    k = r.key("p1", udp(MAC1, MAC2))
    assert r.fp.flows[k][3] == ((K_OUT, 12), (K_OUT, 13), (K_OUT_INGRESS, 20))
    r.send("p2", udp(MAC2, MAC1))               # MAC2 learned on p2
    r.backer.run(0.0)
    assert r.fp.flows[k][3] == ((K_OUT, 12),)   # rewritten, not deleted
    r.br.add_flow("priority=10,ip,nw_src=10.0.0.1,actions=drop")
    r.backer.run(0.0)                           # the megaflow's mask changes: it goes
    assert k not in r.fp.flows


def test_port_removal_deletes_entries_naming_it():
    r = Rig()
    r.send("p2", udp(MAC2, MAC1))
    r.send("p1", udp(MAC1, MAC2))
    r.backer.run(0.0)
    r.send("p1", udp(MAC1, MAC2))
    r.send("p3", udp(MAC3, MAC1))
    assert r.key("p3", udp(MAC3, MAC1)) in r.fp.flows
    r.br.remove_port("p2")
    assert 12 not in r.fp.ingress
    assert all(struct.unpack_from("<I", k)[0] != 12 and (K_OUT, 12) not in v[3]
               for k, v in r.fp.flows.items())
    assert r.key("p3", udp(MAC3, MAC1)) in r.fp.flows


def test_statistics_fold_into_megaflows_hits_ports_and_mac_refresh():
    now = [100.0]
    r = Rig()
    r.backer._clock = lambda: now[0]
    r.dp._clock = lambda: now[0]
    r.br.set_config(mac_aging_time=15, now=now[0])
    r.send("p2", udp(MAC2, MAC1))
    r.send("p1", udp(MAC1, MAC2))
    r.backer.run(now[0])
    r.send("p1", udp(MAC1, MAC2))
    f = next(f for f in r.megaflows() if f.key.dl_src == MAC1 and f.kkeys)
    base = f.packets
    hit0 = r.dp.stats().hit
    r.send("p2", udp(MAC2, MAC1))
    k = r.key("p1", udp(MAC1, MAC2))
    back = r.key("p2", udp(MAC2, MAC1))
    size = len(udp(MAC1, MAC2))
    for t in range(10):                         # 50 s of traffic only the kernel sees
        now[0] += 5
        assert r.fp.hit(k, size, 100) == ((K_OUT, 12),)
        assert r.fp.hit(back, size, 1) == ((K_OUT, 11),)
        r.backer.run(now[0])
    assert f.packets == base + 1000 and f.bytes >= 1000 * size
    assert f.used > now[0] - 1
    st = r.dp.stats()
    assert st.hit == hit0 + 1 + 1010 and st.offloaded == 1010
    # Both hosts stay learned (aging 15 s): the kernel-forwarded frames refreshed them.
    assert {m for _p, _v, m, _a in _fdb(r.br, now[0])} == {"02:00:00:00:00:01", "02:00:00:00:00:02"}
    assert r.devs[0].stats().rx_packets >= 1000 and r.devs[1].stats().tx_packets >= 1000
    assert "hit:1010" in r.dp.kernel_fastpath_status()


def _fdb(br, now):
    return [tuple(line.split()) for line in br.fdb_show(now).splitlines()[1:]]


def test_map_full_stays_in_userspace_and_counts():
    r = Rig(max_flows=1)
    r.send("p1", udp(MAC1, MAC2))
    r.send("p2", udp(MAC2, MAC1))
    assert len(r.fp.flows) == 1 and r.dp.offload.n_refused == 1
    r.send("p2", udp(MAC2, MAC1))               # not retried while nothing was freed
    assert r.dp.offload.n_refused == 1
    assert sum(f.packets for f in r.megaflows()) == 3


def test_switch_off_flushes_and_detaches_and_on_reattaches():
    r = Rig()
    r.send("p1", udp(MAC1, MAC2))
    fp = r.fp
    r.dp.set_kernel_fastpath(False)
    assert fp.closed and not fp.flows and r.dp.offload.fp is None
    assert r.dp.kernel_fastpath_status().startswith("off")
    r.send("p1", udp(MAC1, MAC2))               # still forwarded, in userspace
    assert sum(f.packets for f in r.megaflows()) == 2
    assert all(not f.kkeys for f in r.megaflows())
    r.dp.set_kernel_fastpath(True)
    assert r.fp is not fp and r.fp.ingress == set()
    r.send("p1", udp(MAC1, MAC2))
    assert len(r.fp.flows) == 1 and r.fp.ingress == {11}


def test_kernel_refusing_is_reported_and_forwarding_goes_on():
    from pyvswitch.datapath import offload

    def refuse(n):
        raise OSError(1, "Operation not permitted")
    r = Rig(opener=refuse)
    assert r.dp.offload.fp is None
    assert r.dp.kernel_fastpath_status().startswith("unavailable (")
    assert "Operation not permitted" in r.dp.kernel_fastpath_status()
    r.send("p1", udp(MAC1, MAC2))
    assert r.devs[1].transmitted
    assert isinstance(r.dp.offload, offload.KernelOffload)


def test_dummy_ports_never_open_the_kernel():
    calls = []
    dp = UserspaceDatapath(offload=KernelOffload(lambda n: calls.append(n)))
    dp.port_add(DummyNetdev("d1"))
    assert not calls and dp.kernel_fastpath_status() is None


def test_fragments_and_other_actions_are_not_expressible():
    r = Rig()
    off = r.dp.offload
    mask = FULL_MASK._replace(**{n: 0 for n in FlowKey._fields if n not in (
        "in_port", "dl_dst", "dl_src", "dl_type", "vlan_tci", "nw_frag")})
    key = extract(udp(MAC1, MAC2), r.odp["p1"])
    f = r.dp.flow_put(mask, key, ((A.OUTPUT, r.odp["p2"]),))
    assert off.steps(f) == ((K_OUT, 12),)
    frag = r.dp.flow_put(mask, key._replace(nw_frag=1), ((A.OUTPUT, r.odp["p2"]),))
    assert off.steps(frag) is False
    g = r.dp.flow_put(mask, key._replace(dl_src=MAC3), ((A.USERSPACE, 1),))
    assert off.steps(g) is False
    h = r.dp.flow_put(mask, key._replace(dl_src=MAC3 + 1), ((A.PUSH_VLAN, 0x88A8, 5), (A.OUTPUT, 2)))
    assert off.steps(h) is False
    many = r.dp.flow_put(mask, key._replace(dl_src=MAC3 + 2), ((A.OUTPUT, r.odp["p2"]),) * 17)
    assert off.steps(many) is False
    drop = r.dp.flow_put(mask, key._replace(dl_src=MAC3 + 3), ())
    assert off.steps(drop) == ()


def test_dpctl_marks_offloaded_flows_and_shows_the_kernel_tier():
    from pyvswitch.datapath import dpctl
    r = Rig()
    # A megaflow with a rewrite stays in userspace.
    r.br.add_flow("priority=10,in_port=2,actions=mod_dl_src:02:00:00:00:00:09,output:1")
    r.backer.run(0.0)
    r.send("p1", udp(MAC1, MAC2))
    r.send("p2", udp(MAC2, MAC1))
    ok, text = dpctl.run("dump-flows", [r.dp], ["-m"], 0.0)
    lines = text.splitlines()[1:]
    assert ok and len(lines) == 2
    assert sum(", offloaded:yes, dp:tc, actions:" in line for line in lines) == 1
    assert sum(", dp:ovs, actions:" in line for line in lines) == 1
    for types, n in (("type=tc", 1), ("type=offloaded", 1), ("type=ovs", 1),
                     ("type=non-offloaded", 1), ("type=ovs,tc", 2), ("type=all", 2),
                     ("type=dpdk", 0)):
        ok, text = dpctl.run("dump-flows", [r.dp], [types], 0.0)
        assert ok and len(text.splitlines()[1:]) == n, types
    assert "offloaded" not in dpctl.run("dump-flows", [r.dp], [], 0.0)[1]
    assert dpctl.run("dump-flows", [r.dp], ["type=foo"], 0.0) == (
        False, "ovs-vswitchd: Failed to parse type (foo) (Invalid argument)\n")
    ok, text = dpctl.run("show", [r.dp], [], 0.0)
    assert "  kernel fast path: active (eBPF at TC), ports:1 flows:1 hit:0 refused:0\n" in text


def test_a_port_added_again_counts_from_zero():
    r = Rig()
    r.send("p2", udp(MAC2, MAC1))
    r.send("p1", udp(MAC1, MAC2))
    k = r.key("p1", udp(MAC1, MAC2))
    r.fp.hit(k, 100, 5)
    r.dp.flow_dump()
    assert r.devs[0].stats().rx_packets == 5
    r.br.remove_port("p1")
    again = KernelDummy("p1", 11)
    r.br.add_port("p1", again)
    r.odp["p1"] = r.br.by_name["p1"].odp_port
    r.send("p1", udp(MAC1, MAC2))
    k = r.key("p1", udp(MAC1, MAC2))
    r.fp.hit(k, 100, 3)
    r.dp.flow_dump()
    assert again.stats().rx_packets == 3         # not the 5 counted before its removal


def test_a_port_the_kernel_will_not_attach_stays_in_userspace():
    r = Rig()
    calls = []

    real = r.fp.attach_ingress

    def refuse(ifindex):
        calls.append(ifindex)
        if ifindex == 11:
            raise OSError(95, "Operation not supported")
        real(ifindex)
    r.fp.attach_ingress = refuse
    r.send("p1", udp(MAC1, MAC2))
    r.send("p1", udp(MAC1, MAC2))
    assert calls == [11] and not r.fp.flows      # tried once, no entry
    assert sum(f.packets for f in r.megaflows()) == 2
    r.send("p2", udp(MAC2, MAC1))                 # other ports are not affected
    assert r.fp.flows


# The kernel's side of a rewrite, played by the fake or done by the kernel itself: the real
# KernelFastPath with the programs run by PROG_TEST_RUN (on the loopback device, ifindex
# 1, which p1 pretends to be), nothing attached to any device.

def _fake_hits(r, frame: bytes, n: int) -> None:
    assert r.fp.hit(r.key("p1", frame), len(frame), n) is not None


def _kernel_opener():
    kfast = pytest.importorskip("pyvswitch.datapath.kfast")

    class Unattached(kfast.KernelFastPath):
        """Counters rows as attaching makes them, but no link and no socket filter."""

        def _attach(self, ifindex: int, attach_type: int) -> None:
            self._port_row(ifindex)

        def filter_socket(self, sock_fd: int) -> None:
            pass
    return Unattached.open


def _kernel_hits(r, frame: bytes, n: int) -> None:
    from pyvswitch.bpf import syscall
    from pyvswitch.bpf.programs import TCX_DROP, TCX_REDIRECT
    assert syscall.prog_test_run(r.fp._tc_prog, frame, repeat=n)[0] in (TCX_REDIRECT, TCX_DROP)


@pytest.fixture(params=["fake", pytest.param("kernel", marks=needs_root)])
def kernel(request):
    """(opener, hits(rig, frame, n)): the fake kernel, or the real one."""
    if request.param == "fake":
        return FakeKernelFastPath.opener(), _fake_hits
    return _kernel_opener(), _kernel_hits


def test_a_rewritten_entry_neither_loses_nor_double_counts(kernel):
    opener, hits = kernel
    r = Rig(opener=opener, ifindexes=(1, 12, 13))
    try:
        frame = udp(MAC1, MAC2)
        r.send("p1", frame)                         # flooded: MAC2 unknown
        (f,) = r.megaflows()
        k = r.key("p1", frame)
        assert len(r.fp.steps(k)) == 3
        hits(r, frame, 50)
        assert r.megaflows()[0].packets == 51       # folded once
        hits(r, frame, 20)                          # not folded before the rewrite
        r.send("p2", udp(MAC2, MAC1))               # MAC2 learned on p2
        r.backer.run(0.0)                           # revalidation rewrites f's entry
        assert f in r.dp.table.flows() and f.kkeys == {k}
        assert [tuple(s) for s in r.fp.steps(k)] == [(K_OUT, 12)]
        hits(r, frame, 30)
        for _ in range(2):                          # a second dump adds nothing
            r.dp.flow_dump()
            assert (f.packets, f.bytes) == (101, 101 * len(frame))
        assert r.dp.stats().offloaded == 100
    finally:
        r.dp.close()


def test_outputs_never_attached_are_counted_and_rows_go_with_their_port():
    r = Rig()
    r.br.fdb_add("p2", 0, MAC2, 0.0)               # MAC2 on p2, which sends nothing
    r.send("p1", udp(MAC1, MAC2))
    # p2 carried no frame worth an entry: no program, but a counters row.
    assert 12 not in r.fp.ingress and r.fp.ports[12] == [0, 0, 0, 0]
    tx = r.devs[1].stats()
    before = (tx.tx_packets, tx.tx_bytes)       # the frame userspace sent
    assert r.fp.hit(r.key("p1", udp(MAC1, MAC2)), 100, 7) == ((K_OUT, 12),)
    r.dp.flow_dump()
    assert (tx.tx_packets, tx.tx_bytes) == (before[0] + 7, before[1] + 700)
    r.br.remove_port("p2")
    assert 12 not in r.fp.ports and 12 not in r.dp.offload._counters
    fp = r.fp
    r.dp.close()
    assert fp.closed and not fp.ingress and not fp.egress


def test_closing_takes_the_socket_filters_off(monkeypatch):
    from pyvswitch.datapath import offload
    detached = []
    monkeypatch.setattr(offload, "_detach_socket_filter", detached.append)
    r = Rig()
    r.send("p1", udp(MAC1, MAC2))
    assert r.fp.ingress == {11}
    r.dp.offload.close()                # without the ports removed first
    assert detached == [r.devs[0]] and r.dp.offload.fp is None


class SlowAttach(FakeKernelFastPath):
    """Attaching waits for `go` (as the kernel makes a TCX attachment wait ~16 ms), or
    fails for the ifindexes in `refuse`."""

    go = None
    refuse: set = set()

    def attach_ingress(self, ifindex: int) -> None:
        assert self.go.wait(10)
        if ifindex in self.refuse:
            raise OSError(95, "Operation not supported")
        super().attach_ingress(ifindex)


@pytest.fixture
def slow(monkeypatch):
    import threading
    monkeypatch.setattr(SlowAttach, "go", threading.Event())
    monkeypatch.setattr(SlowAttach, "refuse", set())
    r = Rig(opener=SlowAttach.opener(), background=True)
    yield r
    SlowAttach.go.set()
    r.dp.close()


def test_attaching_in_the_background_never_holds_up_forwarding(slow):
    r = slow
    frame = udp(MAC1, MAC2)
    for _ in range(3):          # the attachment waits; forwarding does not
        r.send("p1", frame)
    assert r.devs[1].transmitted and not r.fp.flows and not r.fp.ingress
    assert sum(f.packets for f in r.megaflows()) == 3
    SlowAttach.go.set()
    # Once the attachment is collected (a flow dump, the 1 s housekeeping or the next
    # frame), the key the frames brought meanwhile gets its entry.
    wait_until(lambda: r.megaflows()[0].kkeys, 10, what="the attachment collected")
    assert r.fp.ingress == {11} and list(r.fp.flows) == [r.key("p1", frame)]
    puts = r.fp.puts
    r.send("p1", frame)
    assert r.fp.puts == puts


def test_a_port_removed_or_the_tier_switched_off_while_attaching(slow, monkeypatch):
    import threading
    from pyvswitch.datapath import offload
    detached = []
    monkeypatch.setattr(offload, "_detach_socket_filter", detached.append)
    r = slow
    r.send("p1", udp(MAC1, MAC2))
    r.send("p2", udp(MAC2, MAC1))
    wait_until(lambda: r.dp.offload._attacher._busy, 10, what="p1's attachment running")
    remover = threading.Thread(target=r.br.remove_port, args=("p1",))
    remover.start()             # waits for the attachment in flight ...
    SlowAttach.go.set()
    remover.join(10)            # ... then takes it off with the port
    assert not remover.is_alive()
    assert 11 not in r.fp.ingress and detached == [r.devs[0]]
    r.dp.offload.settle()       # p2's attachment, queued behind p1's
    assert r.fp.ingress == {12}
    fp = r.fp
    r.dp.set_kernel_fastpath(False)
    assert fp.closed and not fp.ingress and detached == [r.devs[0], r.devs[1]]


def test_removing_a_port_waits_only_for_its_own_attachment(slow):
    r = slow
    r.send("p1", udp(MAC1, MAC2))       # p1's attachment runs (and waits) ...
    r.send("p2", udp(MAC2, MAC1))       # ... p2's is queued behind it
    r.br.remove_port("p2")              # returns at once: p2's request is dropped
    assert not SlowAttach.go.is_set()
    SlowAttach.go.set()
    r.dp.offload.settle()
    assert r.fp.ingress == {11}


def test_a_port_refused_in_the_background_stays_in_userspace(slow):
    r = slow
    SlowAttach.refuse.add(11)
    SlowAttach.go.set()
    r.send("p1", udp(MAC1, MAC2))
    r.dp.offload.settle()
    for _ in range(2):
        r.send("p1", udp(MAC1, MAC2))
        r.dp.offload.settle()
    assert not r.fp.flows and r.dp.offload._failed == {r.odp["p1"]}
    assert sum(f.packets for f in r.megaflows()) == 3


def test_a_put_the_kernel_fails_costs_only_the_entry():
    r = Rig()

    def fail(key, steps):
        raise OSError(12, "Cannot allocate memory")
    r.fp.put = fail
    r.send("p1", udp(MAC1, MAC2))               # would raise out of the batch if mishandled
    assert r.devs[1].transmitted and r.dp.offload.n_refused == 1 and not r.fp.flows
