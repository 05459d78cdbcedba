#!/usr/bin/env bash
# One ovs-vsctl call, pyvswitch side by side with the reference OVS 3.1, in one run:
#   [WORKLOADS=set,libvirt,list] bench/vsctl_startup.sh [CALLS] [OUR_VSCTL]
#   (default: the "set" workload, 100 calls of each tool, interleaved; ours: .venv/bin/ovs-vsctl)
# "set" is `ovs-vsctl --db=unix:SOCK --timeout=30 --no-wait set bridge pvb0 external_ids:kN=vN`, the
# call ../shared/bench/control.sh times as vsctl_ms.  Each tool runs against its own ovsdb-server,
# and also against the other's (crossed).  Printed per tool and server: wall ms (min, median) and
# CPU ms of the tool process (user+sys, median), then the ratios ours/reference, and each
# ovsdb-server's CPU per call (from /proc, clock ticks averaged over the workload's calls).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CALLS=${1:-100}
OURS=$REPO/.venv/bin
OUR_VSCTL=${2:-$OURS/ovs-vsctl}
REFB=/usr/sbin
W=$(mktemp -d)
unset PYTHONDONTWRITEBYTECODE

. "$HERE/lib.sh"
start() {  # bindir dir
  local b=$1 d=$2
  mkdir -p "$d"
  OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d "$(tool "$b" ovsdb-tool)" create "$d/conf.db" >/dev/null
  OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d "$(tool "$b" ovsdb-server)" "$d/conf.db" \
      --remote=punix:"$d/db.sock" --pidfile="$d/s.pid" --unixctl="$d/ctl" --log-file="$d/s.log" --detach 2>/dev/null
  ovs-vsctl --db=unix:"$d/db.sock" --no-wait init -- add-br pvb0 >/dev/null
}

start "$REFB" "$W/ovs"
start "$OURS" "$W/ours"
echo "# $(uptime)"
python3 - "$CALLS" "$(command -v ovs-vsctl)" "$OUR_VSCTL" "$W/ovs/db.sock" "$W/ours/db.sock" "$W" <<'PY'
import os, statistics, sys, time
calls, ref_tool, our_tool, ref_sock, our_sock, work = sys.argv[1:]
calls = int(calls)
env = dict(os.environ, OVS_RUNDIR=work, OVS_LOGDIR=work, OVS_DBDIR=work)
runs = {("ovs", "ovs"): (ref_tool, ref_sock), ("ours", "ours"): (our_tool, our_sock),
        ("ovs", "ours"): (ref_tool, our_sock), ("ours", "ovs"): (our_tool, ref_sock)}
# The call control.sh times, then two that agents make: libvirt's port plug (without waiting for a
# switch: there is none here) and a read of the JSON-formatted table.
workloads = {
    "set": lambda i: ["--no-wait", "set", "bridge", "pvb0", f"external_ids:k{i}=v{i}"],
    "libvirt": lambda i: ["--no-wait", "--", "--if-exists", "del-port", "vnet0", "--", "add-port", "pvb0", "vnet0",
                          "--", "set", "Interface", "vnet0", "external-ids:attached-mac=52:54:00:00:00:01",
                          f"external-ids:iface-id=i{i}", "external-ids:iface-status=active"],
    "list": lambda i: ["--format=json", "--", "--columns=name,external_ids", "list", "Interface"],
}
only = os.environ.get("WORKLOADS", "set").split(",")
devnull = os.open(os.devnull, os.O_WRONLY)


def server_cpu_ms(side):
    with open(f"{work}/{side}/s.pid") as f:
        pid = int(f.read())
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


for wname in only:
    wall = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    server0 = {side: server_cpu_ms(side) for side in ("ovs", "ours")}
    for i in range(calls):
        for key, (tool, sock) in runs.items():   # interleaved, so load swings hit every variant alike
            argv = [tool, f"--db=unix:{sock}", "--timeout=30", *workloads[wname](i)]
            t0 = time.perf_counter()
            pid = os.posix_spawn(tool, argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
            _, status, ru = os.wait4(pid, 0)
            wall[key].append((time.perf_counter() - t0) * 1000)
            cpu[key].append((ru.ru_utime + ru.ru_stime) * 1000)
            if status:
                sys.exit(f"{wname} {key}: exit status {status}")
    print(f"{wname}: " + " ".join(workloads[wname]("N")))
    print("  %-20s %9s %9s %9s" % ("tool / server", "min ms", "median ms", "cpu ms"))
    for key in runs:
        print("  %-20s %9.2f %9.2f %9.2f" % ("%s / %s" % key, min(wall[key]), statistics.median(wall[key]),
                                             statistics.median(cpu[key])))
    for srv in ("ovs", "ours"):
        o, r = ("ours", srv), ("ovs", srv)
        print("  ratio ours/ovs, %-4s server: min %.2f  median %.2f  cpu %.2f" % (
            srv, min(wall[o]) / min(wall[r]), statistics.median(wall[o]) / statistics.median(wall[r]),
            statistics.median(cpu[o]) / statistics.median(cpu[r])))
    print("  ovsdb-server CPU per call (ms): ovs %.3f  ours %.3f" % tuple(
        (server_cpu_ms(side) - server0[side]) / (2 * calls) for side in ("ovs", "ours")))
PY
stop_pidfile "$W/ovs/s.pid"; stop_pidfile "$W/ours/s.pid"; rm -rf "$W"
