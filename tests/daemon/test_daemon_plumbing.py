"""The shared daemon plumbing through a toy daemon: --detach, --pidfile, --monitor,
signals, unixctl, and ovs-appctl (ours and the real one) against it."""

import os
import re
import signal
import socket
from pathlib import Path

import pytest

from daemon_helpers import toyd
from util import needs_reference, ours, process_gone, ref, run, stop_pid, wait_until


def pid_of(rundir: Path) -> int:
    return int((rundir / "toyd.pid").read_text())


@pytest.fixture
def daemon(rundir, env):
    r = toyd(env, "--pidfile", "--detach", "--no-chdir", f"--log-file={rundir}/toyd.log",
             f"--remote=punix:{rundir}/echo.sock")
    assert r.returncode == 0, r.stderr
    pid = pid_of(rundir)
    yield pid
    stop_pid(pid)


def test_detach_returns_when_ready(rundir, daemon):
    # Everything is in place the moment --detach returned.
    assert (rundir / f"toyd.{daemon}.ctl").exists()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(rundir / "echo.sock"))
    s.sendall(b"ping")
    assert s.recv(10) == b"ping"
    s.close()
    assert (rundir / "toyd.pid").read_text() == f"{daemon}\n"


def test_second_instance_refuses_to_start(rundir, env, daemon):
    r = toyd(env, "--pidfile", "--detach")
    assert r.returncode == 1
    assert f"toyd: {rundir}/toyd.pid: already running as pid {daemon}, aborting" in r.stderr
    assert pid_of(rundir) == daemon


def test_stale_pidfile_is_replaced(rundir, env):
    (rundir / "toyd.pid").write_text("999999\n")
    r = toyd(env, "--pidfile", "--detach")
    assert r.returncode == 0, r.stderr
    pid = pid_of(rundir)
    try:
        assert pid != 999999
    finally:
        stop_pid(pid)


def test_sigterm_cleans_up_and_logs(rundir, daemon):
    os.kill(daemon, signal.SIGTERM)
    wait_until(lambda: process_gone(daemon), what="toyd to exit")
    assert not (rundir / "toyd.pid").exists()
    assert not (rundir / f"toyd.{daemon}.ctl").exists()
    assert not (rundir / "echo.sock").exists()
    assert "|fatal_signal|WARN|terminating with signal 15 (Terminated)" in (rundir / "toyd.log").read_text()


def test_exit_command(rundir, env, daemon):
    r = run([ours("ovs-appctl"), "-t", "toyd", "exit"], env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    wait_until(lambda: process_gone(daemon), what="toyd to exit")
    assert not (rundir / "toyd.pid").exists()


def test_monitor_restarts_a_crashed_daemon(rundir, env):
    r = toyd(env, "--pidfile", "--detach", "--monitor", f"--log-file={rundir}/toyd.log")
    assert r.returncode == 0, r.stderr
    first = pid_of(rundir)
    monitor = int(Path(f"/proc/{first}/stat").read_text().rsplit(")", 1)[1].split()[1])
    try:
        run([ours("ovs-appctl"), "-t", "toyd", "toy/crash"], env=env)
        second = wait_until(lambda: (rundir / "toyd.pid").exists() and pid_of(rundir) != first
                            and pid_of(rundir), what="a restarted daemon")
        r = wait_until(lambda: (lambda r: r.returncode == 0 and r)(
            run([ours("ovs-appctl"), "-t", "toyd", "version"], env=env)), what="restarted daemon answers")
        assert r.stdout == "toyd (Open vSwitch) 3.1.0\n"
        assert f"pid {first} died, killed by signal 11 (Segmentation fault), restarting" in \
            (rundir / "toyd.log").read_text()
        # SIGTERM to the monitor stops both.
        os.kill(monitor, signal.SIGTERM)
        wait_until(lambda: process_gone(second) and process_gone(monitor), what="monitor and daemon to exit")
    finally:
        stop_pid(monitor)
        stop_pid(pid_of(rundir)) if (rundir / "toyd.pid").exists() else None


def test_async_command(env, daemon):
    r = run([ours("ovs-appctl"), "-t", "toyd", "toy/slow"], env=env)
    assert (r.returncode, r.stdout) == (0, "slow done\n")


def _normalized(r):
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|", re.M)
    return r.returncode, r.stdout, stamp.sub("TIME|", r.stderr)


APPCTL_CASES = [
    ["version"], ["list-commands"], ["nonexist"], ["exit", "x"], ["vlog/set", "foo"],
    ["vlog/set", "info:dbg"], ["vlog/list-pattern"], ["toy/log", "a b"], [],
    ["-t", "nothere", "version"], ["-t", "/nonexistent/x.ctl", "version"], ["--bogus"],
]


@needs_reference
@pytest.mark.parametrize("args", APPCTL_CASES)
def test_our_appctl_and_the_real_one_agree_on_our_daemon(env, daemon, args):
    if args and args[0] not in ("-t", "--bogus"):
        args = ["-t", "toyd"] + args
    mine = _normalized(run([ours("ovs-appctl"), *args], env=env))
    theirs = _normalized(run([ref("ovs-appctl"), *args], env=env))
    if args == ["--bogus"]:
        assert mine[0] == theirs[0] == 1
        return
    assert mine == theirs


@needs_reference
def test_real_appctl_vlog_on_our_daemon(rundir, env, daemon):
    r = run([ref("ovs-appctl"), "-t", "toyd", "vlog/set", "toyd:file:dbg"], env=env)
    assert r.returncode == 0, r.stderr
    r = run([ref("ovs-appctl"), "-t", "toyd", "vlog/list"], env=env)
    assert "toyd               OFF       INFO        DBG\n" in r.stdout
    r = run([ref("ovs-appctl"), "-t", "toyd", "vlog/reopen"], env=env)
    assert r.returncode == 0
    assert run([ref("ovs-appctl"), "-t", "toyd", "toy/log", "hello there"], env=env).returncode == 0
    assert "|toyd|INFO|hello there" in (rundir / "toyd.log").read_text()


@needs_reference
def test_timeout_dies_by_sigalrm_like_the_real_tool(env, daemon):
    mine = _normalized(run([ours("ovs-appctl"), "-t", "toyd", "--timeout=0.2", "toy/hang"], env=env))
    theirs = _normalized(run([ref("ovs-appctl"), "-t", "toyd", "--timeout=1", "toy/hang"], env=env))
    assert mine == theirs
    assert mine[0] == -signal.SIGALRM
    assert "TIME|00001|fatal_signal|WARN|terminating with signal 14 (Alarm clock)" in mine[2]
