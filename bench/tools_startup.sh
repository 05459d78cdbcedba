#!/usr/bin/env bash
# One call of ovs-appctl, ovsdb-client or ovs-dpctl, pyvswitch side by side with OVS 3.1, in one run:
#   [WORKLOADS=version,vlog,list-dbs,get-schema,transact,dump,dpctl] bench/tools_startup.sh [CALLS]
#   (default: every workload but dpctl, 100 calls of each tool, interleaved)
# Each tool runs against its own ovsdb-server and against the other's (crossed): appctl as
# `ovs-appctl -t ovsdb-server COMMAND` (the pidfile target, OVS_RUNDIR the server's directory),
# ovsdb-client with the server's socket.  "dpctl" also starts both ovs-vswitchds (dummy ports,
# a netdev bridge) and compares our `ovs-dpctl dump-flows` with the real `ovs-appctl
# dpctl/dump-flows` (the real ovs-dpctl only speaks to the kernel datapath); not crossed.
# Printed per tool and server: wall ms (min, median) and CPU ms of the tool process (user+sys,
# median), then the ratios ours/reference; with SERVER_CPU=1 also the server's CPU per call.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CALLS=${1:-100}
OURS=$REPO/.venv/bin
REFB=/usr/sbin
W=$(mktemp -d)
unset PYTHONDONTWRITEBYTECODE
export WORKLOADS=${WORKLOADS:-version,vlog,list-dbs,get-schema,transact,dump}

. "$HERE/lib.sh"
start() {  # bindir dir
  local b=$1 d=$2
  mkdir -p "$d"
  export OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d
  "$(tool "$b" ovsdb-tool)" create "$d/conf.db" >/dev/null
  "$(tool "$b" ovsdb-server)" "$d/conf.db" --remote=punix:"$d/db.sock" --pidfile="$d/ovsdb-server.pid" \
      --log-file="$d/s.log" --detach 2>/dev/null
  ovs-vsctl --db=unix:"$d/db.sock" --no-wait init -- add-br pvb0 -- set bridge pvb0 datapath_type=netdev \
      -- add-port pvb0 p1 -- set interface p1 type=dummy >/dev/null
  case ",$WORKLOADS," in *,dpctl,*)
    "$(tool "$b" ovs-vswitchd)" --enable-dummy=override unix:"$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" \
        --log-file="$d/v.log" --detach 2>/dev/null
    ovs-vsctl --db=unix:"$d/db.sock" --timeout=30 wait-until interface p1 'ofport>0' >/dev/null;;
  esac
  unset OVS_RUNDIR OVS_LOGDIR OVS_DBDIR
}

start "$REFB" "$W/ovs"
start "$OURS" "$W/ours"
echo "# $(uptime)"
python3 - "$CALLS" "$OURS" "$W" <<'PY'
import os, statistics, sys, time
calls, ours, work = sys.argv[1:]
calls = int(calls)
ref = {"ovs-appctl": "/usr/bin/ovs-appctl", "ovsdb-client": "/usr/bin/ovsdb-client"}
select = '["Open_vSwitch",{"op":"select","table":"Bridge","where":[],"columns":["name","datapath_type"]}]'
# name: (our tool, the real tool, arguments given the server's socket)
workloads = {
    "version": ("ovs-appctl", "ovs-appctl", lambda s: ["-t", "ovsdb-server", "version"]),
    "vlog": ("ovs-appctl", "ovs-appctl", lambda s: ["-t", "ovsdb-server", "vlog/list"]),
    "list-dbs": ("ovsdb-client", "ovsdb-client", lambda s: ["list-dbs", f"unix:{s}"]),
    "get-schema": ("ovsdb-client", "ovsdb-client", lambda s: ["get-schema", f"unix:{s}"]),
    "transact": ("ovsdb-client", "ovsdb-client", lambda s: ["transact", f"unix:{s}", select]),
    "dump": ("ovsdb-client", "ovsdb-client", lambda s: ["dump", f"unix:{s}"]),
    "dpctl": ("ovs-dpctl", "ovs-appctl", lambda s: ["dump-flows"]),
}


def pid_of(side, daemon):
    with open(f"{work}/{side}/{daemon}.pid") as f:
        return int(f.read())


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


devnull = os.open(os.devnull, os.O_WRONLY)
for wname in os.environ["WORKLOADS"].split(","):
    our_tool, ref_tool, args = workloads[wname]
    tools = {"ours": f"{ours}/{our_tool}", "ovs": ref[ref_tool]}
    keys = [("ovs", "ovs"), ("ours", "ours")]
    if wname != "dpctl":
        keys += [("ovs", "ours"), ("ours", "ovs")]
    wall = {k: [] for k in keys}
    cpu = {k: [] for k in keys}
    server = {"ovs": pid_of("ovs", "ovsdb-server"), "ours": pid_of("ours", "ovsdb-server")}
    server_cpu = {side: -cpu_ms(pid) for side, pid in server.items()}
    for i in range(calls):
        for key in keys:   # interleaved, so load swings hit every variant alike
            t, side = key
            d = f"{work}/{side}"
            argv = [tools[t], *args(f"{d}/db.sock")]
            if wname == "dpctl" and t == "ovs":
                argv[1:1] = ["-t", "ovs-vswitchd", "dpctl/dump-flows"]
                del argv[4:]
            env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d)
            t0 = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
            _, status, ru = os.wait4(pid, 0)
            wall[key].append((time.perf_counter() - t0) * 1000)
            cpu[key].append((ru.ru_utime + ru.ru_stime) * 1000)
            if status:
                sys.exit(f"{wname} {key}: exit status {status}: {argv}")
    server_cpu = {side: (v + cpu_ms(server[side])) / (calls * 2 if wname != "dpctl" else calls)
                  for side, v in server_cpu.items()}
    print(f"{wname}: {our_tool} " + " ".join(args("SOCK")) + ("  (ovs: ovs-appctl dpctl/dump-flows)"
                                                              if wname == "dpctl" else ""))
    print("  %-20s %9s %9s %9s" % ("tool / server", "min ms", "median ms", "cpu ms"))
    for key in keys:
        print("  %-20s %9.2f %9.2f %9.2f" % ("%s / %s" % key, min(wall[key]), statistics.median(wall[key]),
                                             statistics.median(cpu[key])))
    pairs = {"ovs server": (("ours", "ovs"), ("ovs", "ovs")), "ours server": (("ours", "ours"), ("ovs", "ours"))}
    if wname == "dpctl":
        pairs = {"own daemons": (("ours", "ours"), ("ovs", "ovs"))}
    for label, (o, r) in pairs.items():
        print("  ratio ours/ovs, %-11s: min %.2f  median %.2f  cpu %.2f" % (
            label, min(wall[o]) / min(wall[r]), statistics.median(wall[o]) / statistics.median(wall[r]),
            statistics.median(cpu[o]) / statistics.median(cpu[r])))
    if os.environ.get("SERVER_CPU") and wname != "dpctl":
        print("  ovsdb-server CPU per call (ms, 10 ms ticks averaged): ovs %.3f  ours %.3f" % (
            server_cpu["ovs"], server_cpu["ours"]))
PY
for s in ovs ours; do stop_pidfile "$W/$s/ovs-vswitchd.pid"; stop_pidfile "$W/$s/ovsdb-server.pid"; done
rm -rf "$W"
