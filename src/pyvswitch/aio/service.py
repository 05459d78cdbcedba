"""A daemon's life on asyncio: the options every OVS daemon takes, start-up,
unixctl, fatal signals and exit.  ovsdb-server and ovs-vswitchd are both built
on it.

    svc = Service("ovs-vswitchd", USAGE)
    opts, args = svc.parse(argv, MY_OPTIONS)   # common options handled here
    ...                                         # the program's own options
    svc.start()                                 # log file, fork/pidfile
    ...                                         # open files (after the fork: locks)
    sys.exit(svc.run(setup))                    # setup(svc) binds sockets, adds commands

Common options: --pidfile[=FILE] --overwrite-pidfile --detach --no-chdir
--monitor --user --unixctl=SOCKET --log-file[=FILE] -v[SPEC]
--syslog-target --syslog-method -h/--help -V/--version.

`run` creates the unixctl server (RUNDIR/PROGRAM.PID.ctl unless --unixctl)
with the built-in commands, awaits `setup`, declares the daemon ready
(which releases a `--detach` parent), then waits for `exit`, a fatal signal
(SIGTERM, SIGINT, SIGHUP: logged as OVS does, then the process dies by that
signal) or `request_exit`.  Like OVS daemons it logs its peak memory 10 s
after start and again whenever that grew by half.  Exit hooks
(`svc.daemon.exit_hooks`) run in reverse order of registration: sockets,
pidfile.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
import time
from typing import Awaitable, Callable, NoReturn

from pyvswitch import dirs, vlog
from pyvswitch.aio.unixctl import UnixctlServer, server_path
from pyvswitch.cli.options import SSL_KEY_OPTIONS, Arg, Option, OptionError, parse
from pyvswitch.daemon import Daemon, DaemonError, die_by_signal, signal_description
from pyvswitch.unixctl.commands import add_builtins, version_string
from pyvswitch.unixctl.core import CommandTable

COMMON_OPTIONS = [
    Option("pidfile", Arg.OPTIONAL),
    Option("overwrite-pidfile"),
    Option("detach"),
    Option("no-chdir"),
    Option("monitor"),
    Option("user", Arg.REQUIRED),
    Option("unixctl", Arg.REQUIRED),
    Option("log-file", Arg.OPTIONAL),
    Option("verbose", Arg.OPTIONAL, "v"),
    Option("syslog-target", Arg.REQUIRED),
    Option("syslog-method", Arg.REQUIRED),
    Option("help", Arg.NONE, "h"),
    Option("version", Arg.NONE, "V"),
]


# The SSL options of OVS's daemons (stream-ssl), parsed by each daemon itself.
SSL_OPTIONS = [
    *SSL_KEY_OPTIONS,
    Option("peer-ca-cert", Arg.REQUIRED),
    Option("ssl-protocols", Arg.REQUIRED),
    Option("ssl-ciphers", Arg.REQUIRED),
]


def common_usage(program: str) -> str:
    """The --help sections for COMMON_OPTIONS, as every OVS daemon prints them."""
    return f"""\
Daemon options:
  --detach                run in background as daemon
  --monitor               creates a process to monitor this daemon
  --user=username[:group] changes the effective daemon user:group
  --no-chdir              do not chdir to '/'
  --pidfile[=FILE]        create pidfile (default: {dirs.default_pidfile(program)})
  --overwrite-pidfile     with --pidfile, start even if already running

Logging options:
  -vSPEC, --verbose=SPEC   set logging levels
  -v, --verbose            set maximum verbosity level
  --log-file[=FILE]        enable logging to specified FILE
                           (default: {dirs.default_log_file(program)})
  --syslog-method=(libc|unix:file|udp:ip:port)
                           specify how to send messages to syslog daemon
  --syslog-target=HOST:PORT  also send syslog msgs to HOST:PORT via UDP
"""


_FATAL_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
MEMORY_CHECK_INTERVAL = 10.0


class Service:
    def __init__(self, program: str, usage: str = "") -> None:
        self.program = program
        self.usage = usage
        self.daemon = Daemon(program)
        self.unixctl_option: str | None = None
        self.log_file: str | None = None
        self.commands = CommandTable()
        self.memory_report: Callable[[], str] | None = None
        self.on_ready: Callable[[], None] | None = None
        self._exit: asyncio.Future | None = None
        vlog.set_program_name(program)

    def fatal(self, msg: str) -> NoReturn:
        """Prints `PROGRAM: msg` and exits 1, cleaning up what start() made."""
        self.daemon.run_exit_hooks()
        sys.stderr.write(f"{self.program}: {msg}\n")
        sys.stderr.flush()
        raise SystemExit(1)

    def parse(self, argv: list[str], options: list[Option]
              ) -> tuple[list[tuple[str, str | None]], list[str]]:
        """Parses argv; handles the common options; returns the others and the arguments."""
        try:
            opts, args = parse(argv, COMMON_OPTIONS + options)
        except OptionError as e:
            self.fatal(str(e))
        rest = []
        for name, value in opts:
            if self.daemon.handle_option(name, value):
                continue
            if name == "unixctl":
                self.unixctl_option = value
            elif name == "log-file":
                self.log_file = dirs.abs_file_name(dirs.logdir(), value) if value \
                    else dirs.default_log_file(self.program)
            elif name == "verbose":
                try:
                    vlog.set_verbosity(value)
                except vlog.VlogError as e:
                    self.fatal(str(e))
            elif name == "help":
                sys.stdout.write(self.usage)
                raise SystemExit(0)
            elif name == "version":
                sys.stdout.write(version_string(self.program) + "\n")
                raise SystemExit(0)
            elif name in ("syslog-target", "syslog-method"):
                pass  # syslog goes through the local syslog socket only
            else:
                rest.append((name, value))
        return rest, args

    def start(self) -> None:
        """Opens the log file and forks/writes the pidfile as the options ask."""
        if self.log_file:
            try:
                vlog.set_log_file(self.log_file)
            except OSError as e:
                # OVS's words, and like OVS no other message before exiting.
                vlog.module("vlog").warn("failed to open %s for logging: %s", self.log_file,
                                         e.strerror)
                raise SystemExit(1) from None
        try:
            self.daemon.start()
        except DaemonError as e:
            vlog.module("daemon_unix").emer("%s", e)
            self.fatal(str(e))

    def request_exit(self, code: int = 0) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)

    def run(self, setup: Callable[["Service"], Awaitable[None]]) -> int:
        """Serves until exit; returns the exit code (or dies by a fatal signal)."""
        code = asyncio.run(self.serve(setup))
        if code < 0:
            die_by_signal(-code)
        return code

    async def serve(self, setup: Callable[["Service"], Awaitable[None]]) -> int:
        loop = asyncio.get_running_loop()
        log = vlog.module(self.program.replace("-", "_"))

        def on_loop_error(loop, context):
            # Anything asyncio would print to stderr goes to the log instead.
            exc = context.get("exception")
            log.err("%s%s", context.get("message", "unexpected error"), f": {exc!r}" if exc else "")

        loop.set_exception_handler(on_loop_error)
        self._exit = loop.create_future()
        add_builtins(self.commands, self.program, lambda: loop.call_soon(self.request_exit, 0),
                     lambda: self.memory_report() if self.memory_report else "")
        path = server_path(self.program, self.unixctl_option)
        if path is not None:
            try:
                unixctl = await UnixctlServer.start(self.commands, path)
            except OSError as e:
                vlog.module("unixctl").emer("%s: could not initialize control socket (%s)",
                                            path, e.strerror)
                self.fatal(f"could not initialize control socket {path} ({e.strerror})")
            self.daemon.exit_hooks.append(unixctl.close)

        fatal_signal: list[int] = []

        def on_signal(signum: int) -> None:
            fatal_signal.append(signum)
            self.request_exit(-signum)

        for s in _FATAL_SIGNALS:
            loop.add_signal_handler(s, on_signal, s)
        try:
            await setup(self)
        except Exception as e:  # a start-up bug: say so and clean up, no traceback
            log.emer("start-up failed: %r", e)
            self.fatal(f"start-up failed: {e!r}")
        self.daemon.complete()
        if self.on_ready is not None:
            self.on_ready()
        memory = loop.create_task(self._memory_monitor())
        code = await self._exit
        if fatal_signal:
            vlog.module("fatal_signal").warn("terminating with signal %s",
                                             signal_description(fatal_signal[0]))
        memory.cancel()
        self.daemon.run_exit_hooks()
        return code

    async def _memory_monitor(self) -> None:
        """Logs the peak RSS 10 s after start and whenever it has grown by
        half since, each time with the daemon's memory report, as OVS does."""
        log = vlog.module("memory")
        start = time.monotonic()
        await asyncio.sleep(MEMORY_CHECK_INTERVAL)
        last_kb = _peak_rss_kb()
        last_t = time.monotonic()
        log.info("%d kB peak resident set size after %.1f seconds", last_kb, last_t - start)
        self._log_memory_report(log)
        while True:
            await asyncio.sleep(MEMORY_CHECK_INTERVAL)
            kb = _peak_rss_kb()
            if kb >= last_kb * 1.5:
                now = time.monotonic()
                log.info("peak resident set size grew %d%% in last %.1f seconds, from %d kB to %d kB",
                         (kb - last_kb) * 100 // last_kb, now - last_t, last_kb, kb)
                self._log_memory_report(log)
                last_kb, last_t = kb, now

    def _log_memory_report(self, log: vlog.Module) -> None:
        if self.memory_report is not None:
            try:
                text = self.memory_report().strip()
            except Exception:  # a report is informative only
                return
            if text:
                log.info("%s", text)


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
