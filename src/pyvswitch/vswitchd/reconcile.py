"""The reconciler: the difference between what runs and what the database wants.

`reconcile(running, desired)` compares two `SwitchConfig`s (config.py) and
returns the effects that turn the first into the second.  It is pure; the
shell (switch.py) applies the effects to ofproto, the datapath and the
netdevs, and records in its own `running` exactly what it managed to apply.

Ordering: every deletion comes before every addition (an interface moving
from one bridge to another is first removed, then added; a bridge whose
datapath changes is destroyed, then created), and within the additions a
bridge is created before its interfaces are added.

Incrementality: an effect names one bridge or one interface.  Adding or
changing an interface never produces an effect on any other interface, so
traffic on the others is undisturbed.  Settings that can change in place
(VLANs, a patch port's peer, MTU, the bridge's fail mode, MAC table, ...)
do; only a different netdev type, options or requested OpenFlow port number
closes and reopens an interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .config import BridgeConfig, InterfaceConfig, SwitchConfig, datapath_backer


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge: str


@dataclass(frozen=True, slots=True)
class RemoveInterface:
    bridge: str
    name: str


@dataclass(frozen=True, slots=True)
class CreateBridge:
    config: BridgeConfig


@dataclass(frozen=True, slots=True)
class ConfigureBridge:
    config: BridgeConfig


@dataclass(frozen=True, slots=True)
class AddInterface:
    bridge: str
    config: InterfaceConfig


@dataclass(frozen=True, slots=True)
class ConfigureInterface:
    bridge: str
    config: InterfaceConfig


Effect = Union[DestroyBridge, RemoveInterface, CreateBridge, ConfigureBridge, AddInterface,
               ConfigureInterface]


def _same_datapath(a: BridgeConfig, b: BridgeConfig) -> bool:
    return datapath_backer(a.datapath_type) == datapath_backer(b.datapath_type)


def reconcile(running: SwitchConfig, desired: SwitchConfig) -> list[Effect]:
    deletions: list[Effect] = []
    additions: list[Effect] = []
    for name, rb in running.bridges.items():
        db = desired.bridges.get(name)
        if db is None or not _same_datapath(rb, db):
            deletions.append(DestroyBridge(name))
            continue
        for iname, ri in rb.interfaces.items():
            di = db.interfaces.get(iname)
            if di is None or di.needs_reopen(ri):
                deletions.append(RemoveInterface(name, iname))
    for name, db in desired.bridges.items():
        rb = running.bridges.get(name)
        if rb is None or not _same_datapath(rb, db):
            additions.append(CreateBridge(db))
            have: dict[str, InterfaceConfig] = {}
        else:
            if db.settings() != rb.settings() or db.local != rb.local:
                additions.append(ConfigureBridge(db))
            have = rb.interfaces
        for iname, di in db.interfaces.items():
            ri = have.get(iname)
            if ri is None or di.needs_reopen(ri):
                additions.append(AddInterface(name, di))
            elif di != ri:
                additions.append(ConfigureInterface(name, di))
    return deletions + additions
