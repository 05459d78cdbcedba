"""Engine figures (CPU time, so other load on the machine matters less).

usage: .venv/bin/python tests/ovsdb/core/bench_engine.py [ROWS]
  txn/s       the hot transaction: mutate Open_vSwitch.external_ids (delete a key, insert it)
              plus its log record
  open        a ROWS-row Interface table replayed from one snapshot record, and memory held
  add-port    one transaction adding a port to a 5000-port bridge
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
import uuid

from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.schema import DatabaseSchema

VSWITCH = "/usr/share/openvswitch/vswitch.ovsschema"


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    with open(VSWITCH) as f:
        schema = DatabaseSchema.from_json(json.load(f))

    db = Database(schema)
    u = db.execute([{"op": "insert", "table": "Open_vSwitch", "row": {}}], now=0).results[0]["uuid"][1]
    n = 20000
    txns = [[{"op": "mutate", "table": "Open_vSwitch", "where": [["_uuid", "==", ["uuid", u]]],
              "mutations": [["external_ids", "delete", ["set", ["k"]]],
                            ["external_ids", "insert", ["map", [["k", str(i)]]]]]}] for i in range(n)]
    t = time.process_time()
    for i, ops in enumerate(txns):
        db.execute(ops, now=i).commit.record()
    print(f"txn/s       {n / (time.process_time() - t):.0f}")

    text = json.dumps({"Interface": {str(uuid.uuid4()): {
        "name": f"if{i}", "type": "internal", "ofport": i, "external_ids": ["map", [["iface-id", f"x{i}"]]]}
        for i in range(rows)}})
    record = json.loads(text)
    t = time.process_time()
    Database(schema).apply_record(record)
    dt = time.process_time() - t
    del record
    tracemalloc.start()
    big = Database(schema)
    big.apply_record(json.loads(text))
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"open        {rows} rows in {dt:.2f} s (after JSON parsing), {held / 1e6:.0f} MB held")

    db.execute([{"op": "insert", "table": "Bridge", "uuid-name": "b", "row": {
        "name": "br0", "ports": ["set", [["named-uuid", f"p{i}"] for i in range(5000)]]}}]
        + [{"op": "insert", "table": "Port", "uuid-name": f"p{i}",
            "row": {"name": f"p{i}", "interfaces": ["named-uuid", f"i{i}"]}} for i in range(5000)]
        + [{"op": "insert", "table": "Interface", "uuid-name": f"i{i}", "row": {"name": f"p{i}"}}
           for i in range(5000)]
        + [{"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["bridges", "insert", ["named-uuid", "b"]]]}], now=0)
    t = time.process_time()
    for k in range(20):
        db.execute([{"op": "insert", "table": "Port", "uuid-name": "p",
                     "row": {"name": f"x{k}", "interfaces": ["named-uuid", "i"]}},
                    {"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": f"x{k}"}},
                    {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
                     "mutations": [["ports", "insert", ["named-uuid", "p"]]]}], now=1)
    print(f"add-port    {(time.process_time() - t) / 20 * 1000:.2f} ms on a 5000-port bridge")


if __name__ == "__main__":
    main()
