"""ovsdb-tool commands that read and write data, against the reference tool:
transact, query, compact and convert, and files crossing between the two."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from util import needs_reference, ours, ovs_env, ref, run

pytestmark = needs_reference

SCHEMA = {"name": "t", "version": "1.0.0", "tables": {
    "A": {"isRoot": True, "columns": {
        "s": {"type": "string"},
        "n": {"type": {"key": "integer", "min": 0, "max": "unlimited"}},
        "e": {"type": {"key": {"type": "string", "enum": ["set", ["x", "y"]]}}},
        "gone": {"type": "integer"},
        "m": {"type": {"key": "string", "value": "integer", "min": 0, "max": "unlimited"}},
        "r": {"type": {"key": {"type": "uuid", "refTable": "B"}, "min": 0, "max": "unlimited"}}}},
    "B": {"columns": {"v": {"type": "integer"}}},
    "C": {"isRoot": True, "columns": {"w": {"type": "integer"}}},
}}

FILL = json.dumps(["t",
                   {"op": "insert", "table": "B", "row": {"v": 1}, "uuid-name": "b"},
                   {"op": "insert", "table": "A", "row": {
                       "s": "hello", "n": ["set", [1, 2, 3]], "e": "y", "gone": 5,
                       "m": ["map", [["a", 1], ["b", 2]]], "r": ["named-uuid", "b"]}},
                   {"op": "insert", "table": "A", "row": {"s": "two"}},
                   {"op": "insert", "table": "C", "row": {"w": 9}},
                   {"op": "comment", "comment": "fill"}])

SELECT_ALL = json.dumps(["t"] + [{"op": "select", "table": t, "where": []} for t in ("A", "B", "C")])


def _new_schema(tables: dict, name: str = "t") -> dict:
    return {"name": name, "version": "1.1.0", "tables": tables}


def _tool(tool: str, d: Path, *args: str):
    return run([tool, *args], cwd=d, env=ovs_env(d))


def _ok(tool: str, d: Path, *args: str) -> str:
    r = _tool(tool, d, *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _contents(d: Path, db: str, query: str = SELECT_ALL) -> list:
    """Every row, through the reference tool, without the per-load _version."""
    out = json.loads(_ok(ref("ovsdb-tool"), d, "query", db, query))
    for result in out:
        for row in result.get("rows", []):
            row.pop("_version", None)
        result.get("rows", []).sort(key=json.dumps)
    return out


def _log_shape(d: Path, db: str) -> str:
    """show-log -m by the reference, without dates."""
    text = _ok(ref("ovsdb-tool"), d, "show-log", "-m", db)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "DATE", text)


@pytest.fixture
def twin(tmp_path):
    """Two directories with the same reference-made database a.db."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "a.ovsschema").write_text(json.dumps(SCHEMA))
    _ok(ref("ovsdb-tool"), base, "create", "a.db", "a.ovsschema")
    _ok(ref("ovsdb-tool"), base, "transact", "a.db", FILL)
    dirs = []
    for name in ("ours", "ref"):
        shutil.copytree(base, tmp_path / name)
        dirs.append(tmp_path / name)
    return dirs


def _both(twin, *args):
    (a, b) = twin
    ra = _tool(ours("ovsdb-tool"), a, *args)
    rb = _tool(ref("ovsdb-tool"), b, *args)
    assert (ra.returncode, ra.stderr) == (rb.returncode, rb.stderr)
    return ra, rb


TXNS = [
    ["t", {"op": "mutate", "table": "A", "where": [["s", "==", "hello"]],
           "mutations": [["n", "insert", ["set", [7]]], ["m", "delete", ["set", ["a"]]]]}],
    ["t", {"op": "update", "table": "A", "where": [], "row": {"e": "x"}}, {"op": "comment", "comment": "c"}],
    ["t", {"op": "delete", "table": "A", "where": [["s", "==", "two"]]}],
    ["t", {"op": "insert", "table": "A", "row": {"s": "bad", "e": "z"}}],
    ["t", {"op": "select", "table": "C", "where": [], "columns": ["w"]}],
    ["t", {"op": "insert", "table": "C", "row": {"w": 1}}, {"op": "abort"}],
]


def test_transact_sequence_same_as_reference(twin):
    for txn in TXNS:
        ra, rb = _both(twin, "transact", "a.db", json.dumps(txn))
        strip = lambda s: re.sub(r'\["uuid","[0-9a-f-]{36}"\]', "UUID", s)
        assert strip(ra.stdout) == strip(rb.stdout)
    # Each tool reads what the other wrote, and both hold the same rows.
    assert _contents(twin[0], "a.db") == _contents(twin[1], "a.db")
    assert _log_shape(twin[0], "a.db") == _log_shape(twin[1], "a.db")
    ra, rb = _both(twin, "query", "a.db", SELECT_ALL)


def test_query_does_not_write(twin):
    before = (twin[0] / "a.db").read_bytes()
    _ok(ours("ovsdb-tool"), twin[0], "query", "a.db",
        json.dumps(["t", {"op": "insert", "table": "C", "row": {"w": 1}}]))
    assert (twin[0] / "a.db").read_bytes() == before


@pytest.mark.parametrize("dst", [None, "b.db"])
def test_compact_same_as_reference(twin, dst):
    _both(twin, "transact", "a.db", json.dumps(TXNS[0]))
    extra = [dst] if dst else []
    _both(twin, "compact", "a.db", *extra)
    out = dst or "a.db"
    assert _contents(twin[0], out) == _contents(twin[1], out)
    assert _log_shape(twin[0], out) == _log_shape(twin[1], out)
    assert "compacted by ovsdb-tool 3.1.0" in _log_shape(twin[0], out)


CONVERSIONS = {
    "drop-column-and-table": {
        "A": {"isRoot": True, "columns": {k: v for k, v in SCHEMA["tables"]["A"]["columns"].items() if k != "gone"}},
        "B": SCHEMA["tables"]["B"]},
    "type-change-fails": {"A": {"columns": {"s": {"type": "integer"}}}},
    "enum-narrowed-fails": {"A": {"columns": {"e": {"type": {"key": {"type": "string", "enum": ["set", ["x"]]}}}}}},
    "set-too-small-fails": {"A": {"columns": {"n": {"type": {"key": "integer", "min": 0, "max": 2}}}}},
    "new-table-and-unreferenced-rows": {
        "A": {"isRoot": True, "columns": {"s": {"type": "string"}}},
        "B": {"columns": {"v": {"type": "integer"}}},
        "D": {"columns": {"z": {"type": "integer"}}}},
    "weak-ref": {
        "A": {"isRoot": True, "columns": {"s": {"type": "string"}, "r": {"type": {
            "key": {"type": "uuid", "refTable": "B", "refType": "weak"}, "min": 0, "max": "unlimited"}}}},
        "B": {"isRoot": True, "columns": {"v": {"type": "integer"}}}},
}


@pytest.mark.parametrize("name", list(CONVERSIONS))
@pytest.mark.parametrize("dst", [None, "c.db"])
def test_convert_same_as_reference(twin, name, dst):
    for d in twin:
        (d / "b.ovsschema").write_text(json.dumps(_new_schema(CONVERSIONS[name])))
    extra = [dst] if dst else []
    ra, rb = _both(twin, "convert", "a.db", "b.ovsschema", *extra)
    out = dst or "a.db"
    if ra.returncode == 0:
        tables = CONVERSIONS[name]
        query = json.dumps(["t"] + [{"op": "select", "table": t, "where": []} for t in tables])
        assert _contents(twin[0], out, query) == _contents(twin[1], out, query)
        assert _log_shape(twin[0], out) == _log_shape(twin[1], out)
    _both(twin, "needs-conversion", "a.db", "b.ovsschema")


def test_lock_against_reference_server(twin):
    import subprocess
    from util import stop_pid, wait_until
    d = twin[0]
    proc = subprocess.Popen([ref("ovsdb-server"), "a.db", f"--remote=punix:{d}/db.sock",
                             f"--unixctl={d}/ctl", f"--pidfile={d}/s.pid", f"--log-file={d}/s.log"],
                            cwd=d, env=ovs_env(d), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: (d / "db.sock").exists(), what="the reference server's socket")
        r = _tool(ours("ovsdb-tool"), d, "transact", "a.db", '["t"]')
        assert r.returncode == 1
        assert r.stderr.endswith("ovsdb-tool: I/O error: a.db: failed to lock lockfile "
                                 "(Resource temporarily unavailable)\n")
        assert f"|lockfile|WARN|.a.db.~lock~: cannot lock file because it is already locked by pid {proc.pid}" \
            in r.stderr
        r = _tool(ours("ovsdb-tool"), d, "compact", "a.db")
        assert r.returncode == 1
        assert r.stderr.endswith("ovsdb-tool: a.db: failed to lock lockfile (Resource temporarily unavailable)\n")
        assert _ok(ours("ovsdb-tool"), d, "db-name", "a.db") == "t\n"      # readers need no lock
    finally:
        stop_pid(proc.pid)
        proc.wait(timeout=10)


def test_reference_respects_our_lock(twin):
    from pyvswitch.ovsdb.storage import Storage
    d = twin[0]
    with Storage.open(str(d / "a.db")):
        r = _tool(ref("ovsdb-tool"), d, "transact", "a.db", '["t"]')
    assert r.returncode == 1 and "failed to lock lockfile" in r.stderr
