"""Runs the same transactions on the reference ovsdb-server and on our engine.

`Pair` keeps a reference server and a `Database` in step.  UUIDs differ
between the two, so the pair learns which of our uuids corresponds to which of
the reference's from the "insert" results (same positions), and compares
results after rewriting our uuids to the reference's; uuids neither side can
pair (row versions, never-inserted named-uuids) become "<uuid>".  Rows in
"select" results are compared as sorted lists, since ovsdb-server returns them
in hash order.
"""

from __future__ import annotations

import json
import re

from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.schema import DatabaseSchema
from refserver import RefServer, read_log_records
from util import wait_until

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Pair:
    def __init__(self, schema_path, tmpdir) -> None:
        with open(schema_path) as f:
            self.schema = DatabaseSchema.from_json(json.load(f))
        self.ref = RefServer(schema_path, tmpdir)
        self.db = Database(self.schema)
        self.ours_to_ref: dict[str, str] = {}
        self.now = 1000.0
        self.n_records = len(read_log_records(self.ref.db))

    def close(self) -> None:
        self.ref.close()

    def learn(self, ref_results, our_results) -> None:
        for r, o in zip(ref_results or (), our_results or ()):
            if isinstance(r, dict) and isinstance(o, dict) and "uuid" in r and "uuid" in o:
                self.ours_to_ref[o["uuid"][1]] = r["uuid"][1]

    def translate(self, value, known: set[str]):
        """Rewrites our uuids into the reference's; unknown uuids become <uuid>."""
        text = json.dumps(value, sort_keys=True)

        def sub(m):
            u = m.group(0)
            if u in self.ours_to_ref:
                return self.ours_to_ref[u]
            return u if u in known else "<uuid>"
        return json.loads(UUID_RE.sub(sub, text))

    def normalize(self, results, ours: bool, loose: bool = False, ops: list = ()):
        """Results comparable across the two; with loose, only the error tag of a
        commit-time error, or of an operation with several columns, clauses or
        mutations, is compared (which of several problems ovsdb-server reports
        depends on its hash order)."""
        if results is None:
            return None
        known = set(self.ours_to_ref.values())
        if ours:
            results = self.translate(results, set())
        else:
            text = json.dumps(results, sort_keys=True)
            results = json.loads(UUID_RE.sub(lambda m: m.group(0) if m.group(0) in known else "<uuid>", text))
        out = []
        for r in results:
            if isinstance(r, dict) and "rows" in r:
                r = {"rows": sorted(r["rows"], key=lambda row: json.dumps(row, sort_keys=True))}
            if isinstance(r, dict) and "details" in r and r["details"].startswith("Transaction causes multiple"):
                head, _, tail = r["details"].partition("  First row")
                parts = ("First row" + tail).split("  Second row")
                # Which of two conflicting new rows ovsdb-server names depends on hash order.
                parts = sorted(UUID_RE.sub("<uuid>", p.split(", ", 1)[1] if ", " in p else p) for p in parts)
                r = dict(r, details=head + " | " + " | ".join(parts))
            out.append(_numbers(r))
        if loose:
            for k, r in enumerate(out):
                if isinstance(r, dict) and "error" in r and (k >= len(ops) or _ambiguous(ops[k])):
                    out[k] = {"error": r["error"]}
        return out

    def transact(self, ops: list, check_record: bool = True, loose: bool = False):
        """Runs ops on both; returns (reference results, our results), normalized."""
        ref = self.ref.transact(ops)
        ours = self.db.execute(ops, now=self.now)
        self.learn(ref, ours.results)
        record = ours.commit.record() if ours.commit is not None else None
        if check_record:
            self.check_record(record)
        return self.normalize(ref, False, loose, ops), self.normalize(ours.results, True, loose, ops)

    def check_record(self, record) -> None:
        if record is None:
            records = read_log_records(self.ref.db)
            assert len(records) == self.n_records, f"reference wrote a record we did not: {records[-1]}"
            return
        records = wait_until(lambda: (r := read_log_records(self.ref.db)) and len(r) > self.n_records and r,
                             timeout=5, what="reference log record")
        self.n_records = len(records)
        theirs = records[-1]
        theirs.pop("_date", None)
        known = set(self.ours_to_ref.values())
        theirs = json.loads(UUID_RE.sub(lambda m: m.group(0) if m.group(0) in known else "<uuid>",
                                        json.dumps(theirs)))
        mine = dict(record)
        mine.pop("_date", None)
        mine = self.translate(mine, set())
        assert _numbers(mine) == _numbers(theirs), (mine, theirs)


def _ambiguous(op) -> bool:
    """Whether ovsdb-server may report any of several errors in op, depending on hash order."""
    if not isinstance(op, dict):
        return False
    if any(isinstance(op.get(m), (dict, list)) and len(op[m]) > 1 for m in ("row", "mutations", "where", "rows")):
        return True
    # A wait's single row with several columns: they are checked in hash order too.
    rows = op.get("rows")
    return isinstance(rows, list) and any(isinstance(r, dict) and len(r) > 1 for r in rows)


def _numbers(v):
    """JSON with 1.0 and 1 compared equal (OVS writes reals like 1 without a point)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        if len(v) == 2 and v[0] in ("set", "map") and isinstance(v[1], list):
            return [v[0], sorted((_numbers(x) for x in v[1]), key=lambda x: json.dumps(x, sort_keys=True))]
        return [_numbers(x) for x in v]
    if isinstance(v, dict):
        return {k: _numbers(x) for k, x in v.items()}
    return v
