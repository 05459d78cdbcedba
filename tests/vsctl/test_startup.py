"""ovs-vsctl's import path stays lean.

Agents run ovs-vsctl thousands of times, so most of one call's time is
Python starting up and importing.  These tests are structural rather than
timed: after a whole call, run as the lean launcher runs it (no site), none
of the modules known to cost milliseconds at import may have been loaded:
re and json (which imports re), enum and what it drags in (functools,
collections, operator, types), dataclasses (inspect, ast, dis), socket (its
constants become enums), typing, uuid, random (2 ms), decimal, asyncio, ssl,
and even os (~1 ms without site, which would otherwise have imported it).
A change that needs one of them on this path should import it lazily where
it is needed.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from pyvswitch.launchers import package_dir
from pyvswitch.vsctl.command import VsctlError
from util import REPO, ours
from vsctl_harness import Server

HEAVY = ("dataclasses", "inspect", "ast", "dis", "typing", "socket", "uuid", "platform", "decimal", "copy",
         "asyncio", "ssl", "selectors", "textwrap", "traceback", "tokenize", "signal", "re", "json", "enum",
         "functools", "collections", "operator", "types", "random", "hashlib", "warnings", "struct", "weakref",
         "threading", "contextlib", "importlib", "locale", "os", "posixpath", "_collections_abc")

# Imports the entry module as the lean launcher does (-I -S, the package's
# directory appended to the path), runs one call, and reports which modules
# were loaded and the exit status; the report is written without json.
PROBE = """
import sys
sys.path.append(sys.argv.pop(1))
from pyvswitch.cli.ovs_vsctl import main
sys.argv = ["ovs-vsctl", *sys.argv[1:]]
status = main()
sys.stdout.flush()
print("\\n" + repr({"status": status, "modules": sorted(sys.modules)}))
"""


def _probe(env: dict, *args: str) -> tuple[int, set[str], str]:
    r = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, package_dir(), *args], env=env,
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    out, _, last = r.stdout.rstrip("\n").rpartition("\n")
    assert r.returncode == 0, r.stderr
    report = ast.literal_eval(last)
    return report["status"], set(report["modules"]), out


@pytest.fixture(scope="module")
def server():
    s = Server("ours")
    yield s
    s.close()


def test_importing_the_entry_module_and_the_command_table_is_lean():
    code = ("import sys\n"
            "from pyvswitch.cli import ovs_vsctl\n"
            "ovs_vsctl.all_commands()\n"
            "import pyvswitch.vsctl.runner, pyvswitch.vsctl.rpc, pyvswitch.vsctl.output, pyvswitch.ovsdb.schema\n"
            "print(' '.join(sorted(sys.modules)))\n")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.append({package_dir()!r})\n" + code],
                       capture_output=True, text=True, timeout=60, cwd=REPO, check=True)
    loaded = set(r.stdout.split())
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("args", [
    ["--no-wait", "set", "Open_vSwitch", ".", "external_ids:k=v"],
    ["--no-wait", "--may-exist", "add-br", "br0", "--", "--may-exist", "add-port", "br0", "p1",
     "--", "set", "Interface", "p1", "type=internal"],
    ["list-br"],
    ["--if-exists", "get", "Open_vSwitch", ".", "external_ids:k"],
    ["--format=table", "list", "Open_vSwitch"],
    ["--no-wait", "add-port", "br0", "p2", "tag=5", "--", "set", "port", "p2", "trunks=1,2,3-5"],
    ["--no-wait", "--", "--id=@c", "create", "Controller", "target=\"tcp:1.2.3.4\"", "--",
     "set", "bridge", "br0", "controller=@c"],
    ["--format=json", "--", "--columns=name,tag", "find", "port", "tag=5", "--", "show"],
])
def test_a_whole_call_stays_lean(server, args):
    status, loaded, out = _probe(server.env, f"--db=unix:{server.sock}", *args)
    assert status == 0
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_call_imports_only_the_modules_its_commands_need(server):
    status, loaded, _ = _probe(server.env, f"--db=unix:{server.sock}", "--no-wait", "set", "Open_vSwitch", ".",
                               "external_ids:k=w")
    # No table printed, and database commands only.
    assert status == 0
    assert not {"pyvswitch.ovsdb.table_format", "pyvswitch.vsctl.output", "pyvswitch.vsctl.vswitch"} & loaded
    status, loaded, _ = _probe(server.env, f"--db=unix:{server.sock}", "list-br")
    assert status == 0 and "pyvswitch.vsctl.vswitch" in loaded and "pyvswitch.vsctl.dbcmds" in loaded


def test_the_probe_sees_real_work(server):
    """The probe runs the real command: its output is ovs-vsctl's."""
    assert subprocess.run([ours("ovs-vsctl"), f"--db=unix:{server.sock}", "--no-wait", "--may-exist", "add-br",
                           "brx"], env=server.env, capture_output=True, text=True, timeout=60).returncode == 0
    status, _, out = _probe(server.env, f"--db=unix:{server.sock}", "br-exists", "brx")
    assert status == 0
    status, _, out = _probe(server.env, f"--db=unix:{server.sock}", "list-br")
    assert "brx" in out.split()


# --- one call with many commands: the bridge cache kept in place ---

def _engine_vsctl():
    from test_units import EngineConnection, SCHEMA, vsctl
    from pyvswitch.ovsdb.database import Database
    conn = EngineConnection(Database(SCHEMA))
    return conn, lambda *words: vsctl(conn, *words)


def test_ports_added_earlier_in_a_call_are_seen_by_later_commands():
    conn, run = _engine_vsctl()
    assert run("add-br", "br0", "--", "add-br", "br1", "--", "add-br", "v5", "br0", "5") == (0, "")
    words = []
    for i in range(20):
        words += ["--", "add-port", f"br{i % 2}", f"p{i}", "--", "set", "interface", f"p{i}", "type=internal"]
    words += ["--", "list-ports", "br0", "--", "port-to-br", "p7", "--", "iface-to-br", "p8",
              "--", "add-port", "v5", "q1", "--", "port-to-br", "q1", "--", "list-ports", "br1"]
    rc, out = run(*words[1:])
    assert rc == 0
    lines = out.split("\n")
    assert lines[:10] == sorted(f"p{i}" for i in range(0, 20, 2))
    assert lines[10:13] == ["br1", "br0", "v5"]
    assert lines[13:23] == sorted(f"p{i}" for i in range(1, 20, 2))
    with pytest.raises(VsctlError, match="because a port named p3 already exists on bridge br1"):
        run("add-port", "br0", "x", "--", "add-port", "br0", "p3")


def test_a_set_that_restructures_rebuilds_the_cache():
    conn, run = _engine_vsctl()
    run("add-br", "br0", "--", "add-br", "v5", "br0", "5")
    # Tagging p1 with 5 moves it under the fake bridge v5 for the rest of the call.
    assert run("add-port", "br0", "p1", "--", "port-to-br", "p1", "--", "set", "port", "p1", "tag=5",
               "--", "port-to-br", "p1", "--", "add-port", "br0", "p2", "tag=5", "--", "port-to-br", "p2",
               "--", "set", "interface", "p2", "type=internal", "--", "list-ports", "v5") == (
        0, "br0\nv5\nv5\np1\np2\n")


# --- the schema, parsed a table at a time ---

@pytest.mark.parametrize("tables", [
    None,   # the Open_vSwitch schema as shipped
    {"A": {"columns": {"b": {"type": {"key": {"type": "uuid", "refTable": "B"}}, "ephemeral": True}}},
     "B": {"columns": {"n": {"type": "integer"}}, "maxRows": 2, "indexes": [["n"]]}},   # no root table
    {"A": {"columns": {"b": {"type": {"key": {"type": "uuid", "refTable": "B"}, "min": 0, "max": "unlimited"},
                             "ephemeral": True}}, "isRoot": True},
     "B": {"columns": {"n": {"type": "integer"}}, "isRoot": False}},
])
def test_lazy_schema_equals_the_whole_parse(tables):
    from pyvswitch.ovsdb.schema import DatabaseSchema
    from pyvswitch.vsctl import lazy_schema
    j = json.loads((REPO / "src/pyvswitch/schemas/vswitch.ovsschema").read_text())
    if tables is not None:
        j = {"name": "T", "version": "1.2.3", "tables": tables}
    whole, lazy = DatabaseSchema.from_json(j), lazy_schema.from_json(j)
    assert (lazy.name, lazy.version, lazy.cksum) == (whole.name, whole.version, whole.cksum)
    assert list(lazy.tables) == list(whole.tables) and len(lazy.tables) == len(whole.tables)
    for name in reversed(list(whole.tables)):
        lt, wt = lazy.tables[name], whole.tables[name]
        # Columns one at a time, from the last, before the table as a whole.
        for c in reversed(list(wt.all_columns)):
            assert lt.column(c) == wt.column(c) and (c in lt.columns) == (c in wt.columns)
        assert list(lt.all_columns) == list(wt.all_columns) and list(lt.columns) == list(wt.columns)
        assert len(lt.all_columns) == len(wt.all_columns) and lt.column("nope") is None
        assert lt == wt and wt == lt
        assert lazy.tables.get(name) is lt
    assert lazy.tables.get("Nope") is None and "Nope" not in lazy.tables


# --- the schema asked for before the commands are checked ---

@pytest.mark.parametrize("args", [["nonsense"], ["list-br", "extra"], ["--if-exists", "list-br"], ["list-br"],
                                  ["--retry", "--", "--no-wait", "nonsense"]])
def test_asking_early_changes_no_error(tmp_path, args):
    """Whether or not the server is there, a bad command line is reported as
    such, and a missing server as before; as the real tool does."""
    from util import have_reference, ref
    sock = tmp_path / "none.sock"
    runs = [ours("ovs-vsctl")] + ([ref("ovs-vsctl")] if have_reference("ovs-vsctl") else [])
    results = {subprocess.run([tool, f"--db=unix:{sock}", *args], capture_output=True, text=True,
                              timeout=30).stderr for tool in runs}
    assert len(results) == 1, results


def test_a_bad_command_line_leaves_the_early_connection_unused(server):
    for args in (["nonsense"], ["list-br", "x"]):
        r = subprocess.run([ours("ovs-vsctl"), f"--db=unix:{server.sock}", *args], env=server.env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and r.stderr.startswith("ovs-vsctl: ")
    r = subprocess.run([ours("ovs-vsctl"), f"--db=unix:{server.sock}", "--no-wait", "--may-exist", "add-br",
                        "bry", "--", "br-exists", "bry"], env=server.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
