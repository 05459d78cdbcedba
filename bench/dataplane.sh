#!/usr/bin/env bash
# Dataplane benchmark: pyvswitch side by side with the Linux bridge and Open vSwitch 3.1's
# userspace datapath on the same namespace topology, in one run (../shared/bench/compare.sh
# with this checkout's .venv/bin as the implementation); prints compare.sh's table per round.
#   bench/dataplane.sh [ROUNDS]        as root; T=SECONDS per figure (default 5)
# The run happens inside a private network namespace, so that the switches' interfaces
# (OVS's "ovs-netdev" tap, the bridges, bp1/bp2) cannot clash with anything on the host,
# and under a lock, because compare.sh's host namespaces (bh1, bh2) have fixed names.
# On a shared machine the figures drift with load: compare ratios within one round, and
# run several rounds to see the spread.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
COMPARE=${COMPARE:-$(cd "$REPO/../shared/bench" && pwd)/compare.sh}
ROUNDS=${1:-1}
NS=pvsbench$$
exec 9>/tmp/pyvswitch-dataplane-bench.lock
flock 9
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null' EXIT
ip -n "$NS" link set lo up
for i in $(seq "$ROUNDS"); do
  echo "round $i of $ROUNDS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  ip netns exec "$NS" "$COMPARE" "$REPO/.venv/bin"
done
