"""The unixctl commands every pyvswitch daemon offers.

`list-commands` comes with the table itself; this adds `version`, `exit`,
`memory/show`, `coverage/show` and the vlog commands.  The daemon supplies
what only it knows (how to exit, what to report about memory) as callables.
"""

from __future__ import annotations

from pyvswitch import OVS_COMPAT_VERSION

TYPE_CHECKING = False   # ovs-appctl imports version_string: no typing or dataclasses (core) at run time
if TYPE_CHECKING:
    from typing import Callable

    from pyvswitch.unixctl.core import CommandTable


def version_string(program: str) -> str:
    """`PROGRAM (Open vSwitch) 3.1.0`, the text every OVS tool prints for --version."""
    return f"{program} (Open vSwitch) {OVS_COMPAT_VERSION}"


def add_builtins(table: CommandTable, program: str, exit_cb: Callable[[], None],
                 memory_report: Callable[[], str] | None = None) -> None:
    """Registers version, exit, memory/show, coverage/show and vlog/*."""

    def exit_(args):
        exit_cb()
        return True, ""

    def memory_show(args):
        text = memory_report() if memory_report is not None else ""
        return True, text + "\n" if text and not text.endswith("\n") else text

    def coverage_show(args):
        # pyvswitch keeps no event counters yet; the header matches OVS's.
        return True, ("Event coverage, avg rate over last: 5 seconds, last minute, "
                      "last hour,  hash=00000000:\n0 events never hit\n")

    table.register("version", "", 0, 0, lambda args: (True, version_string(program) + "\n"))
    table.register("exit", "", 0, 0, exit_)
    table.register("memory/show", "", 0, 0, memory_show)
    table.register("coverage/show", "", 0, 0, coverage_show)
    from pyvswitch import vlog   # not at import: ovs-appctl and ovs-dpctl need only version_string
    vlog.register_unixctl_commands(table)
