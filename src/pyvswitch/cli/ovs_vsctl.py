"""ovs-vsctl: configure the switch through its database, as OVS 3.1's tool does.

This is the shell: option handling, logging set-up, the connection, exit
statuses.  The command table and the work live in pyvswitch.vsctl.
"""

from __future__ import annotations

import posix   # not os: a tool's first import of os costs it ~1 ms (pyvswitch.dirs)
import sys
import time

from pyvswitch.vsctl import parse
from pyvswitch.vsctl.command import ExitStatus, VsctlError

VERSION = "ovs-vsctl (Open vSwitch) 3.1.0\nDB Schema 8.3.1\n"
RETRY_INTERVAL = 0.1


class Options:
    """The global options; a plain class because dataclasses cost more to import than a call."""

    __slots__ = ("db", "wait_for_reload", "timeout", "retry", "dry_run", "oneline", "format", "data",
                 "headings", "pretty", "private_key", "certificate", "ca_cert")

    def __init__(self, db: str = "", wait_for_reload: bool = True, timeout: int | None = None,
                 retry: bool = False, dry_run: bool = False, oneline: bool = False, format: str = "list",
                 data: str = "string", headings: bool = True, pretty: bool = False,
                 private_key: str | None = None, certificate: str | None = None,
                 ca_cert: str | None = None) -> None:
        self.db = db
        self.wait_for_reload = wait_for_reload
        self.timeout = timeout            # None: not given (bounded wait); 0: wait forever
        self.retry = retry
        self.dry_run = dry_run
        self.oneline = oneline
        self.format = format
        self.data = data
        self.headings = headings
        self.pretty = pretty
        self.private_key = private_key
        self.certificate = certificate
        self.ca_cert = ca_cert


# The names of the commands pyvswitch.vsctl.vswitch declares (the others are vsctl.dbcmds'), and
# every per-command option as (name, argument kind) in the order the two tables declare them.
# With these the command line is parsed without importing a command module, and a call that runs
# only database commands never imports vswitch, the larger (tests/vsctl/test_units.py checks them
# against the modules' tables).
VSWITCH_COMMANDS = frozenset((
    "init", "show", "emer-reset", "add-br", "del-br", "list-br", "br-exists", "br-to-vlan", "br-to-parent",
    "br-set-external-id", "br-get-external-id", "list-ports", "add-port", "add-bond", "add-bond-iface",
    "del-bond-iface", "del-port", "port-to-br", "list-ifaces", "iface-to-br", "get-controller",
    "del-controller", "set-controller", "get-fail-mode", "del-fail-mode", "set-fail-mode", "get-manager",
    "del-manager", "set-manager", "get-ssl", "del-ssl", "set-ssl", "add-aa-mapping", "del-aa-mapping",
    "get-aa-mapping", "add-zone-tp", "del-zone-tp", "list-zone-tp", "list-dp-cap"))
COMMAND_OPTIONS = (("may-exist", parse.NONE), ("if-exists", parse.NONE), ("real", parse.NONE),
                   ("fake", parse.NONE), ("fake-iface", parse.NONE), ("with-iface", parse.NONE),
                   ("inactivity-probe", parse.REQUIRED), ("bootstrap", parse.NONE), ("id", parse.REQUIRED),
                   ("columns", parse.REQUIRED), ("all", parse.NONE))


class CommandTable:
    """Command name -> CommandSpec, importing each command module at the first lookup of one of
    its commands; `values()` gives every entry, vswitch's first, as OVS lists them."""

    __slots__ = ("_specs", "_loaded")

    def __init__(self) -> None:
        self._specs: dict = {}
        self._loaded: set[str] = set()

    def _load(self, module: str) -> None:
        if module not in self._loaded:
            self._loaded.add(module)
            if module == "vswitch":
                from pyvswitch.vsctl.vswitch import COMMANDS
            else:
                from pyvswitch.vsctl.dbcmds import COMMANDS
            self._specs.update((spec.name, spec) for spec in COMMANDS)

    def get(self, name: str):
        self._load("vswitch" if name in VSWITCH_COMMANDS else "dbcmds")
        return self._specs.get(name)

    def values(self) -> list:
        from pyvswitch.vsctl import dbcmds, vswitch
        return [*vswitch.COMMANDS, *dbcmds.COMMANDS]


def all_commands() -> dict:
    """The whole command table, name -> CommandSpec."""
    return {spec.name: spec for spec in CommandTable().values()}


# The --help sections: (title, [(command, argument words, what it does)]).
HELP = (
    ("Open vSwitch commands", (
        ("init", "", "initialize the database if it is empty"),
        ("show", "", "print an overview of the configuration"),
        ("emer-reset", "", "reset the configuration to a clean state"))),
    ("Bridge commands", (
        ("add-br", "BRIDGE", "create bridge BRIDGE"),
        ("add-br", "BRIDGE PARENT VLAN", "create fake bridge BRIDGE on VLAN of PARENT"),
        ("del-br", "BRIDGE", "delete BRIDGE and its ports"),
        ("list-br", "", "print the bridges' names"),
        ("br-exists", "BRIDGE", "exit with status 2 if BRIDGE does not exist"),
        ("br-to-vlan", "BRIDGE", "print BRIDGE's VLAN"),
        ("br-to-parent", "BRIDGE", "print BRIDGE's parent"),
        ("br-set-external-id", "BRIDGE KEY [VALUE]", "set (or without VALUE, unset) KEY on BRIDGE"),
        ("br-get-external-id", "BRIDGE [KEY]", "print KEY's value (or all keys) on BRIDGE"))),
    ("Port commands (a bond is one port)", (
        ("list-ports", "BRIDGE", "print the names of BRIDGE's ports"),
        ("add-port", "BRIDGE PORT", "add network device PORT to BRIDGE"),
        ("add-bond", "BRIDGE PORT IFACE...", "add bond PORT of IFACEs to BRIDGE"),
        ("add-bond-iface", "BOND IFACE", "add IFACE to BOND"),
        ("del-bond-iface", "[BOND] IFACE", "remove IFACE from its bond"),
        ("del-port", "[BRIDGE] PORT", "delete PORT (maybe a bond) from BRIDGE"),
        ("port-to-br", "PORT", "print the bridge that holds PORT"))),
    ("Interface commands (a bond has several interfaces)", (
        ("list-ifaces", "BRIDGE", "print the names of BRIDGE's interfaces"),
        ("iface-to-br", "IFACE", "print the bridge that holds IFACE"))),
    ("Controller commands", (
        ("get-controller", "BRIDGE", "print BRIDGE's controllers"),
        ("del-controller", "BRIDGE", "remove BRIDGE's controllers"),
        ("set-controller", "BRIDGE TARGET...", "set BRIDGE's controllers [--inactivity-probe=MSECS]"),
        ("get-fail-mode", "BRIDGE", "print BRIDGE's fail mode"),
        ("del-fail-mode", "BRIDGE", "remove BRIDGE's fail mode"),
        ("set-fail-mode", "BRIDGE MODE", "set BRIDGE's fail mode"))),
    ("Manager commands", (
        ("get-manager", "", "print the managers"),
        ("del-manager", "", "remove the managers"),
        ("set-manager", "TARGET...", "set the managers [--inactivity-probe=MSECS]"))),
    ("SSL commands", (
        ("get-ssl", "", "print the SSL settings"),
        ("del-ssl", "", "remove the SSL settings"),
        ("set-ssl", "PRIV-KEY CERT CA-CERT", "set the SSL settings"))),
    ("Auto Attach commands", (
        ("add-aa-mapping", "BRIDGE I-SID VLAN", "add an Auto Attach mapping to BRIDGE"),
        ("del-aa-mapping", "BRIDGE I-SID VLAN", "remove an Auto Attach mapping from BRIDGE"),
        ("get-aa-mapping", "BRIDGE", "print BRIDGE's Auto Attach mappings"))),
    ("Datapath commands", (
        ("list-dp-cap", "DATAPATH", "print DATAPATH's capabilities"),
        ("list-zone-tp", "DATAPATH", "print DATAPATH's conntrack zone timeout policies"),
        ("add-zone-tp", "DATAPATH zone=ID POLICY...", "add a zone timeout policy"),
        ("del-zone-tp", "DATAPATH zone=ID", "remove a zone timeout policy"))),
    ("Database commands", (
        ("list", "TBL [REC]", "list REC (or every record) of TBL"),
        ("find", "TBL CONDITION...", "list the records of TBL that satisfy CONDITIONs"),
        ("get", "TBL REC COL[:KEY]", "print COL (or its KEY) of REC"),
        ("set", "TBL REC COL[:KEY]=VALUE", "set COL (or its KEY) of REC"),
        ("add", "TBL REC COL [KEY=]VALUE", "add values (or pairs) to COL of REC"),
        ("remove", "TBL REC COL [KEY=]VALUE", "remove values, keys or pairs from COL of REC"),
        ("clear", "TBL REC COL", "empty COL of REC"),
        ("create", "TBL COL[:KEY]=VALUE", "create a record"),
        ("destroy", "TBL REC", "delete REC"),
        ("wait-until", "TBL REC [COL[:KEY]=VALUE]", "wait until REC exists (and satisfies the condition)"),
        ("comment", "[ARG]...", "no effect beyond recording ARGs in the database log"))),
)

OPTIONS_HELP = (
    ("--db=DATABASE", "connect to DATABASE (default: unix:{rundir}/db.sock)"),
    ("--no-wait", "do not wait for ovs-vswitchd to apply the change"),
    ("--retry", "keep trying to connect to the database"),
    ("-t, --timeout=SECS", "give up (SIGALRM) after SECS seconds (0: never)"),
    ("--dry-run", "do not commit the changes"),
    ("--oneline", "print one line of output per command"),
    ("-f, --format=FORMAT", "output format: list, table, html, csv or json"),
    ("-d, --data=FORMAT", "cell format: string, bare or json"),
    ("--no-headings", "omit column headings"),
    ("--pretty", "indent JSON output"),
    ("--bare", "same as --format=list --data=bare --no-headings"),
    ("-v, --verbose[=SPEC]", "set logging levels (all to debug without SPEC)"),
    ("--log-file[=FILE]", "also log to FILE (default: {logdir}/ovs-vsctl.log)"),
    ("--no-syslog", "do not log to syslog"),
    ("-h, --help", "print this help"),
    ("-V, --version", "print the version"),
)


def _usage(commands) -> str:
    from pyvswitch import dirs
    from pyvswitch.vsctl.dbcmds import ROW_IDS
    out = ["ovs-vsctl: ovs-vswitchd management utility", "usage: ovs-vsctl [OPTIONS] COMMAND [ARG...]"]
    for title, entries in HELP:
        out += ["", f"{title}:"]
        for name, args, what in entries:
            col = f"{name} {args}".strip()
            out.append(f"  {col}{' ' * max(2, 34 - len(col))}{what}")
    out += ["", "Commands are separated by \"--\"; their options (e.g. --if-exists) come before their names.",
            "", "Records may be named, besides by UUID, as follows:"]
    for table, ways in sorted(ROW_IDS.items(), key=lambda kv: kv[0].lower()):
        for ref_table, name_col, uuid_col in ways:
            if name_col is None and uuid_col is None:
                out.append(f'  {table}: as "."')
            elif name_col is None:
                out.append(f'  {table}: as "." (via "{uuid_col}" of {ref_table})')
            elif uuid_col is None:
                out.append(f'  {table}: by "{name_col}"')
            else:
                out.append(f'  {table}: by "{name_col}" of the {ref_table} whose "{uuid_col}" refers to it')
    out += ["", "Options:"]
    out += [f"  {opt:<26}{what.format(rundir=dirs.rundir(), logdir=dirs.logdir())}" for opt, what in OPTIONS_HELP]
    return "\n".join(out) + "\n"


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
            path = value or dirs.abs_file_name(dirs.logdir(), "ovs-vsctl.log")
            try:
                log.set_log_file(path)
            except OSError as e:
                log.module("vlog").warn("failed to open %s for logging: %s", path, posix.strerror(e.errno))
                raise ExitStatus(1) from None
        elif name == "private-key":
            opts.private_key = value
        elif name == "certificate":
            opts.certificate = value
        elif name in ("ca-cert", "peer-ca-cert", "bootstrap-ca-cert"):
            opts.ca_cert = value
        elif name in ("help", "version", "commands", "options"):
            action = action or name
    return action


def _connect(opts: Options):
    from pyvswitch.vsctl.rpc import Connection, ConnectionFailed
    while True:
        try:
            ssl = (opts.private_key, opts.certificate, opts.ca_cert) if opts.db.startswith(("ssl:", "pssl:")) \
                else None
            return Connection.open(opts.db, ssl)
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
    commands = CommandTable()
    opts = Options()
    try:
        try:
            parsed, local, words = parse.parse_global(argv, COMMAND_OPTIONS)
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
        if not opts.db:
            from pyvswitch import dirs
            opts.db = f"unix:{dirs.rundir()}/db.sock"
        early = _early_schema_request(opts)
        try:
            cmds = parse.split_commands(words, local, commands.get)
        except parse.UsageError as e:
            if early is not None:
                early[0].close()
            raise VsctlError(str(e)) from None
        # Like OVS: worth an INFO message (which counts in the log's
        # sequence numbers) only when the database may change.
        might_write = any(not c.spec.read_only for c in cmds)
        from pyvswitch.vsctl.runner import escape_args
        vlog.module("vsctl").log(vlog.Level.INFO if might_write else vlog.Level.DBG,
                                 "Called as ovs-vsctl %s", escape_args(argv))
        from pyvswitch.vsctl.runner import install_fatal_signals
        install_fatal_signals(vlog, opts.timeout or 0)
        return _run(opts, cmds, argv, vlog, early)
    except VsctlError as e:
        sys.stdout.flush()
        sys.stderr.write(f"ovs-vsctl: {e}\n")
        return 1
    except ExitStatus as e:
        return e.status
    except BrokenPipeError:
        return 1


def _early_schema_request(opts: Options):
    """(connection, request id) of a get_schema already sent, or None.

    Connecting to a local socket and asking for the schema before the
    commands are checked lets the server prepare its biggest reply while
    this process imports and checks the commands.  Nothing shows: should
    the commands be wrong, the connection is closed unused; should it fail,
    the connection is made again, and fails, where it always is."""
    if not opts.db.startswith("unix:") or "," in opts.db:
        return None
    from pyvswitch.vsctl.rpc import Connection, ConnectionFailed
    try:
        conn = Connection.open(opts.db)
    except ConnectionFailed:
        return None
    try:
        return conn, conn.send("get_schema", ["Open_vSwitch"])
    except ConnectionFailed:
        conn.close()
        return None


def _run(opts: Options, cmds, argv, log, early=None) -> int:
    from pyvswitch.vsctl import lazy_schema
    from pyvswitch.vsctl.rpc import ConnectionFailed
    from pyvswitch.vsctl.runner import Runner
    conn, ident = early if early is not None else (_connect(opts), None)
    try:
        if ident is None:
            ident = conn.send("get_schema", ["Open_vSwitch"])
        schema = lazy_schema.from_json(conn.result("get_schema", ident))
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
