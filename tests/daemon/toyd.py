"""A toy daemon built from the shared plumbing (daemon, vlog, unixctl, aio.stream).

It echoes whatever a client sends on each --remote and answers unixctl
commands, which lets the tests exercise the plumbing apart from ovsdb-server.
Extra commands: toy/crash (dies by SIGSEGV), toy/log TEXT (logs TEXT at INFO),
toy/slow (answers after a while), toy/hang (never answers).
"""

import asyncio
import os
import signal
import sys

from pyvswitch import vlog
from pyvswitch.aio.stream import RemoteManager, parse_remote
from pyvswitch.aio.unixctl import UnixctlServer, server_path
from pyvswitch.cli.options import Arg, Option, parse
from pyvswitch.daemon import Daemon, DaemonError, die_by_signal, signal_description
from pyvswitch.unixctl.commands import add_builtins
from pyvswitch.unixctl.core import CommandTable

PROGRAM = "toyd"
log = vlog.module("toyd")


class Echo:
    def connected(self, conn):
        pass

    def received(self, conn, data):
        conn.send(data)

    def disconnected(self, conn, reason):
        pass


async def serve(d, remotes, ctl):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    table = CommandTable()
    add_builtins(table, PROGRAM, lambda: loop.call_soon(done.set_result, 0))

    def crash(args):
        os.kill(os.getpid(), signal.SIGSEGV)
        return True, ""

    def log_text(args):
        log.info("%s", args[0])
        return True, ""

    async def slow(args):
        await asyncio.sleep(0.05)
        return True, "slow done\n"

    async def hang(args):
        await asyncio.Future()

    table.register("toy/hang", "", 0, 0, hang)
    table.register("toy/crash", "", 0, 0, crash)
    table.register("toy/log", "TEXT", 1, 1, log_text)
    table.register("toy/slow", "", 0, 0, slow)
    path = server_path(PROGRAM, ctl)
    server = await UnixctlServer.start(table, path)
    d.exit_hooks.append(server.close)
    managers = []
    for r in remotes:
        m = RemoteManager(parse_remote(r), Echo)
        m.start()
        managers.append(m)
        d.exit_hooks.append(m.close)
    for m in managers:
        if m.remote.passive:
            await m.listening.wait()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda s=s: done.set_result(-s) if not done.done() else None)
    log.info("toyd ready")
    d.complete()
    code = await done
    if code < 0:
        vlog.module("fatal_signal").warn("terminating with signal %s", signal_description(-code))
    d.run_exit_hooks()
    return code


def main():
    vlog.set_program_name(PROGRAM)
    d = Daemon(PROGRAM)
    opts, args = parse(sys.argv[1:], [Option("pidfile", Arg.OPTIONAL), Option("detach"),
                                      Option("monitor"), Option("no-chdir"),
                                      Option("overwrite-pidfile"), Option("user", Arg.REQUIRED),
                                      Option("remote", Arg.REQUIRED),
                                      Option("unixctl", Arg.REQUIRED),
                                      Option("log-file", Arg.OPTIONAL),
                                      Option("verbose", Arg.OPTIONAL, "v")])
    remotes, ctl = [], None
    for name, value in opts:
        if d.handle_option(name, value):
            continue
        if name == "remote":
            remotes.append(value)
        elif name == "unixctl":
            ctl = value
        elif name == "log-file":
            vlog.set_log_file(value)
        elif name == "verbose":
            vlog.set_verbosity(value)
    try:
        d.start()
    except DaemonError as e:
        vlog.module("daemon_unix").emer("%s", e)
        sys.stderr.write(f"{PROGRAM}: {e}\n")
        return 1
    code = asyncio.run(serve(d, remotes, ctl))
    if code < 0:
        die_by_signal(-code)
    return code


if __name__ == "__main__":
    sys.exit(main())
