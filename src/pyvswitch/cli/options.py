"""GNU getopt_long, as OVS's programs parse their command lines.

Python's argparse and getopt cannot express what OVS relies on: options
whose argument is optional and only given with `=` (`--pidfile`,
`--log-file`, `-v`), so `--pidfile conf.db` leaves `conf.db` a positional
argument.  `parse` implements the GNU rules: long options by unique prefix,
`--opt=value` or `--opt value` for required arguments, bundled short
options, `-v` style short options with an attached optional argument, `--`
ending the options, and non-options anywhere (permuted to the end) unless
`stop_at_non_option` is set.  Errors carry getopt's wording.
"""

from __future__ import annotations

class Arg:
    """How an option takes its argument.  Constants rather than an enum, and
    Option below a written-out frozen class rather than a dataclass:
    ovsdb-client and ovsdb-tool import this module at every start, and enum
    and dataclasses cost them more than a whole call of the real tools."""

    NONE = "none"
    REQUIRED = "required"
    OPTIONAL = "optional"


class Option:
    """One option: long name without dashes, Arg, and one letter or None (immutable)."""

    __slots__ = ("name", "arg", "short")

    def __init__(self, name: str, arg: str = Arg.NONE, short: str | None = None) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "arg", arg)
        object.__setattr__(self, "short", short)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def _key(self) -> tuple:
        return self.name, self.arg, self.short

    def __eq__(self, other):
        return self._key() == other._key() if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Option(name={self.name!r}, arg={self.arg!r}, short={self.short!r})"


# The SSL key and certificate options every OVS program that opens SSL remotes takes
# (the daemons add the rest of stream-ssl's: aio.service.SSL_OPTIONS).
SSL_KEY_OPTIONS = [
    Option("private-key", Arg.REQUIRED, "p"),
    Option("certificate", Arg.REQUIRED, "c"),
    Option("ca-cert", Arg.REQUIRED, "C"),
    Option("bootstrap-ca-cert", Arg.REQUIRED),
]


class OptionError(Exception):
    pass


def parse(argv: list[str], options: list[Option], stop_at_non_option: bool = False
          ) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Returns ([(long_name, value_or_None)], [non-option arguments])."""
    by_long = {o.name: o for o in options}
    by_short = {o.short: o for o in options if o.short}
    parsed: list[tuple[str, str | None]] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            rest.extend(argv[i:])
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            opt = by_long.get(name)
            if opt is None:
                matches = [o for n, o in by_long.items() if n.startswith(name)]
                if len(matches) == 1:
                    opt = matches[0]
                elif len(matches) > 1:
                    raise OptionError(f"option '--{name}' is ambiguous")
                else:
                    raise OptionError(f"unrecognized option '--{name}'")
            if opt.arg is Arg.NONE and eq:
                raise OptionError(f"option '--{opt.name}' doesn't allow an argument")
            if opt.arg is Arg.REQUIRED and not eq:
                if i >= len(argv):
                    raise OptionError(f"option '--{opt.name}' requires an argument")
                value = argv[i]
                i += 1
                eq = "="
            parsed.append((opt.name, value if eq else None))
        elif a.startswith("-") and a != "-":
            j = 1
            while j < len(a):
                c = a[j]
                opt = by_short.get(c)
                if opt is None:
                    raise OptionError(f"invalid option -- '{c}'")
                j += 1
                if opt.arg is Arg.NONE:
                    parsed.append((opt.name, None))
                    continue
                value = a[j:]
                if not value and opt.arg is Arg.REQUIRED:
                    if i >= len(argv):
                        raise OptionError(f"option requires an argument -- '{c}'")
                    value = argv[i]
                    i += 1
                parsed.append((opt.name, value or None))
                break
        else:
            if stop_at_non_option:
                rest.append(a)
                rest.extend(argv[i:])
                break
            rest.append(a)
    return parsed, rest
