"""A switch for tests: a Backer on a real UserspaceDatapath (its thread not started: tests
push frames through `process` synchronously) with dummy netdevs, a fake clock, and
"what came out where, with which VLAN" helpers in the style of Faucet's tests."""

from __future__ import annotations

from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev import Packet
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.ofproto import xlate
from pyvswitch.ofproto.ofproto import Backer
from pyvswitch.ofproto.vlan import VlanConfig
from pyvswitch.packet.flow import WIDTHS, FlowKey, extract

BCAST = 0xFFFFFFFFFFFF


def mac(n: int) -> int:
    return 0x020000000000 | n


def frame(src: int, dst: int, vid: int | None = None, pcp: int = 0, eth_type: int = 0x0800,
          payload: bytes = b"x" * 46) -> bytes:
    """An Ethernet frame, 802.1Q-tagged when vid is not None (vid 0: priority-tagged)."""
    tag = b"" if vid is None else (0x8100).to_bytes(2, "big") + ((pcp << 13) | vid).to_bytes(2, "big")
    return dst.to_bytes(6, "big") + src.to_bytes(6, "big") + tag + eth_type.to_bytes(2, "big") + payload


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class Switch:
    def __init__(self):
        self.clock = Clock()
        self.dp = UserspaceDatapath("test", "dummy", clock=self.clock)
        self.wakeups = 0
        self.backer = Backer(self.dp, clock=self.clock, wakeup=self._wake)
        self.devs: dict[str, DummyNetdev] = {}
        self.bridges = {}

    def _wake(self):
        self.wakeups += 1

    def bridge(self, name: str = "br0", **kw):
        local = DummyNetdev(name)
        self.devs[name] = local
        br = self.backer.create_bridge(name, local_netdev=local, now=self.clock.t, **kw)
        self.bridges[name] = br
        return br

    def port(self, br, name: str, ofport: int | None = None, **vlan) -> int:
        dev = DummyNetdev(name)
        self.devs[name] = dev
        return br.add_port(name, dev, ofport_request=ofport, vlan=VlanConfig(**vlan))

    def odp(self, name: str) -> int:
        for n, (_, p) in self.backer.odp_ports.items():
            if p.name == name:
                return n
        raise KeyError(name)

    def send(self, port: str, data: bytes) -> dict[str, list[bytes]]:
        """Pushes one frame in through port; returns {port name: frames it sent}."""
        for d in self.devs.values():
            d.transmitted.clear()
        with self.dp.lock:
            self.dp.process(self.odp(port), [Packet(data)])
        return {n: list(d.transmitted) for n, d in self.devs.items() if d.transmitted}

    def run(self, advance: float = 0.0) -> float:
        self.clock.t += advance
        return self.backer.run(self.clock.t)

    def close(self):
        self.backer.close()
        self.dp.close()
        for d in self.devs.values():
            d.close()


def assert_mask_sound(sw: Switch, br, key: FlowKey, other: FlowKey, learn) -> None:
    """After translating each of `learn` (learning MACs), `key` translates to a megaflow
    mask; `other` with the masked bits of `key` must get the same datapath actions."""
    for k in learn:
        xlate.translate(sw.backer, br, k, may_learn=True)
    res = xlate.translate(sw.backer, br, key, may_learn=False)
    mask = res.mask
    mixed = FlowKey(*((k & m) | (o & ~m & ((1 << w) - 1))
                      for k, o, m, w in zip(key, other, mask, WIDTHS)))
    res2 = xlate.translate(sw.backer, br, mixed, may_learn=False)
    assert res2.actions == res.actions, (key, mixed, mask)


def vlan_of(data: bytes) -> int | None:
    """The VLAN ID a frame carries (None if untagged)."""
    k = extract(data)
    return k.vlan_tci & 0xFFF if k.vlan_tci else None


def out_vlans(out: dict[str, list[bytes]]) -> dict[str, list[int | None]]:
    return {n: [vlan_of(f) for f in fs] for n, fs in out.items()}
