"""Our Open_vSwitch schema file against OVS 3.1's: same facts, correct cksum, accepted by the real tools."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from util import needs_reference, ovs_env, process_gone, ref, run, stop_pid, wait_until

OURS = Path(str(resources.files("pyvswitch") / "schemas" / "vswitch.ovsschema"))
REFERENCE = Path("/usr/share/openvswitch/vswitch.ovsschema")
needs_reference_schema = pytest.mark.skipif(
    not REFERENCE.exists(), reason=f"the reference schema {REFERENCE} is not installed")


def posix_cksum(data: bytes) -> str:
    """`cksum` as POSIX defines it: CRC-32 (0x04C11DB7, MSB first) over the data and then its length."""
    crc = 0

    def feed(crc: int, byte: int) -> int:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
        return crc

    for b in data:
        crc = feed(crc, b)
    n = len(data)
    while n:
        crc = feed(crc, n & 0xFF)
        n >>= 8
    return f"{~crc & 0xFFFFFFFF} {len(data)}"


def schema_cksum(text: str) -> str:
    """OVS's schema checksum: `cksum` of the file with every line naming "cksum" removed."""
    body = "".join(line for line in text.splitlines(keepends=True) if '"cksum"' not in line)
    return posix_cksum(body.encode())


def norm_base(b) -> dict:
    if isinstance(b, str):
        b = {"type": b}
    out = dict(b)
    if "enum" in out:
        e = out["enum"]
        out["enum"] = sorted(e[1]) if isinstance(e, list) and e and e[0] == "set" else [e]
    if "refTable" in out:
        out.setdefault("refType", "strong")
    return out


def norm_type(t) -> dict:
    if isinstance(t, str):
        t = {"key": t}
    return {"key": norm_base(t["key"]),
            "value": norm_base(t["value"]) if "value" in t else None,
            "min": t.get("min", 1), "max": t.get("max", 1)}


def norm_schema(s: dict) -> dict:
    tables = {}
    for name, ts in s["tables"].items():
        tables[name] = {
            "isRoot": ts.get("isRoot", False),
            "maxRows": ts.get("maxRows"),
            "indexes": sorted(tuple(sorted(ix)) for ix in ts.get("indexes", [])),
            "columns": {cn: {"type": norm_type(c["type"]),
                             "mutable": c.get("mutable", True),
                             "ephemeral": c.get("ephemeral", False)}
                        for cn, c in ts["columns"].items()},
        }
    return {"name": s["name"], "version": s["version"], "tables": tables}


def test_cksum_algorithm_matches_posix_cksum():
    # The standard check value of POSIX cksum.
    assert posix_cksum(b"123456789") == "930766865 9"
    assert posix_cksum(b"") == "4294967295 0"


def test_our_cksum_is_correct():
    text = OURS.read_text()
    assert json.loads(text)["cksum"] == schema_cksum(text)


@needs_reference_schema
def test_cksum_method_reproduces_the_reference():
    text = REFERENCE.read_text()
    assert json.loads(text)["cksum"] == schema_cksum(text)


def test_layout_is_our_own():
    text = OURS.read_text()
    lines = text.splitlines()
    assert lines[0] == "{" and lines[1].startswith('  "cksum": ')
    s = json.loads(text)
    assert list(s["tables"]) == sorted(s["tables"])
    for ts in s["tables"].values():
        assert list(ts["columns"]) == sorted(ts["columns"])


@needs_reference_schema
def test_same_facts_as_the_reference():
    ours = norm_schema(json.loads(OURS.read_text()))
    theirs = norm_schema(json.loads(REFERENCE.read_text()))
    assert ours["name"] == theirs["name"] == "Open_vSwitch"
    assert ours["version"] == theirs["version"]
    assert sorted(ours["tables"]) == sorted(theirs["tables"])
    for name, table in theirs["tables"].items():
        mine = ours["tables"][name]
        assert sorted(mine["columns"]) == sorted(table["columns"]), name
        for cn, col in table["columns"].items():
            assert mine["columns"][cn] == col, f"{name}.{cn}"
        assert {k: v for k, v in mine.items() if k != "columns"} == \
            {k: v for k, v in table.items() if k != "columns"}, name
    assert ours == theirs


@needs_reference
def test_reference_tool_agrees_on_cksum(tmp_path):
    r = run([ref("ovsdb-tool"), "schema-cksum", str(OURS)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == json.loads(OURS.read_text())["cksum"]
    if shutil.which("cksum") and shutil.which("sed"):
        r = run(f"sed '/\"cksum\": *\"[^\"]*\"/d' '{OURS}' | cksum", shell=True)
        assert r.stdout.strip() == json.loads(OURS.read_text())["cksum"]


@needs_reference
def test_reference_server_and_vsctl_accept_our_schema(tmp_path):
    env = ovs_env(tmp_path)
    db = tmp_path / "conf.db"
    r = run([ref("ovsdb-tool"), "create", str(db), str(OURS)], env=env)
    assert r.returncode == 0, r.stderr
    sock, pidfile = tmp_path / "db.sock", tmp_path / "ovsdb-server.pid"
    r = run([ref("ovsdb-server"), str(db), f"--remote=punix:{sock}", f"--pidfile={pidfile}",
             f"--unixctl={tmp_path / 'ovsdb-server.ctl'}", f"--log-file={tmp_path / 'ovsdb-server.log'}",
             "--detach", "--no-chdir"], env=env)
    assert r.returncode == 0, r.stderr
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile"))
    try:
        vsctl = [ref("ovs-vsctl"), f"--db=unix:{sock}", "--no-wait", "--timeout=10"]
        r = run(vsctl + ["init"], env=env)
        assert r.returncode == 0, r.stderr
        r = run(vsctl + ["add-br", "br0", "--", "set", "bridge", "br0", "fail_mode=secure"], env=env)
        assert r.returncode == 0, r.stderr
        r = run(vsctl + ["get", "bridge", "br0", "fail_mode"], env=env)
        assert r.stdout.strip() == "secure"
        r = run(vsctl + ["set", "bridge", "br0", "fail_mode=bogus"], env=env)
        assert r.returncode != 0 and "constraint violation" in r.stderr
        r = run([ref("ovsdb-client"), "get-schema-version", f"unix:{sock}"], env=env)
        assert r.stdout.strip() == json.loads(OURS.read_text())["version"]
    finally:
        stop_pid(pid)
    assert process_gone(pid)
