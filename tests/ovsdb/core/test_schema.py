"""Schemas: round trips, and validation errors worded like the reference ovsdb-tool's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.schema import DatabaseSchema
from util import needs_reference, ref

VSWITCH = "/usr/share/openvswitch/vswitch.ovsschema"

BAD = [
    '{"name":"x","version":"1.2","tables":{"T":{"columns":{"a":{"type":"integer"}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"_a":{"type":"integer"}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"int"}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":"integer","min":2}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"uuid","refTable":"U"}}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}},"indexes":[["b"]]}}}',
    '{"name":"x","tables":{"T":{"columns":{}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}},"maxRows":0}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer","foo":1}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer","foo":1,"bar":2}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"integer","minInteger":5,"maxInteger":1}}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"real","minReal":5,"maxReal":1}}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"string","minLength":5,"maxLength":1}}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"string","enum":["set",[1]]}}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":{"type":"uuid","refTable":"T","refType":"soft"}}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer","ephemeral":true}},"indexes":[["a"]]}}}',
    '{"name":"1x","tables":{}}',
    '{"name":"x"}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":"integer","max":0}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"key":"integer","max":"lots"}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":{"value":"integer"}}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}},"indexes":[["a","a"]]}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}},"indexes":[[]]}}}',
    '{"name":"x","tables":{"T":{"columns":{"a b":{"type":"integer"}}}}}',
    '{"name":"x","tables":{"T":{"columns":{"a":{"type":"integer"}},"isRoot":1}}}',
    '{"name":"x","tables":{"T":[]}}',
]


@needs_reference
@pytest.mark.parametrize("text", BAD)
def test_schema_errors_match_ovsdb_tool(text, tmp_path):
    path = tmp_path / "s.ovsschema"
    path.write_text(text)
    p = subprocess.run([ref("ovsdb-tool"), "create", str(tmp_path / "db"), str(path)],
                       capture_output=True, text=True)
    assert p.returncode != 0
    with pytest.raises(OvsdbError) as info:
        DatabaseSchema.from_json(json.loads(text))
    e = info.value
    expected = f"{e.error}: failed to parse \"{path}\" as ovsdb schema: {e.details}"
    if e.syntax is not None:
        expected = f'syntax "{e.syntax}": ' + expected
    assert p.stderr.strip() == f"ovsdb-tool: {expected}"


def test_vswitch_schema_round_trips():
    with open(VSWITCH) as f:
        j = json.load(f)
    s = DatabaseSchema.from_json(j)
    assert (s.name, s.version, s.cksum) == ("Open_vSwitch", j["version"], j["cksum"])
    assert DatabaseSchema.from_json(s.to_json()) == s
    bridge = s.tables["Bridge"]
    assert bridge.indexes == [("name",)]
    assert not bridge.columns["name"].mutable
    assert s.tables["Open_vSwitch"].max_rows == 1
    assert s.tables["Open_vSwitch"].is_root and not s.tables["Port"].is_root


def test_no_root_table_means_all_are_roots():
    s = DatabaseSchema.from_json({"name": "x", "tables": {"A": {"columns": {"a": {"type": "integer"}}}}})
    assert s.tables["A"].is_root
    assert "isRoot" not in s.to_json()["tables"]["A"]


def test_weak_references_are_always_mutable():
    s = DatabaseSchema.from_json({"name": "x", "tables": {"A": {"columns": {"a": {
        "mutable": False, "type": {"key": {"type": "uuid", "refTable": "A", "refType": "weak"}}}}}}})
    assert s.tables["A"].columns["a"].mutable


@needs_reference
@pytest.mark.parametrize("path", [VSWITCH, str(Path(__file__).resolve().parent / "test.ovsschema")])
def test_to_json_matches_reference_get_schema(path, tmp_path):
    from refserver import RefServer
    with open(path) as f:
        ours = DatabaseSchema.from_json(json.load(f)).to_json()
    with RefServer(path, tmp_path) as server:
        theirs = server.call("get_schema", [server.db_name])
    assert json.loads(json.dumps(ours, sort_keys=True)) == json.loads(json.dumps(theirs, sort_keys=True))
