"""`pyvswitch start|stop|restart|status`: the daemons' lifecycle, as `ovs-ctl` runs OVS's.

Theory of operation.  The daemons are a table (`DAEMONS`): ovsdb-server, then
ovs-vswitchd.  Each is started detached with an explicit pidfile, log file
and (for ovsdb-server) the database socket, all on OVS's directories as
`pyvswitch.dirs` resolves them; `--rundir DIR` points every directory at DIR
by setting OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR and OVS_SYSCONFDIR, which the
daemons inherit.  A daemon's pidfile is the truth about whether it runs: a
pidfile whose pid is gone, or belongs to some other program, is stale and
is removed.  `start` creates the database from our Open_vSwitch schema on
first use, or converts an older one (keeping a backup), with ovsdb-tool;
starts what is not running; waits until the database answers; and then
does what `ovs-vsctl --no-wait init` and
ovs-ctl's system-id step do: make sure the root Open_vSwitch row exists and
carries db_version, ovs_version, system-id, hostname and rundir.  `stop`
stops in the reverse order: SIGTERM, wait until the process is gone (a
zombie counts as gone), then SIGKILL; it then removes any pidfile and
control socket the daemon left behind.  Every command is idempotent and may
name the daemons it applies to (the systemd units run one daemon each).

The programs are our own console modules, run with this interpreter; with
`--bindir DIR[:DIR...]` they are looked up as executables there instead
(for instance the reference Open vSwitch in /usr/sbin:/usr/bin).
"""

from __future__ import annotations

import argparse
import enum
import errno
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pyvswitch import OVS_COMPAT_VERSION, dirs
from pyvswitch.ovsdb import jsonrpc

PROGRAM = "pyvswitch"
START_TIMEOUT = 10.0


class LifecycleError(Exception):
    """A problem the user must fix; the message says what and how."""


@dataclass(frozen=True, slots=True)
class Program:
    """One of our programs: its OVS name and the module that implements it."""

    name: str
    module: str

    def pidfile(self) -> Path:
        return Path(dirs.default_pidfile(self.name))

    def log_file(self) -> Path:
        return Path(dirs.default_log_file(self.name))

    def ctl(self, pid: int) -> Path:
        return Path(dirs.default_ctl(self.name, pid))

    def options(self) -> list[str]:
        common = [f"--pidfile={self.pidfile()}", f"--log-file={self.log_file()}", "--detach", "--no-chdir"]
        if self.name == "ovsdb-server":
            return [dirs.default_db(), f"--remote=punix:{dirs.default_db_sock()}",
                    "--remote=db:Open_vSwitch,Open_vSwitch,manager_options"] + common
        return [f"unix:{dirs.default_db_sock()}"] + common


OVSDB_SERVER = Program("ovsdb-server", "pyvswitch.cli.ovsdb_server")
OVS_VSWITCHD = Program("ovs-vswitchd", "pyvswitch.cli.ovs_vswitchd")
DAEMONS = (OVSDB_SERVER, OVS_VSWITCHD)
OVSDB_TOOL = Program("ovsdb-tool", "pyvswitch.cli.ovsdb_tool")


class Programs:
    """Finds the command line that runs a program: ours, or one from --bindir."""

    def __init__(self, bindir: str | None) -> None:
        self.bindir = [d for d in bindir.split(":") if d] if bindir else None

    def command(self, prog: Program) -> list[str] | None:
        if self.bindir is None:
            if importlib.util.find_spec(prog.module) is None:
                return None
            # Our console script beside this interpreter, if it is ours (a
            # system Python may have the reference OVS beside it); otherwise
            # the module's main() called directly.
            script = Path(sys.executable).parent / prog.name
            try:
                if f"from {prog.module} import main" in script.read_text(errors="replace"):
                    return [str(script)]
            except OSError:
                pass
            return [sys.executable, "-c", f"import sys; from {prog.module} import main; sys.exit(main())"]
        for d in self.bindir:
            path = os.path.join(d, prog.name)
            if os.access(path, os.X_OK):
                return [path]
        return None

    def missing(self, prog: Program) -> str:
        """Why command(prog) found nothing, to follow the program's name."""
        if self.bindir is None:
            return f"is not available in this pyvswitch (no module {prog.module})"
        return f"not found in {':'.join(self.bindir)}"


class State(enum.Enum):
    RUNNING = "running"
    STOPPED = "not running"
    STALE = "stale"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class PidStatus:
    state: State
    pid: int | None = None
    why: str = ""


def process_gone(pid: int) -> bool:
    """True once pid has exited with all its threads; a zombie counts as gone (its parent
    may never reap it).  The main thread turns zombie while other threads may still be
    exiting, and the last of them closes the files: until then a daemon started in its
    place finds its TAP devices busy."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                return False
        return os.listdir(f"/proc/{pid}/task") in ([], [str(pid)])
    except (OSError, IndexError):
        return True


def _is_program(pid: int, prog: Program) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return prog.name.encode() in cmdline or prog.module.encode() in cmdline


def pid_status(prog: Program) -> PidStatus:
    pidfile = prog.pidfile()
    try:
        text = pidfile.read_text()
    except FileNotFoundError:
        return PidStatus(State.STOPPED)
    except OSError as e:
        return PidStatus(State.UNREADABLE, why=e.strerror or str(e))
    try:
        pid = int(text.split()[0])
    except (IndexError, ValueError):
        return PidStatus(State.STALE, why="it holds no pid")
    if process_gone(pid):
        return PidStatus(State.STALE, pid, f"pid {pid} is not running")
    if not _is_program(pid, prog):
        return PidStatus(State.STALE, pid, f"pid {pid} is not {prog.name}")
    return PidStatus(State.RUNNING, pid)


def _remove(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def _remove_leftovers(prog: Program, pid: int | None) -> None:
    """Removes the pidfile and, if its process is gone, the control socket it left."""
    _remove(prog.pidfile())
    if pid is not None and process_gone(pid):
        _remove(prog.ctl(pid))


class JsonRpcSession:
    """A minimal blocking JSON-RPC session on a unix socket: ovsdb-server's or a control socket."""

    def __init__(self, path: str, timeout: float) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.framer = jsonrpc.Framer()
        self.pending: list = []
        self.next_id = 0

    def close(self) -> None:
        self.sock.close()

    def call(self, method: str, params: list):
        self.next_id += 1
        rid = self.next_id
        self.sock.sendall(jsonrpc.encode(jsonrpc.Request(method, params, rid)))
        while True:
            for msg in self.pending:
                if isinstance(msg, (jsonrpc.Reply, jsonrpc.ErrorReply)) and msg.id == rid:
                    self.pending.remove(msg)
                    if isinstance(msg, jsonrpc.ErrorReply):
                        raise LifecycleError(f"{method} failed: {jsonrpc.dumps(msg.error)}")
                    return msg.result
            data = self.sock.recv(65536)
            if not data:
                raise LifecycleError(f"{method}: connection closed by ovsdb-server")
            self.pending += self.framer.feed(data)

    def transact(self, *ops: dict) -> list:
        result = self.call("transact", ["Open_vSwitch", *ops])
        for r in result:
            if isinstance(r, dict) and "error" in r:
                detail = f" ({r['details']})" if r.get("details") else ""
                raise LifecycleError(f"transaction failed: {r['error']}{detail}")
        return result


def _probe(path: str, timeout: float, ask) -> tuple[bool, str]:
    """Whether the peer on a unix socket answers ask(session), and its answer or the error."""
    try:
        conn = JsonRpcSession(path, timeout)
    except OSError as e:
        return False, os.strerror(e.errno) if e.errno else str(e)
    try:
        return True, ask(conn)
    except (OSError, LifecycleError, jsonrpc.JsonRpcError) as e:
        return False, str(e) or type(e).__name__
    finally:
        conn.close()


def _echo_and_list_dbs(conn: JsonRpcSession) -> str:
    conn.call("echo", ["pyvswitch"])
    return "databases: " + ", ".join(conn.call("list_dbs", []))


def probe_db(timeout: float = 2.0) -> tuple[bool, str]:
    """Whether ovsdb-server answers an echo and list_dbs on the database socket."""
    return _probe(dirs.default_db_sock(), timeout, _echo_and_list_dbs)


def probe_ctl(path: Path, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether a daemon answers `version` on its control socket (as `ovs-appctl version`)."""
    return _probe(str(path), timeout, lambda conn: str(conn.call("version", [])).strip())


def _socket_listener_alive(path: str) -> bool:
    """Whether something accepts connections on the unix socket at path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError as e:
        if e.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            return False
        return True
    finally:
        s.close()


def schema_path() -> Path:
    return Path(str(resources.files("pyvswitch") / "schemas" / "vswitch.ovsschema"))


def _run(cmd: list[str], what: str) -> str:
    """Runs cmd to completion and returns its output; a failure becomes a LifecycleError."""
    # Output goes to a file, not a pipe: a detached daemon that kept the pipe
    # open would make us wait for it forever.
    with tempfile.TemporaryFile("w+") as output:
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                               timeout=60)
        except OSError as e:
            raise LifecycleError(f"{what}: {cmd[0]}: {e.strerror}") from e
        except subprocess.TimeoutExpired as e:
            raise LifecycleError(f"{what}: {cmd[0]} did not finish in 60 s") from e
        output.seek(0)
        detail = output.read().strip()
    if r.returncode != 0:
        raise LifecycleError(f"{what} failed (exit status {r.returncode}){': ' + detail if detail else ''}")
    return detail


def ensure_database(programs: Programs, out) -> None:
    """Creates the database from our schema, or converts an existing one to it, as ovs-ctl does."""
    db = Path(dirs.default_db())
    tool = programs.command(OVSDB_TOOL)
    if tool is None:
        if db.exists():
            return
        raise LifecycleError(f"cannot create {db}: ovsdb-tool {programs.missing(OVSDB_TOOL)}")
    schema = str(schema_path())
    if not db.exists():
        print(f"Creating empty database {db}", file=out)
        # Debian's packages leave /etc/openvswitch/conf.db as a symlink into
        # /var/lib/openvswitch, dangling until the first start: create the target.
        target = Path(os.path.realpath(db))
        target.parent.mkdir(parents=True, exist_ok=True)
        _run(tool + ["create", str(target), schema], f"creating {db}")
        return
    try:
        if _run(tool + ["needs-conversion", str(db), schema], f"checking the schema of {db}") != "yes":
            return
    except LifecycleError as e:
        # As ovs-ctl: the server gets the database as it is, and says what is wrong with it.
        print(f"Warning: {e}", file=out)
        return
    version = _run(tool + ["db-version", str(db)], f"reading {db}")
    cksum = _run(tool + ["db-cksum", str(db)], f"reading {db}").replace(" ", "-")
    backup = db.with_name(f"{db.name}.backup{version}-{cksum}")
    if not backup.exists():
        print(f"Backing up database to {backup}", file=out)
        shutil.copy2(db, backup)
    print(f"Upgrading database schema of {db} from {version} to {json.loads(Path(schema).read_text())['version']}",
          file=out)
    _run(tool + ["convert", str(db), schema], f"converting {db}")


def _system_id() -> str:
    """The system-id kept in DBDIR/system-id.conf, made on first use as ovs-ctl does."""
    path = Path(dirs.dbdir()) / "system-id.conf"
    try:
        sid = path.read_text().strip()
        if sid:
            return sid
    except FileNotFoundError:
        pass
    sid = str(uuid.uuid4())
    path.write_text(sid + "\n")
    return sid


def _os_release() -> tuple[str, str]:
    fields = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            k, _, v = line.partition("=")
            fields[k] = v.strip().strip('"')
    except OSError:
        pass
    return fields.get("ID", "unknown"), fields.get("VERSION_ID", "unknown")


def initialize_database() -> None:
    """`ovs-vsctl --no-wait init` plus ovs-ctl's system ids, in two transactions."""
    schema = json.loads(schema_path().read_text())
    conn = JsonRpcSession(dirs.default_db_sock(), START_TIMEOUT)
    try:
        rows = conn.transact({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["_uuid"]})[0]["rows"]
        if not rows:
            conn.transact({"op": "insert", "table": "Open_vSwitch", "row": {}})
        system_type, system_version = _os_release()
        ids = {"system-id": _system_id(), "hostname": socket.gethostname(), "rundir": dirs.rundir()}
        conn.transact(
            {"op": "update", "table": "Open_vSwitch", "where": [],
             "row": {"db_version": schema["version"], "ovs_version": OVS_COMPAT_VERSION,
                     "system_type": system_type, "system_version": system_version}},
            {"op": "mutate", "table": "Open_vSwitch", "where": [],
             "mutations": [["external_ids", "delete", ["set", sorted(ids)]],
                           ["external_ids", "insert", ["map", sorted(ids.items())]]]})
    finally:
        conn.close()


def _check_stale(prog: Program, st: PidStatus, out) -> None:
    if st.state is State.STALE:
        print(f"Removing stale pidfile {prog.pidfile()} ({st.why})", file=out)
        _remove_leftovers(prog, st.pid)
    elif st.state is State.UNREADABLE:
        raise LifecycleError(f"pidfile for {prog.name} ({prog.pidfile()}) exists but cannot be read: {st.why}")


def start_daemon(prog: Program, programs: Programs, out) -> bool:
    """Starts prog unless it runs; False if it is not available at all."""
    st = pid_status(prog)
    if st.state is State.RUNNING:
        print(f"{prog.name} is already running with pid {st.pid}", file=out)
        return True
    _check_stale(prog, st, out)
    cmd = programs.command(prog)
    if cmd is None:
        return False
    if prog is OVSDB_SERVER:
        sock = dirs.default_db_sock()
        if os.path.exists(sock):
            if _socket_listener_alive(sock):
                raise LifecycleError(f"{sock} is in use by another process (not the ovsdb-server "
                                     f"of {prog.pidfile()}); stop it or use another --rundir")
            _remove(Path(sock))
        ensure_database(programs, out)
    _run(cmd + prog.options(), f"starting {prog.name}")
    deadline = time.monotonic() + START_TIMEOUT
    while (st := pid_status(prog)).state is not State.RUNNING:
        if time.monotonic() > deadline:
            raise LifecycleError(f"{prog.name} did not start: see {prog.log_file()}")
        time.sleep(0.01)
    if prog is OVSDB_SERVER:
        while not probe_db(1.0)[0]:
            if time.monotonic() > deadline:
                raise LifecycleError(f"ovsdb-server (pid {st.pid}) does not answer on "
                                     f"{dirs.default_db_sock()}: see {prog.log_file()}")
            time.sleep(0.01)
        initialize_database()
    print(f"Started {prog.name} with pid {st.pid}", file=out)
    return True


def stop_daemon(prog: Program, timeout: float, out) -> None:
    st = pid_status(prog)
    if st.state is State.STOPPED:
        print(f"{prog.name} is not running", file=out)
        return
    if st.state is not State.RUNNING:
        _check_stale(prog, st, out)
        print(f"{prog.name} is not running", file=out)
        return
    pid = st.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while not process_gone(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if process_gone(pid):
            break
        print(f"{prog.name} (pid {pid}) did not exit on SIGTERM; killing it with SIGKILL", file=out)
    if not process_gone(pid):
        raise LifecycleError(f"{prog.name} (pid {pid}) did not exit even on SIGKILL")
    _remove_leftovers(prog, pid)
    if prog is OVSDB_SERVER and not _socket_listener_alive(dirs.default_db_sock()):
        _remove(Path(dirs.default_db_sock()))
    print(f"Stopped {prog.name} (pid {pid})", file=out)


def status(programs: Programs, out, daemons: tuple[Program, ...] = DAEMONS) -> int:
    """Prints what runs, as `ovs-ctl status` does, plus sockets and health; 0 if all is well."""
    rc = 0
    for prog in daemons:
        st = pid_status(prog)
        if st.state is State.RUNNING:
            print(f"{prog.name} is running with pid {st.pid}", file=out)
            print(f"  log file {prog.log_file()}", file=out)
            ok, what = probe_ctl(prog.ctl(st.pid))
            print(f"  control socket {prog.ctl(st.pid)}: {'responding' if ok else 'not responding'} ({what})",
                  file=out)
            rc = rc if ok else 1
            if prog is OVSDB_SERVER:
                ok, what = probe_db()
                print(f"  database socket {dirs.default_db_sock()}: "
                      f"{'responding' if ok else 'not responding'} ({what})", file=out)
                rc = rc if ok else 1
            continue
        if prog is OVS_VSWITCHD and st.state is State.STOPPED and programs.command(prog) is None:
            # Not counted as a failure: this pyvswitch has no switch daemon to run.
            print(f"{prog.name} {programs.missing(prog)}", file=out)
            continue
        if st.state is State.STALE:
            print(f"Pidfile for {prog.name} ({prog.pidfile()}) is stale ({st.why})", file=out)
        elif st.state is State.UNREADABLE:
            print(f"Pidfile for {prog.name} ({prog.pidfile()}) exists but cannot be read", file=out)
        else:
            print(f"{prog.name} is not running", file=out)
        rc = 1
    return rc


def _make_dirs() -> None:
    hint = " (run as root, or use --rundir DIR)" if os.geteuid() != 0 else ""
    for d in (dirs.rundir(), dirs.logdir(), dirs.dbdir()):
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise LifecycleError(f"{d}: {e.strerror}{hint}") from e
        if not os.access(d, os.W_OK):
            raise LifecycleError(f"{d}: {os.strerror(errno.EACCES)}{hint}")


def start(programs: Programs, out, daemons: tuple[Program, ...] | None = None) -> int:
    """Starts the named daemons, or by default ovsdb-server and, if this pyvswitch has it, ovs-vswitchd."""
    _make_dirs()
    for prog in daemons or DAEMONS:
        if start_daemon(prog, programs, out):
            continue
        if daemons is None and prog is OVS_VSWITCHD:
            print(f"Not starting ovs-vswitchd: ovs-vswitchd {programs.missing(prog)}", file=out)
        else:
            raise LifecycleError(f"{prog.name} {programs.missing(prog)}")
    return 0


def stop(timeout: float, out, daemons: tuple[Program, ...] = DAEMONS) -> int:
    """Stops the named daemons, the switch before the database."""
    for prog in reversed(daemons):
        stop_daemon(prog, timeout, out)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROGRAM, description="Start, stop and check the pyvswitch daemons (ovsdb-server, ovs-vswitchd).")
    p.add_argument("command", choices=("start", "stop", "restart", "status"))
    p.add_argument("daemons", nargs="*", metavar="DAEMON",
                   help="ovsdb-server and/or ovs-vswitchd (default: both)")
    p.add_argument("--rundir", metavar="DIR",
                   help="keep the database, logs, sockets and pidfiles all under DIR "
                        "(default: OVS's directories, or $OVS_RUNDIR, $OVS_DBDIR, $OVS_LOGDIR)")
    p.add_argument("--bindir", metavar="DIR[:DIR...]",
                   help="run the daemons and ovsdb-tool found in these directories instead of pyvswitch's own")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECS",
                   help="how long stop waits after SIGTERM before SIGKILL (default: 5)")
    args = p.parse_args(argv)
    for name in args.daemons:
        if name not in [d.name for d in DAEMONS]:
            p.error(f"unknown daemon {name!r} (choose from {', '.join(d.name for d in DAEMONS)})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rundir:
        d = os.path.abspath(args.rundir)
        for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
            os.environ[var] = d
    programs = Programs(args.bindir)
    out = sys.stdout
    named = tuple(d for d in DAEMONS if d.name in args.daemons) or None
    try:
        if args.command == "status":
            return status(programs, out, named or DAEMONS)
        if args.command in ("stop", "restart"):
            stop(args.timeout, out, named or DAEMONS)
        if args.command in ("start", "restart"):
            start(programs, out, named)
        return 0
    except LifecycleError as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
