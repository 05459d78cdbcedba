"""ovs-dpctl: manage the datapath, as OVS's tool does.

    ovs-dpctl [OPTIONS] COMMAND [ARG...]

pyvswitch's datapath is a userspace one living inside ovs-vswitchd, so, like
`ovs-appctl dpctl/...` for OVS's userspace datapath, this tool sends each command to
ovs-vswitchd's control socket (RUNDIR/ovs-vswitchd.PID.ctl) and prints the answer:
output on stdout and exit 0; an error on stderr in ovs-dpctl's words and exit 1.
Commands that create or delete datapaths or their ports belong to ovs-vswitchd's
configuration (ovs-vsctl) and are refused with a message saying so.

The tool lives for one request: like ovs-appctl it keeps off os, socket,
typing and dataclasses (and vlog: it logs nothing), and it does not import the command table
(pyvswitch.datapath.dpctl brings the flow parsers and printers with it):
`COMMANDS` repeats the table's names, which tests/appctl keeps equal to it.
"""

from __future__ import annotations

import posix
import sys

from pyvswitch import dirs
from pyvswitch.unixctl.client import UnixctlClient, UnixctlProtocolError, read_pidfile
from pyvswitch.unixctl.commands import version_string

PROGRAM = "ovs-dpctl"
DAEMON = "ovs-vswitchd"
COMMANDS = frozenset({"show", "dump-dps", "dump-flows", "add-flow", "mod-flow", "del-flow", "del-flows"})

USAGE = f"""\
{PROGRAM}: Open vSwitch datapath management utility
usage: {PROGRAM} [OPTIONS] COMMAND [ARG...]
  dump-dps                 display names of all datapaths
  show                     show basic info on all datapaths
  show DP...               show basic info on each DP
  dump-flows [DP]          display flows in DP
  add-flow [DP] FLOW ACTIONS add FLOW with ACTIONS to DP
  mod-flow [DP] FLOW ACTIONS change FLOW actions to ACTIONS in DP
  del-flow [DP] FLOW         delete FLOW from DP
  del-flows [DP]             delete all flows from DP
For COMMAND dump-flows, add-flow, mod-flow, del-flow and del-flows,
DP is optional if there is only one datapath.
The datapath lives in ovs-vswitchd: this tool talks to its control socket.

Options for show and mod-flow:
  -s,  --statistics           print statistics for port or flow

Options for dump-flows:
  -m, --more                  increase verbosity of output
  --names                     use port names in output

Options for mod-flow:
  --may-create                create flow if it doesn't exist
  --clear                     reset existing stats to zero

Other options:
  -t, --timeout=SECS          give up after SECS seconds
  --unixctl=SOCKET            ovs-vswitchd's control socket (default: found from
                              RUNDIR/ovs-vswitchd.pid)
  -h, --help                  display this help message
  -V, --version               display version information
"""

_FORWARDED = {"-s", "--statistics", "-m", "--more", "--names", "--no-names", "--may-create",
              "--clear"}
_CONFIG_COMMANDS = {"add-dp", "del-dp", "add-if", "set-if", "del-if"}


def _fail(msg: str) -> int:
    sys.stderr.write(f"{PROGRAM}: {msg}\n")
    return 1


def _socket() -> str:
    """ovs-vswitchd's control socket: RUNDIR/ovs-vswitchd.PID.ctl, or RUNDIR/ovs-vswitchd.ctl
    for a daemon started with that --unixctl; raises OSError/ValueError when neither is there."""
    fixed = dirs.abs_file_name(dirs.rundir(), f"{DAEMON}.ctl")
    try:
        pid = read_pidfile(dirs.default_pidfile(DAEMON))
    except (OSError, ValueError):
        if _exists(fixed):
            return fixed
        raise
    path = dirs.default_ctl(DAEMON, pid)
    return fixed if not _exists(path) and _exists(fixed) else path


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts: list[str] = []
    rest: list[str] = []
    timeout = None
    unixctl = None
    it = iter(argv)
    for a in it:
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if a in ("-V", "--version"):
            sys.stdout.write(version_string(PROGRAM) + "\n")
            return 0
        if a in _FORWARDED:
            opts.append(a)
        elif a in ("-t", "--timeout") or a.startswith("--timeout="):
            value = a.partition("=")[2] if "=" in a else next(it, None)
            try:
                timeout = float(value)
            except (TypeError, ValueError):
                return _fail(f"value {value} on -t or --timeout is invalid")
        elif a.startswith("--unixctl="):
            unixctl = a.partition("=")[2]
        elif a.startswith("-v") or a.startswith("--verbose"):
            continue
        elif a.startswith("-") and len(a) > 1 and not rest:
            return _fail(f"unrecognized option '{a}'")
        else:
            rest.append(a)
    if not rest:
        return _fail("missing command name; use --help for help")
    command, args = rest[0], rest[1:]
    if command in _CONFIG_COMMANDS:
        return _fail(f"{command}: the userspace datapath is configured through ovs-vswitchd "
                     "(use ovs-vsctl)")
    if command not in COMMANDS:
        return _fail(f"unknown command '{command}'; use --help for help")
    try:
        path = unixctl or _socket()
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or "Invalid argument"
        return _fail(f"cannot reach ovs-vswitchd, which holds the datapath "
                     f"(cannot read pidfile \"{dirs.default_pidfile(DAEMON)}\""
                     f" ({reason})); is ovs-vswitchd running?")
    try:
        client = UnixctlClient(path)
        if timeout:
            client.settimeout(timeout)
    except OSError as e:
        return _fail(f"cannot reach ovs-vswitchd, which holds the datapath "
                     f"(cannot connect to \"{path}\" ({e.strerror})); is ovs-vswitchd running?")
    with client:
        try:
            ok, text = client.transact(f"dpctl/{command}", opts + args)
        except (UnixctlProtocolError, OSError) as e:  # socket.timeout is an OSError
            return _fail(f"ovs-vswitchd: transaction error ({getattr(e, 'strerror', None) or e})")
    if not ok:
        prefix = f"{DAEMON}: "
        for line in text.splitlines():
            sys.stderr.write((PROGRAM + ": " + line[len(prefix):] if line.startswith(prefix)
                              else line) + "\n")
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
