"""Differential tests: the same transactions on the reference ovsdb-server and on our engine.

Each script in scripts/ is a list of transactions (one JSON array per line)
run in order on a fresh database of the test schema; every result and every
log record must match the reference's, uuids aside.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from differential import UUID_RE, Pair
from util import needs_reference

HERE = Path(__file__).resolve().parent
VSWITCH = Path("/usr/share/openvswitch/vswitch.ovsschema")
SCRIPTS = [(HERE / "test.ovsschema", s) for s in sorted((HERE / "scripts").glob("*.jsonl"))]
SCRIPTS += [(VSWITCH, s) for s in sorted((HERE / "scripts_vswitch").glob("*.jsonl"))]
IDS = [s.stem for _, s in SCRIPTS]


@needs_reference
@pytest.mark.parametrize("schema,script", SCRIPTS, ids=IDS)
def test_script_matches_reference(schema, script, tmp_path):
    pair = Pair(schema, tmp_path)
    try:
        for n, line in enumerate(script.read_text().splitlines(), 1):
            if not line.strip():
                continue
            ops = json.loads(line)
            ref, ours = pair.transact(ops)
            assert ours == ref, f"{script.name}:{n}: {line}\n ours: {ours}\n  ref: {ref}"
    finally:
        pair.close()


def _all_rows(pair, db) -> dict:
    out = {}
    for name, t in db.tables.items():
        rows = []
        for row in t.rows.values():
            j = row.to_json()
            j.pop("_version")
            rows.append(j)
        out[name] = rows
    return out


def _ref_rows(pair) -> dict:
    out = {}
    for name in pair.schema.tables:
        rows = pair.ref.transact([{"op": "select", "table": name, "where": []}])[0]["rows"]
        for r in rows:
            r.pop("_version")
        out[name] = rows
    return out


def _canon(tables: dict) -> dict:
    from differential import _numbers
    return {t: sorted((_numbers(r) for r in rows), key=lambda r: json.dumps(r, sort_keys=True))
            for t, rows in tables.items()}


@needs_reference
@pytest.mark.parametrize("schema,script", SCRIPTS, ids=IDS)
def test_replaying_reference_log_gives_reference_contents(schema, script, tmp_path):
    from pyvswitch.ovsdb.database import Database
    from refserver import read_log_records
    pair = Pair(schema, tmp_path)
    try:
        for line in script.read_text().splitlines():
            if line.strip():
                pair.transact(json.loads(line), check_record=False)
        ref_rows = _canon(_ref_rows(pair))
        replayed = Database(pair.schema)
        for record in read_log_records(pair.ref.db)[1:]:
            replayed.apply_record(record)
        assert _canon(_all_rows(pair, replayed)) == ref_rows
        # Our own database reached the same contents, uuids aside.
        ours = pair.translate(_all_rows(pair, pair.db), set())
        known = set(pair.ours_to_ref.values())
        theirs = json.loads(UUID_RE.sub(lambda m: m.group(0) if m.group(0) in known else "<uuid>",
                                        json.dumps(ref_rows)))
        assert _canon(ours) == _canon(theirs)
        # And a snapshot of it replays to the same thing.
        again = Database(pair.schema)
        again.apply_record(replayed.snapshot_record())
        assert _canon(_all_rows(pair, again)) == ref_rows
    finally:
        pair.close()


@needs_reference
@pytest.mark.parametrize("schema", [HERE / "test.ovsschema", VSWITCH], ids=["test", "vswitch"])
def test_random_transactions_match_reference(schema, tmp_path_factory):
    """Random well-formed transactions, run on both, in one long-lived pair of databases."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from test_fuzz import good_op

    pair = Pair(schema, tmp_path_factory.mktemp("fuzz"))
    try:
        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
        @given(st.lists(good_op(pair.schema), min_size=1, max_size=4))
        def run(ops):
            ref, ours = pair.transact(ops, loose=True)
            assert ours == ref, f"{json.dumps(ops)}\n ours: {ours}\n  ref: {ref}"
        run()
    finally:
        pair.close()
