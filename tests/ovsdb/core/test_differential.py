"""Differential tests: the same transactions on the reference ovsdb-server and on our engine.

Each script in scripts/ is a list of transactions (one JSON array per line)
run in order on a fresh database of the test schema; every result and every
log record must match the reference's, uuids aside.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from differential import Pair
from util import needs_reference

HERE = Path(__file__).resolve().parent
SCRIPTS = sorted((HERE / "scripts").glob("*.jsonl"))


@needs_reference
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_script_matches_reference(script, tmp_path):
    pair = Pair(HERE / "test.ovsschema", tmp_path)
    try:
        for n, line in enumerate(script.read_text().splitlines(), 1):
            if not line.strip():
                continue
            ops = json.loads(line)
            ref, ours = pair.transact(ops)
            assert ours == ref, f"{script.name}:{n}: {line}\n ours: {ours}\n  ref: {ref}"
    finally:
        pair.close()
