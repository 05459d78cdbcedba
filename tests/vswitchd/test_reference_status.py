"""What our ovs-vswitchd writes back, compared with the reference ovs-vswitchd 3.1 given
the same configuration (both with --enable-dummy=override, each on its own reference
ovsdb-server): the same ofports, errors, and the same status columns filled."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness import DbServer
from util import have_reference, ref, stop_pid, wait_until

pytestmark = pytest.mark.skipif(not have_reference("ovs-vswitchd"),
                                reason="the reference ovs-vswitchd is not installed")

SCRIPT = [
    ["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy"],
    ["add-port", "br0", "p1", "--", "set", "interface", "p1", "type=dummy", "ofport_request=5"],
    ["add-port", "br0", "p2", "tag=10"],
    ["add-port", "br0", "pa", "--", "set", "interface", "pa", "type=patch", "options:peer=pb"],
]
COLUMNS = ("ofport", "error", "mac_in_use", "ifindex", "link_state", "admin_state", "mtu",
           "statistics")


def interfaces(db: DbServer) -> dict:
    r = subprocess.run([ref("ovsdb-client"), "-f", "json", "dump", db.remote, "Open_vSwitch",
                        "Interface"], capture_output=True, text=True, check=True, env=db.env)
    t = json.loads(r.stdout)
    heads = t["headings"]
    return {row[heads.index("name")]: dict(zip(heads, row)) for row in t["data"]}


def empty(v) -> bool:
    return v in (["set", []], ["map", []])


def run_reference(db: DbServer) -> None:
    db.vswitchd = subprocess.Popen(
        [ref("ovs-vswitchd"), db.remote, "--enable-dummy=override", "-vconsole:off",
         f"--log-file={db.dir}/ovs-vswitchd.log", f"--unixctl={db.dir}/ovs-vswitchd.ctl",
         f"--pidfile={db.dir}/ovs-vswitchd.pid"],
        env=db.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: (db.dir / "ovs-vswitchd.ctl").exists(), 20, what="reference vswitchd")


def test_status_columns_match_the_reference():
    results = {}
    for who in ("ref", "ours"):
        db = DbServer("ref")
        try:
            if who == "ref":
                run_reference(db)
            else:
                db.start_vswitchd("--enable-dummy=override")
            for cmd in SCRIPT:
                db.vsctl(*cmd)
            wait_until(lambda: not empty(interfaces(db)["p1"]["statistics"]), 15,
                       what="statistics")
            results[who] = interfaces(db)
            db.vsctl("del-br", "br0")
        finally:
            if db.vswitchd is not None and who == "ref":
                stop_pid(db.vswitchd.pid)
                db.vswitchd.wait()
                db.vswitchd = None
            db.close()
    ref_rows, our_rows = results["ref"], results["ours"]
    assert sorted(ref_rows) == sorted(our_rows)
    for name in ref_rows:
        r, o = ref_rows[name], our_rows[name]
        assert r["ofport"] == o["ofport"], name
        assert r["error"] == o["error"], name
        filled_r = {c for c in COLUMNS if not empty(r[c])}
        filled_o = {c for c in COLUMNS if not empty(o[c])}
        assert filled_r == filled_o, (name, filled_r ^ filled_o)
        for c in ("link_state", "admin_state", "mtu", "ifindex"):
            assert r[c] == o[c], (name, c)
