"""ovs-appctl: send one unixctl command to a running daemon and print its answer.

    ovs-appctl [-t TARGET] [-T SECS] COMMAND [ARG...]

TARGET is a program name (its pid comes from RUNDIR/TARGET.pid and its
socket is RUNDIR/TARGET.PID.ctl) or an absolute socket path; the default is
ovs-vswitchd.  Output, messages and exit codes are those of OVS's tool: the
command's text on stdout and 0; a command failure prints the daemon's text
on stderr and exits 2; failing to reach the daemon exits 1; at the timeout
the process dies by SIGALRM as OVS's does.

The tool lives for one request, and agents call it often: its import path
uses `posix` and `_signal` rather than `os` and `signal` (which builds enums
of the signal numbers), and nothing that pulls in typing, dataclasses,
socket or re (see pyvswitch.launchers; tests/appctl/test_tools_startup.py).
Only the error paths and -v log, so even pyvswitch.vlog (~0.5 ms) is
imported, and set up as OVS's tool sets its log, at its first use (`_log`).
"""

from __future__ import annotations

import _signal
import posix
import sys

from pyvswitch import dirs
from pyvswitch.unixctl.client import UnixctlClient, UnixctlProtocolError, pidfile_owner, read_pidfile
from pyvswitch.unixctl.commands import version_string

PROGRAM = "ovs-appctl"

USAGE = f"""\
{PROGRAM}, for querying and controlling Open vSwitch daemon
usage: {PROGRAM} [TARGET] COMMAND [ARG...]
Targets:
  -t, --target=TARGET  pidfile or socket to contact
Common commands:
  list-commands      List commands supported by the target
  version            Print version of the target
  vlog/list          List current logging levels
  vlog/list-pattern  List logging patterns for each destination.
  vlog/set [SPEC]
      Set log levels as detailed in SPEC, which may include:
      A valid module name (all modules, by default)
      'syslog', 'console', 'file' (all destinations, by default))
      'off', 'emer', 'err', 'warn', 'info', or 'dbg' ('dbg', by default)
  vlog/reopen        Make the program reopen its log file
Other options:
  --timeout=SECS     wait at most SECS seconds for a response
  -h, --help         Print this helpful information
  -V, --version      Display {PROGRAM} version information
"""


class _Usage(Exception):
    pass


_log_ready = False


def _log():
    """pyvswitch.vlog, set up for this run at the first call: warnings to the
    console, nothing to syslog."""
    global _log_ready
    from pyvswitch import vlog
    if not _log_ready:
        vlog.set_program_name(PROGRAM)
        vlog.set_levels(None, vlog.Destination.CONSOLE, vlog.Level.WARN)
        vlog.set_levels(None, vlog.Destination.SYSLOG, vlog.Level.OFF)
        _log_ready = True
    return vlog


def _fail(msg: str, code: int = 1) -> int:
    sys.stderr.write(f"{PROGRAM}: {msg}\n")
    return code


_LONG = {"--target": "t", "--timeout": "T", "--help": "h", "--version": "V", "--verbose": "v"}


def _parse(argv: list[str]) -> tuple[str, float | None, list[str]]:
    """getopt-style parsing that stops at the first non-option, as OVS's does."""
    target = "ovs-vswitchd"
    timeout: float | None = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            key = _LONG.get(name)
            has_value = bool(eq)
        else:
            key, value = a[1], a[2:]
            has_value = bool(value)
        if key is None or key not in "tThVv":
            raise _Usage(f"unrecognized option '{a}'")
        if key in "tT" and not has_value:
            i += 1
            if i >= len(argv):
                raise _Usage(f"option '{a}' requires an argument")
            value = argv[i]
        if key == "t":
            target = value
        elif key == "T":
            try:
                timeout = float(value)
            except ValueError:
                raise _Usage(f"value {value} on --timeout is invalid") from None
        elif key == "h":
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        elif key == "V":
            sys.stdout.write(version_string(PROGRAM) + "\n")
            raise SystemExit(0)
        else:
            vlog = _log()
            try:
                vlog.set_verbosity(value or None)
            except vlog.VlogError as e:
                raise _Usage(str(e)) from None
        i += 1
    return target, timeout, argv[i:]


def _on_alarm(signum, frame):
    _log().module("fatal_signal").warn("terminating with signal 14 (Alarm clock)")
    _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
    posix.kill(posix.getpid(), _signal.SIGALRM)


def main(argv: list[str] | None = None) -> int:
    global _log_ready
    _log_ready = False
    argv = sys.argv[1:] if argv is None else argv
    try:
        target, timeout, rest = _parse(argv)
    except _Usage as e:
        return _fail(str(e))
    if not rest:
        return _fail("at least one non-option argument is required (use --help for help)")
    if timeout:
        _signal.signal(_signal.SIGALRM, _on_alarm)
        _signal.setitimer(_signal.ITIMER_REAL, timeout)
    command, args = rest[0], rest[1:]

    if target.startswith("/"):
        path = target
    else:
        pidfile = dirs.default_pidfile(target)
        try:
            pid = read_pidfile(pidfile)
            if pidfile_owner(pidfile) is None:
                # Nobody holds the pidfile's lock: the daemon is gone.
                return _fail(f'cannot read pidfile "{pidfile}" (No such process)')
        except OSError as e:
            _log().module("daemon_unix").warn("%s: open: %s", pidfile, e.strerror)
            return _fail(f'cannot read pidfile "{pidfile}" ({e.strerror})')
        except ValueError:
            _log().module("daemon_unix").warn("%s: pidfile is stale", pidfile)
            return _fail(f'cannot read pidfile "{pidfile}" (Invalid argument)')
        path = dirs.default_ctl(target, pid)

    try:
        client = UnixctlClient(path)
    except OSError as e:
        _log().module("unixctl").warn("failed to connect to %s", path)
        return _fail(f'cannot connect to "{path}" ({e.strerror})')
    with client:
        try:
            ok, text = client.transact(command, args)
        except UnixctlProtocolError as e:
            _log().module("unixctl").warn("unix:%s: %s", path, e)
            return _fail(f"{target}: transaction error (Invalid argument)")
        except OSError as e:
            reason = e.strerror or str(e)
            _log().module("unixctl").warn("error communicating with unix:%s: %s", path, reason)
            return _fail(f"{target}: transaction error ({reason})")
    if not ok:
        sys.stderr.write(text)
        sys.stderr.flush()
        return _fail(f"{target}: server returned an error", 2)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
