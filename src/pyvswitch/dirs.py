"""Open vSwitch's directories, with the environment overrides OVS honours.

Every daemon and tool finds its sockets, pidfiles, logs and databases here.
The functions read the environment on each call (not at import), so a test
or a wrapper can point a whole process tree at a private directory by
setting OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR, OVS_SYSCONFDIR, OVS_PKGDATADIR.

Written with `posix` rather than `os`: the tools run without site, so the
first `import os` would be theirs, and it costs them ~1 ms (it builds
collections.abc); see _getenv.
"""

from __future__ import annotations

import posix
import sys


def _getenv(name: str) -> str | None:
    """os.environ.get(name): from os.environ once os is imported (Python code may
    have changed it), else from the environment the process started with, which
    is what os.environ would hold, decoded as os.environ decodes it."""
    os = sys.modules.get("os")
    if os is not None:
        return os.environ.get(name)
    encoding = sys.getfilesystemencoding()
    value = posix.environ.get(name.encode(encoding, "surrogateescape"))
    return None if value is None else value.decode(encoding, "surrogateescape")


def _join(directory: str, name: str) -> str:
    """os.path.join(directory, name) on POSIX."""
    if name.startswith("/"):
        return name
    return directory + name if not directory or directory.endswith("/") else directory + "/" + name


def rundir() -> str:
    """Sockets and pidfiles: $OVS_RUNDIR, else /var/run/openvswitch."""
    return _getenv("OVS_RUNDIR") or "/var/run/openvswitch"


def logdir() -> str:
    """Log files: $OVS_LOGDIR, else /var/log/openvswitch."""
    return _getenv("OVS_LOGDIR") or "/var/log/openvswitch"


def dbdir() -> str:
    """Databases: $OVS_DBDIR, else /etc/openvswitch."""
    return _getenv("OVS_DBDIR") or "/etc/openvswitch"


def sysconfdir() -> str:
    """System configuration: $OVS_SYSCONFDIR, else /etc."""
    return _getenv("OVS_SYSCONFDIR") or "/etc"


def pkgdatadir() -> str:
    """Schemas and scripts: $OVS_PKGDATADIR, else /usr/share/openvswitch."""
    return _getenv("OVS_PKGDATADIR") or "/usr/share/openvswitch"


def abs_file_name(directory: str, name: str) -> str:
    """name made absolute relative to directory (OVS's abs_file_name)."""
    return _join(directory, name)


def default_pidfile(program: str) -> str:
    return _join(rundir(), f"{program}.pid")


def default_ctl(program: str, pid: int | None = None) -> str:
    """The unixctl socket: RUNDIR/PROGRAM.PID.ctl."""
    return _join(rundir(), f"{program}.{posix.getpid() if pid is None else pid}.ctl")


def default_log_file(program: str) -> str:
    return _join(logdir(), f"{program}.log")


def default_db() -> str:
    """The database ovsdb-server and the tools use by default: DBDIR/conf.db."""
    return _join(dbdir(), "conf.db")


def default_db_sock() -> str:
    """The socket clients such as ovs-vsctl use by default: RUNDIR/db.sock."""
    return _join(rundir(), "db.sock")
