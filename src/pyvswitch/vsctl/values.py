"""Values in OVS's text syntax, as ovs-vsctl reads and prints them.

Reading: a datum is tokens (atoms, or KEY=VALUE pairs for a map) separated by
commas or white space, optionally enclosed in [] or {}.  A token runs to the
next delimiter (`:=, []{}!<>` or white space) outside double quotes; a token
that starts with a quote is a JSON string.  Integers may be written as
ranges "1-3" in a set; uuids as UUID text or "@name" (a row id from the
symbol table).  A lone atom argument (the VALUE in COLUMN:KEY=VALUE) is taken
whole, quoted or not.
Errors are raised as VsctlError with the wording ovs-vsctl uses, e.g.
`"maybe" is not a valid boolean (use "true" or "false")`.

Printing is the engine's (ovsdb/types.py): strings are quoted only when they
would not read back as the same bare word; sets print as [a, b], maps as
{k=v, k2=v2}, an optional value bare or [].
"""

from __future__ import annotations

import json
import math
import re

from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.types import AtomicType, BaseType, Type
from pyvswitch.ovsdb.types import atom_to_string as _atom_to_string
from pyvswitch.vsctl.command import VsctlError

UUID_TYPE = Type(BaseType(AtomicType.UUID))
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_INT_RE = re.compile(r"[ \t\n\v\f\r]*[-+]?[0-9]+\Z")
_RANGE_RE = re.compile(r"([-+]?[0-9]+)-([-+]?[0-9]+)\Z")
# Characters that end a token outside double quotes.
DELIMS = ":=, []{}!<>\t\r\n"
_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False,
          "1": True, "0": False}


def is_uuid(s: str) -> bool:
    return _UUID_RE.match(s) is not None


def token(s: str, pos: int) -> tuple[int, str]:
    """The token at pos: characters up to a delimiter outside double quotes.

    Quotes stay in the token (an atom that starts with one is a JSON
    string); outside quotes a backslash makes the next character ordinary."""
    out: list[str] = []
    in_quotes = False
    i, n = pos, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            if in_quotes:
                out.append(s[i:i + 2])
            elif i + 1 < n:
                out.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            in_quotes = not in_quotes
        elif not in_quotes and c in DELIMS:
            break
        out.append(c)
        i += 1
    if in_quotes:
        raise VsctlError(f"{s[pos:]}: missing quote at end of quoted string")
    return i, "".join(out)


def _unquote(text: str) -> str:
    try:
        value = json.loads(text) if len(text) >= 2 and text.endswith('"') else None
    except ValueError:
        value = None
    if not isinstance(value, str):
        raise VsctlError(f"{text}: missing quote at end of quoted string")
    return value


def _english(t: Type) -> str:
    k = t.key.type.value
    if t.value is not None:
        return f"map of ({k}, {t.value.type.value}) pairs"
    if t.is_scalar:
        return k
    if t.n_max == math.inf:
        return f"set of {k}s" if t.n_min == 0 else f"set of 1 or more {k}s"
    if t.n_min == 0 and t.n_max == 1:
        return f"optional {k}"
    return f"set of up to {t.n_max} {k}s"


def _check(base: BaseType, atom):
    try:
        base.check_atom(atom)
    except OvsdbError as e:
        raise VsctlError(f"{e.error}: {e.details}" if e.details else e.error) from None
    return atom


def _atoms(base: BaseType, text: str, symtab, allow_range: bool) -> list:
    """The atom(s) that text stands for (several for an integer range)."""
    t = base.type
    if t is AtomicType.STRING:
        if text.startswith('"'):
            return [_check(base, _unquote(text))]
        if text == "":
            raise VsctlError('An empty string is not valid as input; use "" to represent the empty string')
        return [_check(base, text)]
    if t is AtomicType.INTEGER:
        if _INT_RE.match(text):
            return [_check(base, int(text))]
        if allow_range:
            m = _RANGE_RE.match(text.strip())
            if m is None:
                raise VsctlError(f'"{text}" is not a valid integer or range')
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise VsctlError(f'"{text}" is not a valid range. Range end cannot be before start.')
            if hi - lo >= 4096:
                raise VsctlError(f'"{text}" is not a valid range. Range can\'t have more than 4096 elements.')
            return [_check(base, v) for v in range(lo, hi + 1)]
        raise VsctlError(f'"{text}" is not a valid integer')
    if t is AtomicType.REAL:
        try:
            value = float(text)
        except ValueError:
            raise VsctlError(f'"{text}" is not a valid real number') from None
        return [_check(base, value)]
    if t is AtomicType.BOOLEAN:
        if text not in _BOOLS:
            raise VsctlError(f'"{text}" is not a valid boolean (use "true" or "false")')
        return [_BOOLS[text]]
    if text.startswith("@") and symtab is not None:
        return [symtab[text]]
    if not is_uuid(text):
        raise VsctlError(f'"{text}" is not a valid UUID')
    return [text.lower()]


def atom_from_string(base: BaseType, text: str, symtab=None):
    """One atom from a whole argument (e.g. the VALUE of COLUMN:KEY=VALUE)."""
    return _atoms(base, text, symtab, False)[0]


def datum_from_string(t: Type, s: str, symtab=None):
    """A datum from text: tokens separated by commas or spaces, optionally in
    [] (a set) or {} (a map); map elements are KEY=VALUE."""
    n = len(s)
    p = 0
    while p < n and s[p].isspace():
        p += 1
    end_delim = None
    if p < n and s[p] == ("{" if t.value is not None else "["):
        end_delim = "}" if t.value is not None else "]"
        p += 1
    keys: list = []
    pairs: dict = {}
    count = 0

    def atom_token(base: BaseType, allow_range: bool) -> list:
        nonlocal p
        if p < n and s[p] in DELIMS:
            raise VsctlError(f'{s}: unexpected "{s[p]}" parsing {_english(t)}')
        p, text = token(s, p)
        return _atoms(base, text, symtab, allow_range)

    while True:
        while p < n and s[p].isspace():
            p += 1
        if p >= n or s[p] == end_delim:
            break
        atoms = atom_token(t.key, t.key.type is AtomicType.INTEGER and t.value is None)
        if t.value is not None:
            while p < n and s[p].isspace():
                p += 1
            if p >= n or s[p] != "=":
                raise VsctlError(f'{s}: syntax error at "' + (f'{s[p]}"' if p < n else ""))
            p += 1
            value = atom_token(t.value, False)[0]
            if atoms[0] in pairs:
                raise VsctlError(f"{s}: map contains duplicate key")
            pairs[atoms[0]] = value
            count += 1
        else:
            for a in atoms:
                if a in keys:
                    raise VsctlError(f"{s}: set contains duplicate value")
                keys.append(a)
            count += len(atoms)
        while p < n and s[p].isspace():
            p += 1
        if p < n and s[p] == ",":
            p += 1
    if end_delim is not None:
        if p >= n or s[p] != end_delim:
            raise VsctlError(f'{s}: missing "{end_delim}" at end of data')
        p += 1
        if p < n:
            raise VsctlError(f'{s}: trailing garbage after "{end_delim}"')
    if count > t.n_max:
        raise VsctlError(f"{s}: {count} value(s) specified but the maximum number is {t.n_max}")
    if count < t.n_min:
        raise VsctlError(f"{s}: {count} value(s) specified but the minimum number is {t.n_min}")
    if t.value is not None:
        return tuple(sorted(pairs.items()))
    if t.is_scalar:
        return keys[0]
    return tuple(sorted(keys))


# --- printing ---

def atom_to_string(base: BaseType, atom) -> str:
    return _atom_to_string(atom, base.type)


def datum_to_string(t: Type, value) -> str:
    return t.datum_to_string(value)
