"""The config model, the reconciler and the status diff, pure: fake snapshots in,
expected effects and updates out."""

from __future__ import annotations

from pyvswitch.ofproto.vlan import VlanConfig, VlanMode
from pyvswitch.vswitchd.config import Dummy, SwitchConfig, desired_state
from pyvswitch.vswitchd.reconcile import (
    AddInterface, ConfigureBridge, ConfigureInterface, CreateBridge, DestroyBridge,
    RemoveInterface, reconcile,
)
from pyvswitch.vswitchd.status import (
    BridgeStatus, InterfaceStatus, StatusMemo, failed, status_updates,
)


class Snapshot:
    """Builds IDL-shaped tables: {table: {uuid: {column: datum}}}."""

    def __init__(self, next_cfg: int = 1) -> None:
        self.n = 0
        self.tables = {"Open_vSwitch": {"ovs": {"bridges": (), "next_cfg": next_cfg}},
                       "Bridge": {}, "Port": {}, "Interface": {}}

    def _uuid(self) -> str:
        self.n += 1
        return f"u{self.n}"

    def bridge(self, name, **cols):
        u = self._uuid()
        row = {"name": name, "ports": (), "datapath_type": "", "fail_mode": (),
               "flood_vlans": (), "other_config": ()}
        row.update(cols)
        self.tables["Bridge"][u] = row
        ovs = self.tables["Open_vSwitch"]["ovs"]
        ovs["bridges"] = tuple(sorted(ovs["bridges"] + (u,)))
        self.port(name, name, type="internal")
        return u

    def port(self, bridge, name, *, tag=(), trunks=(), vlan_mode=(), ifaces=None, **iface_cols):
        pu = self._uuid()
        iuuids = []
        for iname in (ifaces or [name]):
            iu = self._uuid()
            row = {"name": iname, "type": "", "options": (), "ofport_request": (),
                   "mtu_request": (), "ofport": ()}
            row.update(iface_cols)
            self.tables["Interface"][iu] = row
            iuuids.append(iu)
        self.tables["Port"][pu] = {"name": name, "interfaces": tuple(iuuids), "tag": tag,
                                   "trunks": trunks, "vlan_mode": vlan_mode}
        for br in self.tables["Bridge"].values():
            if br["name"] == bridge:
                br["ports"] = tuple(sorted(br["ports"] + (pu,)))
        return pu

    def drop_port(self, name):
        for pu, p in list(self.tables["Port"].items()):
            if p["name"] == name:
                for br in self.tables["Bridge"].values():
                    br["ports"] = tuple(u for u in br["ports"] if u != pu)

    def iface(self, name):
        return next(r for r in self.tables["Interface"].values() if r["name"] == name)

    def state(self, dummy=Dummy.OFF):
        return desired_state(self.tables, dummy)


def test_model_reads_bridge_port_interface_settings():
    s = Snapshot(next_cfg=7)
    s.bridge("br0", datapath_type="netdev", fail_mode=("secure",), flood_vlans=(10, 20),
             other_config=(("datapath-id", "00000000000000aa"), ("hwaddr", "02:00:00:00:00:01"),
                           ("mac-aging-time", "60"), ("mac-table-size", "100")))
    s.port("br0", "p1", tag=(10,), type="dummy", ofport_request=(5,), mtu_request=(9000,))
    s.port("br0", "p2", trunks=(10, 20), vlan_mode=("native-untagged",))
    s.port("br0", "pa", type="patch", options=(("peer", "pb"),))
    st = s.state()
    assert st.next_cfg == 7
    br = st.bridges["br0"]
    assert (br.datapath_type, br.fail_mode, br.flood_vlans) == ("netdev", "secure", frozenset({10, 20}))
    assert (br.datapath_id, br.hwaddr, br.mac_aging_time, br.mac_table_size) == \
        (0xaa, bytes([2, 0, 0, 0, 0, 1]), 60, 100)
    assert br.local.name == "br0" and br.local.type == "internal"
    assert sorted(br.interfaces) == ["p1", "p2", "pa"]
    p1 = br.interfaces["p1"]
    assert (p1.type, p1.ofport_request, p1.mtu_request, p1.vlan) == ("dummy", 5, 9000, VlanConfig(tag=10))
    assert br.interfaces["p2"].type == "system"
    assert br.interfaces["p2"].vlan == VlanConfig(trunks=frozenset({10, 20}),
                                                  vlan_mode=VlanMode.NATIVE_UNTAGGED)
    assert br.interfaces["pa"].peer == "pb"


def test_override_turns_system_and_internal_into_dummy():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "p1")
    st = s.state(Dummy.OVERRIDE)
    assert st.bridges["br0"].interfaces["p1"].type == "dummy"
    assert st.bridges["br0"].local.type == "dummy"
    st = s.state(Dummy.SYSTEM)
    assert st.bridges["br0"].interfaces["p1"].type == "dummy"
    assert st.bridges["br0"].local.type == "internal"
    assert s.state(Dummy.ON).bridges["br0"].interfaces["p1"].type == "system"


def test_bond_members_are_all_interfaces_of_one_bond():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "bond0", ifaces=["e1", "e2"])
    br = s.state().bridges["br0"]
    assert br.interfaces["e1"].error is None and br.interfaces["e2"].error is None
    assert br.interfaces["e2"].port == "bond0" and br.bonds["bond0"].members == ("e1", "e2")


def test_from_nothing_creates_bridge_then_interfaces():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "p1")
    effects = reconcile(SwitchConfig({}), s.state())
    assert [type(e) for e in effects] == [CreateBridge, AddInterface]
    assert effects[1].config.name == "p1"
    assert reconcile(s.state(), s.state()) == []


def test_adding_a_port_touches_only_that_port():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "p1")
    before = s.state()
    s.port("br0", "p2", tag=(3,))
    effects = reconcile(before, s.state())
    assert effects == [AddInterface("br0", s.state().bridges["br0"].interfaces["p2"])]


def test_deletions_come_before_additions():
    s = Snapshot()
    s.bridge("br0")
    s.bridge("br1")
    s.port("br0", "p1")
    before = s.state()
    s.drop_port("p1")
    s.port("br1", "p1")                          # p1 moves to br1
    effects = reconcile(before, s.state())
    assert effects == [RemoveInterface("br0", "p1"),
                       AddInterface("br1", s.state().bridges["br1"].interfaces["p1"])]


def test_in_place_changes_do_not_reopen():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "p1", tag=(10,))
    before = s.state()
    next(p for p in s.tables["Port"].values() if p["name"] == "p1")["tag"] = (20,)
    s.iface("p1")["ofport"] = (4,)                # status: not a configuration change
    effects = reconcile(before, s.state())
    assert [type(e) for e in effects] == [ConfigureInterface]
    assert effects[0].config.vlan == VlanConfig(tag=20)
    s.iface("p1")["type"] = "internal"            # a new netdev type reopens
    effects = reconcile(before, s.state())
    assert [type(e) for e in effects] == [RemoveInterface, AddInterface]


def test_bridge_settings_and_datapath_change():
    s = Snapshot()
    u = s.bridge("br0")
    before = s.state()
    s.tables["Bridge"][u]["fail_mode"] = ("secure",)
    assert [type(e) for e in reconcile(before, s.state())] == [ConfigureBridge]
    s.tables["Bridge"][u]["datapath_type"] = "netdev"
    assert [type(e) for e in reconcile(before, s.state())] == [DestroyBridge, CreateBridge]


def test_removing_a_bridge():
    s = Snapshot()
    s.bridge("br0")
    before = s.state()
    s.tables["Open_vSwitch"]["ovs"]["bridges"] = ()
    assert reconcile(before, s.state()) == [DestroyBridge("br0")]


def test_status_updates_only_what_differs():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "p1")
    s.port("br0", "p9")
    for r in s.tables["Interface"].values():
        r.update(error=(), mac_in_use=(), ifindex=(), link_state=(), admin_state=(), mtu=(),
                 statistics=())
    for r in s.tables["Bridge"].values():
        r.update(datapath_id=(), datapath_version="")
    s.tables["Open_vSwitch"]["ovs"]["cur_cfg"] = 0
    ok = InterfaceStatus(ofport=1, mac_in_use="aa:55:aa:55:00:0f", ifindex=0, link_state="up",
                         admin_state="up", mtu=1500, statistics=(("rx_packets", 0),))
    ifaces = {"p1": ok, "p9": failed("could not open network device p9 (No such device)")}
    ups = status_updates(s.tables, ifaces, {"br0": BridgeStatus(0xaa)}, {"cur_cfg": 1})
    by = {(t, s.tables[t][u]["name"] if t != "Open_vSwitch" else "ovs"): c for t, u, c in ups}
    assert by[("Interface", "p1")]["ofport"] == (1,)
    assert by[("Interface", "p1")]["statistics"] == (("rx_packets", 0),)
    assert by[("Interface", "p9")] == {"ofport": (-1,),
                                       "error": ("could not open network device p9 (No such device)",)}
    assert by[("Bridge", "br0")] == {"datapath_id": ("00000000000000aa",),
                                     "datapath_version": "<built-in>"}
    assert by[("Open_vSwitch", "ovs")] == {"cur_cfg": 1}
    # once written, nothing more to write
    for t, u, cols in ups:
        s.tables[t][u].update(cols)
    assert status_updates(s.tables, ifaces, {"br0": BridgeStatus(0xaa)}, {"cur_cfg": 1}) == []
    # statistics not sampled this time: left alone
    quiet = {"p1": InterfaceStatus(ofport=1, mac_in_use="aa:55:aa:55:00:0f", ifindex=0,
                                   link_state="up", admin_state="up", mtu=1500)}
    assert status_updates(s.tables, quiet, {}, {}) == []


def test_status_memo_skips_only_rows_known_to_hold_their_status():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "p1")
    s.port("br0", "p2")
    for r in s.tables["Interface"].values():
        r.update(error=(), mac_in_use=(), link_state=("down",))
    uuid = {r["name"]: u for u, r in s.tables["Interface"].items() if r["name"] != "br0"}
    up = {n: InterfaceStatus(ofport=1, link_state="up") for n in ("p1", "p2")}
    down = {n: InterfaceStatus(ofport=1, link_state="down") for n in ("p1", "p2")}
    memo = StatusMemo()
    first = status_updates(s.tables, up, {}, {}, memo)
    assert sorted(u for _, u, _ in first) == sorted(uuid.values())
    # The write failed: the rows are unchanged, and still need the same update.
    assert status_updates(s.tables, up, {}, {}, memo) == first
    # Written: the replica replaces each row with a new dict; then nothing to write.
    for t, u, cols in first:
        s.tables[t][u] = {**s.tables[t][u], **cols}
    assert status_updates(s.tables, up, {}, {}, memo) == []
    assert len(memo.rows) == 2
    # The same rows and statuses again: skipped without comparing (a row edited in
    # place, which the replica never does, shows that no comparison happened).
    s.tables["Interface"][uuid["p1"]]["link_state"] = ("bogus",)
    assert status_updates(s.tables, up, {}, {}, memo) == []
    # A new status, or a row replaced by someone else's change, is compared again.
    assert [u for _, u, _ in status_updates(s.tables, {"p2": down["p2"]}, {}, {}, memo)] == \
        [uuid["p2"]]
    s.tables["Interface"][uuid["p1"]] = {**s.tables["Interface"][uuid["p1"]]}
    assert status_updates(s.tables, up, {}, {}, memo) == \
        [("Interface", uuid["p1"], {"link_state": ("up",)})]
    # An interface no longer reported is forgotten.
    status_updates(s.tables, {}, {}, {}, memo)
    assert memo.rows == {}


def test_linux_statistics_names_and_tap_swap():
    from pyvswitch.vswitchd.status import linux_statistics
    counters = {"rx_packets": 1, "tx_packets": 2, "rx_bytes": 10, "tx_bytes": 20, "multicast": 3,
                "rx_crc_errors": 0, "collisions": 0}
    system = dict(linux_statistics(counters, tap=False))
    assert system == {"rx_packets": 1, "tx_packets": 2, "rx_bytes": 10, "tx_bytes": 20,
                      "rx_multicast_packets": 3, "rx_crc_err": 0, "collisions": 0}
    tap = dict(linux_statistics(counters, tap=True))
    assert (tap["rx_packets"], tap["tx_packets"], tap["rx_bytes"]) == (2, 1, 20)


def test_virtual_ports_without_required_options_are_errors():
    s = Snapshot()
    s.bridge("br0")
    s.port("br0", "pz", type="patch")
    s.port("br0", "pself", type="patch", options=(("peer", "pself"),))
    s.port("br0", "vx", type="vxlan")
    s.port("br0", "vy", type="vxlan", options=(("remote_ip", "192.0.2.1"),))
    ifs = s.state().bridges["br0"].interfaces
    assert ifs["pz"].error == "pz: patch type requires valid 'peer' argument"
    assert ifs["pself"].error == "pself: patch type requires valid 'peer' argument"
    assert ifs["vx"].error == "vx: vxlan type requires valid 'remote_ip' argument"
    assert ifs["vy"].error is None


def test_bridge_dump_flows_line_format():
    """bridge/dump-flows lines, as ovs-vswitchd 3.1 prints them."""
    from pyvswitch.ofproto.flow_table import Rule
    from pyvswitch.ofproto.ofproto import parse_flow
    from pyvswitch.vswitchd.appctl import format_flow_stats

    spec = parse_flow("priority=0,actions=NORMAL")
    rule = Rule(spec.match, spec.priority, spec.actions, now=10.0)
    assert format_flow_stats(rule, 12.7) == \
        "duration=2s, n_packets=0, n_bytes=0, priority=0,actions=NORMAL"
    spec = parse_flow("table=254,priority=2,ip,actions=drop")
    rule = Rule(spec.match, spec.priority, spec.actions, table_id=254, now=0.0)
    assert format_flow_stats(rule, 0.0) == \
        "table_id=254, duration=0s, n_packets=0, n_bytes=0, priority=2,ip,actions=drop"
