"""Open vSwitch's directories, with the environment overrides OVS honours.

Every daemon and tool finds its sockets, pidfiles, logs and databases here.
The functions read the environment on each call (not at import), so a test
or a wrapper can point a whole process tree at a private directory by
setting OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR, OVS_SYSCONFDIR, OVS_PKGDATADIR.
"""

from __future__ import annotations

import os


def rundir() -> str:
    """Sockets and pidfiles: $OVS_RUNDIR, else /var/run/openvswitch."""
    return os.environ.get("OVS_RUNDIR") or "/var/run/openvswitch"


def logdir() -> str:
    """Log files: $OVS_LOGDIR, else /var/log/openvswitch."""
    return os.environ.get("OVS_LOGDIR") or "/var/log/openvswitch"


def dbdir() -> str:
    """Databases: $OVS_DBDIR, else /etc/openvswitch."""
    return os.environ.get("OVS_DBDIR") or "/etc/openvswitch"


def sysconfdir() -> str:
    """System configuration: $OVS_SYSCONFDIR, else /etc."""
    return os.environ.get("OVS_SYSCONFDIR") or "/etc"


def pkgdatadir() -> str:
    """Schemas and scripts: $OVS_PKGDATADIR, else /usr/share/openvswitch."""
    return os.environ.get("OVS_PKGDATADIR") or "/usr/share/openvswitch"


def abs_file_name(directory: str, name: str) -> str:
    """name made absolute relative to directory (OVS's abs_file_name)."""
    if os.path.isabs(name):
        return name
    return os.path.join(directory, name)


def default_pidfile(program: str) -> str:
    return os.path.join(rundir(), f"{program}.pid")


def default_ctl(program: str, pid: int | None = None) -> str:
    """The unixctl socket: RUNDIR/PROGRAM.PID.ctl."""
    return os.path.join(rundir(), f"{program}.{os.getpid() if pid is None else pid}.ctl")


def default_log_file(program: str) -> str:
    return os.path.join(logdir(), f"{program}.log")


def default_db() -> str:
    """The database ovsdb-server and the tools use by default: DBDIR/conf.db."""
    return os.path.join(dbdir(), "conf.db")


def default_db_sock() -> str:
    """The socket clients such as ovs-vsctl use by default: RUNDIR/db.sock."""
    return os.path.join(rundir(), "db.sock")
