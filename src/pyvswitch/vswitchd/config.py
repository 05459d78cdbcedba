"""The desired state: what the Open_vSwitch database asks the switch to be.

`desired_state(tables, dummy)` reads a snapshot of the replicated tables
(ovsdb/idl.py's `{table: {uuid: {column: datum}}}`) and returns a
`SwitchConfig`: bridges, each with the interfaces it should have, each
interface carrying its port's VLAN configuration.  It is pure: no I/O, no
clock, the same snapshot always gives an equal result, so the reconciler
(reconcile.py) can diff two of them.

Shape: OVS's ofproto gives every Interface its own OpenFlow port and applies
VLAN settings per Port (a "bundle" of interfaces).  A Port with several
Interfaces is a bond: each interface is still an ordinary interface here,
and `BridgeConfig.bonds` says which ones form a bond and how (Port
bond_mode, bond_updelay, bond_downdelay, lacp, other_config
bond-rebalance-interval, bond-hash-basis, bond-primary, lacp-fallback-ab,
all-members-active, lacp-time, lacp-system-id, lacp-system-priority);
vswitchd/bonds.py makes ofproto/bond.py bonds of it.  The interface named
like its bridge is the bridge's own internal port (OpenFlow LOCAL); it is
created with the bridge, not as an ordinary port.

Interface types: "" and "system" open an existing Linux interface,
"internal" a TAP, "patch" joins two bridges (options:peer), "dummy" an
in-memory netdev -- only with --enable-dummy, as in OVS.  With
--enable-dummy=override every "system" and "internal" interface becomes a
dummy one, so a test needs no privileges; with --enable-dummy=system only
the "system" ones do.

Other things read: Bridge datapath_type, fail_mode, flood_vlans and
other_config hwaddr, datapath-id, mac-table-size, mac-aging-time;
Interface ofport_request, mtu_request, mac, options.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pyvswitch.ofproto.bond import BondMode, BondSettings, Lacp
from pyvswitch.ofproto.vlan import VlanConfig, VlanMode


class Dummy(enum.Enum):
    """--enable-dummy: off; on (type "dummy" allowed); system (system interfaces are
    dummies too); override (system and internal interfaces are dummies)."""
    OFF = "off"
    ON = "on"
    SYSTEM = "system"
    OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class InterfaceConfig:
    name: str
    port: str                       # the Port row holding it
    type: str                       # the netdev type to open ("system", "internal", ...)
    db_type: str = ""               # the type as the database spells it
    vlan: VlanConfig = VlanConfig()
    ofport_request: int | None = None
    mtu_request: int | None = None
    peer: str | None = None         # patch ports
    options: tuple = ()
    mac: bytes | None = None        # Interface.mac: the MAC to give an internal interface
    error: str | None = None        # set when the configuration itself is unusable
    # The ofport the database last recorded: reused when (re)adding the interface, so
    # port numbers survive a daemon restart.  Not configuration: never compared.
    ofport_hint: int | None = field(default=None, compare=False)

    def needs_reopen(self, other: "InterfaceConfig") -> bool:
        """True if going from other to self means closing and reopening the netdev."""
        return (self.type, self.options, self.ofport_request, self.port, self.error) != \
               (other.type, other.options, other.ofport_request, other.port, other.error)


@dataclass(frozen=True, slots=True)
class BondConfig:
    """A Port with more than one Interface."""
    name: str
    members: tuple[str, ...]
    settings: BondSettings = BondSettings()
    # Port bond_active_slave as the database has it: the member to start with.  Status,
    # not configuration: never compared.
    active_hint: bytes | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    name: str
    datapath_type: str = ""
    fail_mode: str | None = None
    flood_vlans: frozenset[int] = frozenset()
    hwaddr: bytes | None = None
    datapath_id: int | None = None
    mac_table_size: int | None = None
    mac_aging_time: int | None = None
    local: InterfaceConfig | None = None        # the bridge's own internal interface
    interfaces: dict[str, InterfaceConfig] = field(default_factory=dict)
    bonds: dict[str, BondConfig] = field(default_factory=dict)

    def settings(self) -> tuple:
        """What ConfigureBridge changes in place (everything but ports and the datapath)."""
        return (self.fail_mode, self.flood_vlans, self.hwaddr, self.datapath_id,
                self.mac_table_size, self.mac_aging_time)


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    bridges: dict[str, BridgeConfig] = field(default_factory=dict)
    next_cfg: int = 0

    def interface_names(self) -> set[str]:
        """Every interface named, bridges' own included."""
        out = set(self.bridges)
        for b in self.bridges.values():
            out.update(b.interfaces)
        return out


def _scalar(v, default=None):
    """An optional column's value: the atom, or default when empty."""
    if type(v) is tuple:
        return v[0] if v else default
    return v


def _parse_mac(text: str | None) -> bytes | None:
    if not text:
        return None
    parts = text.split(":")
    if len(parts) != 6:
        return None
    try:
        mac = bytes(int(p, 16) for p in parts)
    except ValueError:
        return None
    return mac


def _parse_int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def netdev_type(db_type: str, dummy: Dummy) -> str:
    """The netdev type to open for an Interface type.  Without --enable-dummy the
    registry has no "dummy" type, so opening one fails as it does in OVS."""
    t = db_type or "system"
    if dummy is Dummy.OVERRIDE and t in ("system", "internal", "tap"):
        return "dummy"
    if dummy is Dummy.SYSTEM and t == "system":
        return "dummy"
    return t


TUNNEL_TYPES = ("geneve", "gre", "stt", "vxlan")


def option_error(name: str, netdev_type: str, options: dict[str, str]) -> str | None:
    """The reference's error for options a virtual port type cannot work without."""
    if netdev_type == "patch":
        peer = options.get("peer")
        if not peer or peer == name:
            return f"{name}: patch type requires valid 'peer' argument"
    elif netdev_type in TUNNEL_TYPES and not options.get("remote_ip"):
        return f"{name}: {netdev_type} type requires valid 'remote_ip' argument"
    return None


def _vlan(port: dict) -> VlanConfig:
    mode = _scalar(port.get("vlan_mode", ()))
    try:
        vlan_mode = VlanMode(mode) if mode else None
    except ValueError:
        vlan_mode = None    # dot1q-tunnel: not supported, treated as unset
    return VlanConfig(tag=_scalar(port.get("tag", ())),
                      trunks=frozenset(port.get("trunks", ())), vlan_mode=vlan_mode)


def _enum(cls, text, default):
    try:
        return cls(text) if text else default
    except ValueError:
        return default


def bond_settings(port: dict) -> BondSettings:
    """A bonded Port's settings; values OVS would reject fall back to the defaults."""
    oc = dict(port.get("other_config", ()))
    interval = _parse_int(oc.get("bond-rebalance-interval"))
    return BondSettings(
        mode=_enum(BondMode, _scalar(port.get("bond_mode", ())), BondMode.ACTIVE_BACKUP),
        updelay=max(0, _scalar(port.get("bond_updelay", 0), 0)),
        downdelay=max(0, _scalar(port.get("bond_downdelay", 0), 0)),
        lacp=_enum(Lacp, _scalar(port.get("lacp", ())), Lacp.OFF),
        lacp_fallback_ab=oc.get("lacp-fallback-ab") == "true",
        rebalance_interval=interval if interval is not None and interval >= 0 else 10000,
        hash_basis=_parse_int(oc.get("bond-hash-basis")) or 0,
        primary=oc.get("bond-primary") or None,
        all_members_active=oc.get("all-members-active") == "true",
        lacp_fast=oc.get("lacp-time") == "fast",
        lacp_system_priority=_parse_int(oc.get("lacp-system-priority")) or 65534,
        lacp_system_id=_parse_mac(oc.get("lacp-system-id")))


def desired_state(tables: dict[str, dict[str, dict]], dummy: Dummy = Dummy.OFF) -> SwitchConfig:
    """The SwitchConfig a database snapshot asks for."""
    ovs_rows = tables.get("Open_vSwitch", {})
    ovs = next(iter(ovs_rows.values()), None)
    if ovs is None:
        return SwitchConfig()
    bridges_t, ports_t, ifaces_t = (tables.get(t, {}) for t in ("Bridge", "Port", "Interface"))
    bridges: dict[str, BridgeConfig] = {}
    seen_ifaces: set[str] = set()
    for br_uuid in ovs.get("bridges", ()):
        br = bridges_t.get(br_uuid)
        if br is None or br["name"] in bridges:
            continue
        name = br["name"]
        oc = dict(br.get("other_config", ()))
        interfaces: dict[str, InterfaceConfig] = {}
        bonds: dict[str, BondConfig] = {}
        local = None
        ports = sorted((ports_t[u] for u in br.get("ports", ()) if u in ports_t),
                       key=lambda p: p["name"])
        for port in ports:
            vlan = _vlan(port)
            members = sorted((ifaces_t[u] for u in port.get("interfaces", ()) if u in ifaces_t),
                             key=lambda i: i["name"])
            for iface in members:
                iname = iface["name"]
                if iname in seen_ifaces:
                    continue
                seen_ifaces.add(iname)
                db_type = iface.get("type", "")
                t, err = netdev_type(db_type, dummy), None
                options = tuple(iface.get("options", ()))
                err = option_error(iname, t, dict(options))
                cfg = InterfaceConfig(
                    name=iname, port=port["name"], type=t, db_type=db_type, vlan=vlan,
                    ofport_request=_scalar(iface.get("ofport_request", ())),
                    mtu_request=_scalar(iface.get("mtu_request", ())),
                    peer=dict(options).get("peer") if t == "patch" else None,
                    options=options, mac=_parse_mac(_scalar(iface.get("mac", ()))), error=err,
                    ofport_hint=_scalar(iface.get("ofport", ())))
                if iname == name:
                    local = cfg
                else:
                    interfaces[iname] = cfg
            if len(members) > 1:
                own = tuple(i["name"] for i in members if i["name"] in interfaces
                            and interfaces[i["name"]].port == port["name"])
                bonds[port["name"]] = BondConfig(
                    port["name"], own, bond_settings(port),
                    _parse_mac(_scalar(port.get("bond_active_slave", ()))))
        dpid = oc.get("datapath-id")
        bridges[name] = BridgeConfig(
            name=name, datapath_type=br.get("datapath_type", ""),
            fail_mode=_scalar(br.get("fail_mode", ())),
            flood_vlans=frozenset(br.get("flood_vlans", ())),
            hwaddr=_parse_mac(oc.get("hwaddr")),
            datapath_id=_parse_int(dpid, 16) if dpid and len(dpid) == 16 else None,
            mac_table_size=_parse_int(oc.get("mac-table-size")),
            mac_aging_time=_parse_int(oc.get("mac-aging-time")),
            local=local, interfaces=interfaces, bonds=bonds)
    return SwitchConfig(bridges, ovs.get("next_cfg", 0))


def datapath_backer(datapath_type: str) -> str:
    """The backer (shared datapath) a bridge's datapath_type puts it in: "netdev",
    "dummy" (with --enable-dummy), or "system" for anything else."""
    return datapath_type if datapath_type in ("netdev", "dummy") else "system"
