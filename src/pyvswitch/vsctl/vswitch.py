"""The Open_vSwitch-specific commands: bridges, ports, interfaces,
controllers, fail mode, managers, SSL, auto-attach, emer-reset.

They work on a *cache* built from the view: the bridges (real ones from
Open_vSwitch.bridges, and "fake" VLAN bridges, which are ports of a real
bridge with fake_bridge=true and a tag), the ports (each attached to the
bridge that shows it: a tagged port of a real bridge belongs to the fake
bridge for that VLAN, if there is one) and the interfaces.  Names are unique
across all three, as OVS requires; conflicts are reported with OVS's words.

A command that changes the bridge/port/interface structure verifies the
columns it was built from (Open_vSwitch.bridges, Bridge.ports,
Port.interfaces), so that a concurrent change makes the transaction retry.
A write to a column the cache is built from (CACHE_COLUMNS) invalidates the
cache, and the next command rebuilds it from the view, except that add-port
and add-bond update it in place (one call adding a thousand ports must not
rebuild it a thousand times).  Other writes leave it be: its entries refer
to the view's rows, which writes change in place.
"""

from __future__ import annotations

from bisect import insort

from pyvswitch.vsctl.command import UNLIMITED, CommandSpec, ExitStatus, VsctlError
from pyvswitch.vsctl import dbcmds

# What build_cache reads: a write to anything else leaves the cache valid.
CACHE_COLUMNS = {
    "Open_vSwitch": {"bridges"},
    "Bridge": {"name", "ports"},
    "Port": {"name", "fake_bridge", "interfaces", "tag"},
    "Interface": {"name"},
}

INFO_COLUMNS = {
    "Open_vSwitch": ["bridges"],
    "Bridge": ["name", "controller", "fail_mode", "ports"],
    "Port": ["name", "fake_bridge", "interfaces", "tag"],
    "Interface": ["name", "ofport", "error"],
}


# Plain classes, not dataclasses: every ovs-vsctl call imports this module.
class VBridge:
    __slots__ = ("name", "cfg", "parent", "vlan", "port_cfg", "ports")

    def __init__(self, name: str, cfg: object, parent: VBridge | None, vlan: int, port_cfg: object = None,
                 ports: list | None = None) -> None:
        self.name = name
        self.cfg = cfg               # the Bridge row, or for a fake bridge None
        self.parent = parent
        self.vlan = vlan
        self.port_cfg = port_cfg     # for a fake bridge, the Port row that makes it
        self.ports = [] if ports is None else ports


class VPort:
    __slots__ = ("cfg", "bridge", "ifaces")

    def __init__(self, cfg: object, bridge: VBridge, ifaces: list | None = None) -> None:
        self.cfg = cfg
        self.bridge = bridge
        self.ifaces = [] if ifaces is None else ifaces


class VIface:
    __slots__ = ("cfg", "port")

    def __init__(self, cfg: object, port: VPort) -> None:
        self.cfg = cfg
        self.port = port


class Cache:
    __slots__ = ("bridges", "ports", "ifaces")

    def __init__(self) -> None:
        self.bridges: dict[str, VBridge] = {}
        self.ports: dict[str, VPort] = {}
        self.ifaces: dict[str, VIface] = {}


def _atoms(v) -> tuple:
    return v if isinstance(v, tuple) else (v,)


def _is_fake_bridge(port) -> bool:
    tag = port["tag"]
    return bool(port["fake_bridge"]) and len(tag) == 1 and 0 <= tag[0] <= 4095


def ovs_row(ctx):
    rows = ctx.view.rows("Open_vSwitch")
    return rows[0] if rows else None


def build_cache(ctx) -> Cache:
    view = ctx.view
    cache = Cache()
    ovs = ovs_row(ctx)
    if ovs is None:
        return cache
    bridges = [b for b in (view.get("Bridge", u) for u in ovs["bridges"]) if b is not None]
    for br in bridges:
        if br["name"] in cache.bridges:
            ctx.shared.warn("vsctl", f"{br['name']}: database contains duplicate bridge name")
            continue
        vb = cache.bridges[br["name"]] = VBridge(br["name"], br, None, 0)
        for port in (view.get("Port", u) for u in br["ports"]):
            if port is not None and _is_fake_bridge(port) and port["name"] not in cache.bridges:
                cache.bridges[port["name"]] = VBridge(port["name"], None, vb, port["tag"][0], port)
    for br in bridges:
        vb = cache.bridges.get(br["name"])
        if vb is None or vb.cfg is not br:
            continue
        for port in (view.get("Port", u) for u in br["ports"]):
            if port is None:
                continue
            name = port["name"]
            if name in cache.ports:
                other = cache.ports[name]
                if other.cfg is port:
                    ctx.shared.warn("vsctl", f"{name}: port is in multiple bridges "
                                             f"({vb.name} and {other.bridge.name})")
                else:
                    ctx.shared.warn("vsctl", f"{name}: database contains duplicate port name", "ERR")
                continue
            owner = vb
            tag = port["tag"]
            if len(tag) == 1 and 0 <= tag[0] <= 4095:
                for cand in cache.bridges.values():
                    if cand.parent is vb and cand.vlan == tag[0]:
                        owner = cand
                        break
            vp = cache.ports[name] = VPort(port, owner)
            owner.ports.append(vp)
            for iface in (view.get("Interface", u) for u in port["interfaces"]):
                if iface is None:
                    continue
                if iface["name"] in cache.ifaces:
                    ctx.shared.warn("vsctl", f"{iface['name']}: database contains duplicate interface name",
                                    "ERR")
                    continue
                vi = cache.ifaces[iface["name"]] = VIface(iface, vp)
                vp.ifaces.append(vi)
    return cache


def cache(ctx) -> Cache:
    shared = ctx.shared
    if shared.cache is None:
        shared.cache = build_cache(ctx)
    return shared.cache


def verify_ports(ctx) -> None:
    """Asserts the structure this command's decisions were based on.

    Once per run is enough: rows inserted since need no verification, and
    verifying a row again adds nothing."""
    if ctx.shared.ports_verified:
        return
    view = ctx.view
    ovs = ovs_row(ctx)
    if ovs is None:
        return
    ctx.shared.ports_verified = True
    view.verify(ovs, "bridges")
    for br in view.rows("Bridge"):
        view.verify(br, "ports")
    for port in view.rows("Port"):
        view.verify(port, "interfaces")


def find_bridge(ctx, name: str, must_exist: bool = True) -> VBridge | None:
    br = cache(ctx).bridges.get(name)
    if br is None and must_exist:
        raise VsctlError(f"no bridge named {name}")
    return br


def find_real_bridge(ctx, name: str, must_exist: bool = True) -> VBridge | None:
    br = find_bridge(ctx, name, must_exist)
    if br is not None and br.parent is not None:
        raise VsctlError(f"{name} is a fake bridge")
    return br


def find_port(ctx, name: str, must_exist: bool = True) -> VPort | None:
    port = cache(ctx).ports.get(name)
    if port is not None and port.bridge.name == name:
        port = None
    if port is None and must_exist:
        raise VsctlError(f"no port named {name}")
    return port


def find_iface(ctx, name: str, must_exist: bool = True) -> VIface | None:
    iface = cache(ctx).ifaces.get(name)
    if iface is not None and iface.port.bridge.name == name:
        iface = None
    if iface is None and must_exist:
        raise VsctlError(f"no interface named {name}")
    return iface


def check_conflicts(ctx, name: str, msg: str) -> None:
    c = cache(ctx)
    if name in c.bridges:
        raise VsctlError(f"{msg} because a bridge named {name} already exists")
    if name in c.ports:
        raise VsctlError(f"{msg} because a port named {name} already exists on bridge "
                         f"{c.ports[name].bridge.name}")
    if name in c.ifaces:
        raise VsctlError(f"{msg} because an interface named {name} already exists on bridge "
                         f"{c.ifaces[name].port.bridge.name}")


def _set_add(view, row, column: str, uuid: str) -> None:
    view.write(row, column, tuple(sorted(set(_atoms(row[column])) | {uuid})))


def _set_remove(view, row, column: str, uuid: str) -> None:
    view.write(row, column, tuple(u for u in _atoms(row[column]) if u != uuid))


def _changed(ctx) -> None:
    ctx.shared.invalidate_cache()


def _atoi(s: str) -> int:
    """C's atoi: leading white space, optional sign, digits; 0 if none."""
    s = s.lstrip(" \t\n\v\f\r")
    n, i, sign = 0, 0, 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        i = 1
    while i < len(s) and s[i].isdigit():
        n = n * 10 + int(s[i])
        i += 1
    return sign * n


# --- prerequisites ---

def pre_info(ctx) -> None:
    for table, cols in INFO_COLUMNS.items():
        ctx.want(table, cols)


def pre_info_ext(*extra):
    def pre(ctx) -> None:
        pre_info(ctx)
        for table, cols in extra:
            ctx.want(table, cols)
    return pre


# --- Open vSwitch commands ---

def cmd_init(ctx) -> None:
    return None


SHOW = {
    # table -> (name column, columns shown, in order)
    "Open_vSwitch": (None, ("manager_options", "bridges", "ovs_version")),
    "Bridge": ("name", ("controller", "fail_mode", "datapath_type", "ports")),
    "Port": ("name", ("tag", "trunks", "interfaces")),
    "Interface": ("name", ("type", "options", "error", "bfd_status")),
    "Controller": ("target", ("is_connected",)),
    "Manager": ("target", ("is_connected",)),
}


def pre_show(ctx) -> None:
    for table, (name_col, cols) in SHOW.items():
        ctx.want(table, [c for c in (name_col, *cols) if c])


def _show_row(ctx, row, level: int, seen: set) -> None:
    from pyvswitch.vsctl import values
    ts = ctx.schema.tables[row.table]
    name_col, cols = SHOW[row.table]
    indent = "    " * level
    if name_col is None:
        ctx.print(f"{indent}{row.uuid}")
    else:
        ctx.print(f"{indent}{row.table} {values.atom_to_string(ts.columns[name_col].type.key, row[name_col])}")
    if row.uuid in seen:
        return
    seen = seen | {row.uuid}
    for col in cols:
        ctype = ts.columns[col].type
        value = row[col]
        ref = ctype.key.ref_table
        if ref in SHOW and ctype.value is None:
            for u in _atoms(value):
                child = ctx.view.get(ref, u)
                if child is not None:
                    _show_row(ctx, child, level + 1, seen)
        elif value != ctype.default():
            ctx.print(f"{indent}    {col}: {values.datum_to_string(ctype, value)}")


def cmd_show(ctx) -> None:
    for row in ctx.view.rows("Open_vSwitch"):
        _show_row(ctx, row, 0, set())


def cmd_emer_reset(ctx) -> None:
    view = ctx.view
    ovs = ovs_row(ctx)
    if ovs is not None:
        view.write(ovs, "manager_options", ())
        view.write(ovs, "ssl", ())
    for br in view.rows("Bridge"):
        for col in ("controller", "fail_mode", "mirrors", "netflow", "sflow", "ipfix", "flood_vlans"):
            view.write(br, col, ())
        view.write(br, "other_config", tuple(p for p in br["other_config"] if p[0] == "hwaddr"))
    for port in view.rows("Port"):
        view.write(port, "other_config", ())
    for iface in view.rows("Interface"):
        view.write(iface, "ingress_policing_rate", 0)
        view.write(iface, "ingress_policing_burst", 0)
    for table in ("Mirror", "Controller", "Manager", "NetFlow", "sFlow", "IPFIX", "Flow_Sample_Collector_Set"):
        for row in view.rows(table):
            view.delete(row)
    _changed(ctx)


def pre_emer_reset(ctx) -> None:
    pre_info(ctx)
    ctx.want("Open_vSwitch", ["manager_options", "ssl"])
    ctx.want("Bridge", ["mirrors", "netflow", "sflow", "ipfix", "flood_vlans", "other_config"])
    ctx.want("Port", ["other_config"])
    ctx.want("Interface", ["ingress_policing_rate", "ingress_policing_burst"])
    for table in ("Mirror", "Controller", "Manager", "NetFlow", "sFlow", "IPFIX", "Flow_Sample_Collector_Set"):
        ctx.want(table, ())


# --- bridge commands ---

def cmd_add_br(ctx) -> None:
    args = ctx.args
    name = args[0]
    may_exist = ctx.has("--may-exist")
    if len(args) == 1:
        parent_name, vlan = None, 0
    elif len(args) == 3:
        parent_name, vlan = args[1], _atoi(args[2])
        if not 0 <= vlan <= 4095:
            raise VsctlError(f"{ctx.name}: vlan must be between 0 and 4095")
    else:
        raise VsctlError(f"'{ctx.name}' command takes exactly 1 or 3 arguments")
    verify_ports(ctx)
    if may_exist:
        br = find_bridge(ctx, name, False)
        if br is not None:
            if parent_name is None:
                if br.parent is not None:
                    raise VsctlError(f'"--may-exist add-br {name}" but {name} is a VLAN bridge for VLAN {br.vlan}')
            else:
                what = f'"--may-exist add-br {name} {parent_name} {vlan}"'
                if br.parent is None:
                    raise VsctlError(f"{what} but {name} is not a VLAN bridge")
                if br.parent.name != parent_name:
                    raise VsctlError(f"{what} but {name} has the wrong parent {br.parent.name}")
                if br.vlan != vlan:
                    raise VsctlError(f"{what} but {name} is a VLAN bridge for the wrong VLAN {br.vlan}")
            return
    check_conflicts(ctx, name, f"cannot create a bridge named {name}")
    view = ctx.view
    iface = view.insert("Interface")
    view.write(iface, "name", name)
    view.write(iface, "type", "internal")
    port = view.insert("Port")
    view.write(port, "name", name)
    view.write(port, "interfaces", (iface.uuid,))
    if parent_name is None:
        br = view.insert("Bridge")
        view.write(br, "name", name)
        view.write(br, "ports", (port.uuid,))
        _set_add(view, ovs_row(ctx), "bridges", br.uuid)
    else:
        parent = find_bridge(ctx, parent_name, False)
        if parent is None:
            raise VsctlError(f"parent bridge {parent_name} does not exist")
        if parent.parent is not None:
            raise VsctlError("cannot create bridge with fake bridge as parent")
        for child in cache(ctx).bridges.values():
            if child.parent is parent and child.vlan == vlan:
                raise VsctlError(f"bridge {parent_name} already has a child VLAN bridge {child.name} "
                                 f"on VLAN {vlan}")
        view.write(port, "fake_bridge", True)
        view.write(port, "tag", (vlan,))
        _set_add(view, parent.cfg, "ports", port.uuid)
    _changed(ctx)


def _del_port(ctx, port: VPort) -> None:
    view = ctx.view
    br = port.bridge.parent or port.bridge
    _set_remove(view, br.cfg, "ports", port.cfg.uuid)
    for iface in port.ifaces:
        view.delete(iface.cfg)
    view.delete(port.cfg)


def _del_bridge(ctx, br: VBridge) -> None:
    view = ctx.view
    for child in [b for b in cache(ctx).bridges.values() if b.parent is br]:
        _del_bridge(ctx, child)
    for port in list(br.ports):
        _del_port(ctx, port)
    if br.cfg is not None:
        view.delete(br.cfg)
        _set_remove(view, ovs_row(ctx), "bridges", br.cfg.uuid)


def cmd_del_br(ctx) -> None:
    verify_ports(ctx)
    br = find_bridge(ctx, ctx.args[0], not ctx.has("--if-exists"))
    if br is not None:
        _del_bridge(ctx, br)
        _changed(ctx)


def cmd_list_br(ctx) -> None:
    real, fake = ctx.has("--real"), ctx.has("--fake")
    if not real and not fake:
        real = fake = True
    names = sorted(b.name for b in cache(ctx).bridges.values()
                   if (real and b.parent is None) or (fake and b.parent is not None))
    for n in names:
        ctx.print(n)


def cmd_br_exists(ctx) -> None:
    if find_bridge(ctx, ctx.args[0], False) is None:
        raise ExitStatus(2)


def cmd_br_to_vlan(ctx) -> None:
    ctx.print(str(find_bridge(ctx, ctx.args[0]).vlan))


def cmd_br_to_parent(ctx) -> None:
    br = find_bridge(ctx, ctx.args[0])
    ctx.print((br.parent or br).name)


def _external_ids_row(br: VBridge):
    return (br.cfg, "") if br.cfg is not None else (br.port_cfg, "fake-bridge-")


def cmd_br_set_external_id(ctx) -> None:
    br = find_bridge(ctx, ctx.args[0])
    row, prefix = _external_ids_row(br)
    ctx.view.verify(row, "external_ids")
    key = prefix + ctx.args[1]
    pairs = dict(row["external_ids"])
    if len(ctx.args) > 2:
        pairs[key] = ctx.args[2]
    else:
        pairs.pop(key, None)
    ctx.view.write(row, "external_ids", tuple(sorted(pairs.items())))
    _changed(ctx)


def cmd_br_get_external_id(ctx) -> None:
    br = find_bridge(ctx, ctx.args[0])
    row, prefix = _external_ids_row(br)
    ctx.view.verify(row, "external_ids")
    pairs = dict(row["external_ids"])
    if len(ctx.args) > 1:
        value = pairs.get(prefix + ctx.args[1])
        if value is not None:
            ctx.print(value)
        return
    for k, v in sorted(pairs.items()):
        if k.startswith(prefix):
            ctx.print(f"{k[len(prefix):]}={v}")


# --- port and interface commands ---

def cmd_list_ports(ctx) -> None:
    br = find_bridge(ctx, ctx.args[0])
    ctx.view.verify(br.cfg or br.parent.cfg, "ports")
    for name in sorted(p.cfg["name"] for p in br.ports if p.cfg["name"] != br.name):
        ctx.print(name)


def _add_port(ctx, br_name: str, port_name: str, iface_names: list[str], settings: list[str],
              fake_iface: bool) -> None:
    verify_ports(ctx)
    if ctx.has("--may-exist"):
        port = find_port(ctx, port_name, False)
        if port is not None:
            bridge = find_bridge(ctx, br_name)
            if port.bridge is not bridge:
                raise VsctlError(f'"--may-exist add-port {br_name} {port_name}" but {port_name} is actually '
                                 f"attached to bridge {port.bridge.name}")
            want = sorted(iface_names)
            have = sorted(i.cfg["name"] for i in port.ifaces)
            if want != have:
                raise VsctlError(f'"--may-exist {" ".join([ctx.name, *ctx.args])}" but {port_name} actually '
                                 f"has interface(s) {', '.join(have)}")
            return
    check_conflicts(ctx, port_name, f"cannot create a port named {port_name}")
    for name in iface_names:
        check_conflicts(ctx, name, f"cannot create an interface named {name}")
    bridge = find_bridge(ctx, br_name)
    view = ctx.view
    ifaces = []
    for name in iface_names:
        iface = view.insert("Interface")
        view.write(iface, "name", name)
        ifaces.append(iface)
        ctx.shared.expect_iface(iface.uuid)
    port = view.insert("Port")
    view.write(port, "name", port_name)
    view.write(port, "interfaces", tuple(sorted(i.uuid for i in ifaces)))
    if fake_iface:
        view.write(port, "bond_fake_iface", True)
    if bridge.parent is not None:
        view.write(port, "tag", (bridge.vlan,))
    port_ts = ctx.schema.tables["Port"]
    restructured = False
    for setting in settings:
        restructured |= dbcmds.set_column(ctx, port_ts, port, setting) in CACHE_COLUMNS["Port"]
    _set_add(view, (bridge.parent or bridge).cfg, "ports", port.uuid)
    c = ctx.shared.cache
    if c is None or restructured or bridge.parent is not None:
        _changed(ctx)
        return
    # As build_cache would place them: the bridge's ports in uuid order.
    vp = c.ports[port_name] = VPort(port, bridge)
    insort(bridge.ports, vp, key=lambda p: p.cfg.uuid)
    for iface in ifaces:
        vi = c.ifaces[iface["name"]] = VIface(iface, vp)
        insort(vp.ifaces, vi, key=lambda i: i.cfg.uuid)


def pre_add_port(ctx) -> None:
    pre_info(ctx)
    ts = ctx.schema.tables["Port"]
    first = 2 if ctx.name == "add-port" else 3
    for arg in ctx.args[first:]:
        if ctx.name == "add-bond" and "=" not in arg:
            continue
        column, _, _, _ = dbcmds.parse_column_key_value(arg, ts, ("=",))
        if column != "_uuid":
            ctx.want("Port", [column])


def cmd_add_port(ctx) -> None:
    _add_port(ctx, ctx.args[0], ctx.args[1], [ctx.args[1]], ctx.args[2:], False)


def cmd_add_bond(ctx) -> None:
    args = ctx.args
    n = 2
    while n < len(args) and "=" not in args[n]:
        n += 1
    ifaces = args[2:n]
    if len(ifaces) < 2:
        raise VsctlError(f"add-bond requires at least 2 interfaces, but only {len(ifaces)} were specified")
    _add_port(ctx, args[0], args[1], ifaces, args[n:], ctx.has("--fake-iface"))


def cmd_del_port(ctx) -> None:
    verify_ports(ctx)
    target = ctx.args[-1]
    must_exist = not ctx.has("--if-exists")
    if ctx.has("--with-iface"):
        port = find_port(ctx, target, False)
        if port is None:
            iface = find_iface(ctx, target, False)
            port = iface.port if iface is not None else None
        if port is None and must_exist:
            raise VsctlError(f"no port or interface named {target}")
    else:
        port = find_port(ctx, target, must_exist)
    if port is None:
        return
    if len(ctx.args) == 2:
        bridge = find_bridge(ctx, ctx.args[0])
        if port.bridge is not bridge:
            if port.bridge.parent is bridge:
                raise VsctlError(f"bridge {bridge.name} does not have a port {target} (although its child "
                                 f"bridge {port.bridge.name} does)")
            raise VsctlError(f"bridge {bridge.name} does not have a port {target}")
    _del_port(ctx, port)
    _changed(ctx)


def cmd_port_to_br(ctx) -> None:
    ctx.print(find_port(ctx, ctx.args[0]).bridge.name)


def cmd_list_ifaces(ctx) -> None:
    br = find_bridge(ctx, ctx.args[0])
    names = sorted(i.cfg["name"] for p in br.ports for i in p.ifaces if i.cfg["name"] != br.name)
    for name in names:
        ctx.print(name)


def cmd_iface_to_br(ctx) -> None:
    ctx.print(find_iface(ctx, ctx.args[0]).port.bridge.name)


def cmd_add_bond_iface(ctx) -> None:
    verify_ports(ctx)
    port = find_port(ctx, ctx.args[0])
    name = ctx.args[1]
    if ctx.has("--may-exist"):
        iface = find_iface(ctx, name, False)
        if iface is not None:
            if iface.port is port:
                return
            raise VsctlError(f'"--may-exist add-bond-iface {ctx.args[0]} {name}" but {name} is actually '
                             f"attached to port {iface.port.cfg['name']}")
    check_conflicts(ctx, name, f"cannot create an interface named {name}")
    view = ctx.view
    iface = view.insert("Interface")
    view.write(iface, "name", name)
    ctx.shared.expect_iface(iface.uuid)
    _set_add(view, port.cfg, "interfaces", iface.uuid)
    _changed(ctx)


def cmd_del_bond_iface(ctx) -> None:
    verify_ports(ctx)
    iface = find_iface(ctx, ctx.args[-1], not ctx.has("--if-exists"))
    if iface is None:
        return
    port = iface.port
    if len(ctx.args) == 2:
        bond = find_port(ctx, ctx.args[0])
        if bond is not port:
            raise VsctlError(f"port {ctx.args[0]} does not have an interface {ctx.args[1]}")
    if len(port.ifaces) == 1:
        raise VsctlError(f"cannot delete last interface from port {port.cfg['name']}")
    _set_remove(ctx.view, port.cfg, "interfaces", iface.cfg.uuid)
    ctx.view.delete(iface.cfg)
    _changed(ctx)


# --- controllers and fail mode ---

def _print_targets(ctx, table: str, uuids) -> None:
    targets = sorted(r["target"] for r in (ctx.view.get(table, u) for u in _atoms(uuids)) if r is not None)
    for t in targets:
        ctx.print(t)


def cmd_get_controller(ctx) -> None:
    br = find_bridge(ctx, ctx.args[0])
    br = br.parent or br
    ctx.view.verify(br.cfg, "controller")
    _print_targets(ctx, "Controller", br.cfg["controller"])


def _delete_refs(ctx, table: str, uuids) -> None:
    for u in _atoms(uuids):
        row = ctx.view.get(table, u)
        if row is not None:
            ctx.view.delete(row)


def cmd_del_controller(ctx) -> None:
    br = find_real_bridge(ctx, ctx.args[0])
    ctx.view.verify(br.cfg, "controller")
    _delete_refs(ctx, "Controller", br.cfg["controller"])
    ctx.view.write(br.cfg, "controller", ())
    _changed(ctx)


def _insert_targets(ctx, table: str, targets: list[str]) -> tuple:
    probe = ctx.options.get("--inactivity-probe")
    uuids = []
    for target in targets:
        row = ctx.view.insert(table)
        ctx.view.write(row, "target", target)
        if probe is not None:
            ctx.view.write(row, "inactivity_probe", (_atoi(probe),))
        uuids.append(row.uuid)
    return tuple(sorted(uuids))


def cmd_set_controller(ctx) -> None:
    br = find_real_bridge(ctx, ctx.args[0])
    ctx.view.verify(br.cfg, "controller")
    _delete_refs(ctx, "Controller", br.cfg["controller"])
    ctx.view.write(br.cfg, "controller", _insert_targets(ctx, "Controller", ctx.args[1:]))
    _changed(ctx)


def cmd_get_fail_mode(ctx) -> None:
    br = find_bridge(ctx, ctx.args[0])
    br = br.parent or br
    ctx.view.verify(br.cfg, "fail_mode")
    for mode in _atoms(br.cfg["fail_mode"]):
        ctx.print(mode)


def cmd_del_fail_mode(ctx) -> None:
    br = find_real_bridge(ctx, ctx.args[0])
    ctx.view.write(br.cfg, "fail_mode", ())
    _changed(ctx)


def cmd_set_fail_mode(ctx) -> None:
    br = find_real_bridge(ctx, ctx.args[0])
    mode = ctx.args[1]
    if mode not in ("standalone", "secure"):
        raise VsctlError('fail-mode must be "standalone" or "secure"')
    ctx.view.write(br.cfg, "fail_mode", (mode,))
    _changed(ctx)


# --- managers and SSL ---

def cmd_get_manager(ctx) -> None:
    ovs = ovs_row(ctx)
    ctx.view.verify(ovs, "manager_options")
    _print_targets(ctx, "Manager", ovs["manager_options"])


def cmd_del_manager(ctx) -> None:
    ovs = ovs_row(ctx)
    ctx.view.verify(ovs, "manager_options")
    _delete_refs(ctx, "Manager", ovs["manager_options"])
    ctx.view.write(ovs, "manager_options", ())
    _changed(ctx)


def cmd_set_manager(ctx) -> None:
    ovs = ovs_row(ctx)
    ctx.view.verify(ovs, "manager_options")
    _delete_refs(ctx, "Manager", ovs["manager_options"])
    ctx.view.write(ovs, "manager_options", _insert_targets(ctx, "Manager", ctx.args))
    _changed(ctx)


def cmd_get_ssl(ctx) -> None:
    ovs = ovs_row(ctx)
    ctx.view.verify(ovs, "ssl")
    for u in _atoms(ovs["ssl"]):
        ssl = ctx.view.get("SSL", u)
        if ssl is not None:
            ctx.print(f"Private key: {ssl['private_key']}")
            ctx.print(f"Certificate: {ssl['certificate']}")
            ctx.print(f"CA Certificate: {ssl['ca_cert']}")
            ctx.print(f"Bootstrap: {'true' if ssl['bootstrap_ca_cert'] else 'false'}")


def cmd_del_ssl(ctx) -> None:
    ovs = ovs_row(ctx)
    ctx.view.verify(ovs, "ssl")
    _delete_refs(ctx, "SSL", ovs["ssl"])
    ctx.view.write(ovs, "ssl", ())
    _changed(ctx)


def cmd_set_ssl(ctx) -> None:
    ovs = ovs_row(ctx)
    ctx.view.verify(ovs, "ssl")
    _delete_refs(ctx, "SSL", ovs["ssl"])
    ssl = ctx.view.insert("SSL")
    for col, value in zip(("private_key", "certificate", "ca_cert"), ctx.args):
        ctx.view.write(ssl, col, value)
    ctx.view.write(ssl, "bootstrap_ca_cert", ctx.has("--bootstrap"))
    ctx.view.write(ovs, "ssl", (ssl.uuid,))
    _changed(ctx)


# --- auto-attach ---

def _aa_args(ctx) -> tuple[VBridge, int, int]:
    br = find_real_bridge(ctx, ctx.args[0])
    return br, _atoi(ctx.args[1]), _atoi(ctx.args[2])


def cmd_add_aa_mapping(ctx) -> None:
    br, isid, vlan = _aa_args(ctx)
    view = ctx.view
    aa = view.get("AutoAttach", br.cfg["auto_attach"][0]) if br.cfg["auto_attach"] else None
    if aa is None:
        aa = view.insert("AutoAttach")
        view.write(br.cfg, "auto_attach", (aa.uuid,))
    pairs = dict(aa["mappings"])
    pairs[isid] = vlan
    view.write(aa, "mappings", tuple(sorted(pairs.items())))
    _changed(ctx)


def cmd_del_aa_mapping(ctx) -> None:
    br, isid, vlan = _aa_args(ctx)
    aa = ctx.view.get("AutoAttach", br.cfg["auto_attach"][0]) if br.cfg["auto_attach"] else None
    if aa is not None:
        ctx.view.write(aa, "mappings", tuple(p for p in aa["mappings"] if p != (isid, vlan)))
        _changed(ctx)


def cmd_get_aa_mapping(ctx) -> None:
    br = find_real_bridge(ctx, ctx.args[0])
    aa = ctx.view.get("AutoAttach", br.cfg["auto_attach"][0]) if br.cfg["auto_attach"] else None
    if aa is not None:
        for isid, vlan in aa["mappings"]:
            ctx.print(f"{isid} {vlan}")


# --- datapath capabilities and conntrack zone timeout policies ---

def _datapath(ctx, name: str):
    ovs = ovs_row(ctx)
    pairs = dict(ovs["datapaths"]) if ovs is not None else {}
    return ctx.view.get("Datapath", pairs[name]) if name in pairs else None


def _zone_id(arg: str) -> int:
    if not arg.startswith("zone=") or not arg[5:].isdigit() or int(arg[5:]) > 65535:
        raise VsctlError(f'{arg}: expected "zone=" followed by a zone id between 0 and 65535')
    return int(arg[5:])


def cmd_list_dp_cap(ctx) -> None:
    dp = _datapath(ctx, ctx.args[0])
    if dp is None:
        raise VsctlError(f'datapath "{ctx.args[0]}" record not found')
    for k, v in dp["capabilities"]:
        ctx.print(f"{k}={v}")


def cmd_list_zone_tp(ctx) -> None:
    dp = _datapath(ctx, ctx.args[0])
    if dp is None:
        raise VsctlError(f"datapath: {ctx.args[0]} record not found")
    for zone_id, zone_uuid in dp["ct_zones"]:
        zone = ctx.view.get("CT_Zone", zone_uuid)
        tp = ctx.view.get("CT_Timeout_Policy", zone["timeout_policy"][0]) \
            if zone is not None and zone["timeout_policy"] else None
        policies = " ".join(f"{k}={v}" for k, v in tp["timeouts"]) if tp is not None else ""
        ctx.print(f"Zone:{zone_id}, Timeout Policies: {policies}")


def cmd_add_zone_tp(ctx) -> None:
    dp = _datapath(ctx, ctx.args[0])
    if dp is None:
        raise VsctlError(f"datapath {ctx.args[0]} does not exist")
    zone_id = _zone_id(ctx.args[1])
    timeouts = {}
    for arg in ctx.args[2:]:
        k, _, v = arg.partition("=")
        timeouts[k] = _atoi(v)
    timeouts = tuple(sorted(timeouts.items()))
    view = ctx.view
    zones = dict(dp["ct_zones"])
    if zone_id in zones:
        if not ctx.has("--may-exist"):
            raise VsctlError(f"zone id {zone_id} already exists")
        zone = view.get("CT_Zone", zones[zone_id])
        tp = view.get("CT_Timeout_Policy", zone["timeout_policy"][0]) if zone["timeout_policy"] else None
        if tp is not None:
            view.write(tp, "timeouts", timeouts)
            return
    else:
        zone = view.insert("CT_Zone")
    tp = view.insert("CT_Timeout_Policy")
    view.write(tp, "timeouts", timeouts)
    view.write(zone, "timeout_policy", (tp.uuid,))
    zones[zone_id] = zone.uuid
    view.write(dp, "ct_zones", tuple(sorted(zones.items())))


def cmd_del_zone_tp(ctx) -> None:
    dp = _datapath(ctx, ctx.args[0])
    if dp is None:
        raise VsctlError(f"datapath {ctx.args[0]} does not exist")
    zone_id = _zone_id(ctx.args[1])
    zones = dict(dp["ct_zones"])
    if zone_id not in zones:
        if not ctx.has("--if-exists"):
            raise VsctlError(f"zone id {zone_id} does not exist")
        return
    del zones[zone_id]
    ctx.view.write(dp, "ct_zones", tuple(sorted(zones.items())))


_pre_dp = pre_info_ext(("Open_vSwitch", ["datapaths"]), ("Datapath", ["capabilities", "ct_zones"]),
                       ("CT_Zone", ["timeout_policy"]), ("CT_Timeout_Policy", ["timeouts"]))
_pre_ext = pre_info_ext(("Bridge", ["external_ids"]), ("Port", ["external_ids"]))
_pre_mgr = pre_info_ext(("Open_vSwitch", ["manager_options"]), ("Manager", ["target"]))
_pre_ssl = pre_info_ext(("Open_vSwitch", ["ssl"]),
                        ("SSL", ["private_key", "certificate", "ca_cert", "bootstrap_ca_cert"]))
_pre_ctl = pre_info_ext(("Controller", ["target"]))
_pre_aa = pre_info_ext(("Bridge", ["auto_attach"]), ("AutoAttach", ["mappings"]))

C = CommandSpec.make
COMMANDS = (
    C("init", "", cmd_init, pre_info),
    C("show", "", cmd_show, pre_show, read_only=True),
    C("emer-reset", "", cmd_emer_reset, pre_emer_reset),
    C("add-br", "!NEW-BRIDGE ?PARENT ?NEW-VLAN", cmd_add_br, pre_info, options="--may-exist"),
    C("del-br", "!BRIDGE", cmd_del_br, pre_info, options="--if-exists"),
    C("list-br", "", cmd_list_br, pre_info, options="--real,--fake", read_only=True),
    C("br-exists", "!BRIDGE", cmd_br_exists, pre_info, read_only=True),
    C("br-to-vlan", "!BRIDGE", cmd_br_to_vlan, pre_info, read_only=True),
    C("br-to-parent", "!BRIDGE", cmd_br_to_parent, pre_info, read_only=True),
    C("br-set-external-id", "!BRIDGE !KEY ?VALUE", cmd_br_set_external_id, _pre_ext),
    C("br-get-external-id", "!BRIDGE ?KEY", cmd_br_get_external_id, _pre_ext, read_only=True),
    C("list-ports", "!BRIDGE", cmd_list_ports, pre_info, read_only=True),
    C("add-port", "!BRIDGE !NEW-PORT *COLUMN?:KEY=VALUE", cmd_add_port, pre_add_port, options="--may-exist"),
    C("add-bond", "!BRIDGE !BOND +IFACE *COLUMN?:KEY=VALUE", cmd_add_bond, pre_add_port,
      options="--may-exist,--fake-iface"),
    C("add-bond-iface", "!BOND !IFACE", cmd_add_bond_iface, pre_info, options="--may-exist"),
    C("del-bond-iface", "?BOND !IFACE", cmd_del_bond_iface, pre_info, options="--if-exists"),
    C("del-port", "?BRIDGE !PORT|IFACE", cmd_del_port, pre_info, options="--if-exists,--with-iface"),
    C("port-to-br", "!PORT", cmd_port_to_br, pre_info, read_only=True),
    C("list-ifaces", "!BRIDGE", cmd_list_ifaces, pre_info, read_only=True),
    C("iface-to-br", "!IFACE", cmd_iface_to_br, pre_info, read_only=True),
    C("get-controller", "!BRIDGE", cmd_get_controller, _pre_ctl, read_only=True),
    C("del-controller", "!BRIDGE", cmd_del_controller, _pre_ctl),
    C("set-controller", "!BRIDGE +TARGET", cmd_set_controller, _pre_ctl, options="--inactivity-probe="),
    C("get-fail-mode", "!BRIDGE", cmd_get_fail_mode, pre_info, read_only=True),
    C("del-fail-mode", "!BRIDGE", cmd_del_fail_mode, pre_info),
    C("set-fail-mode", "!BRIDGE !MODE", cmd_set_fail_mode, pre_info),
    C("get-manager", "", cmd_get_manager, _pre_mgr, read_only=True),
    C("del-manager", "", cmd_del_manager, _pre_mgr),
    C("set-manager", "+TARGET", cmd_set_manager, _pre_mgr, options="--inactivity-probe="),
    C("get-ssl", "", cmd_get_ssl, _pre_ssl, read_only=True),
    C("del-ssl", "", cmd_del_ssl, _pre_ssl),
    C("set-ssl", "!PRIVATE-KEY !CERTIFICATE !CA-CERT", cmd_set_ssl, _pre_ssl, options="--bootstrap"),
    C("add-aa-mapping", "!BRIDGE !ARG !ARG", cmd_add_aa_mapping, _pre_aa),
    C("del-aa-mapping", "!BRIDGE !ARG !ARG", cmd_del_aa_mapping, _pre_aa),
    C("get-aa-mapping", "!BRIDGE", cmd_get_aa_mapping, _pre_aa, read_only=True),
    C("add-zone-tp", "", cmd_add_zone_tp, _pre_dp, options="--may-exist", n_args=(3, UNLIMITED)),
    C("del-zone-tp", "", cmd_del_zone_tp, _pre_dp, options="--if-exists", n_args=(2, 2)),
    C("list-zone-tp", "", cmd_list_zone_tp, _pre_dp, read_only=True, n_args=(1, 1)),
    C("list-dp-cap", "", cmd_list_dp_cap, _pre_dp, read_only=True, n_args=(1, 1)),
)
