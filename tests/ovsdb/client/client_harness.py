"""A reference ovsdb-server for ovsdb-client differential tests, and runners
for the reference ovsdb-client and ours.

`Server(tmpdir, schemas)` creates one database per schema with the reference
ovsdb-tool and serves them all from the reference ovsdb-server on a private
unix socket (`.remote`).  `ref_client(...)`/`our_client(...)` run the two
ovsdb-clients with the same arguments and environment; `compare(...)` runs
both and returns both results.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
from pathlib import Path

from util import ours, ovs_env, ref, run, stop_pid, wait_until

HERE = Path(__file__).resolve().parent
LOG_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
TEST_SCHEMA = HERE / "client_test.ovsschema"
VSWITCH_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


class Server:
    def __init__(self, tmpdir: Path, schemas: list[Path], program: str | None = None,
                 extra_args: list[str] = ()) -> None:
        self.dir = Path(tmpdir)
        self.env = ovs_env(self.dir)
        self.sock = self.dir / "db.sock"
        self.remote = f"unix:{self.sock}"
        dbs = []
        for i, schema in enumerate(schemas):
            db = self.dir / f"db{i}.db"
            subprocess.run([ref("ovsdb-tool"), "create", str(db), str(schema)], check=True,
                           env=self.env, capture_output=True)
            dbs.append(str(db))
        self.proc = subprocess.Popen(
            [program or ref("ovsdb-server"), *dbs, f"--remote=punix:{self.sock}",
             f"--pidfile={self.dir / 'ovsdb-server.pid'}", f"--unixctl={self.dir / 'ovsdb-server.ctl'}",
             f"--log-file={self.dir / 'ovsdb-server.log'}", "-vconsole:off", *extra_args],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.sock.exists() and run([ref("ovsdb-client"), "list-dbs", self.remote],
                                                      env=self.env).returncode == 0,
                   what="ovsdb-server to answer")

    def transact(self, text: str) -> str:
        r = run([ref("ovsdb-client"), "transact", self.remote, text], env=self.env)
        assert r.returncode == 0, r.stderr
        assert '"error"' not in r.stdout, r.stdout
        return r.stdout

    def close(self) -> None:
        stop_pid(self.proc.pid)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def ref_client(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return run([ref("ovsdb-client"), *args], env=env, **kw)


def our_client(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return run([ours("ovsdb-client"), *args], env=env, **kw)


def our_client_in_process(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Runs our ovsdb-client's `run` in this process (no interpreter start-up),
    with env's OVS directories and stdout/stderr captured."""
    from pyvswitch import vlog
    from pyvswitch.cli import ovsdb_client

    saved_env = {k: os.environ.get(k) for k in env if k.startswith("OVS_")}
    out, err = io.StringIO(), io.StringIO()
    # The program sets logging levels and names; put them back afterwards so
    # that nothing leaks into other tests run by this process.
    registry = vlog._vlog
    saved = (registry.program, list(registry.default_levels), registry.console, registry.seq,
             {name: list(m.levels) for name, m in registry.modules.items()})
    try:
        os.environ.update({k: val for k, val in env.items() if k.startswith("OVS_")})
        registry.console = err
        registry.seq = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = ovsdb_client.run(list(args), out=out, argv0=ours("ovsdb-client"))
    finally:
        registry.program, registry.default_levels, registry.console, registry.seq, levels = saved
        for name, m in registry.modules.items():
            m.levels = levels.get(name, list(registry.default_levels))
            m._update()
        for k, val in saved_env.items():
            if val is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = val
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


def compare(env: dict, *args: str, in_process: bool = True, **kw):
    """Runs both clients; returns (ref, ours) as (rc, stdout, stderr) with the
    program path in getopt messages made equal.  Ours runs in this process
    unless in_process is false or stdin is given."""
    a = ref_client(env, *args, **kw)
    if in_process and not kw:
        b = our_client_in_process(env, *args)
    else:
        b = our_client(env, *args, **kw)

    def norm(r, path):
        err = LOG_TIME.sub("TIME", r.stderr.replace(path, "ovsdb-client"))
        return r.returncode, r.stdout, err
    return norm(a, ref("ovsdb-client")), norm(b, ours("ovsdb-client"))
