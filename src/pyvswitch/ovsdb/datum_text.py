"""OVSDB values in OVS's text syntax: what ovs-vsctl and ovsdb-client print
and what ovs-vsctl reads (ovs-vsctl(8), "Database Values").

Printing ("string" format): integers in decimal, reals with 15 significant
digits, booleans as true/false, uuids as their text; a string is written bare
when it starts with a letter or underscore, holds only letters, digits,
underscores, hyphens and periods, and is not "true", "false" or a uuid;
otherwise it is a quoted JSON string.  A set is `[a, b]`, a map `{k=v, k2=w}`;
a column of at most one value prints that value bare (or `[]`/`{}` empty).
The "bare" format drops brackets and quotes: `a b`, `k=v k2=w`.

Reading: a datum is a sequence of atoms (maps: key=value pairs) separated by
white space or one comma, optionally enclosed in `[]` (sets) or `{}` (maps).
A token ends at white space or one of `,=:[]{}` unless quoted; a token that
starts with `"` is a JSON string.  Integers in a set may be written as
inclusive ranges `1-5`; booleans as true/yes/on/1 or false/no/off/0; uuids as
text or `@name` (a name from the caller's symbol table).  Every atom is then
checked against its column's constraints, and the datum against the
column's element counts, with ovs-vsctl's words for each error.

Values are the engine's (pyvswitch.ovsdb.types): atoms are int, float, bool,
str; a set is a sorted tuple; a map a tuple of (key, value) pairs sorted by
key; a scalar column holds its bare atom.
"""

from __future__ import annotations

import math

from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.lean_json import loads as _json_loads
from pyvswitch.ovsdb.types import AtomicType, BaseType, Type, atom_to_string, is_uuid

TYPE_CHECKING = False   # importing typing costs every ovs-vsctl call milliseconds
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DatumTextError", "atom_to_string", "datum_to_string", "datum_to_bare",
           "atom_from_string", "datum_from_string", "to_string", "from_string"]

MAX_RANGE = 4096

_DELIMITERS = frozenset(",=:[]{}")
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_ESCAPES = frozenset('"\\/bfnrtu')
_HEX = frozenset("0123456789abcdefABCDEF")


# The syntax checks are written out: importing re costs every tool start milliseconds.

def _digits(s: str) -> bool:
    """[0-9]+"""
    return s.isascii() and s.isdigit()


def _is_integer(s: str) -> bool:
    """[+-]?[0-9]+"""
    return _digits(s[1:] if s.startswith(("+", "-")) else s)


def _is_real(s: str) -> bool:
    """[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?"""
    if s.startswith(("+", "-")):
        s = s[1:]
    e = max(s.find("e"), s.find("E"))
    if e >= 0:
        exp = s[e + 1:]
        if not _is_integer(exp):
            return False
        s = s[:e]
    whole, dot, frac = s.partition(".")
    if frac and not _digits(frac) or whole and not _digits(whole):
        return False
    return bool(whole or (dot and frac))


class DatumTextError(ValueError):
    """Text that is not a valid value of its column; str() is OVS's message."""


# --- printing ---

def datum_to_string(t: Type, value: Any) -> str:
    """The "string" format of a value of type t."""
    return t.datum_to_string(value)


def _bare_atom(atom: Any, atype: AtomicType) -> str:
    if atype is AtomicType.STRING or atype is AtomicType.UUID:
        return atom
    return atom_to_string(atom, atype)


def datum_to_bare(t: Type, value: Any) -> str:
    """The "bare" format: atoms separated by spaces, map pairs as k=v, no quotes."""
    kt = t.key.type
    if t.value is not None:
        vt = t.value.type
        return " ".join(f"{_bare_atom(k, kt)}={_bare_atom(v, vt)}" for k, v in value)
    atoms = value if type(value) is tuple else (value,)
    return " ".join(_bare_atom(a, kt) for a in atoms)


# --- reading ---

def _token_end(s: str, pos: int) -> int:
    """Where the token starting at pos ends (quotes protect delimiters)."""
    n = len(s)
    in_quote = False
    while pos < n:
        c = s[pos]
        if in_quote:
            if c == "\\":
                pos += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c in _DELIMITERS or c.isspace():
            break
        pos += 1
    if in_quote:
        return -1
    return pos


def _unquote(token: str) -> str:
    if len(token) < 2 or not token.endswith('"'):
        raise DatumTextError(f"{token}: missing quote at end of quoted string")
    body = token[1:-1]
    i = body.find("\\")
    while i >= 0:
        c = body[i + 1:i + 2]
        if c not in _ESCAPES or (c == "u" and not (len(body) >= i + 6 and _HEX.issuperset(body[i + 2:i + 6]))):
            raise DatumTextError(f"{token}: bad escape \\{c}")
        i = body.find("\\", i + 2)
    try:
        return _json_loads(token)
    except ValueError:
        raise DatumTextError(f"{token}: missing quote at end of quoted string") from None


def atom_from_string(base: BaseType, token: str, symtab: dict | None = None) -> Any:
    """Parses one atom written as token and checks base's constraints."""
    t = base.type
    if t is AtomicType.INTEGER:
        if not _is_integer(token) or not _INT64_MIN <= int(token) <= _INT64_MAX:
            raise DatumTextError(f'"{token}" is not a valid integer or range')
        atom: Any = int(token)
    elif t is AtomicType.REAL:
        if not _is_real(token) or math.isinf(float(token)):
            raise DatumTextError(f'"{token}" is not a valid real number')
        atom = float(token)
    elif t is AtomicType.BOOLEAN:
        if token not in _BOOLEANS:
            raise DatumTextError(f'"{token}" is not a valid boolean (use "true" or "false")')
        atom = _BOOLEANS[token]
    elif t is AtomicType.STRING:
        if not token:
            raise DatumTextError('An empty string is not valid as input; use "" to represent the empty string')
        atom = _unquote(token) if token.startswith('"') else token
    else:
        if token.startswith("@") and symtab is not None and token in symtab:
            atom = symtab[token]
        elif is_uuid(token):
            atom = token.lower()
        else:
            raise DatumTextError(f'"{token}" is not a valid UUID')
    try:
        base.check_atom(atom)
    except OvsdbError as e:
        raise DatumTextError(f"{e.error}: {e.details}") from None
    return atom


def _atoms(base: BaseType, token: str, symtab, allow_range: bool) -> list:
    if allow_range and base.type is AtomicType.INTEGER and "-" in token[1:]:
        i = token.index("-", 1)
        lo_s, hi_s = token[:i], token[i + 1:]
        if _is_integer(lo_s) and _is_integer(hi_s):
            lo = atom_from_string(base, lo_s, symtab)
            hi = atom_from_string(base, hi_s, symtab)
            if hi < lo:
                raise DatumTextError(f'"{token}" is not a valid range. Range end cannot be before start.')
            if hi - lo >= MAX_RANGE:
                raise DatumTextError(f'"{token}" is not a valid range. Range size cannot exceed {MAX_RANGE}.')
            return list(range(lo, hi + 1))
    return [atom_from_string(base, token, symtab)]


def datum_from_string(t: Type, s: str, symtab: dict | None = None) -> Any:
    """Parses s as a value of type t (see module doc); raises DatumTextError."""
    is_map = t.value is not None
    n = len(s)
    pos = _skip_ws(s, 0)
    end_char = None
    if pos < n and s[pos] == ("{" if is_map else "["):
        end_char = "}" if is_map else "]"
        pos += 1
    keys: list = []
    values: list = []
    allow_range = not is_map
    while True:
        pos = _skip_ws(s, pos)
        if pos >= n:
            if end_char is not None:
                raise DatumTextError(f'{s}: missing "{end_char}" at end of data')
            break
        if s[pos] == end_char:
            pos += 1
            break
        if keys and s[pos] == ",":
            pos = _skip_ws(s, pos + 1)
            if pos >= n or s[pos] == end_char:
                continue
        key, pos = _token(t, s, pos)
        if is_map:
            keys.extend(_atoms(t.key, key, symtab, False))
            pos = _skip_ws(s, pos)
            if pos >= n or s[pos] != "=":
                # OVS formats the offending character with %c: at the end of
                # the text that is a NUL, which ends the message.
                at = s[pos] + '" expecting "="' if pos < n else ""
                raise DatumTextError(f'{s}: syntax error at "{at}')
            value, pos = _token(t, s, _skip_ws(s, pos + 1))
            values.extend(_atoms(t.value, value, symtab, False))
        else:
            keys.extend(_atoms(t.key, key, symtab, allow_range))
    pos = _skip_ws(s, pos)
    if pos < n:
        raise DatumTextError(f'{s}: unexpected "{s[pos]}" parsing {t.to_english()}')
    # Counts are checked before duplicates, on the values as written.
    if len(keys) < t.n_min:
        raise DatumTextError(f"{s}: {len(keys)} value(s) specified but the minimum number is {t.n_min}")
    if len(keys) > t.n_max:
        raise DatumTextError(f"{s}: {len(keys)} value(s) specified but the maximum number is {t.n_max}")
    if is_map:
        datum: Any = tuple(sorted(zip(keys, values)))
        if len(set(keys)) != len(keys):
            raise DatumTextError(f"{s}: map contains duplicate key")
    else:
        datum = tuple(sorted(keys))
        if len(set(keys)) != len(keys):
            raise DatumTextError(f"{s}: set contains duplicate value")
    if t.is_scalar:
        return datum[0]
    return datum


def _skip_ws(s: str, pos: int) -> int:
    n = len(s)
    while pos < n and s[pos].isspace():
        pos += 1
    return pos


def _token(t: Type, s: str, pos: int) -> tuple[str, int]:
    end = _token_end(s, pos)
    if end < 0:
        raise DatumTextError(f"{s[pos:]}: quoted string extends past end of argument")
    if end == pos and pos < len(s):
        raise DatumTextError(f'{s}: unexpected "{s[pos]}" parsing {t.to_english()}')
    return s[pos:end], end


# Short names: datum_text.to_string(type, value), datum_text.from_string(type, text).
to_string = datum_to_string
from_string = datum_from_string
