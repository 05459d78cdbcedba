"""A toy daemon built from the shared plumbing (aio.service, aio.stream).

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
from pyvswitch.aio.service import Service
from pyvswitch.aio.stream import RemoteManager, parse_remote
from pyvswitch.cli.options import Arg, Option

PROGRAM = "toyd"
log = vlog.module("toyd")


class Echo:
    def connected(self, conn):
        pass

    def received(self, conn, data):
        conn.send(data)

    def disconnected(self, conn, reason):
        pass


async def setup(svc):
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

    svc.commands.register("toy/hang", "", 0, 0, hang)
    svc.commands.register("toy/crash", "", 0, 0, crash)
    svc.commands.register("toy/log", "TEXT", 1, 1, log_text)
    svc.commands.register("toy/slow", "", 0, 0, slow)
    managers = []
    for r in svc.remotes:
        m = RemoteManager(parse_remote(r), Echo)
        m.start()
        managers.append(m)
        svc.daemon.exit_hooks.append(m.close)
    for m in managers:
        if m.remote.passive:
            await m.listening.wait()
    log.info("toyd ready")


def main():
    svc = Service(PROGRAM)
    opts, _ = svc.parse(sys.argv[1:], [Option("remote", Arg.REQUIRED)])
    svc.remotes = [value for name, value in opts if name == "remote"]
    svc.start()
    return svc.run(setup)


if __name__ == "__main__":
    sys.exit(main())
