"""Port names and priorities in matches, against a real switch: ovs-vswitchd 3.1 with dummy
ports whose names need quoting or not; `ovs-ofctl --names dump-flows` must print each flow's
priority and match as `format_match(..., priority, port_names=...)` does, and flows we parse
with names must be the ones the switch holds."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from util import needs_reference, ovs_env, ref, stop_pid, wait_until

from pyvswitch.packet.match import format_match, parse_match, split_items

PORTS = {"p1": 1, "eth-0": 2, "2x": 3, "my.port": 4, "Vif7": 5}
FLOWS = ['in_port=p1,tcp,tp_dst=80', 'in_port="eth-0",ip', 'in_port="2x"',
         'in_port="my.port",udp', 'in_port=Vif7,arp', 'in_port=LOCAL,ipv6',
         'priority=0,in_port=p1,ip', 'priority=65535,arp,arp_op=2', 'priority=32767,tcp6']


def _ours(flow: str, names) -> str:
    priority = [int(v) for k, v in split_items(flow) if k == "priority"]
    match = ",".join(k if v is None else f"{k}={v}" for k, v in split_items(flow)
                     if k != "priority")
    return format_match(parse_match(match, PORTS), priority[0] if priority else None,
                        port_names=names)


def _run(cmd, env, **kw):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, **kw)


@needs_reference
def test_names_print_and_parse_like_ovs_ofctl():
    d = Path(tempfile.mkdtemp(prefix="pnames"))
    env = ovs_env(d)
    pids: list[int] = []
    try:
        db, sock = d / "conf.db", d / "db.sock"
        _run([ref("ovsdb-tool"), "create", str(db), "/usr/share/openvswitch/vswitch.ovsschema"],
             env, check=True)
        _run([ref("ovsdb-server"), f"--remote=punix:{sock}", f"--pidfile={d}/db.pid",
              f"--unixctl={d}/db.ctl", "--detach", f"--log-file={d}/db.log", str(db)],
             env, check=True)
        pids.append(int((d / "db.pid").read_text()))
        vsctl = [ref("ovs-vsctl"), f"--db=unix:{sock}", "--timeout=20"]
        _run(vsctl + ["--no-wait", "init"], env, check=True)
        _run([ref("ovs-vswitchd"), "--enable-dummy=override", f"unix:{sock}",
              f"--pidfile={d}/vs.pid", f"--unixctl={d}/vs.ctl", "--detach",
              f"--log-file={d}/vs.log", "-vconsole:off"], env, check=True)
        pids.append(int((d / "vs.pid").read_text()))
        cmd = vsctl + ["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=dummy",
                       "fail_mode=secure"]
        for name, ofport in PORTS.items():
            cmd += ["--", "add-port", "br0", name, "--", "set", "interface", name, "type=dummy",
                    f"ofport_request={ofport}"]
        _run(cmd, env, check=True)
        wait_until(lambda: all(f"({n})" in _run([ref("ovs-ofctl"), "show", "br0"], env).stdout
                               for n in PORTS), what="ports in ovs-vswitchd")
        for flow in FLOWS:
            r = _run([ref("ovs-ofctl"), "add-flow", "br0", f"{flow},actions=drop"], env)
            assert r.returncode == 0, r.stderr
        numbers = {v: k for k, v in PORTS.items()}
        for flag, names in (("--names", numbers), ("--no-names", None)):
            out = _run([ref("ovs-ofctl"), flag, "--no-stats", "dump-flows", "br0"], env).stdout
            printed = sorted(line.strip().rsplit(" actions=", 1)[0] for line in out.splitlines()
                             if "actions=" in line)
            ours = sorted(_ours(f, names) for f in FLOWS)
            assert printed == ours, flag
            for line in printed:  # what we print, we read back
                assert _ours(line, names) == line
        assert split_items('in_port="my.port",udp') == [("in_port", '"my.port"'), ("udp", None)]
    finally:
        for pid in reversed(pids):
            stop_pid(pid)
        shutil.rmtree(d, ignore_errors=True)
