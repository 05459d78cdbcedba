"""Daemon plumbing shared by every pyvswitch daemon: pidfile, detach, monitor.

The options are OVS's: `--pidfile[=FILE]` (default RUNDIR/PROGRAM.pid),
`--overwrite-pidfile`, `--detach`, `--no-chdir`, `--monitor`, and `--user`
(accepted and ignored with a warning).

Life of a daemon:

    d = Daemon(program); d.handle_option(name, value) for each option
    d.start()      # before any event loop exists: may fork; returns in the daemon
    ...            # open the database, bind the sockets
    d.complete()   # ready: the waiting parent exits 0, stdio goes to /dev/null
    ...            # serve; d.exit_hooks run at a clean exit or a fatal signal

`--detach` forks; the parent blocks on a pipe until the child calls
`complete()`, so when `ovsdb-server --detach` returns its sockets are
already accepting.  If the child dies first, the parent exits with the
child's status.  `--monitor` adds a supervising process between the two that
restarts the daemon when it dies of a signal that means a bug (SIGSEGV,
SIGABRT, ...), at most once per 10 seconds, and exits when the daemon exits
for any other reason.

The pidfile holds the daemon's pid and a newline and is locked (POSIX
record lock) for the daemon's lifetime: a second daemon finds the lock and
refuses to start ("already running as pid N, aborting"), while a pidfile
left behind by a crash has no lock and is simply replaced.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import sys
import time
from typing import Callable

from pyvswitch import dirs, vlog

log = vlog.module("daemon_unix")

_RESTART_SIGNALS = {signal.SIGABRT, signal.SIGALRM, signal.SIGBUS, signal.SIGFPE,
                    signal.SIGILL, signal.SIGPIPE, signal.SIGSEGV, signal.SIGXCPU,
                    signal.SIGXFSZ}


def signal_description(signum: int) -> str:
    """`15 (Terminated)`, the way OVS names a signal in its messages."""
    return f"{signum} ({signal.strsignal(signum) or 'unknown signal'})"


def status_description(status: int) -> str:
    """A waitpid status in OVS's words."""
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        text = f"killed by signal {signal_description(os.WTERMSIG(status))}"
        if os.WCOREDUMP(status):
            text += ", core dumped"
        return text
    return f"status {status}"


def pidfile_owner(path: str) -> int | None:
    """The pid holding the lock on pidfile path, or None if nobody does."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        lock = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        res = fcntl.fcntl(fd, fcntl.F_GETLK, lock)
        l_type, _, _, _, pid = struct.unpack("hhqqi", res)
        if l_type == fcntl.F_UNLCK:
            return None
        return pid
    except OSError:
        return None
    finally:
        os.close(fd)


def _stdio_to_devnull() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


class DaemonError(Exception):
    """Startup cannot continue; the message is logged at EMER and printed."""


class Daemon:
    """The daemon options of one program and the state they imply."""

    OPTIONS = ("pidfile", "overwrite-pidfile", "detach", "no-chdir", "monitor", "user")

    def __init__(self, program: str) -> None:
        self.program = program
        self.pidfile: str | None = None
        self.overwrite_pidfile = False
        self.detach = False
        self.chdir = True
        self.monitor = False
        self.exit_hooks: list[Callable[[], None]] = []
        self._ready_fd: int | None = None
        self._pidfile_fd: int | None = None
        self.detached = False

    def handle_option(self, name: str, value: str | None) -> bool:
        """Consumes one of OPTIONS; returns False for any other option."""
        if name == "pidfile":
            self.pidfile = dirs.abs_file_name(dirs.rundir(), value) if value \
                else dirs.default_pidfile(self.program)
        elif name == "overwrite-pidfile":
            self.overwrite_pidfile = True
        elif name == "detach":
            self.detach = True
        elif name == "no-chdir":
            self.chdir = False
        elif name == "monitor":
            self.monitor = True
        elif name == "user":
            log.warn("--user is not supported: running as the current user")
        else:
            return False
        return True

    # ---- start-up ----

    def start(self) -> None:
        """Forks as --detach/--monitor ask and writes the pidfile.

        Returns only in the process that is to become the daemon; the others
        exit from here.  Raises DaemonError if the pidfile is in use."""
        if self.detach:
            self._fork_and_wait()
            os.setsid()
        if self.monitor:
            self._monitor()
        if self.pidfile:
            self._make_pidfile()

    def complete(self) -> None:
        """The daemon is ready to serve: release the waiting parent."""
        if self._ready_fd is not None:
            try:
                os.write(self._ready_fd, b"\0")
            except OSError:
                pass
            os.close(self._ready_fd)
            self._ready_fd = None
        if self.detach and not self.detached:
            self.detached = True
            if self.chdir:
                os.chdir("/")
            vlog.set_levels(None, vlog.Destination.CONSOLE, vlog.Level.OFF)
            _stdio_to_devnull()

    def _fork_and_wait(self) -> None:
        rfd, wfd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            os.close(wfd)
            while True:
                try:
                    data = os.read(rfd, 1)
                    break
                except InterruptedError:
                    continue
            if data:
                os._exit(0)
            # The child died before it was ready: exit as it did.
            if not self.monitor:
                _, status = os.waitpid(pid, 0)
                if os.WIFEXITED(status):
                    os._exit(os.WEXITSTATUS(status) or 1)
                log.emer("fork child died before signaling startup (%s)",
                         status_description(status))
            os._exit(1)
        os.close(rfd)
        self._ready_fd = wfd

    def _monitor(self) -> None:
        """Becomes the monitor process; returns only in a (re)started daemon."""
        last_restart: float | None = None
        child = 0
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True
            if child:
                try:
                    os.kill(child, signum)
                except ProcessLookupError:
                    pass

        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, stop)
        while True:
            sys.stdout.flush()
            sys.stderr.flush()
            child = os.fork()
            if child == 0:
                for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(s, signal.SIG_DFL)
                return
            if self._ready_fd is not None:
                # Only the first daemon reports readiness to the parent.
                os.close(self._ready_fd)
                self._ready_fd = None
                if self.detach:
                    # The monitor reports to the log file and syslog only.
                    vlog.set_levels(None, vlog.Destination.CONSOLE, vlog.Level.OFF)
                    _stdio_to_devnull()
            while True:
                try:
                    _, status = os.waitpid(child, 0)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:
                    os._exit(1)
            dead, child = child, 0
            if (not stopping and os.WIFSIGNALED(status)
                    and os.WTERMSIG(status) in _RESTART_SIGNALS):
                log.err("%s: pid %d died, %s, restarting", self.program, dead,
                        status_description(status))
                # Restart at once, but not more than once per 10 seconds.
                now = time.monotonic()
                if last_restart is not None and now - last_restart < 10.0:
                    deadline = last_restart + 10.0
                    while not stopping and time.monotonic() < deadline:
                        time.sleep(min(0.1, deadline - time.monotonic()))
                if stopping:
                    os._exit(0)
                last_restart = time.monotonic()
                continue
            log.info("%s: pid %d died, %s, exiting", self.program, dead,
                     status_description(status))
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)

    def _make_pidfile(self) -> None:
        path = self.pidfile
        assert path is not None
        if not self.overwrite_pidfile:
            owner = pidfile_owner(path)
            if owner is not None and owner != os.getpid():
                raise DaemonError(f"{path}: already running as pid {owner}, aborting")
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as e:
            raise DaemonError(f"{tmp}: create failed ({e.strerror})") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.rename(tmp, path)
        except OSError as e:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise DaemonError(f"{path}: could not create pidfile ({e.strerror})") from None
        self._pidfile_fd = fd
        self.exit_hooks.append(self._remove_pidfile)

    def _remove_pidfile(self) -> None:
        # Remove it only if it is still ours (a restarted daemon may own it now).
        try:
            with open(self.pidfile) as f:
                mine = int(f.readline().strip() or 0) == os.getpid()
        except (OSError, ValueError):
            mine = False
        if mine:
            try:
                os.unlink(self.pidfile)
            except OSError:
                pass

    # ---- shutdown ----

    def run_exit_hooks(self) -> None:
        """Runs the clean-up hooks once, newest first (sockets, pidfile)."""
        hooks, self.exit_hooks = self.exit_hooks, []
        for hook in reversed(hooks):
            try:
                hook()
            except Exception:  # a failing clean-up must not stop the others
                pass


def die_by_signal(signum: int) -> None:
    """Ends the process the way OVS does after a fatal signal: by that signal."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    time.sleep(1)
    os._exit(128 + signum)
