"""ovs-vsctl's command line: global options, then `--`-separated commands.

The grammar is OVS's.  Global options come first and are parsed the way
getopt_long does it in "+" mode: long options may be abbreviated to any
unique prefix, `--opt=value` or `--opt value` for options that need a value,
and parsing stops at the first non-option word or at `--`.  Per-command
options (`--if-exists`, `--id=@name`, ...) may also appear among the global
options, in which case they belong to the first command.

The rest of the words are commands separated by `--`; each command is
`[--option[=value]]... NAME [ARG]...`.  Checking a command against its entry
in the command table (known name, accepted options, argument count) happens
here too, so a bad command line fails before any connection is made.

Errors raise `UsageError` with glibc's and OVS's exact wording.
"""

from __future__ import annotations



class UsageError(Exception):
    """A bad command line; the message is printed after "ovs-vsctl: "."""


class GetoptError(UsageError):
    """A bad option as getopt reports it: printed after argv[0] and ": "."""


NONE, REQUIRED, OPTIONAL = 0, 1, 2

# (long name, short letter or None, argument kind), in OVS's order: the order
# matters for the list in "is ambiguous" messages and for --options.
GLOBAL_OPTIONS: tuple[tuple[str, str | None, int], ...] = (
    ("db", None, REQUIRED),
    ("no-syslog", None, NONE),
    ("no-wait", None, NONE),
    ("dry-run", None, NONE),
    ("oneline", None, NONE),
    ("timeout", "t", REQUIRED),
    ("retry", None, NONE),
    ("help", "h", NONE),
    ("commands", None, NONE),
    ("options", None, NONE),
    ("leader-only", None, NONE),
    ("no-leader-only", None, NONE),
    ("shuffle-remotes", None, NONE),
    ("no-shuffle-remotes", None, NONE),
    ("version", "V", NONE),
    ("verbose", "v", OPTIONAL),
    ("log-file", None, OPTIONAL),
    ("syslog-method", None, REQUIRED),
    ("syslog-target", None, REQUIRED),
    ("format", "f", REQUIRED),
    ("data", "d", REQUIRED),
    ("no-headings", None, NONE),
    ("pretty", None, NONE),
    ("bare", None, NONE),
    ("max-column-width", None, REQUIRED),
    ("private-key", "p", REQUIRED),
    ("certificate", "c", REQUIRED),
    ("ca-cert", "C", REQUIRED),
    ("ssl-protocols", None, REQUIRED),
    ("ssl-ciphers", None, REQUIRED),
    ("bootstrap-ca-cert", None, REQUIRED),
    ("peer-ca-cert", None, REQUIRED),
)


class ParsedCommand:
    """One command from the command line, checked against its table entry."""

    __slots__ = ("name", "args", "options", "spec")
    name: str
    args: list[str]
    options: dict[str, str | None]   # "--if-exists" -> None, "--id" -> "@x"
    spec: object                     # the CommandSpec it names

    def __init__(self, name: str, args: list[str], options: dict[str, str | None], spec: object = None) -> None:
        self.name = name
        self.args = args
        self.options = options
        self.spec = spec

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.name, self.args, self.options, self.spec) == (other.name, other.args, other.options, other.spec)

    __hash__ = None

    def __repr__(self) -> str:
        return f"ParsedCommand(name={self.name!r}, args={self.args!r}, options={self.options!r}, spec={self.spec!r})"


def command_option_names(specs) -> list[tuple[str, int]]:
    """Every per-command option, as (name, kind), in first-seen order."""
    seen: dict[str, int] = {}
    for spec in specs:
        for opt in spec.options_list():
            name = opt.rstrip("=")
            seen.setdefault(name[2:], REQUIRED if opt.endswith("=") else NONE)
    return list(seen.items())


def parse_global(argv: list[str], cmd_opts) -> tuple[list[tuple[str, str | None]], dict[str, str | None], list[str]]:
    """Parses the global options like getopt_long("+..."); cmd_opts are the
    per-command options as `command_option_names` lists them.

    Returns (global options in order, local command options, remaining words).
    """
    table = [(name, short, kind, False) for name, short, kind in GLOBAL_OPTIONS]
    table += [(name, None, kind, True) for name, kind in cmd_opts]
    shorts = {short: (name, kind) for name, short, kind, _ in table if short}
    out: list[tuple[str, str | None]] = []
    local: dict[str, str | None] = {}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if word.startswith("--"):
            body = word[2:]
            name, eq, value = body.partition("=")
            exact = [t for t in table if t[0] == name]
            matches = exact or [t for t in table if t[0].startswith(name)]
            if not matches:
                raise GetoptError(f"unrecognized option '{word}'")
            if len(matches) > 1:
                names = " ".join(f"'--{t[0]}'" for t in matches)
                raise GetoptError(f"option '--{name}' is ambiguous; possibilities: {names}")
            full, _short, kind, is_local = matches[0]
            if kind == NONE and eq:
                raise GetoptError(f"option '--{full}' doesn't allow an argument")
            if kind == REQUIRED and not eq:
                if i + 1 >= len(argv):
                    raise GetoptError(f"option '--{full}' requires an argument")
                i += 1
                value = argv[i]
            elif not eq:
                value = None
            i += 1
            if is_local:
                key = "--" + full
                if key in local:
                    raise UsageError(f"'{key}' option specified multiple times")
                local[key] = value
            else:
                out.append((full, value))
            continue
        if word.startswith("-") and len(word) > 1:
            j = 1
            i += 1
            while j < len(word):
                letter = word[j]
                if letter not in shorts:
                    raise GetoptError(f"invalid option -- '{letter}'")
                full, kind = shorts[letter]
                rest = word[j + 1:]
                if kind == NONE:
                    out.append((full, None))
                    j += 1
                    continue
                if rest:
                    out.append((full, rest))
                elif kind == REQUIRED:
                    if i >= len(argv):
                        raise GetoptError(f"option requires an argument -- '{letter}'")
                    out.append((full, argv[i]))
                    i += 1
                else:
                    out.append((full, None))
                break
            continue
        break
    return out, local, argv[i:]


def split_commands(words: list[str], local: dict[str, str | None], lookup) -> list[ParsedCommand]:
    """Splits the words after the global options at `--` into checked commands."""
    commands: list[ParsedCommand] = []
    start = 0
    for i in range(len(words) + 1):
        if i == len(words) or words[i] == "--":
            if i > start:
                commands.append(parse_command(words[start:i], local, lookup))
                local = {}
            elif local:
                raise UsageError("missing command name (use --help for help)")
            start = i + 1
    if not commands:
        raise UsageError("missing command name (use --help for help)")
    return commands


def parse_command(words: list[str], local: dict[str, str | None], lookup) -> ParsedCommand:
    options = dict(local)
    i = 0
    while i < len(words) and words[i].startswith("-"):
        key, eq, value = words[i].partition("=")
        if key in options:
            raise UsageError(f"'{words[i]}' option specified multiple times")
        options[key] = value if eq else None
        i += 1
    if i == len(words):
        raise UsageError("missing command name (use --help for help)")
    name = words[i]
    spec = lookup(name)
    if spec is None:
        raise UsageError(f"unknown command '{name}'; use --help for help")
    accepted = spec.options_string()
    for key, value in options.items():
        pos = accepted.find(key)
        end = accepted[pos + len(key)] if pos >= 0 and pos + len(key) < len(accepted) else ("," if pos >= 0 else None)
        if end is None or end not in "=,? ":
            raise UsageError(f"'{name}' command has no '{key}' option")
        if end != "=" and value is not None:
            raise UsageError(f"'{key}' option on '{name}' does not accept an argument")
        if end == "=" and value is None:
            raise UsageError(f"missing argument to '{key}' option on '{name}' command")
    args = words[i + 1:]
    if len(args) < spec.min_args:
        raise UsageError(f"'{spec.name}' command requires at least {spec.min_args} arguments")
    if len(args) > spec.max_args:
        note = ""
        if any(a.startswith("-") for a in args):
            note = ' (note that options must precede command names and follow a "--" argument)'
        raise UsageError(f"'{spec.name}' command takes at most {spec.max_args} arguments{note}")
    return ParsedCommand(name, args, options, spec)
