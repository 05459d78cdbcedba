"""ovs-vsctl: configure the switch through its database, as OVS 3.1's tool does.

This is the shell: option handling, logging set-up, the connection, exit
statuses.  The command table and the work live in pyvswitch.vsctl.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from pyvswitch.vsctl import parse
from pyvswitch.vsctl.command import ExitStatus, VsctlError

VERSION = "ovs-vsctl (Open vSwitch) 3.1.0\nDB Schema 8.3.1\n"
RETRY_INTERVAL = 0.1


@dataclass(slots=True)
class Options:
    db: str = ""
    wait_for_reload: bool = True
    timeout: int = 0
    retry: bool = False
    dry_run: bool = False
    oneline: bool = False
    format: str = "list"
    data: str = "string"
    headings: bool = True
    pretty: bool = False


def all_commands():
    from pyvswitch.vsctl import dbcmds, vswitch
    return {spec.name: spec for spec in (*vswitch.COMMANDS, *dbcmds.COMMANDS)}


def _usage(commands) -> str:
    from pyvswitch import dirs
    lines = ["ovs-vsctl: ovs-vswitchd management utility",
             "usage: ovs-vsctl [OPTIONS] COMMAND [ARG...]", "", "Commands:"]
    for spec in commands.values():
        words = [w.lstrip("!?+*") + ("..." if w[0] in "+*" else "") for w in spec.syntax.split()]
        opts = " ".join(f"[{o}]" if not o.endswith("=") else f"[{o}ARG]" for o in spec.options_list())
        lines.append("  " + " ".join(x for x in (opts, spec.name, *words) if x))
    lines += ["", "Options:",
              f"  --db=DATABASE               connect to DATABASE (default: unix:{dirs.rundir()}/db.sock)",
              "  --no-wait                   do not wait for ovs-vswitchd to reconfigure",
              "  --retry                     keep trying to connect to server forever",
              "  -t, --timeout=SECS          wait at most SECS seconds for ovs-vswitchd",
              "  --dry-run                   do not commit changes to database",
              "  --oneline                   print exactly one line of output per command",
              "  -f, --format=FORMAT         output format: list, table, html, csv or json",
              "  -d, --data=FORMAT           cell format: string, bare or json",
              "  --no-headings               omit table heading row",
              "  --pretty                    pretty-print JSON output",
              "  --bare                      same as --format=list --data=bare --no-headings",
              "  -v, --verbose[=SPEC]        set logging levels",
              "  --log-file[=FILE]           log to FILE",
              "  --no-syslog                 do not log to syslog",
              "  -h, --help                  display this help message",
              "  -V, --version               display version information"]
    return "\n".join(lines) + "\n"


def _apply_options(parsed, opts: Options, log) -> str | None:
    """Applies global options; returns the name of an informational action, if any."""
    action = None
    for name, value in parsed:
        if name == "db":
            opts.db = value
        elif name == "no-wait":
            opts.wait_for_reload = False
        elif name == "timeout":
            if value is None or not value.strip().isdigit():
                raise VsctlError(f"value {value} on -t or --timeout is invalid")
            opts.timeout = int(value)
        elif name == "retry":
            opts.retry = True
        elif name == "dry-run":
            opts.dry_run = True
        elif name == "oneline":
            opts.oneline = True
        elif name == "format":
            if value not in ("table", "list", "html", "csv", "json"):
                raise VsctlError(f'unknown output format "{value}"')
            opts.format = value
        elif name == "data":
            if value not in ("string", "bare", "json"):
                raise VsctlError(f'unknown data format "{value}"')
            opts.data = value
        elif name == "no-headings":
            opts.headings = False
        elif name == "pretty":
            opts.pretty = True
        elif name == "bare":
            opts.format, opts.data, opts.headings = "list", "bare", False
        elif name == "verbose":
            try:
                log.set_verbosity(value)
            except log.VlogError as e:
                raise VsctlError(str(e)) from None
        elif name == "no-syslog":
            log.set_levels("vsctl", log.Destination.SYSLOG, log.Level.WARN)
        elif name == "log-file":
            from pyvswitch import dirs
            path = value or os.path.join(dirs.logdir(), "ovs-vsctl.log")
            try:
                log.set_log_file(path)
            except OSError as e:
                log.module("vlog").warn("failed to open %s for logging: %s", path, os.strerror(e.errno))
                raise ExitStatus(1) from None
        elif name in ("help", "version", "commands", "options"):
            action = action or name
    return action


def _connect(opts: Options):
    from pyvswitch.vsctl.rpc import Connection, ConnectionFailed
    while True:
        try:
            return Connection.open(opts.db)
        except ConnectionFailed as e:
            if not opts.retry:
                raise VsctlError(str(e)) from None
        time.sleep(RETRY_INTERVAL)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from pyvswitch import vlog
    vlog.set_program_name("ovs-vsctl")
    vlog.set_levels(None, vlog.Destination.CONSOLE, vlog.Level.WARN)
    vlog.set_levels(None, vlog.Destination.SYSLOG, vlog.Level.OFF)
    commands = all_commands()
    opts = Options()
    try:
        try:
            parsed, local, words = parse.parse_global(argv, commands.values())
        except parse.GetoptError as e:
            sys.stderr.write(f"{sys.argv[0]}: {e}\n")
            return 1
        except parse.UsageError as e:
            raise VsctlError(str(e)) from None
        action = _apply_options(parsed, opts, vlog)
        if action == "help":
            sys.stdout.write(_usage(commands))
            return 0
        if action == "version":
            sys.stdout.write(VERSION)
            return 0
        if action == "options":
            sys.stdout.write(_options_list(commands))
            return 0
        if action == "commands":
            sys.stdout.write(_commands_list(commands))
            return 0
        vlog.module("vsctl").info("Called as %s", " ".join(["ovs-vsctl", *argv]))
        try:
            cmds = parse.split_commands(words, local, commands.get)
        except parse.UsageError as e:
            raise VsctlError(str(e)) from None
        if not opts.db:
            from pyvswitch import dirs
            opts.db = f"unix:{dirs.rundir()}/db.sock"
        if opts.timeout:
            from pyvswitch.vsctl.runner import install_timeout
            install_timeout(opts.timeout, vlog)
        return _run(opts, cmds, argv, vlog)
    except VsctlError as e:
        sys.stdout.flush()
        sys.stderr.write(f"ovs-vsctl: {e}\n")
        return 1
    except ExitStatus as e:
        return e.status
    except BrokenPipeError:
        return 1


def _run(opts: Options, cmds, argv, log) -> int:
    from pyvswitch.ovsdb.schema import DatabaseSchema
    from pyvswitch.vsctl.rpc import ConnectionFailed
    from pyvswitch.vsctl.runner import Runner
    conn = _connect(opts)
    try:
        schema = DatabaseSchema.from_json(conn.get_schema("Open_vSwitch"))
        return Runner(conn, schema, cmds, opts, argv, log).run()
    except ConnectionFailed as e:
        raise VsctlError(str(e)) from None
    finally:
        conn.close()


def _options_list(commands) -> str:
    out = []
    for name, short, kind in parse.GLOBAL_OPTIONS:
        out.append(f"--{name}" + ("=ARG" if kind != parse.NONE else ""))
        if short:
            out.append(f"-{short}" + (" ARG" if kind != parse.NONE else ""))
    return "\n".join(out) + "\n"


def _commands_list(commands) -> str:
    out = []
    for spec in commands.values():
        opts = " ".join(f"[{o}]" for o in spec.options_list())
        out.append(f"{opts + ' ' if opts else ''},{spec.name},{spec.syntax}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
