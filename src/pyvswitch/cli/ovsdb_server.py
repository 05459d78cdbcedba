"""ovsdb-server: the OVSDB database server (RFC 7047), OVS's command line.

    ovsdb-server [DATABASE...] [--remote=REMOTE]... [--run=COMMAND]
                 [--pidfile[=FILE]] [--detach] [--no-chdir] [--monitor]
                 [--log-file[=FILE]] [-v[SPEC]] [--unixctl=SOCKET]
                 [--private-key=FILE --certificate=FILE --ca-cert=FILE]

Wiring only: options, the daemon start-up sequence, signals.  The protocol
is `ServerCore` (ovsdb/server.py), the files are `Storage`
(ovsdb/storage.py), the loop around them is aio/ovsdb_server.py.

Start-up order, as OVS's: log file; daemon start (fork, pidfile); open and
lock the databases; unixctl socket and remotes listening; then readiness,
so that `--detach` returns only once clients can connect.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from pyvswitch import dirs, vlog
from pyvswitch.cli.options import Arg, Option, OptionError, parse
from pyvswitch.daemon import Daemon, DaemonError, die_by_signal, signal_description
from pyvswitch.unixctl.commands import add_builtins, version_string
from pyvswitch.unixctl.core import CommandTable

PROGRAM = "ovsdb-server"

log = vlog.module("ovsdb_server")
log_signal = vlog.module("fatal_signal")

OPTIONS = [
    Option("remote", Arg.REQUIRED),
    Option("run", Arg.REQUIRED),
    Option("unixctl", Arg.REQUIRED),
    Option("pidfile", Arg.OPTIONAL),
    Option("overwrite-pidfile"),
    Option("detach"),
    Option("no-chdir"),
    Option("monitor"),
    Option("user", Arg.REQUIRED),
    Option("log-file", Arg.OPTIONAL),
    Option("verbose", Arg.OPTIONAL, "v"),
    Option("syslog-target", Arg.REQUIRED),
    Option("syslog-method", Arg.REQUIRED),
    Option("private-key", Arg.REQUIRED, "p"),
    Option("certificate", Arg.REQUIRED, "c"),
    Option("ca-cert", Arg.REQUIRED, "C"),
    Option("bootstrap-ca-cert", Arg.REQUIRED),
    Option("peer-ca-cert", Arg.REQUIRED),
    Option("ssl-protocols", Arg.REQUIRED),
    Option("ssl-ciphers", Arg.REQUIRED),
    Option("no-self-confinement"),
    Option("disable-file-column-diff"),
    Option("help", Arg.NONE, "h"),
    Option("version", Arg.NONE, "V"),
]

USAGE = f"""\
{PROGRAM}: Open vSwitch database server
usage: {PROGRAM} [OPTIONS] [DATABASE...]
where each DATABASE is a database file in ovsdb format.
The default DATABASE, if none is given, is
{dirs.default_db()}.

Remote options:
  --remote=REMOTE         connect or listen to REMOTE (punix:FILE, ptcp:[PORT][:IP],
                          pssl:[PORT][:IP], unix:FILE, tcp:IP[:PORT], ssl:IP[:PORT],
                          db:DB,TABLE,COLUMN)
  --run COMMAND           run COMMAND as subprocess then exit

Daemon options:
  --detach                run in background as daemon
  --monitor               creates a process to monitor this daemon
  --no-chdir              do not chdir to '/'
  --pidfile[=FILE]        create pidfile (default: {dirs.default_pidfile(PROGRAM)})
  --overwrite-pidfile     with --pidfile, start even if already running

Logging options:
  -vSPEC, --verbose=SPEC   set logging levels
  -v, --verbose            set maximum verbosity level
  --log-file[=FILE]        enable logging to specified FILE
                           (default: {dirs.default_log_file(PROGRAM)})

SSL options:
  -p, --private-key=FILE  file with private key
  -c, --certificate=FILE  file with certificate for private key
  -C, --ca-cert=FILE      file with peer CA certificate

Other options:
  --unixctl=SOCKET        override default control socket name
  -h, --help              display this help message
  -V, --version           display version information
"""


class Config:
    def __init__(self) -> None:
        self.databases: list[str] = []
        self.remotes: list[str] = []
        self.run: str | None = None
        self.unixctl: str | None = None
        self.log_file: str | None = None
        self.ssl: dict[str, str] = {}
        self.daemon = Daemon(PROGRAM)


def _fatal(msg: str) -> None:
    sys.stderr.write(f"{PROGRAM}: {msg}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def parse_args(argv: list[str]) -> Config:
    cfg = Config()
    try:
        opts, args = parse(argv, OPTIONS)
    except OptionError as e:
        _fatal(str(e))
    for name, value in opts:
        if cfg.daemon.handle_option(name, value):
            continue
        if name == "remote":
            cfg.remotes.append(value)
        elif name == "run":
            cfg.run = value
        elif name == "unixctl":
            cfg.unixctl = value
        elif name == "log-file":
            cfg.log_file = dirs.abs_file_name(dirs.logdir(), value) if value \
                else dirs.default_log_file(PROGRAM)
        elif name == "verbose":
            try:
                vlog.set_verbosity(value)
            except vlog.VlogError as e:
                _fatal(str(e))
        elif name in ("private-key", "certificate", "ca-cert"):
            cfg.ssl[name] = value
        elif name == "bootstrap-ca-cert":
            # No bootstrapping: the CA certificate must already be there.
            cfg.ssl.setdefault("ca-cert", value)
        elif name == "help":
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        elif name == "version":
            sys.stdout.write(version_string(PROGRAM) + "\n")
            raise SystemExit(0)
        # The remaining options are accepted for compatibility and have no effect here.
    cfg.databases = [os.path.abspath(a) for a in args] or [dirs.default_db()]
    return cfg


def _open_storage(path: str):
    from pyvswitch.ovsdb.storage import Storage
    return Storage.open(path)


def _storage_error(e: Exception) -> str:
    from pyvswitch.aio.ovsdb_server import _error_text
    return _error_text(e)


async def serve(cfg: Config, storages: list) -> int:
    from pyvswitch.aio.ovsdb_server import OvsdbServerShell
    from pyvswitch.aio.unixctl import UnixctlServer, server_path
    from pyvswitch.ovsdb.server import ServerCore
    import time

    loop = asyncio.get_running_loop()

    def on_loop_error(loop, context):
        # Anything asyncio would print to stderr goes to the log instead.
        exc = context.get("exception")
        log.err("%s%s", context.get("message", "unexpected error"), f": {exc!r}" if exc else "")

    loop.set_exception_handler(on_loop_error)
    core = ServerCore(now=time.time())
    shell = OvsdbServerShell(core, open_storage=_open_storage)
    shell.ssl_options = dict(cfg.ssl)
    for storage in storages:
        shell.add_storage(storage)
    shell.remotes = list(dict.fromkeys(cfg.remotes))

    exit_code = asyncio.get_running_loop().create_future()

    def request_exit(code: int = 0) -> None:
        if not exit_code.done():
            exit_code.set_result(code)

    table = CommandTable()
    add_builtins(table, PROGRAM, lambda: loop.call_soon(request_exit, 0), shell.memory_report)
    shell.register_commands(table)

    ctl_path = server_path(PROGRAM, cfg.unixctl)
    unixctl = None
    if ctl_path is not None:
        try:
            unixctl = await UnixctlServer.start(table, ctl_path)
        except OSError as e:
            log.emer("%s: could not initialize control socket (%s)", ctl_path, e.strerror)
            _fatal(f"could not initialize control socket {ctl_path} ({e.strerror})")
        cfg.daemon.exit_hooks.append(unixctl.close)
    cfg.daemon.exit_hooks.append(shell.close)

    await shell.start_remotes()

    fatal = {}

    def on_signal(signum: int) -> None:
        fatal["signum"] = signum
        request_exit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(s, on_signal, s)

    run_proc = None
    if cfg.run:
        run_proc = await asyncio.create_subprocess_shell(cfg.run)

        async def wait_run():
            rc = await run_proc.wait()
            if rc != 0:
                how = f"exit status {rc}" if rc > 0 else f"killed by signal {signal_description(-rc)}"
                sys.stderr.write(f"{PROGRAM}: {cfg.run}: child exited, {how}\n")
            request_exit(0 if rc == 0 else 1)

        loop.create_task(wait_run())

    cfg.daemon.complete()
    log.info("%s", version_string(PROGRAM))
    code = await exit_code
    if "signum" in fatal:
        log_signal.warn("terminating with signal %s", signal_description(fatal["signum"]))
    cfg.daemon.run_exit_hooks()
    if run_proc is not None and run_proc.returncode is None:
        run_proc.terminate()
    if "signum" in fatal:
        return -fatal["signum"]
    return code


def main(argv: list[str] | None = None) -> int:
    vlog.set_program_name(PROGRAM)
    # Create every module handle a -v option may name before parsing.
    import pyvswitch.aio.ovsdb_server  # noqa: F401
    import pyvswitch.aio.unixctl  # noqa: F401
    for name in ("jsonrpc", "ovsdb_jsonrpc_server", "ovsdb_log", "storage", "ovsdb",
                 "daemon", "fatal_signal", "memory", "coverage", "stream", "reconnect",
                 "socket_util", "timeval"):
        vlog.module(name)
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    if cfg.log_file:
        try:
            vlog.set_log_file(cfg.log_file)
        except OSError as e:
            _fatal(f"{cfg.log_file}: open failed ({e.strerror})")
    try:
        cfg.daemon.start()
    except DaemonError as e:
        vlog.module("daemon_unix").emer("%s", e)
        _fatal(str(e))
    storages = []
    for path in cfg.databases:
        try:
            storages.append(_open_storage(path))
        except Exception as e:
            log.emer("%s", _storage_error(e))
            cfg.daemon.run_exit_hooks()
            _fatal(_storage_error(e))
    from pyvswitch.aio.ovsdb_server import check_remote
    by_name = {st.schema.name: st for st in storages}
    for r in cfg.remotes + [v for v in cfg.ssl.values() if v.startswith("db:")]:
        err = check_remote(r, by_name)
        if err is not None:
            cfg.daemon.run_exit_hooks()
            # OVS ends this message with an empty line.
            _fatal(err + "\n")
    code = asyncio.run(serve(cfg, storages))
    if code < 0:
        die_by_signal(-code)
    return code


if __name__ == "__main__":
    sys.exit(main())
