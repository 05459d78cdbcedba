"""Helpers every test may use: polling with a deadline, the reference tools, private dirs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
# Debian puts the reference daemons in /usr/sbin and the tools in /usr/bin.
REF_DIRS = (Path("/usr/sbin"), Path("/usr/bin"))


def have_reference(tool: str = "ovsdb-server") -> bool:
    return any((d / tool).exists() for d in REF_DIRS)


needs_reference = pytest.mark.skipif(
    not have_reference(), reason="the reference Open vSwitch 3.1 is not installed (apt-get install openvswitch-switch)")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, TAP, AF_PACKET)")


def wait_until(cond, timeout: float = 10.0, interval: float = 0.01, what: str = "condition"):
    """Polls cond() until it returns a true value, which is returned; fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ours(tool: str) -> str:
    return str(VENV_BIN / tool)


def ref(tool: str) -> str:
    """The reference tool's path (/usr/sbin for daemons, /usr/bin for tools)."""
    for d in REF_DIRS:
        if (d / tool).exists():
            return str(d / tool)
    return str(REF_DIRS[1] / tool)


def ovs_env(d: Path) -> dict:
    """An environment whose OVS directories all point into the private dir d."""
    env = dict(os.environ)
    for v in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR", "OVS_PKGDATADIR"):
        env.pop(v, None)
    env.update(OVS_RUNDIR=str(d), OVS_LOGDIR=str(d), OVS_DBDIR=str(d), OVS_SYSCONFDIR=str(d))
    return env


def process_gone(pid: int) -> bool:
    """True once pid has exited with all its threads (a zombie counts as gone: PID 1 here
    does not reap).  The main thread turns zombie while the process's other threads may
    still be exiting, and the last of them closes the files (sockets, TAP devices): until
    then a successor cannot have them (a TAP says "Device or resource busy")."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state not in ("Z", "X"):
            return False
        return os.listdir(f"/proc/{pid}/task") in ([], [str(pid)])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def stop_pid(pid: int, timeout: float = 5.0) -> None:
    """Stops a process by pid: SIGTERM, then SIGKILL at the deadline."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while not process_gone(pid):
        if time.monotonic() > deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        time.sleep(0.01)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(cmd, **kw)


def which(tool: str) -> str | None:
    return shutil.which(tool)
