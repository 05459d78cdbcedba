"""Helpers for the vswitchd tests: an ovsdb-server (ours or the reference) on a
fresh Open_vSwitch database in a private dir that can be stopped and restarted
on the same file, and our ovs-vswitchd against it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from util import ours, ovs_env, ref, stop_pid, wait_until

REF_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
OUR_SCHEMA = str(Path(__file__).resolve().parents[2] / "src/pyvswitch/schemas/vswitch.ovsschema")


def answers(path) -> bool:
    """True once a Unix socket accepts connections (its file alone may precede listen())."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


class DbServer:
    def __init__(self, kind: str = "ours", extra: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.extra = extra           # more ovsdb-server options (remotes, TLS files)
        self.dir = Path(tempfile.mkdtemp(prefix="vswitchd-"))
        self.env = ovs_env(self.dir)
        self.sock = self.dir / "db.sock"
        self.db = self.dir / "conf.db"
        self.tool = ref if kind == "ref" else ours
        schema = REF_SCHEMA if kind == "ref" else OUR_SCHEMA
        subprocess.run([self.tool("ovsdb-tool"), "create", str(self.db), schema], check=True,
                       env=self.env)
        self.proc: subprocess.Popen | None = None
        self.vswitchd: subprocess.Popen | None = None
        self.start()
        self.vsctl("--no-wait", "init")

    @property
    def remote(self) -> str:
        return f"unix:{self.sock}"

    def start(self) -> None:
        self.sock.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [self.tool("ovsdb-server"), str(self.db), f"--remote=punix:{self.sock}",
             f"--unixctl={self.dir}/ovsdb-server.ctl", f"--log-file={self.dir}/ovsdb-server.log",
             *self.extra],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: answers(self.sock) or self.proc.poll() is not None, 20,
                   what="ovsdb-server socket")
        assert self.proc.poll() is None



    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()
            self.proc = None

    def vsctl(self, *args, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        """The reference ovs-vsctl (ours if the reference is not installed)."""
        tool = ref("ovs-vsctl") if Path(ref("ovs-vsctl")).exists() else ours("ovs-vsctl")
        r = subprocess.run([tool, f"--db={self.remote}", "--timeout=20", *args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode:
            raise AssertionError(f"ovs-vsctl {' '.join(args)}: {r.stderr}")
        return r

    def get(self, *args) -> str:
        return self.vsctl("--if-exists", "get", *args).stdout.strip()

    def start_vswitchd(self, *extra: str, remote: str | None = None) -> subprocess.Popen:
        self.vswitchd = subprocess.Popen(
            [ours("ovs-vswitchd"), remote or self.remote, f"--pidfile={self.dir}/ovs-vswitchd.pid",
             f"--unixctl={self.dir}/ovs-vswitchd.ctl", f"--log-file={self.dir}/ovs-vswitchd.log",
             "-vconsole:off", *extra],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: answers(self.dir / "ovs-vswitchd.ctl")
                   or self.vswitchd.poll() is not None, 20, what="ovs-vswitchd control socket")
        assert self.vswitchd.poll() is None, self.vswitchd.stderr.read()
        return self.vswitchd

    def appctl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([ours("ovs-appctl"), "-t", str(self.dir / "ovs-vswitchd.ctl"), *args],
                              env=self.env, capture_output=True, text=True, timeout=30)

    def stop_vswitchd(self) -> None:
        if self.vswitchd is not None:
            stop_pid(self.vswitchd.pid)
            self.vswitchd.wait()
            self.vswitchd = None
            (self.dir / "ovs-vswitchd.ctl").unlink(missing_ok=True)

    def log(self) -> str:
        p = self.dir / "ovs-vswitchd.log"
        return p.read_text() if p.exists() else ""

    def close(self) -> None:
        self.stop_vswitchd()
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_vswitchd(db: DbServer, tool: str, *options: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    db.vswitchd = subprocess.Popen(
        [*prefix, tool, db.remote, *options, "-vconsole:off",
         f"--log-file={db.dir}/ovs-vswitchd.log", f"--unixctl={db.dir}/ovs-vswitchd.ctl",
         f"--pidfile={db.dir}/ovs-vswitchd.pid"],
        env=db.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: answers(db.dir / "ovs-vswitchd.ctl"), 20, what="ovs-vswitchd")


@contextmanager
def dummy_vswitchd(who: str, script: list[list[str]]):
    """The reference ("ref") or our ("ours") ovs-vswitchd, --enable-dummy=override, on its
    own reference ovsdb-server, configured by `script` (ovs-vsctl argument lists that
    create br0); yields the DbServer, deletes br0 after a clean exit, stops both daemons."""
    db = DbServer("ref")
    try:
        tool = ref("ovs-vswitchd") if who == "ref" else ours("ovs-vswitchd")
        run_vswitchd(db, tool, "--enable-dummy=override")
        for cmd in script:
            db.vsctl(*cmd)
        yield db
        db.vsctl("del-br", "br0")
    finally:
        db.close()
