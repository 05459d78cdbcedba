"""The command table's entry type and the context commands run in.

Every ovs-vsctl command is declared once as a `CommandSpec`: its name, the
argument syntax shown by --commands (from which the min/max argument counts
are derived), the options it accepts, whether it only reads, and up to three
functions:

- `pre(ctx)`: before anything is fetched, declares the tables and columns the
  command will need (`ctx.want(table, columns)`), so that only those are
  fetched.  It must not look at data.
- `run(ctx)`: runs against the fetched view (ctx.view), writing its output
  into `ctx.output` and its changes into the view; raises `VsctlError` for
  a user error (printed as "ovs-vsctl: MESSAGE", exit status 1) or sets
  `ctx.try_again` when it must wait for the database to change (wait-until).
- `post(ctx)`: after the commit, fixes up output that needs server-assigned
  UUIDs (e.g. `create`).
"""

from __future__ import annotations

TYPE_CHECKING = False   # typing itself costs a few ms at every start
if TYPE_CHECKING:
    from typing import Any, Callable

UNLIMITED = 2 ** 31 - 1


class VsctlError(Exception):
    """A user-visible failure: printed as "ovs-vsctl: <message>", exit 1."""


class ExitStatus(Exception):
    """Ends the program quietly with an exit status (e.g. br-exists -> 2)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class CommandSpec:
    """One row of the command table; immutable once made.

    A plain class rather than a dataclass: ovs-vsctl runs thousands of times
    per agent session and the dataclasses machinery costs more to import than
    the rest of a call (see tests/vsctl/test_startup.py).
    """

    __slots__ = ("name", "syntax", "run", "pre", "post", "options", "read_only", "min_args", "max_args")
    name: str
    syntax: str                 # e.g. "!BRIDGE ?PARENT ?NEW-VLAN", as --commands shows it
    run: Callable
    pre: Callable | None
    post: Callable | None
    options: str                # e.g. "--may-exist,--id="
    read_only: bool
    min_args: int
    max_args: int

    def __init__(self, name: str, syntax: str, run: Callable, pre: Callable | None = None,
                 post: Callable | None = None, options: str = "", read_only: bool = False,
                 min_args: int = 0, max_args: int = 0) -> None:
        for slot, value in zip(self.__slots__, (name, syntax, run, pre, post, options, read_only,
                                                min_args, max_args)):
            object.__setattr__(self, slot, value)

    def _key(self) -> tuple:
        return tuple(getattr(self, slot) for slot in self.__slots__)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field '{name}'")

    def __eq__(self, other):
        return self._key() == other._key() if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "CommandSpec(" + ", ".join(f"{slot}={getattr(self, slot)!r}" for slot in self.__slots__) + ")"

    @staticmethod
    def make(name: str, syntax: str, run, pre=None, post=None, options: str = "", read_only: bool = False,
             n_args: tuple[int, int] | None = None):
        """An entry whose argument counts follow from syntax (or are n_args)."""
        if n_args is not None:
            return CommandSpec(name, syntax, run, pre, post, options, read_only, *n_args)
        lo = hi = 0
        for word in syntax.split():
            if word.startswith("!"):
                lo += 1
                hi += 1
            elif word.startswith("?"):
                hi += 1
            elif word.startswith("+"):
                lo += 1
                hi = UNLIMITED
            elif word.startswith("*"):
                hi = UNLIMITED
        return CommandSpec(name, syntax, run, pre, post, options, read_only, lo, min(hi, UNLIMITED))

    def options_list(self) -> list[str]:
        return [o for o in self.options.split(",") if o]

    def options_string(self) -> str:
        return self.options


class Context:
    """What one command sees while it runs."""

    __slots__ = ("name", "args", "options", "shared", "output", "table", "try_again", "data")
    name: str
    args: list[str]
    options: dict[str, str | None]
    shared: Any                      # the per-invocation state (runner.Invocation)
    output: list[str]
    table: list | None               # rows for table-format output: (headings, rows of cells)
    try_again: bool
    data: dict                       # what run() leaves for post()

    def __init__(self, name: str, args: list[str], options: dict[str, str | None], shared: Any,
                 output: list[str] | None = None, table: list | None = None, try_again: bool = False,
                 data: dict | None = None) -> None:
        self.name = name
        self.args = args
        self.options = options
        self.shared = shared
        self.output = [] if output is None else output
        self.table = table
        self.try_again = try_again
        self.data = {} if data is None else data

    def __repr__(self) -> str:
        return "Context(" + ", ".join(f"{slot}={getattr(self, slot)!r}" for slot in self.__slots__) + ")"

    @property
    def view(self):
        return self.shared.view

    @property
    def schema(self):
        return self.shared.schema

    def want(self, table: str, columns=()) -> None:
        self.shared.want(table, columns)

    def has(self, option: str) -> bool:
        return option in self.options

    def print(self, line: str = "") -> None:
        self.output.append(line + "\n")
