"""Bonds through the daemons: ovs-vsctl add-bond, bond/* and lacp/show, Port
bond_active_slave, frames on dummy members (netdev-dummy/receive)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import DbServer, dummy_vswitchd
from util import have_reference, wait_until

from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.ofproto.bond import BondMode, Lacp
from pyvswitch.ofproto.ofproto import Backer
from pyvswitch.vswitchd.bonds import Bonds, port_updates
from pyvswitch.vswitchd.config import desired_state


@pytest.fixture
def db():
    s = DbServer("ours")
    yield s
    s.close()


def bonded(db, *bond_args):
    db.start_vswitchd("--enable-dummy=override")
    db.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev",
             "--", "add-port", "br0", "p1", "--", "set", "interface", "p1", "ofport_request=1",
             "--", "add-bond", "br0", "bond0", "e1", "e2", *bond_args)


def test_config_reads_bond_columns():
    tables = {"Open_vSwitch": {"o": {"bridges": ("b",), "next_cfg": 1}},
              "Bridge": {"b": {"name": "br0", "ports": ("p",)}},
              "Port": {"p": {"name": "bond0", "interfaces": ("i1", "i2"),
                             "bond_mode": "balance-tcp", "bond_updelay": 200,
                             "bond_downdelay": 100, "lacp": ("active",),
                             "bond_active_slave": ("aa:55:aa:55:00:02",),
                             "other_config": (("lacp-fallback-ab", "true"),
                                              ("bond-hash-basis", "7"),
                                              ("bond-rebalance-interval", "0"))}},
              "Interface": {"i1": {"name": "e1"}, "i2": {"name": "e2"}}}
    bc = desired_state(tables).bridges["br0"].bonds["bond0"]
    s = bc.settings
    assert bc.members == ("e1", "e2") and bc.active_hint == bytes.fromhex("aa55aa550002")
    assert (s.mode, s.updelay, s.downdelay, s.lacp, s.lacp_fallback_ab, s.hash_basis,
            s.rebalance_interval) == (BondMode.BALANCE_TCP, 200, 100, Lacp.ACTIVE, True, 7, 0)
    tables["Port"]["p"]["bond_mode"] = "bogus"
    assert desired_state(tables).bridges["br0"].bonds["bond0"].settings.mode is \
        BondMode.ACTIVE_BACKUP


def test_port_updates():
    tables = {"Port": {"u1": {"name": "bond0", "bond_active_slave": ()},
                       "u2": {"name": "p1", "bond_active_slave": ("aa:55:aa:55:00:01",)},
                       "u3": {"name": "bond1", "bond_active_slave": ("aa:55:aa:55:00:02",)}},
              "Interface": {"i1": {"name": "e1", "lacp_current": ()},
                            "i2": {"name": "e2", "lacp_current": (False,)},
                            "i3": {"name": "p1", "lacp_current": (True,)}}}
    assert port_updates(tables, {"bond0": "aa:55:aa:55:00:03", "bond1": "aa:55:aa:55:00:02"},
                        {"e1": True, "e2": False}) == [
        ("Interface", "i1", {"lacp_current": (True,)}),
        ("Interface", "i3", {"lacp_current": ()}),
        ("Port", "u1", {"bond_active_slave": ("aa:55:aa:55:00:03",)}),
        ("Port", "u2", {"bond_active_slave": ()})]


class _LinkSwitch:
    """What Bonds needs of the Switch, with Linux members whose carrier the test sets."""

    def __init__(self, br, members):
        self.br = br
        self.netdevs = {m: SimpleNamespace(type="system") for m in members}
        self.up = {m: True for m in members}
        self.polls = 0

    def bridge(self, name):
        return self.br if name == self.br.name else None

    def mac(self, name):
        return bytes((2, 0, 0, 0, 0, {"e1": 1, "e2": 2}.get(name, 9)))

    def carrier(self, name):
        return self.up[name]

    def poll_links(self, full=False):
        self.polls += 1


def test_member_carrier_comes_from_link_notifications_not_a_poll():
    """No polling deadline: a bond with no timers asks to run again only in a second;
    a carrier change is `stale` (the daemon then runs a pass) and moves the active
    member on that pass."""
    dp = UserspaceDatapath("t", "dummy")
    backer = Backer(dp)
    try:
        br = backer.create_bridge("br0", local_netdev=DummyNetdev("br0"), now=0.0)
        for m in ("e1", "e2"):
            br.add_port(m, DummyNetdev(m))
        sw = _LinkSwitch(br, ("e1", "e2"))
        bonds = Bonds(sw)
        tables = {"Open_vSwitch": {"o": {"bridges": ("b",), "next_cfg": 1}},
                  "Bridge": {"b": {"name": "br0", "ports": ("p",)}},
                  "Port": {"p": {"name": "bond0", "interfaces": ("i1", "i2")}},
                  "Interface": {"i1": {"name": "e1"}, "i2": {"name": "e2"}}}
        bonds.sync(desired_state(tables), 10.0)
        assert bonds.linux_members() == {"e1", "e2"}
        assert bonds.active_members() == {"bond0": "02:00:00:00:00:01"}
        assert bonds.run(11.0) == 12.0 and sw.polls >= 1
        assert not bonds.stale()
        sw.up["e1"] = False
        assert bonds.stale()
        bonds.run(11.5)
        assert not bonds.stale()
        assert bonds.active_members() == {"bond0": "02:00:00:00:00:02"}
    finally:
        backer.close()
        dp.close()


def test_active_backup_through_the_daemons(db):
    bonded(db, "bond_mode=active-backup")
    wait_until(lambda: db.get("Port", "bond0", "bond_active_slave")
               not in ("", "[]", '"00:00:00:00:00:00"'), 10, what="bond_active_slave written")
    assert db.get("Interface", "e1", "error") == "[]"
    show = db.appctl("bond/show", "bond0")
    assert show.returncode == 0
    lines = show.stdout.splitlines()
    assert lines[:2] == ["---- bond0 ----", "bond_mode: active-backup"]
    assert "member e1: enabled" in lines and "  active member" in lines
    assert show.stdout.endswith("  may_enable: true\n\n")
    active = "e1" if lines[lines.index("member e1: enabled") + 1] == "  active member" else "e2"
    backup = "e2" if active == "e1" else "e1"
    mac = db.get("Interface", active, "mac_in_use")
    assert db.get("Port", "bond0", "bond_active_slave") == mac
    assert db.appctl("bond/list").stdout == \
        "bond\ttype\trecircID\tmembers\nbond0\tactive-backup\t-1\te1, e2\n"
    # Frames from the backup member are dropped; from the active one they are learned on
    # the bond's port.
    a = "020000000005"
    db.appctl("netdev-dummy/receive", backup, "ffffffffffff" + a + "0800" + "00" * 46)
    db.appctl("netdev-dummy/receive", active, "ffffffffffff" + a + "0800" + "00" * 46)
    wait_until(lambda: "02:00:00:00:00:05" in db.appctl("fdb/show", "br0").stdout, 10,
               what="MAC learned on the bond")
    trace = db.appctl("ofproto/trace", "br0",
                      f"in_port={db.get('Interface', backup, 'ofport')},dl_dst=ff:ff:ff:ff:ff:ff")
    assert "bonding refused admissibility, dropping" in trace.stdout
    # Commands, with OVS's answers and errors.
    r = db.appctl("bond/set-active-member", "bond0", backup)
    assert (r.returncode, r.stdout) == (0, "done\n")
    assert db.appctl("bond/set-active-member", "bond0", backup).stdout == "no change\n"
    wait_until(lambda: db.get("Port", "bond0", "bond_active_slave") ==
               db.get("Interface", backup, "mac_in_use"), 10, what="bond_active_slave moved")
    # A restarted ovs-vswitchd starts with the active member the database recorded.
    db.stop_vswitchd()
    db.start_vswitchd("--enable-dummy=override")
    wait_until(lambda: "  active member" in db.appctl("bond/show", "bond0").stdout, 10,
               what="bond after restart")
    show = db.appctl("bond/show", "bond0").stdout.splitlines()
    assert show[show.index("  active member") - 1] == f"member {backup}: enabled"
    r = db.appctl("bond/set-active-member", "bond0", "zz")
    assert (r.returncode, r.stderr.splitlines()[0]) == (2, "no such member")
    assert db.appctl("bond/show", "nope").stderr.splitlines()[0] == "no such bond"
    assert db.appctl("bond/disable-member", "bond0", backup).stdout == "disabled\n"
    assert f"member {backup}: disabled" in db.appctl("bond/show").stdout
    assert db.appctl("bond/enable-member", "bond0", backup).stdout == "enabled\n"
    assert db.appctl("bond/hash", "00:11:22:33:44:55").stdout.strip().isdigit()
    assert db.appctl("bond/hash", "xx").stderr.splitlines()[0] == "invalid mac"
    assert db.appctl("lacp/show", "bond0").stderr.splitlines()[0] == "no such lacp object"
    # Removing a member leaves a one-member bond; deleting the port removes the bond.
    db.vsctl("del-port", "br0", "bond0")
    wait_until(lambda: db.appctl("bond/list").stdout == "bond\ttype\trecircID\tmembers\n", 10,
               what="bond gone")


def test_lacp_without_a_partner_is_not_negotiated(db):
    bonded(db, "bond_mode=balance-tcp", "lacp=active")
    wait_until(lambda: "bond0" in db.appctl("bond/list").stdout, 10, what="bond")
    show = db.appctl("bond/show").stdout
    assert "lacp_status: configured" in show and "member e1: disabled" in show
    assert "active member mac: 00:00:00:00:00:00(none)" in show
    lacp = db.appctl("lacp/show", "bond0").stdout
    assert lacp.startswith("---- bond0 ----\n  status: active\n")
    assert "member: e1: defaulted detached" in lacp and "may_enable: false" in lacp
    wait_until(lambda: db.get("Interface", "e1", "lacp_current") == "false", 10,
               what="lacp_current written")
    assert db.get("Port", "bond0", "bond_active_slave") == '"00:00:00:00:00:00"'
    db.vsctl("set", "port", "bond0", "other_config:lacp-fallback-ab=true")
    wait_until(lambda: "member e1: enabled" in db.appctl("bond/show").stdout, 10,
               what="fallback to active-backup")


REF_SCRIPT = [
    ["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"],
    ["add-bond", "br0", "bondab", "a1", "a2", "bond_mode=active-backup", "bond_updelay=100",
     "bond_downdelay=50"],
    ["add-bond", "br0", "bondslb", "s1", "s2", "bond_mode=balance-slb",
     "other_config:bond-hash-basis=3"],
    ["add-bond", "br0", "bondtcp", "t1", "t2", "bond_mode=balance-tcp"],
]


def skeleton(text: str) -> list[str]:
    """bond/show with what legitimately differs masked: time left, recirculation IDs, MACs
    and which member is active (the reference picks by hash order)."""
    out = []
    for line in text.splitlines():
        if line.startswith("next rebalance:"):
            line = "next rebalance: N ms"
        elif line.startswith("bond may use recirculation:"):
            line = line.split(",")[0]
        elif line.startswith("active member mac:"):
            line = "active member mac: M"
        elif line == "  active member":
            continue
        out.append(line)
    return out


def admissible(db: DbServer, members) -> list[bool]:
    """Per member: whether a broadcast arriving on it is admitted (ofproto/trace)."""
    out = []
    for m in members:
        port = db.get("Interface", m, "ofport")
        t = db.appctl("ofproto/trace", "br0", f"in_port={port},dl_src=00:00:00:00:00:01,"
                      "dl_dst=ff:ff:ff:ff:ff:ff").stdout
        out.append("bonding refused admissibility" not in t)
    return out


@pytest.mark.skipif(not have_reference("ovs-vswitchd"),
                    reason="the reference ovs-vswitchd is not installed")
def test_bond_show_and_admissibility_match_the_reference():
    results = {}
    for who in ("ref", "ours"):
        with dummy_vswitchd(who, REF_SCRIPT) as db:

            def ready():
                text = db.appctl("bond/show").stdout
                return text.count(": enabled") == 6

            wait_until(ready, 15, what="all members enabled")
            shows = {b: db.appctl("bond/show", b).stdout for b in ("bondab", "bondslb", "bondtcp")}
            actives = {b: next(ln.split()[1].rstrip(":") for ln, nxt in
                               zip(s.splitlines(), s.splitlines()[1:]) if nxt == "  active member")
                       for b, s in shows.items()}
            adm = {}
            for b, ms in (("bondab", ("a1", "a2")), ("bondslb", ("s1", "s2")),
                          ("bondtcp", ("t1", "t2"))):
                flags = admissible(db, ms)
                adm[b] = {("active" if m == actives[b] else "other"): f for m, f in zip(ms, flags)}
            migrate = [db.appctl("bond/migrate", *a) for a in (
                ("bondslb", "5", "s2"), ("bondslb", "300", "s1"), ("bondab", "5", "a1"),
                ("bondslb", "x", "s1"), ("bondslb", "5", "zz"), ("nope", "5", "s1"))]
            results[who] = ({b: skeleton(s) for b, s in shows.items()}, adm,
                            db.appctl("bond/show", "nope").stderr.splitlines()[0],
                            db.appctl("bond/list").stdout.splitlines()[0],
                            [(r.returncode, r.stdout, r.stderr.splitlines()[:1]) for r in migrate])
    assert results["ours"] == results["ref"]
    shows, adm = results["ours"][:2]
    assert "updelay: 100 ms" in shows["bondab"] and "bond-hash-basis: 3" in shows["bondslb"]
    assert adm == {"bondab": {"active": True, "other": False},
                   "bondslb": {"active": True, "other": False},
                   "bondtcp": {"active": False, "other": False}}
