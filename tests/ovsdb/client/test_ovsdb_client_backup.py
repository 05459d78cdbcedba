"""backup writes a standalone database file the real ovsdb-tool reads;
restore puts it back into a running server; their errors match the real
ovsdb-client's."""

from __future__ import annotations

import json
import re

import pytest

from client_harness import TEST_SCHEMA, VSWITCH_SCHEMA, Server, compare, our_client, ref_client
from util import needs_reference, ours, ref, run

pytestmark = needs_reference

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path, [TEST_SCHEMA, VSWITCH_SCHEMA])
    try:
        s.transact(json.dumps(["Test",
                               {"op": "insert", "table": "T2", "row": {"name": "x"}, "uuid-name": "a"},
                               {"op": "insert", "table": "T", "row": {
                                   "e": "a", "u": ["named-uuid", "a"], "refs": ["named-uuid", "a"],
                                   "sr": ["set", [0.1, 2.5, 1e20]], "m": ["map", [["k", "é☃"]]]}}]))
        yield s
    finally:
        s.close()


def test_backup_is_a_database_file(server, tmp_path):
    r = our_client(server.env, "backup", server.remote, "Test")
    assert r.returncode == 0, r.stderr
    db = tmp_path / "backup.db"
    db.write_text(r.stdout)
    shown = run([ref("ovsdb-tool"), "show-log", str(db)], env=server.env)
    assert shown.returncode == 0 and 'record 0: "Test" schema' in shown.stdout
    q = run([ref("ovsdb-tool"), "query", str(db), '["Test",{"op":"select","table":"T2","where":[]}]'],
            env=server.env)
    assert '"name":"x"' in q.stdout


def restore(server, tmp_path, text, db="Test", client=our_client):
    """Runs restore with stdin a file holding text (a pipe is refused)."""
    f = tmp_path / "stdin"
    f.write_text(text)
    with open(f) as stdin:
        return client(server.env, "restore", server.remote, db, stdin=stdin)


def test_restore_round_trip(server, tmp_path):
    before = our_client(server.env, "dump", server.remote, "Test").stdout
    backup = our_client(server.env, "backup", server.remote, "Test").stdout
    server.transact('["Test",{"op":"delete","table":"T","where":[]},{"op":"insert","table":"T2","row":{"name":"y"}}]')
    r = restore(server, tmp_path, backup)
    assert (r.returncode, r.stderr) == (0, "")
    after = our_client(server.env, "dump", server.remote, "Test").stdout
    # Restored rows get new uuids; everything else, references included, is back.
    assert UUID.sub("U", after) == UUID.sub("U", before)
    t = json.loads(server.transact('["Test",{"op":"select","table":"T","where":[]},'
                                   '{"op":"select","table":"T2","where":[]}]'))
    assert t[0]["rows"][0]["u"] == t[1]["rows"][0]["_uuid"]


def test_restore_of_reference_backup(server, tmp_path):
    backup = run([ref("ovsdb-client"), "backup", server.remote, "Test"], env=server.env).stdout
    before = our_client(server.env, "dump", server.remote, "Test").stdout
    r = restore(server, tmp_path, backup)
    assert (r.returncode, r.stderr) == (0, "")
    assert UUID.sub("U", our_client(server.env, "dump", server.remote, "Test").stdout) == UUID.sub("U", before)


def test_restore_errors_match_reference(server, tmp_path):
    backup = run([ref("ovsdb-client"), "backup", server.remote, "Test"], env=server.env).stdout
    for text in ("", "garbage\n", backup):
        # Through a pipe (a valid backup is then refused: not seekable) ...
        a, b = compare(server.env, "restore", server.remote, "Open_vSwitch", input=text)
        assert b == a
        # ... and from a file.
        a, b = (restore(server, tmp_path, text, "Open_vSwitch", client)
                for client in (ref_client, our_client))
        assert (b.returncode, b.stdout, b.stderr) == (a.returncode, a.stdout, a.stderr)
    other = json.loads(VSWITCH_SCHEMA.read_text())
    other["name"] = "Other"
    path = tmp_path / "other.ovsschema"
    path.write_text(json.dumps(other))
    db = tmp_path / "other.db"
    run([ref("ovsdb-tool"), "create", str(db), str(path)], env=server.env)
    a, b = (restore(server, tmp_path, db.read_text(), "Open_vSwitch", client)
            for client in (ref_client, our_client))
    assert (b.returncode, b.stdout, b.stderr) == (a.returncode, a.stdout, a.stderr)


DATE = re.compile(rb'"_date":\d+')


def _undated(data: bytes) -> bytes:
    # The date differs, and so then do the length and hash in the header.
    return b"\n".join(DATE.sub(b'"_date":0', line) for line in data.split(b"\n") if not line.startswith(b"OVSDB"))


@pytest.mark.parametrize("db", ["Test", "Open_vSwitch"])
def test_backup_bytes_match_reference(server, db):
    # A bridge kept by the root table; its status column is ephemeral, so not backed up.
    server.transact(json.dumps(["Open_vSwitch",
                                {"op": "insert", "table": "Open_vSwitch", "row": {"bridges": ["named-uuid", "b"]}},
                                {"op": "insert", "table": "Bridge", "uuid-name": "b", "row": {
                                    "name": "br0", "external_ids": ["map", [["a", "x y"]]],
                                    "status": ["map", [["s", "1"]]]}}]))
    a = run([ref("ovsdb-client"), "backup", server.remote, db], env=server.env, text=False).stdout
    b = run([ours("ovsdb-client"), "backup", server.remote, db], env=server.env, text=False).stdout
    assert _undated(b) == _undated(a)
