#!/usr/bin/env python3
"""Builds and measures a large Open_vSwitch database.

usage: ovsdb_bigdb.py fill SOCKET [--rows 100000]
         fills a running server: one Bridge with rows/2 Ports, each with one Interface
       ovsdb_bigdb.py open BINDIR DBFILE
         starts BINDIR/ovsdb-server on DBFILE (a private copy), prints the seconds until it
         answers list_dbs and its resident memory in MB, then stops it by pid
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def call(sock, method, params, _id=[0]):
    _id[0] += 1
    sock.sendall(json.dumps({"method": method, "params": params, "id": _id[0]}).encode())
    dec = json.JSONDecoder()
    buf = ""
    while True:
        data = sock.recv(1 << 20)
        if not data:
            raise SystemExit("server closed the connection")
        buf += data.decode()
        try:
            msg, _ = dec.raw_decode(buf.lstrip())
        except ValueError:
            continue
        buf = ""
        if msg.get("id") == _id[0]:
            return msg


def fill(path, rows):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    root = call(s, "transact", ["Open_vSwitch", {"op": "select", "table": "Open_vSwitch", "where": [],
                                                 "columns": ["_uuid"]}])["result"][0]["rows"]
    if not root:
        call(s, "transact", ["Open_vSwitch", {"op": "insert", "table": "Open_vSwitch", "row": {}}])
        root = call(s, "transact", ["Open_vSwitch", {"op": "select", "table": "Open_vSwitch", "where": [],
                                                     "columns": ["_uuid"]}])["result"][0]["rows"]
    ovs = root[0]["_uuid"]
    r = call(s, "transact", ["Open_vSwitch",
                             {"op": "insert", "table": "Bridge", "row": {"name": "big0"}, "uuid-name": "b"},
                             {"op": "mutate", "table": "Open_vSwitch", "where": [["_uuid", "==", ovs]],
                              "mutations": [["bridges", "insert", ["set", [["named-uuid", "b"]]]]]}])
    br = r["result"][0]["uuid"]
    per = 1000
    for base in range(0, rows // 2, per):
        ops = ["Open_vSwitch"]
        names = []
        for i in range(base, min(base + per, rows // 2)):
            ops.append({"op": "insert", "table": "Interface", "row": {"name": f"p{i}", "type": "internal"},
                        "uuid-name": f"i{i}"})
            ops.append({"op": "insert", "table": "Port", "uuid-name": f"p{i}",
                        "row": {"name": f"p{i}", "interfaces": ["named-uuid", f"i{i}"]}})
            names.append(["named-uuid", f"p{i}"])
        ops.append({"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", br]],
                    "mutations": [["ports", "insert", ["set", names]]]})
        r = call(s, "transact", ops)
        errs = [x for x in r.get("result") or [] if isinstance(x, dict) and "error" in x]
        if r.get("error") or errs:
            raise SystemExit(f"fill failed: {r.get('error') or errs[0]}")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_db(bindir, dbfile):
    d = tempfile.mkdtemp()
    try:
        db = os.path.join(d, "conf.db")
        shutil.copy(dbfile, db)
        sock = os.path.join(d, "db.sock")
        env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d)
        t0 = time.perf_counter()
        exe = os.path.join(bindir, "ovsdb-server")
        p = subprocess.Popen([exe if os.path.exists(exe) else "ovsdb-server", db, f"--remote=punix:{sock}",
                              f"--unixctl={d}/ctl", "-vconsole:off"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                call(s, "list_dbs", [])
                s.close()
                break
            except OSError:
                if p.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("server did not come up")
                time.sleep(0.005)
        el = time.perf_counter() - t0
        print(f"open_s {el:.3f}")
        print(f"rss_mb {rss_mb(p.pid):.0f}")
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("sock")
    f.add_argument("--rows", type=int, default=100000)
    o = sub.add_parser("open")
    o.add_argument("bindir")
    o.add_argument("db")
    a = ap.parse_args()
    if a.cmd == "fill":
        fill(a.sock, a.rows)
    else:
        open_db(a.bindir, a.db)


if __name__ == "__main__":
    sys.exit(main())
