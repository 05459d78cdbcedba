"""The reference ovsdb-server as a black box for differential tests.

`RefServer(schema_path, tmpdir)` creates a database with the reference
ovsdb-tool, runs the reference ovsdb-server on a private unix socket and speaks
raw JSON-RPC to it.  Stop it with `close()` (by pid).
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from pyvswitch.ovsdb import jsonrpc
from util import ovs_env, ref, stop_pid, wait_until


class RefServer:
    def __init__(self, schema_path: str | Path, tmpdir: str | Path, db_name: str = "db") -> None:
        self.dir = Path(tmpdir)
        self.db = self.dir / db_name
        self.sock_path = self.dir / "db.sock"
        subprocess.run([ref("ovsdb-tool"), "create", str(self.db), str(schema_path)], check=True,
                       env=ovs_env(self.dir), capture_output=True)
        pidfile = self.dir / "ovsdb-server.pid"
        proc = subprocess.Popen(
            [ref("ovsdb-server"), str(self.db), f"--remote=punix:{self.sock_path}",
             f"--pidfile={pidfile}", f"--unixctl={self.dir / 'ovsdb-server.ctl'}",
             f"--log-file={self.dir / 'ovsdb-server.log'}", "-vconsole:off"],
            env=ovs_env(self.dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = proc
        self.pid = proc.pid
        self.sock = wait_until(self._connect, what="reference ovsdb-server socket")
        self.framer = jsonrpc.Framer()
        self.next_id = 0
        self.db_name = self.call("list_dbs", [])[0]

    def _connect(self):
        if not self.sock_path.exists():
            return None
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(self.sock_path))
        except OSError:
            s.close()
            return None
        return s

    def call(self, method: str, params: list):
        self.next_id += 1
        ident = self.next_id
        self.sock.sendall(jsonrpc.encode(jsonrpc.Request(method, params, ident)))
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("reference ovsdb-server closed the connection")
            for msg in self.framer.feed(data):
                if isinstance(msg, jsonrpc.Request) and msg.method == "echo":
                    self.sock.sendall(jsonrpc.encode(jsonrpc.Reply(msg.params, msg.id)))
                elif isinstance(msg, (jsonrpc.Reply, jsonrpc.ErrorReply)) and msg.id == ident:
                    return msg.result if isinstance(msg, jsonrpc.Reply) else {"rpc-error": msg.error}

    def transact(self, ops: list):
        return self.call("transact", [self.db_name, *ops])

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            stop_pid(self.pid)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_log_records(path: str | Path) -> list:
    """The JSON records of a standalone OVSDB log file (header line, JSON line)."""
    import json
    out = []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith(b"OVSDB JSON "):
            out.append(json.loads(lines[i + 1]))
            i += 2
        else:
            i += 1
    return out


if __name__ == "__main__":
    import json
    import sys
    import tempfile
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    schema = sys.argv[1]
    with tempfile.TemporaryDirectory() as d, RefServer(schema, d) as s:
        for line in sys.stdin:
            line = line.strip()
            if line:
                print(json.dumps(s.transact(json.loads(line))))
        os.system(f"cat {s.db}")
