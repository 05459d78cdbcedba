"""ovs-vswitchd: the switch daemon, OVS's command line.

    ovs-vswitchd [DATABASE] [--pidfile[=FILE]] [--detach] [--no-chdir] [--monitor]
                 [--log-file[=FILE]] [-v[SPEC]] [--unixctl=SOCKET] [--mlockall]
                 [--enable-dummy[=override|system]] [-p KEY -c CERT -C CA]

Wiring only: vswitchd's own options and unixctl commands; the options every
daemon takes, start-up, signals and exit are `Service` (aio/service.py).
The work is vswitchd/bridge.py (database -> reconfiguration -> status) on
the event loop, with each datapath forwarding in its own thread.

`--enable-dummy` allows interfaces of type "dummy"; `=override` also turns
every "system" and "internal" interface into a dummy one, so tests (like
ovsdbapp's functional-test fixture) need no privileges; `=system` turns only
the "system" ones into dummies.
"""

from __future__ import annotations

import sys
import time

from pyvswitch import dirs, vlog
from pyvswitch.aio.service import SSL_OPTIONS, Service, common_usage
from pyvswitch.cli.options import Arg, Option
from pyvswitch.unixctl.commands import version_string
from pyvswitch.unixctl.core import CommandTable
from pyvswitch.vswitchd.config import Dummy

PROGRAM = "ovs-vswitchd"

# vswitchd's own options; the common daemon options are Service's.
OPTIONS = [
    *SSL_OPTIONS,
    Option("mlockall"),
    Option("enable-dummy", Arg.OPTIONAL),
    Option("disable-system"),
    Option("disable-system-route"),
    Option("dpdk"),
    Option("hw-rawio-access"),
]

USAGE = f"""\
{PROGRAM}: Open vSwitch daemon
usage: {PROGRAM} [OPTIONS] [DATABASE]
where DATABASE is a socket on which ovsdb-server is listening
      (default: "unix:{dirs.default_db_sock()}").

Active DATABASE connection methods:
  tcp:HOST:PORT           PORT at remote HOST
  ssl:HOST:PORT           SSL PORT at remote HOST
  unix:FILE               Unix domain socket named FILE
PKI configuration (required to use SSL):
  -p, --private-key=FILE  file with private key
  -c, --certificate=FILE  file with certificate for private key
  -C, --ca-cert=FILE      file with peer CA certificate

{common_usage(PROGRAM)}
Other options:
  --unixctl=SOCKET          override default control socket name
  --enable-dummy[=override] allow dummy interfaces (override: in place of system ones)
  --mlockall                accepted for compatibility
  -h, --help                display this help message
  -V, --version             display version information
"""


class Config:
    def __init__(self) -> None:
        self.remote = f"unix:{dirs.default_db_sock()}"
        self.ssl: dict[str, str] = {}
        self.dummy = Dummy.OFF


def parse_args(svc: Service, argv: list[str]) -> Config:
    cfg = Config()
    opts, args = svc.parse(argv, OPTIONS)
    for name, value in opts:
        if name in ("private-key", "certificate", "ca-cert"):
            cfg.ssl[name] = value
        elif name == "enable-dummy":
            if value not in (None, "", "override", "system"):
                svc.fatal(f"{value}: unknown dummy level")
            cfg.dummy = {"override": Dummy.OVERRIDE, "system": Dummy.SYSTEM}.get(value, Dummy.ON)
        # The remaining options are accepted for compatibility and have no effect here.
    if len(args) > 1:
        svc.fatal("at most one non-option argument accepted; use --help for usage")
    if args:
        cfg.remote = args[0]
    from pyvswitch.aio.stream import RemoteError, parse_remote
    try:
        if parse_remote(cfg.remote).passive:
            svc.fatal(f"{cfg.remote}: passive database connections are not supported")
    except RemoteError as e:
        svc.fatal(str(e))
    return cfg


def _register_commands(table: CommandTable, runner) -> None:
    from pyvswitch.ofproto import trace
    from pyvswitch.vswitchd import appctl

    def bridges():
        out = {}
        for b in runner.switch.backers.values():
            out.update(b.bridges)
        return out

    usages = {"ofproto/trace": ("{[dp_name] odp_flow | bridge br_flow} [OPTIONS...] "
                                "[-generate|packet]", 1, 5),
              "fdb/show": ("bridge", 1, 1), "fdb/flush": ("[bridge]", 0, 1),
              "fdb/stats-show": ("bridge", 1, 1), "dpif/show": ("", 0, 0),
              "dpif/dump-flows": ("[-m] [--names | --no-names] bridge", 1, 64)}
    for name, fn in trace.COMMANDS.items():
        usage, lo, hi = usages.get(name, ("", 0, 8))
        table.register(name, usage, lo, hi,
                       lambda args, fn=fn: fn(bridges(), args, time.monotonic()))
    appctl.register(table, runner)
    from pyvswitch.datapath import dpctl
    dpctl.register(table, lambda: [b.datapath for b in runner.switch.backers.values()],
                   time.monotonic)


def _setup(cfg: Config):
    async def setup(svc: Service) -> None:
        import asyncio

        from pyvswitch.vswitchd.bridge import BridgeRunner

        loop = asyncio.get_running_loop()
        ssl_client = None
        if cfg.ssl and cfg.remote.startswith("ssl:"):
            from pyvswitch.aio.stream import ssl_contexts
            try:
                _, client_ctx = ssl_contexts(cfg.ssl.get("private-key", ""),
                                             cfg.ssl.get("certificate", ""), cfg.ssl.get("ca-cert", ""))
            except OSError as e:
                svc.fatal(f"could not load SSL configuration ({e})")

            def ssl_client():
                return client_ctx

        runner = BridgeRunner(cfg.remote, cfg.dummy, ssl_client=ssl_client)
        svc.memory_report = lambda: _memory_report(runner)
        cleanup = {"on": False}

        def exit_(args):
            # `exit --cleanup` also deletes the bridges' devices, as OVS's does.
            cleanup["on"] = "--cleanup" in args
            loop.call_soon(svc.request_exit, 0)
            return True, ""

        svc.commands.register("exit", "[--cleanup]", 0, 1, exit_)
        _register_commands(svc.commands, runner)
        svc.daemon.exit_hooks.append(lambda: runner.close(cleanup=cleanup["on"]))
        runner.start()
        task = loop.create_task(runner.run())
        svc.daemon.exit_hooks.append(task.cancel)
        vlog.module("bridge").info("%s", version_string(PROGRAM))

    return setup


def _memory_report(runner) -> str:
    """memory/show in OVS's "name:count" form."""
    backers = list(runner.switch.backers.values())
    cells = sum(len(row) for rows in runner.idl.tables.values() for row in rows.values())
    ports = sum(len(br.ports) for b in backers for br in b.bridges.values())
    rules = sum(len(br.tables) for b in backers for br in b.bridges.values())
    keys = sum(b.datapath.stats().flows for b in backers)
    text = (f"handlers:1 idl-cells-Open_vSwitch:{cells} ports:{ports} revalidators:1 "
            f"rules:{rules}")
    return text + (f" udpif keys:{keys}" if keys else "")


def main(argv: list[str] | None = None) -> int:
    svc = Service(PROGRAM, USAGE)
    # Create every module handle a -v option may name before parsing.
    import pyvswitch.aio.idl  # noqa: F401
    import pyvswitch.aio.unixctl  # noqa: F401
    import pyvswitch.vswitchd.bridge  # noqa: F401
    for name in ("vconn", "rconn", "netdev", "netdev_dummy", "netdev_linux", "dpif",
                 "dpif_netdev", "ofproto", "ofproto_dpif", "ofproto_dpif_xlate", "connmgr",
                 "jsonrpc", "ovsdb_idl", "reconnect", "stream", "daemon", "fatal_signal",
                 "memory", "coverage", "timeval", "socket_util", "poll_loop", "bridge"):
        vlog.module(name)
    cfg = parse_args(svc, sys.argv[1:] if argv is None else argv)
    svc.start()
    return svc.run(_setup(cfg))


if __name__ == "__main__":
    sys.exit(main())
