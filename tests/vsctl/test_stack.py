"""ovs-vsctl with pyvswitch's own ovsdb-server and ovs-vswitchd: the reload
handshake completes and an interface that cannot be set up is reported."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from util import ours, ovs_env, stop_pid, wait_until
from vsctl_harness import OUR_SCHEMA


@pytest.fixture
def stack():
    d = Path(tempfile.mkdtemp(prefix="vsctl-stack-"))
    env = ovs_env(d)
    procs = []
    try:
        subprocess.run([ours("ovsdb-tool"), "create", str(d / "conf.db"), OUR_SCHEMA], env=env, check=True)
        procs.append(subprocess.Popen(
            [ours("ovsdb-server"), str(d / "conf.db"), f"--remote=punix:{d}/db.sock",
             f"--unixctl={d}/db.ctl", f"--log-file={d}/db.log"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: (d / "db.sock").exists(), 30, what="ovsdb-server socket")
        assert subprocess.run([ours("ovs-vsctl"), "--no-wait", "init"], env=env).returncode == 0
        procs.append(subprocess.Popen(
            [ours("ovs-vswitchd"), f"unix:{d}/db.sock", f"--unixctl={d}/vs.ctl", f"--log-file={d}/vs.log",
             "--enable-dummy"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: (d / "vs.ctl").exists() or procs[-1].poll() is not None, 30, what="ovs-vswitchd")
        if procs[-1].poll() is not None:
            log = (d / "vs.log").read_text() if (d / "vs.log").exists() else "(no log)"
            pytest.fail(f"pyvswitch's ovs-vswitchd exited at start (status {procs[-1].returncode}):\n{log}")
        yield d, env
    finally:
        if len(procs) > 1 and procs[-1].poll() is None:
            # ovs-vswitchd's TAPs outlive it (as OVS's) unless it exits with --cleanup.
            subprocess.run([ours("ovs-appctl"), "-t", str(d / "vs.ctl"), "exit", "--cleanup"],
                           env=env, capture_output=True, timeout=30)
            try:
                procs[-1].wait(10)
            except subprocess.TimeoutExpired:
                pass
        for p in reversed(procs):
            stop_pid(p.pid)
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_waits_for_our_vswitchd_and_reports_a_missing_device(stack):
    d, env = stack
    run = lambda *a: subprocess.run([ours("ovs-vsctl"), "--timeout=30", *a], env=env, capture_output=True,
                                    text=True, timeout=60)
    r = run("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = run("add-port", "br0", "p9")
    assert r.returncode == 0
    assert r.stderr == ("ovs-vsctl: Error detected while setting up 'p9': could not open network device p9 "
                        "(No such device).  See ovs-vswitchd log for details.\n"
                        f'ovs-vsctl: The default log directory is "{d}".\n')
    r = run("get", "Open_vSwitch", ".", "next_cfg", "cur_cfg")
    next_cfg, cur_cfg = r.stdout.split()
    assert int(cur_cfg) >= int(next_cfg) == 2
