"""ovsdb-server: the OVSDB database server (RFC 7047), OVS's command line.

    ovsdb-server [DATABASE...] [--remote=REMOTE]... [--run=COMMAND]
                 [--pidfile[=FILE]] [--detach] [--no-chdir] [--monitor]
                 [--log-file[=FILE]] [-v[SPEC]] [--unixctl=SOCKET]
                 [--private-key=FILE --certificate=FILE --ca-cert=FILE]

Wiring only.  The protocol is `ServerCore` (ovsdb/server.py), the files
are `Storage` (ovsdb/storage.py), the loop around them is
aio/ovsdb_server.py, and the daemon's life (common options, unixctl,
signals, detaching) is `Service` (aio/service.py).

Start-up order, as OVS's: log file; daemon start (fork, pidfile); open and
lock the databases; unixctl socket and remotes listening; then readiness,
so that `--detach` returns only once clients can connect.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from pyvswitch import dirs, vlog
from pyvswitch.aio.service import SSL_OPTIONS, Service, common_usage
from pyvswitch.cli.options import Arg, Option
from pyvswitch.daemon import signal_description
from pyvswitch.unixctl.commands import version_string

PROGRAM = "ovsdb-server"

log = vlog.module("ovsdb_server")

OPTIONS = [
    Option("remote", Arg.REQUIRED),
    Option("run", Arg.REQUIRED),
    *SSL_OPTIONS,
    Option("no-self-confinement"),
    Option("disable-file-column-diff"),
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

{common_usage(PROGRAM)}
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
        self.ssl: dict[str, str] = {}


def parse_args(svc: Service, argv: list[str]) -> Config:
    cfg = Config()
    opts, args = svc.parse(argv, OPTIONS)
    for name, value in opts:
        if name == "remote":
            cfg.remotes.append(value)
        elif name == "run":
            cfg.run = value
        elif name in ("private-key", "certificate", "ca-cert"):
            cfg.ssl[name] = value
        elif name == "bootstrap-ca-cert":
            # No bootstrapping: the CA certificate must already be there.
            cfg.ssl.setdefault("ca-cert", value)
        # The remaining options are accepted for compatibility and have no effect here.
    cfg.databases = [os.path.abspath(a) for a in args] or [dirs.default_db()]
    return cfg


def _open_storage(path: str):
    from pyvswitch.ovsdb.storage import Storage
    return Storage.open(path)


def _setup(cfg: Config, storages: list):
    async def setup(svc: Service) -> None:
        from pyvswitch.aio.ovsdb_server import OvsdbServerShell
        from pyvswitch.ovsdb.server import ServerCore

        shell = OvsdbServerShell(ServerCore(now=time.time()), open_storage=_open_storage)
        shell.ssl_options = dict(cfg.ssl)
        for storage in storages:
            shell.add_storage(storage)
        shell.remotes = list(dict.fromkeys(cfg.remotes))
        shell.register_commands(svc.commands)
        svc.memory_report = shell.memory_report
        svc.daemon.exit_hooks.append(shell.close)
        await shell.start_remotes()
        if cfg.run:
            await _start_run(svc, cfg.run)

    return setup


async def _start_run(svc: Service, command: str) -> None:
    """--run: the server lives as long as COMMAND and exits with its success."""
    proc = await asyncio.create_subprocess_shell(command)

    async def wait() -> None:
        rc = await proc.wait()
        if rc != 0:
            how = f"exit status {rc}" if rc > 0 else f"killed by signal {signal_description(-rc)}"
            sys.stderr.write(f"{PROGRAM}: {command}: child exited, {how}\n")
        svc.request_exit(0 if rc == 0 else 1)

    def stop() -> None:
        if proc.returncode is None:
            proc.terminate()

    asyncio.get_running_loop().create_task(wait())
    svc.daemon.exit_hooks.append(stop)


def main(argv: list[str] | None = None) -> int:
    svc = Service(PROGRAM, USAGE)
    # Create every module handle a -v option may name before parsing.
    import pyvswitch.aio.ovsdb_server  # noqa: F401
    for name in ("jsonrpc", "ovsdb_jsonrpc_server", "ovsdb_log", "storage", "ovsdb",
                 "daemon", "fatal_signal", "memory", "coverage", "stream", "reconnect",
                 "socket_util", "timeval", "unixctl"):
        vlog.module(name)
    cfg = parse_args(svc, sys.argv[1:] if argv is None else argv)
    svc.start()
    from pyvswitch.aio.ovsdb_server import _error_text, check_remote
    storages = []
    for path in cfg.databases:
        try:
            storages.append(_open_storage(path))
        except Exception as e:
            log.emer("%s", _error_text(e))
            svc.fatal(_error_text(e))
    by_name = {st.schema.name: st for st in storages}
    for r in cfg.remotes + [v for v in cfg.ssl.values() if v.startswith("db:")]:
        err = check_remote(r, by_name)
        if err is not None:
            # OVS ends this message with an empty line.
            svc.fatal(err + "\n")
    svc.on_ready = lambda: log.info("%s", version_string(PROGRAM))
    return svc.run(_setup(cfg, storages))


if __name__ == "__main__":
    sys.exit(main())
