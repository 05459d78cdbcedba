"""Storage: open and replay, appends, torn tails, compaction, the lock file."""

from __future__ import annotations

import json
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyvswitch import vlog
from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.log import parse_log
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.storage import CompactionPolicy, Storage, lock_file_name, should_compact

SCHEMA = DatabaseSchema.from_json({
    "name": "t", "version": "1.0.0",
    "tables": {
        "Root": {"isRoot": True, "columns": {
            "name": {"type": "string"},
            "n": {"type": "integer"},
            "kids": {"type": {"key": {"type": "uuid", "refTable": "Kid"}, "min": 0, "max": "unlimited"}},
            "m": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}},
        "Kid": {"columns": {"v": {"type": "integer"}}},
    },
})


def _insert(storage: Storage, name: str, n: int, durable: bool = False):
    ops = [{"op": "insert", "table": "Kid", "row": {"v": n}, "uuid-name": "k"},
           {"op": "insert", "table": "Root", "row": {"name": name, "n": n, "kids": ["named-uuid", "k"],
                                                     "m": ["map", [["k", str(n)]]]}}]
    if durable:
        ops.append({"op": "commit", "durable": True})
    out = storage.db.execute(ops, now=1000.0 + n)
    assert out.commit is not None, out.results
    return out.commit


def _contents(db) -> dict:
    rec = db.snapshot_record()
    return {k: v for k, v in rec.items() if not k.startswith("_")}


@pytest.fixture
def path(tmp_path):
    p = str(tmp_path / "t.db")
    Storage.create(p, SCHEMA)
    return p


def test_create_then_reopen(path):
    with Storage.open(path) as s:
        assert s.schema.name == "t" and s.read_error is None
        for i in range(5):
            s.append_commits([_insert(s, f"r{i}", i)])
        before = _contents(s.db)
    with Storage.open(path) as s:
        assert _contents(s.db) == before
        assert len(s.db.tables["Root"].rows) == 5 and len(s.db.tables["Kid"].rows) == 5


def test_create_refuses_existing(path):
    with pytest.raises(OvsdbError) as e:
        Storage.create(path, SCHEMA)
    assert str(e.value) == f"I/O error: {path}: create failed (File exists)"


def test_missing_file(tmp_path):
    p = str(tmp_path / "nope.db")
    with pytest.raises(OvsdbError) as e:
        Storage.open(p)
    assert str(e.value) == f"I/O error: {p}: open failed (No such file or directory)"


def test_group_commit_is_one_write_and_fsyncs_only_when_durable(path, monkeypatch):
    with Storage.open(path) as s:
        commits = [_insert(s, f"r{i}", i) for i in range(10)]
        writes, syncs = [], []
        real_pwrite, real_fsync = os.pwrite, os.fsync
        monkeypatch.setattr(os, "pwrite", lambda fd, b, off: writes.append(len(b)) or real_pwrite(fd, b, off))
        monkeypatch.setattr(os, "fsync", lambda fd: syncs.append(fd) or real_fsync(fd))
        s.append_commits(commits)
        assert len(writes) == 1 and syncs == []
        s.append_commits([_insert(s, "d", 99, durable=True)])
        assert len(syncs) == 1
    records, err = parse_log(open(path, "rb").read(), path)
    assert err is None and len(records) == 12


@pytest.mark.parametrize("cut_from_end", [1, 5, 30, "header"])
def test_torn_tail_is_truncated_on_first_write(path, cut_from_end):
    with Storage.open(path) as s:
        for i in range(3):
            s.append_commits([_insert(s, f"r{i}", i)])
        good = _contents(s.db)
        s.append_commits([_insert(s, "torn", 7)])
    data = open(path, "rb").read()
    records, _ = parse_log(data, path)
    last = records[-1]
    cut = last.offset + 10 if cut_from_end == "header" else len(data) - cut_from_end
    with open(path, "r+b") as f:
        f.truncate(cut)
    lines = []
    vlog.set_console(_Lines(lines))
    try:
        with Storage.open(path) as s:
            assert s.read_error is not None and s.read_error.offset == last.offset
            assert _contents(s.db) == good
            assert os.path.getsize(path) == cut          # opening changes nothing
            assert any(str(s.read_error) in line and "ovsdb_log|WARN" in line for line in lines)
            s.append_commits([_insert(s, "after", 8)])
            after = _contents(s.db)
    finally:
        vlog.set_console(sys.stderr)
    assert any("truncating" in line and "ovsdb_log|WARN" in line for line in lines)
    records, err = parse_log(open(path, "rb").read(), path)
    assert err is None
    with Storage.open(path) as s:
        assert s.read_error is None and _contents(s.db) == after


def test_strict_open_refuses_torn_tail(path):
    with Storage.open(path) as s:
        s.append_commits([_insert(s, "a", 1)])
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 3)
    with pytest.raises(OvsdbError) as e:
        Storage.open(path, strict=True)
    assert "error reading" in str(e.value) and "(End of file)" in str(e.value)


class _Lines:
    def __init__(self, out):
        self.out = out

    def write(self, s):
        self.out.extend(s.splitlines())

    def flush(self):
        pass


def test_compaction_keeps_every_row(path):
    with Storage.open(path) as s:
        for i in range(50):
            s.append_commits([_insert(s, f"r{i}", i)])
        s.db.execute([{"op": "delete", "table": "Root", "where": [["n", "<", 10]]}], now=2000.0)
        upd = s.db.execute([{"op": "update", "table": "Root", "where": [["n", ">=", 40]],
                             "row": {"m": ["map", [["z", "y"]]]}}], now=2001.0)
        assert upd.commit is not None
        s.append_commits([upd.commit])
        before = _contents(s.db)
        size_before = s.size
        s.compact(3000.0, "compacting database online")
        assert s.size < size_before and s.commits == 0
        s.append_commits([_insert(s, "post", 100)])
        after = _contents(s.db)
    records, err = parse_log(open(path, "rb").read(), path)
    assert err is None and len(records) == 3
    assert records[1].value["_comment"] == "compacting database online"
    assert records[1].value["_date"] == 3000000
    with Storage.open(path) as s:
        assert _contents(s.db) == after
        assert {k: v for k, v in before["Root"].items()}.items() <= after["Root"].items()
    assert not os.path.exists(path + ".tmp")


def test_compact_to_destination(path, tmp_path):
    with Storage.open(path) as s:
        for i in range(5):
            s.append_commits([_insert(s, f"r{i}", i)])
        dst = str(tmp_path / "copy.db")
        s.compact(5.0, "x", dst=dst)
        want = _contents(s.db)
    with Storage.open(dst) as c:
        assert _contents(c.db) == want


def test_lock_excludes_second_writer(path):
    s = Storage.open(path)
    try:
        assert os.path.exists(lock_file_name(path))
        with pytest.raises(OvsdbError) as e:
            Storage.open(path)
        assert str(e.value) == f"I/O error: {path}: failed to lock lockfile (Resource deadlock avoided)"
        with Storage.open(path, read_only=True) as r:          # readers take no lock
            assert r.schema.name == "t"
    finally:
        s.close()
    Storage.open(path).close()


def test_lock_excludes_other_process(path):
    import subprocess
    import sys
    code = ("import sys; from pyvswitch.ovsdb.storage import Storage\n"
            "try:\n    Storage.open(sys.argv[1])\nexcept Exception as e:\n    print(e)\n")
    with Storage.open(path):
        r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == f"I/O error: {path}: failed to lock lockfile (Resource temporarily unavailable)"
    assert f"cannot lock file because it is already locked by pid {os.getpid()}" in r.stderr


P = CompactionPolicy()
MB = 1024 * 1024


@pytest.mark.parametrize("size,base,commits,elapsed,due", [
    (20 * MB, 5 * MB, 150, 11 * 60, True),       # grew lots, enough commits and time
    (20 * MB, 5 * MB, 150, 9 * 60, False),       # too soon after the last compaction
    (20 * MB, 5 * MB, 99, 11 * 60, False),       # too few commits
    (9 * MB, 1 * MB, 500, 11 * 60, False),       # still small
    (20 * MB, 11 * MB, 500, 11 * 60, False),     # not twice as large
    (1 * MB, 1 * MB, 100, 24 * 3600, True),      # a day later, any size
    (1 * MB, 1 * MB, 99, 48 * 3600, False),      # ... but only with 100 commits
])
def test_compaction_policy(size, base, commits, elapsed, due):
    assert should_compact(size=size, base_size=base, commits=commits, last_compaction=100.0,
                          now=100.0 + elapsed) is due


def test_storage_should_compact_counts_commits(path):
    with Storage.open(path, now=0.0) as s:
        s.policy = CompactionPolicy(min_size=1, min_commits=3, min_interval=0.0)
        for i in range(3):
            assert not s.should_compact(now=1.0)
            s.append_commits([_insert(s, f"r{i}", i)])
        assert s.should_compact(now=1.0)
        s.compact(now=2.0)
        assert not s.should_compact(now=3.0)


def test_records_are_what_the_log_holds(path):
    with Storage.open(path) as s:
        c = _insert(s, "x", 1)
        s.append_commits([c])
    records, _ = parse_log(open(path, "rb").read(), path)
    assert records[-1].value == json.loads(json.dumps(c.record()))


def _state_after_each_commit(path: str, n: int) -> tuple[list[dict], list[int]]:
    """Runs n transactions; returns the contents and file size after each."""
    states, sizes = [], []
    with Storage.open(path) as s:
        states.append(_contents(s.db))
        sizes.append(s.size)
        for i in range(n):
            if i % 3 == 2:
                out = s.db.execute([{"op": "delete", "table": "Root", "where": [["n", "==", i - 1]]}],
                                   now=float(i))
                s.append_commits([out.commit])
            else:
                s.append_commits([_insert(s, f"r{i}", i)])
            states.append(_contents(s.db))
            sizes.append(s.size)
    return states, sizes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_crash_at_any_byte_loses_only_the_torn_commit(tmp_path_factory, data):
    """Cut the file anywhere: reopening gives exactly the state after the
    last commit whose bytes were all written, and the next write cleans up."""
    d = tmp_path_factory.mktemp("crash")
    path = str(d / "t.db")
    Storage.create(path, SCHEMA)
    states, sizes = _state_after_each_commit(path, 8)
    cut = data.draw(st.integers(min_value=sizes[0], max_value=sizes[-1]))
    with open(path, "r+b") as f:
        f.truncate(cut)
    expect = max(i for i, size in enumerate(sizes) if size <= cut)
    with Storage.open(path) as s:
        assert _contents(s.db) == states[expect]
        assert (s.read_error is None) == (sizes[expect] == cut)
        s.append_commits([_insert(s, "next", 100)])
        after = _contents(s.db)
    with Storage.open(path, strict=True) as s:
        assert _contents(s.db) == after


def test_failed_write_leaves_no_partial_record(path, monkeypatch):
    import errno as _errno
    with Storage.open(path) as s:
        s.append_commits([_insert(s, "a", 1)])
        size = s.size
        real_pwrite = os.pwrite
        calls = []

        def short_then_full(fd, buf, off):
            calls.append(len(buf))
            if len(calls) == 1:
                return real_pwrite(fd, bytes(buf[:7]), off)       # a partial write...
            raise OSError(_errno.ENOSPC, os.strerror(_errno.ENOSPC))   # ...then the disk is full
        monkeypatch.setattr(os, "pwrite", short_then_full)
        with pytest.raises(OvsdbError) as e:
            s.append_commits([_insert(s, "b", 2)])
        assert str(e.value) == f"I/O error: {path}: write failed (No space left on device)"
        assert os.path.getsize(path) == size and s.size == size
        monkeypatch.setattr(os, "pwrite", real_pwrite)
        s.append_commits([_insert(s, "c", 3)])
    records, err = parse_log(open(path, "rb").read(), path)
    assert err is None and len(records) == 3
