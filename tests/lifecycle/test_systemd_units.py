"""contrib/systemd: the units are valid and drive `pyvswitch` for one daemon each."""

from __future__ import annotations

import configparser
import shutil

import pytest

from util import REPO, VENV_BIN, run

UNITS = REPO / "contrib" / "systemd"


def load(name: str) -> configparser.ConfigParser:
    c = configparser.ConfigParser(strict=False, interpolation=None)
    c.optionxform = str
    c.read(UNITS / name)
    return c


@pytest.mark.parametrize("unit, daemon", [("pyvswitch-ovsdb-server.service", "ovsdb-server"),
                                          ("pyvswitch-vswitchd.service", "ovs-vswitchd")])
def test_unit_runs_pyvswitch_for_its_daemon(unit, daemon):
    s = load(unit)["Service"]
    assert s["Type"] == "forking"
    assert s["PIDFile"] == f"/run/openvswitch/{daemon}.pid"
    assert s["ExecStart"].split()[:3] == ["/opt/pyvswitch/.venv/bin/pyvswitch", "start", daemon]
    assert s["ExecStop"].split() == ["/opt/pyvswitch/.venv/bin/pyvswitch", "stop", daemon]


def test_vswitchd_needs_the_database():
    u = load("pyvswitch-vswitchd.service")["Unit"]
    assert "pyvswitch-ovsdb-server.service" in u["Requires"].split()
    assert "pyvswitch-ovsdb-server.service" in u["After"].split()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path):
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/pyvswitch/.venv/bin", str(VENV_BIN))
        (tmp_path / unit.name).write_text(text)
    r = run(["systemd-analyze", "verify", *map(str, sorted(tmp_path.glob("*.service")))])
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""
