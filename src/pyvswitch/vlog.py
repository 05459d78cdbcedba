"""OVS's logging ("vlog"): modules, destinations, levels, patterns, rate limits.

Every source of log messages is a *module* (`jsonrpc`, `ovsdb_server`, ...),
and every module has one level per *destination* (console = stderr, syslog,
file).  A message is written to each destination whose level for its module
admits it.  Levels, weakest filter last: off, emer, err, warn, info, dbg.

Settings come from `-v`/`--verbose[=SPEC]` options and the `vlog/set`
unixctl command, with OVS's syntax: SPEC is words separated by `:`, spaces or
commas, each a destination (console, syslog, file, any), a level or a module
(or ANY); what is left out means "all".  `PATTERN:DESTINATION:PATTERN` sets
the line format; `FACILITY:NAME` the syslog facility.

Syslog lines go through the C library's syslog(3) to /dev/log, as OVS's do.
Where there is no /dev/log (containers, this VM) the library tries to connect
again for every line (~50 us each) and drops it; so a missing socket is looked
for at most once per SYSLOG_RECHECK seconds (one stat), and until then syslog
lines are dropped here without formatting them.

Line formats follow OVS's default patterns; the file destination reads
`2026-11-21T10:53:44.123Z|00001|module|INFO|message`, the console one the
same without milliseconds.  The sequence number counts every message logged
by the process.

Design: the registry of modules and destinations is one `_Vlog` object per
process (logging is per process by nature).  A module handle caches the
most verbose of its levels so that a disabled `dbg()` costs one comparison.
Modules created after a setting that named every module inherit it, so
handles may be created lazily.  Nothing here runs at import time beyond
creating the empty registry.
"""

from __future__ import annotations

import posix   # not os: a tool's first import of os costs it ~1 ms (pyvswitch.dirs)
import sys
import time

try:
    import syslog as _syslog
except ImportError:  # pragma: no cover - not on Linux
    _syslog = None


class _Constants(type):
    """Makes a class of named int constants 0, 1, ... from its `_names`, and
    iterates over them in order: what vlog needs of enum.IntEnum (the
    command-line tools import this module at every start, and importing enum
    costs them milliseconds)."""

    def __init__(cls, name, bases, ns) -> None:
        super().__init__(name, bases, ns)
        cls._members = tuple(int.__new__(cls, i) for i in range(len(ns["_names"])))
        for member in cls._members:
            setattr(cls, member.name, member)

    def __call__(cls, value: int):
        if isinstance(value, int) and 0 <= value < len(cls._members):
            return cls._members[value]
        raise ValueError(f"{value!r} is not a valid {cls.__name__}")

    def __iter__(cls):
        return iter(cls._members)

    def __len__(cls) -> int:
        return len(cls._members)


class _NamedInt(int):
    __slots__ = ()
    _names: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self._names[self]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self.name}: {int(self)}>"

    __str__ = int.__repr__


class Level(_NamedInt, metaclass=_Constants):
    _names = ("OFF", "EMER", "ERR", "WARN", "INFO", "DBG")
    OFF: Level
    EMER: Level
    ERR: Level
    WARN: Level
    INFO: Level
    DBG: Level


class Destination(_NamedInt, metaclass=_Constants):
    _names = ("CONSOLE", "SYSLOG", "FILE")
    CONSOLE: Destination
    SYSLOG: Destination
    FILE: Destination


_LEVEL_NAMES = {lvl.name.lower(): lvl for lvl in Level}
_DEST_NAMES = {d.name.lower(): d for d in Destination}

_SYSLOG_PRIORITY = {Level.EMER: 0, Level.ERR: 3, Level.WARN: 4, Level.INFO: 6, Level.DBG: 7}

DEFAULT_PATTERNS = {
    Destination.CONSOLE: "%D{%Y-%m-%dT%H:%M:%SZ}|%05N|%c%T|%p|%m",
    Destination.SYSLOG: "ovs|%05N|%c%T|%p|%m",
    Destination.FILE: "%D{%Y-%m-%dT%H:%M:%S.###Z}|%05N|%c%T|%p|%m",
}
_PREFIXES = {Destination.CONSOLE: "none", Destination.SYSLOG: "<%B> %D{%h %e %T} %E %A:",
             Destination.FILE: "none"}

_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
               "clock", "authpriv", "ftp", "ntp", "audit", "alert", "clock2", "local0",
               "local1", "local2", "local3", "local4", "local5", "local6", "local7")


class VlogError(Exception):
    """A bad -v or vlog/set specification; the message is OVS's wording."""


class RateLimit:
    """A token bucket: `rate` messages per minute, bursts of up to `burst`.

    Messages refused are counted; the next one admitted is preceded by a
    note saying how many were dropped, as OVS does.  (A plain class: the
    command-line tools import this module at every start, and dataclasses
    are slow to import.)
    """

    __slots__ = ("rate", "burst", "tokens", "last", "n_dropped", "first_dropped", "last_dropped")

    def __init__(self, rate: int = 5, burst: int = 0) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = -1.0
        self.last = 0.0
        self.n_dropped = 0
        self.first_dropped = 0.0
        self.last_dropped = 0.0

    def __repr__(self) -> str:
        return "RateLimit(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__) + ")"

    def admit(self, now: float) -> bool:
        burst = self.burst or self.rate
        if self.tokens < 0:
            self.tokens = float(burst)
            self.last = now
        self.tokens = min(float(burst), self.tokens + (now - self.last) * self.rate / 60.0)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        if not self.n_dropped:
            self.first_dropped = now
        self.last_dropped = now
        self.n_dropped += 1
        return False


class Module:
    """A named source of log messages; create with `vlog.module(name)`."""

    __slots__ = ("name", "levels", "max_level", "honor_rate_limits", "_vlog")

    def __init__(self, vlog: "_Vlog", name: str) -> None:
        self._vlog = vlog
        self.name = name
        self.levels = list(vlog.default_levels)
        self.max_level = max(self.levels)
        self.honor_rate_limits = True

    def is_enabled(self, level: Level) -> bool:
        return level <= self.max_level

    def log(self, level: Level, msg: str, *args, rl: RateLimit | None = None) -> None:
        if level > self.max_level:
            return
        if args:
            msg = msg % args
        self._vlog.emit(self, level, msg, rl)

    def emer(self, msg: str, *args, rl: RateLimit | None = None) -> None:
        self.log(Level.EMER, msg, *args, rl=rl)

    def err(self, msg: str, *args, rl: RateLimit | None = None) -> None:
        self.log(Level.ERR, msg, *args, rl=rl)

    def warn(self, msg: str, *args, rl: RateLimit | None = None) -> None:
        self.log(Level.WARN, msg, *args, rl=rl)

    def info(self, msg: str, *args, rl: RateLimit | None = None) -> None:
        self.log(Level.INFO, msg, *args, rl=rl)

    def dbg(self, msg: str, *args, rl: RateLimit | None = None) -> None:
        self.log(Level.DBG, msg, *args, rl=rl)

    def _update(self) -> None:
        self.max_level = max(self.levels)


class _Pattern:
    """A compiled OVS log pattern: `%[-][0][width]X` escapes, `%D{strftime}`."""

    __slots__ = ("text", "pieces")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pieces: list[tuple] = []
        i, n = 0, len(text)
        lit = []
        while i < n:
            c = text[i]
            if c != "%" or i + 1 >= n:
                lit.append(c)
                i += 1
                continue
            i += 1
            left = text[i] == "-"
            if left:
                i += 1
            zero = i < n and text[i] == "0"
            j = i
            while j < n and text[j].isdigit():
                j += 1
            width = int(text[i:j]) if j > i else 0
            i = j
            if i >= n:
                break
            conv = text[i]
            i += 1
            arg = None
            if conv in "dD" and i < n and text[i] == "{":
                end = text.find("}", i)
                if end < 0:
                    end = n
                arg = text[i + 1:end]
                i = end + 1
            if conv == "%":
                lit.append("%")
                continue
            if lit:
                self.pieces.append(("lit", "".join(lit)))
                lit = []
            self.pieces.append((conv, arg, left, zero, width))
        if lit:
            self.pieces.append(("lit", "".join(lit)))

    def format(self, vlog: "_Vlog", module: Module, level: Level, msg: str, seq: int,
               now: float) -> str:
        out = []
        for piece in self.pieces:
            conv = piece[0]
            if conv == "lit":
                out.append(piece[1])
                continue
            _, arg, left, zero, width = piece
            if conv == "m":
                s = msg
            elif conv == "N":
                s = str(seq)
            elif conv == "c":
                s = module.name
            elif conv == "p":
                s = level.name
            elif conv in "dD":
                s = _format_time(now, arg or "%Y-%m-%d %H:%M:%S.###", utc=conv == "D")
            elif conv == "A":
                s = vlog.program
            elif conv == "B":
                s = str(8 * vlog.facility + _SYSLOG_PRIORITY.get(level, 7))
            elif conv == "E":
                s = posix.uname().nodename
            elif conv == "P":
                s = str(posix.getpid())
            elif conv == "r":
                s = str(int((now - vlog.start_time) * 1000))
            elif conv == "t":
                s = "main"
            elif conv == "n":
                s = "\n"
            else:
                # %T (thread name) is empty for the main thread; unknown escapes vanish.
                s = ""
            if width and len(s) < width:
                if left:
                    s = s.ljust(width)
                elif zero:
                    s = s.rjust(width, "0")
                else:
                    s = s.rjust(width)
            out.append(s)
        return "".join(out)


def _format_time(now: float, fmt: str, *, utc: bool) -> str:
    tm = time.gmtime(now) if utc else time.localtime(now)
    ms = f"{int(now * 1000) % 1000:03d}"
    return time.strftime(fmt.replace("###", ms), tm)


SYSLOG_SOCKET = "/dev/log"
SYSLOG_RECHECK = 1.0    # seconds between looks for a missing syslog socket


class _Vlog:
    """All of one process's logging state."""

    def __init__(self) -> None:
        self.program = sys.argv[0].rpartition("/")[2] if sys.argv and sys.argv[0] else "python"
        self.modules: dict[str, Module] = {}
        self.default_levels = [Level.INFO, Level.INFO, Level.INFO]
        self.patterns = {d: _Pattern(p) for d, p in DEFAULT_PATTERNS.items()}
        self.seq = 0
        self.facility = 3  # daemon
        self.log_file: str | None = None
        self._file = None
        self.start_time = time.time()
        self._syslog_open = False
        self._syslog_present = True         # SYSLOG_SOCKET existed when last looked at
        self._syslog_checked = -SYSLOG_RECHECK   # when (time.time()) it was looked at
        self.console = sys.stderr

    def module(self, name: str) -> Module:
        m = self.modules.get(name)
        if m is None:
            m = self.modules[name] = Module(self, name)
        return m

    def emit(self, module: Module, level: Level, msg: str, rl: RateLimit | None) -> None:
        now = time.time()
        if rl is not None and module.honor_rate_limits:
            if not rl.admit(now):
                return
            if rl.n_dropped:
                n, first, last = rl.n_dropped, rl.first_dropped, rl.last_dropped
                rl.n_dropped = 0
                self._write(module, level,
                            f"Dropped {n} log messages in last {int(now - first)} seconds "
                            f"(most recently, {int(now - last)} seconds ago) due to excessive rate",
                            now)
        self._write(module, level, msg, now)

    def _write(self, module: Module, level: Level, msg: str, now: float) -> None:
        self.seq += 1
        levels = module.levels
        if level <= levels[Destination.CONSOLE]:
            line = self.patterns[Destination.CONSOLE].format(self, module, level, msg, self.seq, now)
            try:
                self.console.write(line + "\n")
                self.console.flush()
            except (OSError, ValueError):
                pass
        if level <= levels[Destination.SYSLOG] and _syslog is not None and self._syslog_up(now):
            line = self.patterns[Destination.SYSLOG].format(self, module, level, msg, self.seq, now)
            if not self._syslog_open:
                _syslog.openlog(self.program, 0, self.facility << 3)
                self._syslog_open = True
            try:
                _syslog.syslog(_SYSLOG_PRIORITY.get(level, 7), line)
            except OSError:
                pass
        if level <= levels[Destination.FILE] and self._file is not None:
            line = self.patterns[Destination.FILE].format(self, module, level, msg, self.seq, now)
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except (OSError, ValueError):
                pass

    def _syslog_up(self, now: float) -> bool:
        """Whether the syslog socket exists, looked at once per SYSLOG_RECHECK seconds
        (either way: a socket that goes away is noticed too)."""
        if not -SYSLOG_RECHECK < now - self._syslog_checked < SYSLOG_RECHECK:
            self._syslog_checked = now
            try:
                posix.stat(SYSLOG_SOCKET)
                self._syslog_present = True
            except OSError:
                self._syslog_present = False
        return self._syslog_present

    # ---- settings ----

    def set_levels(self, module: Module | None, dest: Destination | None, level: Level) -> None:
        mods = self.modules.values() if module is None else (module,)
        dests = tuple(Destination) if dest is None else (dest,)
        for m in mods:
            for d in dests:
                m.levels[d] = level
            m._update()
        if module is None:
            for d in dests:
                self.default_levels[d] = level

    def set_levels_from_string(self, spec: str) -> None:
        """Applies one -v/vlog/set SPEC; raises VlogError with OVS's wording."""
        words = [w for w in spec.replace(",", " ").replace(":", " ").split() if w]
        if words and words[0].lower() == "pattern":
            # The pattern itself may contain ':' and spaces: split only twice.
            parts = spec.split(":", 2)
            if len(parts) < 3:
                raise VlogError("missing destination")
            dest_name = parts[1].strip().lower()
            if dest_name == "any":
                for d in Destination:
                    self.patterns[d] = _Pattern(parts[2])
            elif dest_name in _DEST_NAMES:
                self.patterns[_DEST_NAMES[dest_name]] = _Pattern(parts[2])
            else:
                raise VlogError(f'unknown destination "{parts[1]}"')
            return
        if words and words[0].lower() == "facility":
            if len(words) < 2 or words[1].lower() not in _FACILITIES:
                raise VlogError("invalid facility")
            self.facility = _FACILITIES.index(words[1].lower())
            return
        dest: Destination | None = None
        dest_set = False
        level: Level | None = None
        module: Module | None = None
        module_set = False
        for w in words:
            lw = w.lower()
            if lw == "any" and not dest_set:
                dest_set = True
            elif lw in _DEST_NAMES:
                if dest_set and (dest is not None or module_set):
                    raise VlogError("cannot specify multiple destinations")
                if dest_set:
                    # An earlier "any" named the modules, not the destinations.
                    module_set = True
                dest = _DEST_NAMES[lw]
                dest_set = True
            elif lw in _LEVEL_NAMES:
                if level is not None:
                    raise VlogError("cannot specify multiple levels")
                level = _LEVEL_NAMES[lw]
            elif lw == "any" or w in self.modules:
                if module_set:
                    raise VlogError("cannot specify multiple modules")
                module = None if lw == "any" else self.modules[w]
                module_set = True
            else:
                raise VlogError(f'no destination, level, or module "{w}"')
        self.set_levels(module, dest, Level.DBG if level is None else level)

    def set_verbosity(self, arg: str | None) -> None:
        """Handles -v/--verbose[=ARG]: without ARG, everything to dbg."""
        if not arg:
            self.set_levels(None, None, Level.DBG)
            return
        try:
            self.set_levels_from_string(arg)
        except VlogError as e:
            raise VlogError(f'processing "{arg}": {e}') from None

    # ---- log file ----

    def set_log_file(self, path: str | None) -> None:
        """Starts (or with None, stops) logging to path; raises OSError."""
        f = open(path, "a", encoding="utf-8", errors="replace") if path is not None else None
        if self._file is not None:
            # The last line of the old file (after log rotation, of the rotated one).
            self.module("vlog").info("closing log file")
            self._file.close()
        self.log_file, self._file = path, f
        if path is not None:
            self.module("vlog").info("opened log file %s", path)

    def reopen_log_file(self) -> None:
        if self.log_file is None:
            raise VlogError("Logging to file not configured")
        self.set_log_file(self.log_file)

    def close_log_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # ---- reports ----

    def list_levels(self) -> str:
        out = ["                 console    syslog    file\n",
               "                 -------    ------    ------\n"]
        for name in sorted(self.modules):
            lv = self.modules[name].levels
            out.append(f"{name:<16}  {lv[0].name:>4}       {lv[1].name:>4}       {lv[2].name:>4}\n")
        return "".join(out)

    def list_patterns(self) -> str:
        out = ["         prefix                            format\n",
               "         ------                            ------\n"]
        for d in (Destination.SYSLOG, Destination.CONSOLE, Destination.FILE):
            out.append(f"{d.name:<9}{_PREFIXES[d]:<34}{self.patterns[d].text}\n")
        return "".join(out)


_vlog = _Vlog()


def module(name: str) -> Module:
    """The module handle named name, created on first use."""
    return _vlog.module(name)


def set_program_name(name: str) -> None:
    _vlog.program = name


def program_name() -> str:
    return _vlog.program


def set_levels_from_string(spec: str) -> None:
    _vlog.set_levels_from_string(spec)


def set_verbosity(arg: str | None) -> None:
    _vlog.set_verbosity(arg)


def set_levels(module_name: str | None, dest: Destination | None, level: Level) -> None:
    _vlog.set_levels(None if module_name is None else _vlog.module(module_name), dest, level)


def set_log_file(path: str | None) -> None:
    _vlog.set_log_file(path)


def log_file() -> str | None:
    return _vlog.log_file


def reopen_log_file() -> None:
    _vlog.reopen_log_file()


def list_levels() -> str:
    return _vlog.list_levels()


def list_patterns() -> str:
    return _vlog.list_patterns()


def set_console(stream) -> None:
    """Where console messages go (stderr by default)."""
    _vlog.console = stream


def register_unixctl_commands(commands) -> None:
    """Adds vlog/set, vlog/list, vlog/list-pattern, vlog/reopen, vlog/close and
    the rate-limit switches to a unixctl command table."""

    def vlog_set(args):
        if not args:
            return True, ""
        for a in args:
            try:
                _vlog.set_levels_from_string(a)
            except VlogError as e:
                return False, str(e)
        return True, ""

    def vlog_reopen(args):
        try:
            _vlog.reopen_log_file()
        except VlogError as e:
            return False, str(e)
        except OSError as e:
            return False, f"could not reopen log file \"{_vlog.log_file}\" ({e.strerror})"
        return True, ""

    def vlog_close(args):
        _vlog.close_log_file()
        return True, ""

    def rate_limit(enable):
        def handler(args):
            names = args or list(_vlog.modules)
            for n in names:
                m = _vlog.modules.get(n)
                if m is None:
                    return False, f'no module named "{n}"'
                m.honor_rate_limits = enable
            return True, ""
        return handler

    commands.register("vlog/set", "{spec | PATTERN:destination:pattern}", 0, 2**31 - 1, vlog_set)
    commands.register("vlog/list", "", 0, 0, lambda args: (True, _vlog.list_levels()))
    commands.register("vlog/list-pattern", "", 0, 0, lambda args: (True, _vlog.list_patterns()))
    commands.register("vlog/reopen", "", 0, 0, vlog_reopen)
    commands.register("vlog/close", "", 0, 0, vlog_close)
    commands.register("vlog/enable-rate-limit", "[module]...", 0, 2**31 - 1, rate_limit(True))
    commands.register("vlog/disable-rate-limit", "[module]...", 0, 2**31 - 1, rate_limit(False))
