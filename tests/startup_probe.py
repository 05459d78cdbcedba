"""Which modules one call of a one-shot tool loads, as its lean launcher runs it.

Agents run ovs-vsctl, ovs-appctl, ovs-dpctl and ovsdb-client thousands of
times, and most of a call is Python starting and importing (see
pyvswitch.launchers).  `probe` runs a tool's entry point once with -I -S and
the package's directory appended to the path, as the launcher does, and
returns the exit status, the modules then loaded and the output.  `HEAVY`
lists the modules known to cost a millisecond or more at import (or to drag
such modules in), which a one-shot call's path must not load; a call that
needs one imports it where it is needed.  tests/vsctl/test_startup.py keeps
the same list for ovs-vsctl.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from pyvswitch.launchers import package_dir
from util import REPO, ours, ovs_env, stop_pid, wait_until

HEAVY = frozenset({
    "dataclasses", "inspect", "ast", "dis", "typing", "socket", "uuid", "platform", "decimal", "copy",
    "asyncio", "ssl", "selectors", "textwrap", "traceback", "tokenize", "signal", "re", "json", "enum",
    "functools", "collections", "operator", "types", "random", "hashlib", "warnings", "struct", "weakref",
    "threading", "contextlib", "importlib", "locale", "os", "posixpath", "_collections_abc"})

# Runs MODULE's main once as PROGRAM, with the cyclic GC off as the one-shot
# launcher starts it, and prints, after its output, the exit status, the
# modules loaded and whether the GC is on (written without json, on the list).
_PROBE = """
import gc, sys
gc.disable()
sys.path.append(sys.argv.pop(1))
module, program = sys.argv.pop(1), sys.argv.pop(1)
main = __import__(module, fromlist=["main"]).main
sys.argv = [program, *sys.argv[1:]]
try:
    status = main()
except SystemExit as e:
    status = e.code
sys.stdout.flush()
sys.stderr.flush()
print("\\n" + repr({"status": status, "modules": sorted(sys.modules), "gc": gc.isenabled()}))
"""


def probe(env: dict, module: str, program: str, *args: str, stdin: str | None = None,
          report: dict | None = None) -> tuple[int, set[str], str, str]:
    """(exit status, modules loaded, stdout, stderr) of one call; the whole
    report (with "gc": whether the collector ended on) goes into report."""
    r = subprocess.run([sys.executable, "-I", "-S", "-c", _PROBE, package_dir(), module, program, *args],
                       env=env, capture_output=True, text=True, timeout=60, cwd=REPO, input=stdin)
    out, _, last = r.stdout.rstrip("\n").rpartition("\n")
    assert r.returncode == 0, r.stderr
    got = ast.literal_eval(last)
    if report is not None:
        report.update(got)
    return got["status"], set(got["modules"]), out, r.stderr


@contextmanager
def our_ovsdb_server(prefix: str, *options: str, ready: str):
    """Our ovsdb-server on a fresh Open_vSwitch database in a private run directory,
    listening on DIR/db.sock, with `options` (formatted with dir=DIR).  Yields (env, DIR, pid) once DIR/`ready`
    (formatted with the server's pid) exists; stops the server and removes DIR."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    env = ovs_env(d)
    subprocess.run([ours("ovsdb-tool"), "create", str(d / "conf.db")], env=env, check=True)
    proc = subprocess.Popen([ours("ovsdb-server"), str(d / "conf.db"), f"--remote=punix:{d}/db.sock",
                             *(o.format(dir=d) for o in options), f"--log-file={d}/ovsdb-server.log"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        path = d / ready.format(pid=proc.pid)
        wait_until(lambda: path.exists() or proc.poll() is not None, 20, what=f"ovsdb-server's {ready}")
        assert proc.poll() is None
        yield env, d, proc.pid
    finally:
        stop_pid(proc.pid)
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)
