"""Property tests of the reconciler: applying its effects to what runs always reaches the
desired state, deletions come first, and a change to one interface touches only it."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings, strategies as st

from pyvswitch.vswitchd.config import BridgeConfig, SwitchConfig, desired_state
from pyvswitch.vswitchd.reconcile import (
    AddInterface, ConfigureBridge, ConfigureInterface, CreateBridge, DestroyBridge,
    RemoveInterface, reconcile,
)
from test_reconcile import Snapshot

BRIDGES = ["br0", "br1"]
IFACES = ["p1", "p2", "p3", "p4"]

iface = st.fixed_dictionaries({
    "bridge": st.sampled_from(BRIDGES),
    "type": st.sampled_from(["", "dummy", "internal", "patch"]),
    "tag": st.sampled_from([(), (10,), (20,)]),
    "ofport_request": st.sampled_from([(), (7,)]),
})
config = st.fixed_dictionaries({
    "bridges": st.dictionaries(st.sampled_from(BRIDGES), st.fixed_dictionaries({
        "datapath_type": st.sampled_from(["", "netdev"]),
        "fail_mode": st.sampled_from([(), ("secure",)])})),
    "ifaces": st.dictionaries(st.sampled_from(IFACES), iface),
})


def build(cfg) -> SwitchConfig:
    s = Snapshot()
    for name, b in sorted(cfg["bridges"].items()):
        s.bridge(name, **b)
    for name, i in sorted(cfg["ifaces"].items()):
        if i["bridge"] in cfg["bridges"]:
            s.port(i["bridge"], name, tag=i["tag"], type=i["type"],
                   ofport_request=i["ofport_request"])
    return desired_state(s.tables)


def apply(running: SwitchConfig, effects) -> SwitchConfig:
    """A faithful model of the shell that always succeeds."""
    bridges = {n: b for n, b in running.bridges.items()}
    for e in effects:
        if isinstance(e, DestroyBridge):
            del bridges[e.bridge]
        elif isinstance(e, RemoveInterface):
            b = bridges[e.bridge]
            bridges[e.bridge] = _replace(b, {k: v for k, v in b.interfaces.items() if k != e.name})
        elif isinstance(e, CreateBridge):
            assert e.config.name not in bridges
            bridges[e.config.name] = _replace(e.config, {})
        elif isinstance(e, ConfigureBridge):
            bridges[e.config.name] = _replace(e.config, bridges[e.config.name].interfaces)
        elif isinstance(e, (AddInterface, ConfigureInterface)):
            b = bridges[e.bridge]
            if isinstance(e, AddInterface):
                assert all(e.config.name not in o.interfaces for o in bridges.values())
            bridges[e.bridge] = _replace(b, {**b.interfaces, e.config.name: e.config})
    return SwitchConfig(bridges)


def _replace(b: BridgeConfig, interfaces) -> BridgeConfig:
    return dataclasses.replace(b, interfaces=interfaces)


DELETIONS = (DestroyBridge, RemoveInterface)


@settings(max_examples=150, deadline=None)
@given(st.lists(config, min_size=1, max_size=4))
def test_effects_reach_the_desired_state(configs):
    running = SwitchConfig({})
    for cfg in configs:
        desired = build(cfg)
        effects = reconcile(running, desired)
        kinds = [isinstance(e, DELETIONS) for e in effects]
        assert kinds == sorted(kinds, reverse=True)          # every deletion first
        running = apply(running, effects)
        assert running.bridges == desired.bridges
        assert reconcile(running, desired) == []


@settings(max_examples=100, deadline=None)
@given(config, st.sampled_from(IFACES), iface)
def test_one_interface_change_touches_only_it(cfg, name, new):
    cfg["bridges"].setdefault(new["bridge"], {"datapath_type": "", "fail_mode": ()})
    before = build(cfg)
    cfg2 = {"bridges": cfg["bridges"], "ifaces": {**cfg["ifaces"], name: new}}
    after = build(cfg2)
    for e in reconcile(before, after):
        assert isinstance(e, (RemoveInterface, AddInterface, ConfigureInterface))
        assert (e.name if isinstance(e, RemoveInterface) else e.config.name) == name
