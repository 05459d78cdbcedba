#!/usr/bin/env bash
# OVSDB server figures, pyvswitch side by side with the reference ovsdb-server 3.1, in one run:
#   bench/ovsdb.sh [ROWS]
#   txn_1        transactions/s, one in flight (ovsdb_load.py: external_ids mutate)
#   txn_16       transactions/s, 16 in flight
#   fanout_50    transactions/s, 16 in flight, while 50 clients monitor the changed table
#   open_s       seconds from start until a ROWS-row database (default 100000) answers
#   rss_mb       the server's resident memory holding it
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$REPO/../shared/bench}
ROWS=${1:-100000}
OURS=$REPO/.venv/bin
REFB=/usr/sbin   # the daemons; tools not there are found on PATH
OUT=$(mktemp -d)
BIG=$OUT/big.db

. "$HERE/lib.sh"
start() {  # bindir dir
  local b=$1 d=$2
  "$(tool "$b" ovsdb-tool)" create "$d/conf.db" >/dev/null
  "$(tool "$b" ovsdb-server)" "$d/conf.db" --remote=punix:"$d/db.sock" --pidfile="$d/s.pid" \
      --unixctl="$d/ctl" --log-file="$d/s.log" --detach
  ovs-vsctl --db=unix:"$d/db.sock" --no-wait init
}
load() { python3 "$SHARED/ovsdb_load.py" "$@" | awk '{print $2}'; }

# The large database is built once, by the reference server, and opened by both.
d=$(mktemp -d); start "$REFB" "$d"
python3 "$HERE/ovsdb_bigdb.py" fill "$d/db.sock" --rows "$ROWS"
stop_pidfile "$d/s.pid"; ovsdb-tool compact "$d/conf.db" "$BIG"; rm -rf "$d"

for v in ovs pyvswitch; do
  b=$REFB; [ $v = pyvswitch ] && b=$OURS
  d=$(mktemp -d); start "$b" "$d"
  {
    echo "txn_1 $(load "$d/db.sock" --n 3000 --window 1)"
    echo "txn_16 $(load "$d/db.sock" --n 5000 --window 16)"
    echo "fanout_50 $(load "$d/db.sock" --n 2000 --window 16 --monitors 50)"
  } > "$OUT/$v"
  stop_pidfile "$d/s.pid"; rm -rf "$d"
  python3 "$HERE/ovsdb_bigdb.py" open "$b" "$BIG" >> "$OUT/$v"
done

python3 - "$OUT" <<'PY'
import os, sys
d = sys.argv[1]
data = {}
for c in ("ovs", "pyvswitch"):
    p = os.path.join(d, c)
    rows = [l.split(None, 1) for l in open(p).read().splitlines()] if os.path.exists(p) else []
    data[c] = {r[0]: r[1] for r in rows if len(r) == 2}
print("%-12s%12s%12s%12s" % ("figure", "ovs", "pyvswitch", "ours/ovs"))
for r in ("txn_1", "txn_16", "fanout_50", "open_s", "rss_mb"):
    a, b = data["ovs"].get(r, "-").strip(), data["pyvswitch"].get(r, "-").strip()
    try: ratio = "%.2f" % (float(b) / float(a))
    except Exception: ratio = "-"
    print("%-12s%12s%12s%12s" % (r, a, b, ratio))
PY
rm -rf "$OUT"
