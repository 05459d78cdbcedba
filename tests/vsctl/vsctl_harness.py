"""Helpers for ovs-vsctl tests: fresh OVSDB servers on the Open_vSwitch schema,
and a runner that plays one script with the real ovs-vsctl and with ours."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from util import ours, ovs_env, ref, stop_pid, wait_until

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


# Our ovs-vsctl runs hundreds of times here: let Python cache its bytecode
# (in a private dir, removed at exit) even where the environment says not to.
# The lean launchers (pyvswitch.launchers) ignore both variables and use the
# package's own __pycache__; pip's console scripts, if installed instead, honour them.
PYCACHE = tempfile.mkdtemp(prefix="vsctl-pycache-")
atexit.register(shutil.rmtree, PYCACHE, True)

OUR_SCHEMA = str(Path(__file__).resolve().parents[2] / "src/pyvswitch/schemas/vswitch.ovsschema")


class Server:
    """An ovsdb-server (kind "ref": OVS 3.1's, "ours": pyvswitch's) on a fresh
    Open_vSwitch database in a private dir."""

    def __init__(self, kind: str = "ref") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vsctl-"))
        self.env = ovs_env(self.dir)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = PYCACHE
        self.sock = self.dir / "db.sock"
        db = self.dir / "conf.db"
        tool, schema = (ref, SCHEMA) if kind == "ref" else (ours, OUR_SCHEMA)
        subprocess.run([tool("ovsdb-tool"), "create", str(db), schema], check=True, env=self.env)
        self.proc = subprocess.Popen(
            [tool("ovsdb-server"), str(db), f"--remote=punix:{self.sock}", f"--unixctl={self.dir}/ovsdb-server.ctl",
             f"--log-file={self.dir}/ovsdb-server.log"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: self.sock.exists() or self.proc.poll() is not None, 20, what="ovsdb-server socket")
            assert self.proc.poll() is None, (self.dir / "ovsdb-server.log").read_text(errors="replace")
        except BaseException:
            self.close()
            raise

    def vsctl(self, tool: str, *args, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([tool, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def dump(self) -> str:
        r = subprocess.run([ref("ovsdb-client"), "dump", f"unix:{self.sock}", "Open_vSwitch"],
                           env=self.env, capture_output=True, text=True, check=True)
        return r.stdout

    def close(self) -> None:
        stop_pid(self.proc.pid)
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# A script step starting with this compares its output lines in sorted order:
# for output whose order follows UUIDs, which differ from run to run.
UNORDERED = "<unordered>"


def normalize(text: str, tool: str = "ovs-vsctl") -> str:
    """UUIDs and times masked; getopt's argv[0] prefix as if run from $PATH."""
    text = text.replace(f"{tool}: ", "ovs-vsctl: ")
    return TIME_RE.sub("<TIME>", UUID_RE.sub("<UUID>", text))


def play(script: list[list[str]], tool: str, server: str = "ref") -> list[tuple[str, str, int]]:
    """Runs each command line of script against one fresh server."""
    s = Server(server)
    try:
        out = []
        for args in script:
            unordered = bool(args) and args[0] == UNORDERED
            try:
                r = s.vsctl(tool, *args[unordered:])
            except subprocess.TimeoutExpired:
                out.append(("TIMEOUT", "", -1))
                continue
            stdout = normalize(r.stdout, tool)
            if unordered:
                stdout = "".join(sorted(stdout.splitlines(True)))
            out.append((stdout, normalize(r.stderr, tool), r.returncode))
        return out
    finally:
        s.close()


GOLDEN = Path(__file__).resolve().parent / "golden"


def reference_results(name: str, script: list[list[str]]) -> list:
    """What the real ovs-vsctl printed for script, against the real server.

    Kept as a golden file captured from OVS 3.1 (so the suite costs half the
    processes and runs where OVS is not installed).  Set VSCTL_REGEN=1 to
    capture it again after changing a script."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("VSCTL_REGEN") == "1":
        results = play(script, ref("ovs-vsctl"))
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps([{"args": a, "stdout": o, "stderr": e, "status": c}
                                    for a, (o, e, c) in zip(script, results)], indent=1) + "\n")
    steps = json.loads(path.read_text())
    assert [st["args"] for st in steps] == script, f"{path} is out of date: rerun with VSCTL_REGEN=1"
    return [(st["stdout"], st["stderr"], st["status"]) for st in steps]


# Steps where pyvswitch.ovsdb.datum_text (shared with ovsdb-client) still
# reads values differently from OVS: it does not report trailing garbage
# after a closing bracket in OVS's words, and it does not take a backslash
# outside quotes as an escape.  Remove an entry once datum_text matches.
KNOWN_DIFFERENCES = {
    ("--no-wait", "set", "Bridge", "br0", "external_ids={a=b}x"),
    ("--no-wait", "set", "Bridge", "br0", "external_ids={a=b\\:c}"),
}


def compare(name: str, script: list[list[str]], server: str = "ref") -> None:
    """Asserts that our ovs-vsctl (against the given kind of server) behaves
    as the real one against the real server, on script."""
    want = reference_results(name, script)
    got = play(script, ours("ovs-vsctl"), server)
    for args, w, g in zip(script, want, got):
        if tuple(args) in KNOWN_DIFFERENCES:
            continue
        assert g == w, f"ovs-vsctl {' '.join(args)}\n--- want:\n{w[0]}{w[1]}rc={w[2]}\n--- got:\n{g[0]}{g[1]}rc={g[2]}"
