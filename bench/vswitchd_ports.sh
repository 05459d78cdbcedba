#!/usr/bin/env bash
# ovs-vswitchd with many internal ports, pyvswitch side by side with OVS 3.1, in one run
# (bridge vwb0, ports vwq1..vwqN: names no other bench uses):
#   bench/vswitchd_ports.sh [N] [ROUNDS]         (root; N ports, default 1000; ROUNDS, default 1)
# Each implementation runs its own ovsdb-server, ovs-vsctl and ovs-vswitchd
# (../shared/bench/switch.sh), on a bridge with datapath_type=netdev:
#   add_s        one ovs-vsctl call adding N internal ports, waiting until ovs-vswitchd applied
#                it (control.sh's vsctl_1000_s)
#   ofports_s    from the start of that call until every interface has its ofport written back
#   restart_s    ovs-vswitchd stopped (SIGTERM) and started again: until a waiting ovs-vsctl
#                call returns and every interface has its ofport again
#   delbr_s      one waiting `ovs-vsctl del-br` of that bridge
#   gone_s       from the start of del-br until the last TAP device is gone from the kernel
#   cpu_s        CPU seconds ovs-vswitchd used (user+sys) from start to before the restart
#   idle_pct     ovs-vswitchd's CPU use over the IDLE seconds (default 10) right after that, the
#                database not changing, in % of one core (ours: status and statistics passes;
#                the reference's figure swings, 1-30 %)
# With ROUNDS > 1 each figure is the median of the rounds.  KERNEL_FASTPATH=false (or true)
# sets other_config:kernel-fastpath, pyvswitch's eBPF tier (the reference ignores the key).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$REPO/../shared/bench}
N=${1:-1000}; ROUNDS=${2:-1}; IDLE=${IDLE:-10}
OUT=$(mktemp -d); REF=$(mktemp -d)
for t in ovsdb-tool ovsdb-server ovs-vsctl ovs-vswitchd ovs-appctl; do
  ln -s "$(command -v $t)" "$REF/$t"
done
now() { date +%s.%N; }
since() { python3 -c "import sys; print(round($(now) - $1, 3))"; }
ntaps() { ls /sys/class/net | grep -cE '^vwq[0-9]+$'; }
gone() {  # pid -> waits until it has exited (a zombie counts: PID 1 may not reap here)
  local st
  for _ in $(seq 500); do
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
    [ "$st" = Z ] && return 0; sleep 0.02
  done
  kill -9 "$1" 2>/dev/null || true
}
cpu() {  # pid -> user+sys seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
wait_ofports() {  # vsctl-prefix -> waits until no interface lacks an ofport
  local V=$1
  for _ in $(seq 6000); do
    [ "$($V --bare --columns=ofport find interface 'ofport=[]' | grep -c .)" = 0 ] && return 0
    sleep 0.05
  done
  echo "interfaces still without ofport" >&2
}
run_variant() {  # name bin round
  local name=$1 bin=$2 round=$3 d t0 pid args
  d=$(mktemp -d)
  export OVS_RUNDIR=$d/run
  "$SHARED/switch.sh" start "$bin" "$d/run" >/dev/null 2>&1 || { echo "$name: switch did not start" >&2; return; }
  local V="$bin/ovs-vsctl --db=unix:$d/run/db.sock --timeout=600"
  [ -n "${KERNEL_FASTPATH:-}" ] && $V set open_vswitch . other_config:kernel-fastpath="$KERNEL_FASTPATH"
  $V add-br vwb0 -- set bridge vwb0 datapath_type=netdev >/dev/null
  args=(); for i in $(seq "$N"); do args+=(-- add-port vwb0 vwq$i -- set interface vwq$i type=internal); done
  {
    t0=$(now); $V "${args[@]}" 2>&1 | head -3 >&2; echo "add_s $(since "$t0")"
    wait_ofports "$V"; echo "ofports_s $(since "$t0")"
    pid=$(cat "$d/run/ovs-vswitchd.pid")
    echo "cpu_s $(cpu "$pid")"
    c0=$(cpu "$pid"); sleep "$IDLE"
    echo "idle_pct $(python3 -c "print(round(($(cpu "$pid") - $c0) * 100 / $IDLE, 2))")"
    kill "$pid"; gone "$pid"
    t0=$(now)
    "$bin/ovs-vswitchd" unix:"$d/run/db.sock" --pidfile="$d/run/ovs-vswitchd.pid" \
        --log-file="$d/run/ovs-vswitchd.log" --detach -vconsole:off
    $V set open_vswitch . external_ids:bench=restart
    wait_ofports "$V"; echo "restart_s $(since "$t0")"
    t0=$(now); $V del-br vwb0; echo "delbr_s $(since "$t0")"
    for _ in $(seq 6000); do [ "$(ntaps)" = 0 ] && break; sleep 0.02; done
    echo "gone_s $(since "$t0")"
  } > "$OUT/$name.$round"
  "$SHARED/switch.sh" stop "$d/run"; rm -rf "$d"
  for l in $(ls /sys/class/net | grep -E '^vwq[0-9]+$|^vwb0$'); do ip link del "$l"; done
}
uptime
for r in $(seq "$ROUNDS"); do
  run_variant ovs "$REF" "$r"
  run_variant pyvswitch "$REPO/.venv/bin" "$r"
done
rm -rf "$REF"
python3 - "$OUT" "$ROUNDS" <<'PY'
import os, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    vals = {}
    for r in range(1, rounds + 1):
        p = os.path.join(d, f"{name}.{r}")
        if os.path.exists(p):
            for line in open(p):
                if line.strip():
                    k, v = line.split()
                    vals.setdefault(k, []).append(float(v))
    return {k: statistics.median(v) for k, v in vals.items()}
ovs, ours = load("ovs"), load("pyvswitch")
print("%-10s%12s%12s%10s" % ("figure", "ovs", "pyvswitch", "ratio"))
for k in ("add_s", "ofports_s", "restart_s", "delbr_s", "gone_s", "cpu_s", "idle_pct"):
    a, b = ovs.get(k), ours.get(k)
    ratio = "%10.2f" % (b / a) if a and b is not None else "%10s" % "-"
    print("%-10s%12s%12s%s" % (k, "-" if a is None else round(a, 3), "-" if b is None else round(b, 3), ratio))
PY
rm -rf "$OUT"
uptime
