"""ovsdb-tool against the reference ovsdb-tool 3.1: same stdout, stderr and exit status.

Each case runs both tools in twin private directories holding copies of the
same files (made by the reference tool), with relative paths so that the
messages are comparable byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from util import needs_reference, ours, ovs_env, ref, run

pytestmark = needs_reference

REF_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
UUID = "36a7753a-38c5-4f78-9b8d-a0cfeb5262e2"


def _record(value) -> bytes:
    data = (json.dumps(value, separators=(",", ":")) + "\n").encode()
    return b"OVSDB JSON %d %s\n" % (len(data), hashlib.sha1(data).hexdigest().encode()) + data


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Database files written by the reference tool, plus damaged copies."""
    d = tmp_path_factory.mktemp("corpus")
    env = ovs_env(d)

    def tool(*args):
        r = run([ref("ovsdb-tool"), *args], cwd=d, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    tool("create", "conf.db", REF_SCHEMA)
    tool("transact", "conf.db",
         '["Open_vSwitch",{"op":"insert","table":"Open_vSwitch","row":{"next_cfg":1}},'
         '{"op":"comment","comment":"hello"}]')
    tool("transact", "conf.db",
         '["Open_vSwitch",{"op":"insert","table":"Bridge","uuid-name":"b","row":{"name":"br0",'
         '"external_ids":["map",[["a","b"],["k1","v 1"]]],"protocols":"OpenFlow13","stp_enable":true}},'
         '{"op":"insert","table":"Bridge","uuid-name":"c","row":{"name":"br 1"}},'
         '{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",'
         '["set",[["named-uuid","b"],["named-uuid","c"]]]],["next_cfg","+=",1]]}]')
    tool("transact", "conf.db",
         '["Open_vSwitch",{"op":"update","table":"Bridge","where":[["name","==","br0"]],'
         '"row":{"external_ids":["map",[["c","d"]]],"fail_mode":"secure"}}]')
    tool("transact", "conf.db",
         '["Open_vSwitch",{"op":"update","table":"Open_vSwitch","where":[],"row":{"bridges":["set",[]]}}]')
    good = (d / "conf.db").read_bytes()
    (d / "torn.db").write_bytes(good[:-10])
    (d / "garbage.db").write_bytes(good + b"garbage\n")
    (d / "badsha.db").write_bytes(good + b"OVSDB JSON 3 " + b"0" * 40 + b"\n{}\n")
    (d / "empty.db").write_bytes(b"")
    (d / "text.db").write_bytes(b"hello\n")
    (d / "badschema.db").write_bytes(_record({}))
    (d / "array.db").write_bytes(good + _record([1]))
    (d / "odd.db").write_bytes(good + b"".join(_record(v) for v in (
        {"_date": 1000, "Open_vSwitch": {UUID: {"next_cfg": 5, "external_ids": ["map", [["x", "y"]]]}}},
        {"_date": 2000, "_comment": "only comment"},
        {"_date": 3000, "_comment": 'q"uote', "Bridge": {"11111111-38c5-4f78-9b8d-a0cfeb5262e2": {
            "name": 'br"1', "ports": ["set", []], "junk": 1, "fail_mode": "bogus"}}},
        {"Bridge": {"11111111-38c5-4f78-9b8d-a0cfeb5262e2": {"name": "br2"}},
         "Nope": {"22222222-38c5-4f78-9b8d-a0cfeb5262e2": {"a": [1, 2]}}, "_is_diff": True},
        {"Bridge": {"11111111-38c5-4f78-9b8d-a0cfeb5262e2": None}, "_date": "x"},
        {"Bridge": {"33333333-38c5-4f78-9b8d-a0cfeb5262e2": None, "44444444-38c5-4f78-9b8d-a0cfeb5262e2": 5},
         "_comment": 5, "T": []},
        {},
    )))
    (d / "bad.ovsschema").write_text('{"name":"x","tables":{"A":{"columns":{"b":{"type":"integer","bogus":1}}}}}')
    (d / "empty.ovsschema").write_text("{}")
    (d / "notjson.ovsschema").write_text("root:x:0:0\n")
    (d / "small.ovsschema").write_text(
        '{"name":"t","version":"1.2.3","tables":{"A":{"columns":{"s":{"type":"string"}},"isRoot":true}}}')
    (d / "sub").mkdir()
    return d


def _normalize(text: str, d: Path, tool: str) -> str:
    """Log lines carry the time; getopt errors the invocation path."""
    text = re.sub(r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|", "TIME|", text)
    return text.replace(tool + ":", "ovsdb-tool:").replace(str(d), "DIR")


def compare(tmp_path: Path, corpus: Path, *args: str) -> tuple[int, str, str]:
    results = []
    for name, tool in (("ours", ours("ovsdb-tool")), ("ref", ref("ovsdb-tool"))):
        d = tmp_path / name
        shutil.copytree(corpus, d)
        r = run([tool, *args], cwd=d, env=ovs_env(d))
        results.append((r.returncode, r.stdout.replace(str(d), "DIR"), _normalize(r.stderr, d, tool)))
    assert results[0] == results[1]
    return results[0]


CASES = [
    ["db-version", "conf.db"], ["db-name", "conf.db"], ["db-cksum", "conf.db"],
    ["db-version"], ["db-name", "torn.db"],
    ["schema-version", REF_SCHEMA], ["schema-name", REF_SCHEMA], ["schema-cksum", REF_SCHEMA],
    ["schema-version", "small.ovsschema"], ["schema-cksum", "small.ovsschema"],
    ["schema-name", "bad.ovsschema"], ["schema-name", "empty.ovsschema"], ["schema-name", "notjson.ovsschema"],
    ["schema-name", "missing.ovsschema"], ["schema-name", "sub"],
    ["db-version", "missing.db"], ["db-version", "sub"], ["db-version", "empty.db"], ["db-version", "text.db"],
    ["db-version", "badschema.db"],
    ["needs-conversion", "conf.db", REF_SCHEMA], ["needs-conversion", "conf.db", "small.ovsschema"],
    ["db-is-standalone", "conf.db"], ["db-is-clustered", "conf.db"], ["db-is-standalone", "missing.db"],
    ["compare-versions", "1.2.3", "<", "1.3.0"], ["compare-versions", "1.2.3", "==", "1.3.0"],
    ["compare-versions", "1.2", "<", "1.3.0"], ["compare-versions", "1.2.3", "~", "1.3.0"],
    ["show-log", "conf.db"], ["show-log", "-m", "conf.db"], ["show-log", "-m", "odd.db"],
    ["show-log", "-mm", "conf.db"], ["-m", "-m", "-m", "show-log", "conf.db"], ["show-log", "-mm", "odd.db"],
    ["show-log", "torn.db"], ["show-log", "-m", "garbage.db"], ["show-log", "badsha.db"],
    ["show-log", "array.db"], ["show-log", "badschema.db"], ["show-log", "empty.db"],
    ["create", "conf.db", REF_SCHEMA], ["create", "new.db", "notjson.ovsschema"],
    ["create", "nodir/new.db", REF_SCHEMA],
    [], ["bogus"], ["--bogus"], ["-x"], ["db-version", "a", "b"], ["transact"], ["-vfoo", "db-version"],
    ["-V"], ["--version"], ["list-commands"], ["compare-versions", "1"],
    ["compact", "torn.db"], ["compact", "garbage.db", "x.db"], ["compact", "missing.db"],
    ["convert", "torn.db", REF_SCHEMA], ["convert", "conf.db", "missing.ovsschema"],
    ["query", "torn.db", '["Open_vSwitch"]'], ["transact", "badsha.db", '["Open_vSwitch"]'],
    ["query", "conf.db", "conf.db"], ["query", "conf.db", "[1"], ["query", "conf.db", "1"],
    ["query", "conf.db", '["Open_vSwitch",{"op":"select","table":"Bridge","where":[],"columns":["name"]}]'],
    ["transact", "conf.db", '{}'], ["transact", "conf.db", '["Nope"]'],
    ["transact", "conf.db", '["Open_vSwitch",{"op":"comment","comment":"y"},{"op":"wait","table":"Bridge",'
     '"where":[],"until":"==","rows":[{}],"timeout":1000},{"op":"comment","comment":"x"}]'],
    ["query", "conf.db", '["Open_vSwitch",{"op":"wait","table":"Bridge","where":[],"until":"==","rows":[{}]}]'],
    ["query", "conf.db", '["Open_vSwitch",{"op":"wait","table":"Bridge","where":[],"until":"==","rows":[{}],'
     '"timeout":0}]'],
    ["show-log", "missing.db"], ["db-is-standalone", "empty.db"], ["db-is-clustered", "text.db"],
    ["needs-conversion", "conf.db", "missing.ovsschema"], ["needs-conversion", "torn.db", REF_SCHEMA],
    ["db-cid", "conf.db", "x"], ["-m"], ["db-cid", "conf.db"], ["db-sid", "conf.db"],
    ["db-local-address", "conf.db"], ["db-cid", "missing.db"], ["check-cluster", "conf.db"],
    ["cluster-to-standalone", "x.db", "conf.db"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "(none)")
def test_same_as_reference(tmp_path, corpus, args):
    compare(tmp_path, corpus, *args)


def test_create_matches_reference_schema_record(tmp_path, corpus):
    """A database we create is read back identically by the reference tool."""
    d = tmp_path / "d"
    d.mkdir()
    r = run([ours("ovsdb-tool"), "create", "x.db", REF_SCHEMA], cwd=d, env=ovs_env(d))
    assert r.returncode == 0, r.stderr
    assert (d / ".x.db.~lock~").exists()
    assert (d / "x.db").stat().st_mode & 0o777 == 0o640
    for cmd in ("db-version", "db-cksum", "db-name"):
        a = run([ref("ovsdb-tool"), cmd, "x.db"], cwd=d, env=ovs_env(d))
        b = run([ref("ovsdb-tool"), cmd, str(corpus / "conf.db")], cwd=d, env=ovs_env(d))
        assert (a.returncode, a.stdout) == (0, b.stdout)
    r = run([ref("ovsdb-tool"), "needs-conversion", "x.db", REF_SCHEMA], cwd=d, env=ovs_env(d))
    assert r.stdout == "no\n"
