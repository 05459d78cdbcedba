"""Test-wide setup, and a check that a run leaves nothing behind.

Every test puts tests/ on sys.path (for util, netns and the other helpers).

Property tests run without hypothesis's per-example deadline and its too-slow health
check: on a loaded CI machine an ordinary example can take longer than 200 ms, and
that says nothing about the code under test.

Leftovers: the session marks its environment with PYVSWITCH_TEST_SESSION, which every
process a test starts inherits (daemons that detach included).  When the session ends,
after every fixture is torn down, a process still carrying the mark is a leak; so is a
network namespace or link that appeared during the run and carries the session's name tag
(the test process's pid modulo 10000, as tests name what they create, e.g. sy1234h1).  The
summary lists each leak, so the test that caused it can be found and fixed, and the session
removes it (processes stopped by pid), so one leaky run does not disturb the next.  Other
sessions running at the same time carry other marks and tags and are left alone.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hypothesis import HealthCheck, settings  # noqa: E402

from netns import ip  # noqa: E402
from util import process_gone, stop_pid  # noqa: E402

SESSION_VAR = "PYVSWITCH_TEST_SESSION"
NETNS_DIR = Path("/run/netns")
NET_DIR = Path("/sys/class/net")

settings.register_profile("pyvswitch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pyvswitch")

_mark = f"{os.getpid()}.{time.time_ns()}"
_tag = re.compile(rf"(?<!\d){os.getpid() % 10000}(?!\d)")
_before: dict[str, set[str]] = {}
_leaks: list[str] = []


def _names(d: Path) -> set[str]:
    try:
        return set(os.listdir(d))
    except OSError:
        return set()


def _marked_processes() -> list[tuple[int, str]]:
    needle = f"{SESSION_VAR}={_mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if not process_gone(int(entry)):
            found.append((int(entry), cmd))
    return found


def pytest_configure(config):
    os.environ[SESSION_VAR] = _mark
    _before["netns"] = _names(NETNS_DIR)
    _before["link"] = _names(NET_DIR)


def pytest_sessionfinish(session, exitstatus):
    for pid, cmd in _marked_processes():
        _leaks.append(f"process {pid}: {cmd[:200]}")
        stop_pid(pid)
    for name in sorted(_names(NETNS_DIR) - _before.get("netns", set())):
        if _tag.search(name):
            _leaks.append(f"network namespace {name}")
            ip("netns", "del", name, check=False)
    for name in sorted(_names(NET_DIR) - _before.get("link", set())):
        if _tag.search(name):
            _leaks.append(f"link {name}")
            ip("link", "del", name, check=False)


def pytest_terminal_summary(terminalreporter):
    if _leaks:
        terminalreporter.section("left behind by tests (now removed)", yellow=True)
        for line in _leaks:
            terminalreporter.write_line(line)
