"""The standalone log format: framing, torn and corrupt tails, appends."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.ovsdb.log import LogWriter, encode_record, json_error_text, parse_log
from util import needs_reference, ref

SCHEMA = {"name": "t", "version": "1.0.0", "tables": {"T": {"columns": {"i": {"type": "integer"}}}}}


def _file(*values) -> bytes:
    return b"".join(encode_record(v) for v in values)


def test_record_layout():
    rec = encode_record({"a": 1, "b": "é"})
    header, data = rec.split(b"\n", 1)
    assert data == '{"a":1,"b":"é"}\n'.encode()
    assert header == b"OVSDB JSON %d %s" % (len(data), hashlib.sha1(data).hexdigest().encode())


def test_round_trip():
    values = [SCHEMA, {"T": {}}, {"_date": 1, "_comment": "x"}]
    records, err = parse_log(_file(*values), "db")
    assert err is None
    assert [r.value for r in records] == values
    assert records[-1].end == len(_file(*values))


def test_every_torn_tail_keeps_the_good_prefix():
    values = [SCHEMA, {"T": {"a": None}}, {"_date": 2}]
    data = _file(*values)
    good_ends = [0] + [len(_file(*values[:i + 1])) for i in range(len(values))]
    for cut in range(len(encode_record(SCHEMA)), len(data)):
        records, err = parse_log(data[:cut], "db")
        expect = max(e for e in good_ends if e <= cut)
        assert records[-1].end == expect
        assert (err is None) == (cut == expect)
        if err is not None:
            assert err.offset == expect


@pytest.mark.parametrize("tail,message", [
    (b"garbage\n", 'syntax error: db: parse error at offset {o} in header line "garbage"'),
    (b"OVSDB JSON 3 " + b"0" * 40 + b"\n{}\n",
     "syntax error: db: 3 bytes starting at offset {d} have SHA-1 hash "
     "5f36b2ea290645ee34d943220a14b54ee5ea5be5 but should have hash " + "0" * 40),
    (b"OVSDB JSON 211 " + b"0" * 40 + b"\n{}\n",
     "I/O error: db: error reading 211 bytes starting at offset {d} (End of file)"),
])
def test_corrupt_tail_messages(tail, message):
    head = _file(SCHEMA, {"_date": 5})
    records, err = parse_log(head + tail, "db")
    assert len(records) == 2
    assert err.offset == len(head)
    assert str(err) == message.format(o=len(head), d=len(head) + tail.index(b"\n") + 1)


def test_bad_json_and_non_object():
    head = _file(SCHEMA)
    for body, text in ((b'{"x":}\n', "are not valid JSON (line 0, column 5, byte 5: syntax error expecting value)"),
                       (b"[1]\n", "are not a JSON object")):
        rec = b"OVSDB JSON %d %s\n" % (len(body), hashlib.sha1(body).hexdigest().encode()) + body
        records, err = parse_log(head + rec, "db")
        assert len(records) == 1
        assert err.text == f"{len(body)} bytes starting at offset {len(head) + rec.index(b'{' if b'{' in body else b'[')} {text}"


@pytest.mark.parametrize("data,text", [
    (b"", "cannot identify file type"),
    (b"garbage\n", "unexpected file format"),
    (b"OVSDB JSONX 3 " + b"0" * 40 + b"\n{}\n", "cannot identify file type"),
    (b"OVSDB CLUSTER 3 " + b"0" * 40 + b"\n{}\n", "cannot apply this operation to clustered database file"),
])
def test_file_type(data, text):
    records, err = parse_log(data, "db")
    assert records == [] and str(err) == f"ovsdb error: db: {text}"


@pytest.mark.parametrize("text,expect", [
    ("conf.db", "line 0, column 4, byte 4: invalid keyword 'conf'"),
    ("[", "line 0, column 1, byte 1: unexpected end of input"),
    ("", "line 0, column 0, byte 0: empty input stream"),
    ("[1,2", "line 0, column 5, byte 5: unexpected end of input"),
    ("[1 2]", "line 0, column 4, byte 4: syntax error expecting ']' or ','"),
    ('{"a":1 "b"}', "line 0, column 9, byte 9: syntax error expecting '}' or ','"),
    ('{1:2}', "line 0, column 2, byte 2: syntax error parsing object expecting string"),
    ('"abc', "line 0, column 4, byte 4: unexpected end of input in quoted string"),
    ("[\n  foo]", "line 1, column 5, byte 7: invalid keyword 'foo'"),
    ('{"x":1}}', "line 0, column 7, byte 7: trailing garbage at end of input"),
    ('[1]', ""),
])
def test_json_error_text(text, expect):
    assert json_error_text(text) == expect


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_never_raises(tail):
    records, err = parse_log(_file(SCHEMA) + tail, "db")
    assert records[0].value == SCHEMA


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_json_error_text_never_raises(text):
    json_error_text(text)


def test_writer_group_commit(tmp_path):
    path = tmp_path / "db"
    path.write_bytes(_file(SCHEMA))
    fd = os.open(path, os.O_RDWR)
    try:
        w = LogWriter(fd, str(path), os.fstat(fd).st_size)
        w.append([{"_date": 1}, {"_date": 2}, {"_date": 3}], durable=True)
        w.append([{"_date": 4}])
        assert w.records_written == 4
    finally:
        os.close(fd)
    records, err = parse_log(path.read_bytes(), str(path))
    assert err is None and [r.value.get("_date") for r in records[1:]] == [1, 2, 3, 4]


@needs_reference
def test_reference_reads_our_records_and_we_read_theirs(tmp_path):
    db = tmp_path / "ref.db"
    r = subprocess.run([ref("ovsdb-tool"), "create", str(db), "/usr/share/openvswitch/vswitch.ovsschema"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([ref("ovsdb-tool"), "transact", str(db),
                        '["Open_vSwitch",{"op":"insert","table":"Open_vSwitch","row":{"next_cfg":7}},'
                        '{"op":"comment","comment":"ref"}]'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    records, err = parse_log(db.read_bytes(), str(db))
    assert err is None and records[0].value["name"] == "Open_vSwitch"
    assert records[1].value["_comment"] == "ref"
    # Re-encoding their records gives their bytes back, apart from key order.
    ours = tmp_path / "ours.db"
    ours.write_bytes(_file(*(r.value for r in records)) + encode_record({"_date": 1, "_comment": "ours"}))
    r = subprocess.run([ref("ovsdb-tool"), "show-log", str(ours)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].endswith('"ours"')
    assert '"ref"' in r.stdout
