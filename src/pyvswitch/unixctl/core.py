"""The unixctl protocol, sans I/O: a command table and one connection's state.

ovs-appctl talks to a daemon over a Unix socket with JSON-RPC 1.0: each
request's method is a command name (`vlog/set`, `exit`, ...) and its params
are string arguments.  The daemon answers with a reply whose "result" is the
command's output text, or with an error reply whose "error" is the failure
text.  Notifications and replies from the client are protocol violations:
the connection is dropped.

Design: `CommandTable` is the declaration (name, usage, argument bounds,
handler); `Connection` turns bytes from one client into `Invoke` events for
commands that passed validation, and produces the bytes of replies.  Argument
checking and the error texts live here, once, in OVS's words.  A handler
takes the argument list and returns `(ok, text)`, or an awaitable of that
for commands that finish later; the asyncio adapter runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Union

from pyvswitch.ovsdb import jsonrpc

Result = tuple[bool, str]
Handler = Callable[[list[str]], Union[Result, Awaitable[Result]]]

UNLIMITED = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    min_args: int
    max_args: int
    handler: Handler


class CommandTable:
    """The commands one daemon offers; `list-commands` is always present."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.register("list-commands", "", 0, 0, lambda args: (True, self.list_commands()))

    def register(self, name: str, usage: str, min_args: int, max_args: int,
                 handler: Handler) -> None:
        self.commands[name] = Command(name, usage, min_args, max_args, handler)

    def unregister(self, name: str) -> None:
        self.commands.pop(name, None)

    def list_commands(self) -> str:
        lines = ["The available commands are:\n"]
        for name in sorted(self.commands):
            lines.append(f"  {name:<23} {self.commands[name].usage}\n")
        return "".join(lines)

    def check(self, method: str, params: list) -> tuple[Command | None, str]:
        """Validates a request: (command, "") or (None, error text)."""
        cmd = self.commands.get(method)
        if cmd is None:
            return None, (f'"{method}" is not a valid command '
                          f'(use "list-commands" to see a list of valid commands)')
        if len(params) < cmd.min_args:
            return None, f'"{method}" command requires at least {cmd.min_args} arguments'
        if len(params) > cmd.max_args:
            return None, f'"{method}" command takes at most {cmd.max_args} arguments'
        if any(not isinstance(p, str) for p in params):
            return None, f'"{method}" command has non-string argument'
        return cmd, ""


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run `command` with `args`; answer with `Connection.reply(id, ...)`."""
    id: Any
    command: Command
    args: list


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


Event = Union[Invoke, Send, Close]


def encode_reply(ident: Any, ok: bool, text: str) -> bytes:
    """A unixctl reply as OVS daemons write it (id first; errors end in a newline)."""
    if ok:
        return jsonrpc.dumps({"id": ident, "result": text, "error": None}).encode()
    if not text.endswith("\n"):
        text += "\n"
    return jsonrpc.dumps({"id": ident, "error": text}).encode()


class Connection:
    """One client of a unixctl server."""

    def __init__(self, table: CommandTable, name: str) -> None:
        self.table = table
        self.name = name
        self._framer = jsonrpc.Framer(max_message=16 * 1024 * 1024)
        self.closed = False

    def receive(self, data: bytes) -> list[Event]:
        if self.closed:
            return []
        events: list[Event] = []
        try:
            objs = self._framer.feed_json(data)
        except jsonrpc.JsonRpcError as e:
            self.closed = True
            return [Close(f"{self.name}: received bad JSON-RPC message: {e}")]
        for obj in objs:
            if (isinstance(obj, dict) and "method" in obj and obj.get("id") is not None
                    and "params" not in obj):
                self.closed = True
                events.append(Close(f'{self.name}: received bad JSON-RPC message: '
                                    f'request must have "params"'))
                break
            try:
                msg = jsonrpc.parse_message(obj)
            except jsonrpc.JsonRpcError as e:
                self.closed = True
                events.append(Close(f"{self.name}: received bad JSON-RPC message: {e}"))
                break
            if isinstance(msg, jsonrpc.Request):
                cmd, error = self.table.check(msg.method, msg.params)
                if cmd is None:
                    events.append(Send(encode_reply(msg.id, False, error)))
                else:
                    events.append(Invoke(msg.id, cmd, list(msg.params)))
                continue
            kind = "notification" if isinstance(msg, jsonrpc.Notification) else "reply"
            self.closed = True
            events.append(Close(f"{self.name}: received unexpected {kind} message"))
            break
        return events

    @staticmethod
    def reply(ident: Any, ok: bool, text: str) -> bytes:
        return encode_reply(ident, ok, text)
