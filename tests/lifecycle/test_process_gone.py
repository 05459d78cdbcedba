"""A process counts as gone only once all its threads have exited: its main thread turns
zombie first while the others may still be closing the process's files (a TAP device a
restarted ovs-vswitchd needs).  Checked for the tests' helper and for `pyvswitch stop`'s."""

from __future__ import annotations

import subprocess
import sys

import pytest

import util
from pyvswitch.cli import lifecycle

# The main thread ends (pthread_exit) while a second thread lives on until told to exit.
LINGERING_THREAD = r"""
import ctypes, os, sys, threading
def worker():
    sys.stdin.readline()
    os._exit(0)
threading.Thread(target=worker).start()
print("ready", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"""


@pytest.mark.parametrize("gone", [util.process_gone, lifecycle.process_gone], ids=["tests", "pyvswitch"])
def test_a_zombie_main_thread_is_not_gone_while_another_thread_runs(gone):
    p = subprocess.Popen([sys.executable, "-c", LINGERING_THREAD], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        util.wait_until(lambda: open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z",
                        30, what="the main thread a zombie")
        assert not gone(p.pid)
        p.stdin.write("exit\n")
        p.stdin.flush()
        util.wait_until(lambda: gone(p.pid), 30, what="the last thread gone")
    finally:
        p.kill()
        p.wait()
    assert gone(p.pid)
