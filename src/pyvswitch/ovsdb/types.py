"""OVSDB column types and the values ("datums") they hold (RFC 7047 3.2).

A column type is a key `BaseType`, an optional value `BaseType` (then it is a
map), and bounds `n_min` (0 or 1) and `n_max` (>= 1, `math.inf` for
"unlimited").  A base type is an atomic type plus optional constraints: an
enum, an integer or real range, string lengths, or a reference to a table.

Values inside the engine are plain immutable Python values, so that rows can
be compared, hashed and shared without copying:

- atoms: `int`, `float`, `bool`, `str`; a uuid is a `str` holding the
  canonical lowercase 36-character text.
- a scalar column (n_min = n_max = 1, no value type) holds the bare atom;
- any other set holds a `tuple` of unique atoms sorted ascending;
- a map holds a `tuple` of `(key, value)` pairs sorted by unique key.

`Type.datum_from_json` parses and validates an RFC 7047 <value> exactly as
ovsdb-server does, with its error tags and wording; `Type.datum_to_json` is
the inverse, in ovsdb-server's output form (a one-element set is written as
its bare atom).  Canonical uuid text sorts like the 128-bit number, so sorting
the strings matches ovsdb-server's order.
"""

from __future__ import annotations

import math
import posix   # not os: a tool's first import of os costs it ~1 ms (pyvswitch.dirs)
from bisect import bisect_left

from pyvswitch.ovsdb.errors import OvsdbError, json_text

TYPE_CHECKING = False   # importing typing costs every ovs-vsctl call milliseconds
if TYPE_CHECKING:
    from typing import Any

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
DBL_MAX = 1.7976931348623157e308
UINT_MAX = (1 << 32) - 1

# Checked without regular expressions: importing re costs every tool start milliseconds.
_HEX_OR_DASH = frozenset("0123456789abcdefABCDEF-")

_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def new_uuid() -> str:
    """A random (version 4) uuid's text.

    The bits come from the OS (as uuid.uuid4's do): nobody's random.seed()
    can make them repeat, a forked child (a restarted daemon) needs no
    reseeding, and a tool that makes one uuid does not import random, which
    costs its start 2 ms; the price, half a microsecond a uuid, is nothing
    beside the row each one names."""
    h = "%032x" % (int.from_bytes(posix.urandom(16), "big") & _VERSION_MASK | _VERSION_BITS)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid_text(s: str) -> bool:
    """s is 8-4-4-4-12 hexadecimal digits."""
    return (len(s) == 36 and s[8] == s[13] == s[18] == s[23] == "-" and _HEX_OR_DASH.issuperset(s)
            and s.count("-") == 4)


def is_uuid(s: Any) -> bool:
    return isinstance(s, str) and _uuid_text(s)


def is_id(s: Any) -> bool:
    """An RFC 7047 <id>: letters, digits and underscores, not starting with a digit."""
    return (isinstance(s, str) and s.isascii() and s != "" and not s[0].isdigit()
            and s.replace("_", "a").isalnum())


class AtomicType(str):
    """An RFC 7047 <atomic-type>: one of the five constants below, compared
    by identity; each is the str of its name ("integer", ...).  It behaves as
    the str-valued enum.Enum it stands for (value, name, str, repr, lookup
    by value), without importing enum, which costs every tool start
    milliseconds."""

    __slots__ = ()
    INTEGER: AtomicType
    REAL: AtomicType
    BOOLEAN: AtomicType
    STRING: AtomicType
    UUID: AtomicType

    def __new__(cls, value: str) -> AtomicType:
        t = _ATOMIC_BY_NAME.get(value) if isinstance(value, str) else None
        if t is None:
            raise ValueError(f"{value!r} is not a valid AtomicType")
        return t

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.upper()

    def __repr__(self) -> str:
        return f"<AtomicType.{self.name}: {str.__repr__(self)}>"

    def __str__(self) -> str:
        return f"AtomicType.{self.name}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


_ATOMIC_BY_NAME = {}
for _name in ("integer", "real", "boolean", "string", "uuid"):
    _ATOMIC_BY_NAME[_name] = str.__new__(AtomicType, _name)
    setattr(AtomicType, _name.upper(), _ATOMIC_BY_NAME[_name])
del _name
_PY_TYPE = {AtomicType.INTEGER: int, AtomicType.REAL: float, AtomicType.BOOLEAN: bool,
            AtomicType.STRING: str}
_DEFAULT_ATOM = {AtomicType.INTEGER: 0, AtomicType.REAL: 0.0, AtomicType.BOOLEAN: False,
                 AtomicType.STRING: "", AtomicType.UUID: ZERO_UUID}


def syntax_error(j: Any, details: str, tag: str = "syntax error") -> OvsdbError:
    return OvsdbError(tag, details, json_text(j))


def _jtype(j: Any) -> str:
    """The JSON type name OVS uses in messages."""
    if j is None:
        return "null"
    if j is True or j is False:
        return "boolean"
    if isinstance(j, int):
        return "integer"
    if isinstance(j, float):
        return "real"
    if isinstance(j, str):
        return "string"
    if isinstance(j, list):
        return "array"
    return "object"


def unwrap_json(j: Any, name: str, value_type: str | None) -> Any:
    """Checks j is [name, <value_type>] and returns the second element."""
    if type(j) is list and len(j) == 2 and j[0] == name:
        v = j[1]
        if value_type is None or (value_type == "array" and type(v) is list) or _jtype(v) == value_type:
            return v
    raise syntax_error(j, f'expected ["{name}", <{value_type or "null"}>]')


# --- text rendering for error messages (the ovsdb-client / ovs-vsctl syntax) ---

def _string_needs_quotes(s: str) -> bool:
    if not s or not (s[0].isascii() and (s[0].isalpha() or s[0] == "_")):
        return True
    for c in s[1:]:
        if not (c.isascii() and (c.isalnum() or c in "_-.")):
            return True
    return s in ("true", "false") or is_uuid(s)


def atom_to_string(atom: Any, atype: AtomicType) -> str:
    if atype is AtomicType.STRING:
        return json_text(atom) if _string_needs_quotes(atom) else atom
    if atype is AtomicType.BOOLEAN:
        return "true" if atom else "false"
    if atype is AtomicType.REAL:
        return format_real(atom)
    return str(atom)


def format_real(x: float) -> str:
    return "%.15g" % x


# --- base types ---

class Frozen:
    """Value semantics for immutable schema classes, as a frozen dataclass gives.

    Written out rather than generated by @dataclass because every ovs-vsctl
    call imports this module, and the dataclasses machinery (with inspect)
    costs more at startup than the rest of a call.  `_fields` are the
    constructor's arguments in order; they define repr, equality and hash.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _key(self) -> tuple:
        return tuple([getattr(self, f) for f in self._fields])

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields) + ")"

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field '{name}'")

    def __reduce__(self):
        return type(self), self._key()


_set = object.__setattr__


class BaseType(Frozen):
    __slots__ = ("type", "enum", "min_integer", "max_integer", "min_real", "max_real", "min_length",
                 "max_length", "ref_table", "ref_type", "constrained")
    _fields = __slots__[:-1]
    type: AtomicType
    enum: tuple | None
    min_integer: int
    max_integer: int
    min_real: float
    max_real: float
    min_length: int
    max_length: int
    ref_table: str | None
    ref_type: str
    # Whether atoms need `check_atom` (an enum, a range or a length limit).
    constrained: bool

    def __init__(self, type: AtomicType, enum: tuple | None = None, min_integer: int = INT64_MIN,
                 max_integer: int = INT64_MAX, min_real: float = -DBL_MAX, max_real: float = DBL_MAX,
                 min_length: int = 0, max_length: int = UINT_MAX, ref_table: str | None = None,
                 ref_type: str = "strong") -> None:
        _set(self, "type", type)
        _set(self, "enum", enum)
        _set(self, "min_integer", min_integer)
        _set(self, "max_integer", max_integer)
        _set(self, "min_real", min_real)
        _set(self, "max_real", max_real)
        _set(self, "min_length", min_length)
        _set(self, "max_length", max_length)
        _set(self, "ref_table", ref_table)
        _set(self, "ref_type", ref_type)
        _set(self, "constrained", enum is not None or min_integer != INT64_MIN or max_integer != INT64_MAX
             or min_real != -DBL_MAX or max_real != DBL_MAX or min_length != 0 or max_length != UINT_MAX)

    def _key(self) -> tuple:   # spelled out: types are dictionary keys on hot paths
        return (self.type, self.enum, self.min_integer, self.max_integer, self.min_real, self.max_real,
                self.min_length, self.max_length, self.ref_table, self.ref_type)

    @property
    def is_strong_ref(self) -> bool:
        return self.ref_table is not None and self.ref_type == "strong"

    @property
    def is_weak_ref(self) -> bool:
        return self.ref_table is not None and self.ref_type == "weak"

    @property
    def has_constraints(self) -> bool:
        return (self.enum is not None or self.min_integer != INT64_MIN or self.max_integer != INT64_MAX
                or self.min_real != -DBL_MAX or self.max_real != DBL_MAX or self.min_length != 0
                or self.max_length != UINT_MAX or self.ref_table is not None)

    @staticmethod
    def from_json(j: Any) -> "BaseType":
        if isinstance(j, str):
            return BaseType(_atomic_from_json(j))
        if not isinstance(j, dict):
            raise syntax_error(j, "ovsdb type expected")
        p = Parser(j, "ovsdb type")
        t = _atomic_from_json(p.member("type", "string"))
        kw: dict[str, Any] = {}
        enum_j = p.member("enum", "any", optional=True)
        if enum_j is not None:
            enum_type = Type(BaseType(t), None, 1, math.inf)
            kw["enum"] = _as_tuple(enum_type.datum_from_json(enum_j))
        elif t is AtomicType.INTEGER:
            lo = p.member("minInteger", "integer", optional=True)
            hi = p.member("maxInteger", "integer", optional=True)
            kw["min_integer"] = INT64_MIN if lo is None else lo
            kw["max_integer"] = INT64_MAX if hi is None else hi
            if kw["min_integer"] > kw["max_integer"]:
                raise syntax_error(j, "minInteger exceeds maxInteger")
        elif t is AtomicType.REAL:
            lo = p.member("minReal", "number", optional=True)
            hi = p.member("maxReal", "number", optional=True)
            kw["min_real"] = -DBL_MAX if lo is None else float(lo)
            kw["max_real"] = DBL_MAX if hi is None else float(hi)
            if kw["min_real"] > kw["max_real"]:
                raise syntax_error(j, "minReal exceeds maxReal")
        elif t is AtomicType.STRING:
            for name, attr, dflt in (("minLength", "min_length", 0), ("maxLength", "max_length", UINT_MAX)):
                v = p.member(name, "integer", optional=True)
                if v is None:
                    v = dflt
                elif not 0 <= v <= UINT_MAX:
                    raise syntax_error(j, f"{name} out of valid range 0 to {UINT_MAX}")
                kw[attr] = v
            if kw["min_length"] > kw["max_length"]:
                raise syntax_error(j, "minLength exceeds maxLength")
        elif t is AtomicType.UUID:
            ref_table = p.member("refTable", "id", optional=True)
            if ref_table is not None:
                kw["ref_table"] = ref_table
                ref_type = p.member("refType", "id", optional=True)
                if ref_type is not None:
                    if ref_type not in ("strong", "weak"):
                        raise syntax_error(j, f'refType must be "strong" or "weak" (not "{ref_type}")')
                    kw["ref_type"] = ref_type
        p.finish()
        return BaseType(t, **kw)

    def to_json(self) -> Any:
        if not self.has_constraints:
            return self.type.value
        j: dict[str, Any] = {"type": self.type.value}
        if self.enum is not None:
            j["enum"] = Type(BaseType(self.type), None, 1, math.inf).datum_to_json(self.enum)
        if self.min_integer != INT64_MIN:
            j["minInteger"] = self.min_integer
        if self.max_integer != INT64_MAX:
            j["maxInteger"] = self.max_integer
        if self.min_real != -DBL_MAX:
            j["minReal"] = self.min_real
        if self.max_real != DBL_MAX:
            j["maxReal"] = self.max_real
        if self.min_length != 0:
            j["minLength"] = self.min_length
        if self.max_length != UINT_MAX:
            j["maxLength"] = self.max_length
        if self.ref_table is not None:
            j["refTable"] = self.ref_table
            if self.ref_type == "weak":
                j["refType"] = "weak"
        return j

    def default(self) -> Any:
        return _DEFAULT_ATOM[self.type]

    def atom_from_json(self, j: Any, symtab: dict | None = None) -> Any:
        """Parses one <atom> and checks this base type's constraints."""
        t = self.type
        if t is AtomicType.UUID:
            return parse_uuid(j, symtab)
        if type(j) is not _PY_TYPE[t]:
            if t is AtomicType.REAL and type(j) is int:
                j = float(j)
            else:
                raise syntax_error(j, f"expected {t.value}")
        elif t is AtomicType.INTEGER and not INT64_MIN <= j <= INT64_MAX:
            # ovsdb-server's JSON parser reads such a number as a real.
            raise syntax_error(float(j), "expected integer")
        elif t is AtomicType.STRING and not j.isascii():
            try:
                j.encode()
            except UnicodeEncodeError:
                # A lone surrogate from a \u escape: it could never be written out.
                raise OvsdbError("syntax error", "not a valid UTF-8 string: invalid UTF-16 surrogate") from None
        if self.constrained:
            self.check_atom(j)
        return j

    def check_atom(self, atom: Any) -> None:
        """Raises the "constraint violation" ovsdb-server reports for an out-of-bounds atom."""
        t = self.type
        if self.enum is not None:
            if atom not in self.enum:
                allowed = ", ".join(atom_to_string(a, t) for a in self.enum)
                raise OvsdbError("constraint violation",
                                 f"{atom_to_string(atom, t)} is not one of the allowed values ([{allowed}])")
        elif t is AtomicType.INTEGER:
            lo, hi = self.min_integer, self.max_integer
            if atom < lo or atom > hi:
                raise OvsdbError("constraint violation", _range_message(atom, lo, hi, INT64_MIN, INT64_MAX, str))
        elif t is AtomicType.REAL:
            lo, hi = self.min_real, self.max_real
            if atom < lo or atom > hi:
                raise OvsdbError("constraint violation",
                                 _range_message(atom, lo, hi, -DBL_MAX, DBL_MAX, format_real))
        elif t is AtomicType.STRING:
            n = len(atom)  # characters, not bytes, as ovsdb-server counts them
            if n < self.min_length or n > self.max_length:
                if n < self.min_length:
                    raise OvsdbError("constraint violation", f"{json_text(atom)} length {n} is less than "
                                     f"minimum allowed length {self.min_length}")
                if n > self.max_length:
                    raise OvsdbError("constraint violation", f"{json_text(atom)} length {n} is greater than "
                                     f"maximum allowed length {self.max_length}")


def _range_message(x, lo, hi, floor, ceil, fmt) -> str:
    if lo != floor and hi != ceil:
        return f"{fmt(x)} is not in the valid range {fmt(lo)} to {fmt(hi)} (inclusive)"
    if lo != floor:
        return f"{fmt(x)} is less than minimum allowed value {fmt(lo)}"
    return f"{fmt(x)} is greater than maximum allowed value {fmt(hi)}"


def parse_uuid(j: Any, symtab: dict | None) -> str:
    """An RFC 7047 <uuid>, or with a symbol table a <named-uuid>."""
    if type(j) is list and len(j) == 2:
        tag, s = j
        if tag == "uuid" and type(s) is str:
            if not _uuid_text(s):
                raise syntax_error(j, f'"{s}" is not a valid UUID')
            return s.lower()
        if symtab is not None and tag == "named-uuid" and type(s) is str:
            u = symtab.get(s)
            if u is None:
                u = symtab[s] = new_uuid()
            return u
    raise syntax_error(j, 'expected ["uuid", <string>]')


def _atomic_from_json(j: Any) -> AtomicType:
    if not isinstance(j, str):
        raise syntax_error(j, "atomic-type expected")
    t = _ATOMIC_BY_NAME.get(j)
    if t is None:
        raise syntax_error(j, f'"{j}" is not an atomic-type')
    return t


def _as_tuple(v: Any) -> tuple:
    return v if isinstance(v, tuple) else (v,)


# --- column types ---

SCALAR, SET, MAP = 0, 1, 2

class Type(Frozen):
    __slots__ = ("key", "value", "n_min", "n_max", "kind")
    _fields = __slots__[:-1]
    key: BaseType
    value: BaseType | None
    n_min: int
    n_max: int | float
    # Precomputed: SCALAR, SET or MAP (hot paths test it instead of the properties).
    kind: int

    def __init__(self, key: BaseType, value: BaseType | None = None, n_min: int = 1,
                 n_max: int | float = 1) -> None:
        _set(self, "key", key)
        _set(self, "value", value)
        _set(self, "n_min", n_min)
        _set(self, "n_max", n_max)
        _set(self, "kind", MAP if value is not None else SCALAR if n_min == 1 and n_max == 1 else SET)

    def _key(self) -> tuple:
        return (self.key, self.value, self.n_min, self.n_max)

    @property
    def is_scalar(self) -> bool:
        return self.kind == SCALAR

    @property
    def is_map(self) -> bool:
        return self.kind == MAP

    @property
    def is_set(self) -> bool:
        return self.kind == SET

    @property
    def is_optional(self) -> bool:
        return self.n_min == 0 and self.n_max == 1

    @staticmethod
    def from_json(j: Any) -> "Type":
        if isinstance(j, str):
            return Type(BaseType.from_json(j))
        if not isinstance(j, dict):
            raise syntax_error(j, "ovsdb type expected")
        p = Parser(j, "ovsdb type")
        key_j = p.member("key", ("string", "object"))
        value_j = p.member("value", ("string", "object"), optional=True)
        min_j = p.member("min", "integer", optional=True)
        max_j = p.member("max", ("integer", "string"), optional=True)
        p.finish()
        key = BaseType.from_json(key_j)
        value = None if value_j is None else BaseType.from_json(value_j)
        n_min = _n_from_json(min_j, 1)
        if max_j == "unlimited":
            n_max: int | float = math.inf
        else:
            n_max = _n_from_json(max_j, 1)
        if not (n_min <= 1 and n_max >= 1 and n_min <= n_max):
            raise syntax_error(j, "ovsdb type fails constraint checks")
        return Type(key, value, n_min, n_max)

    def to_json(self) -> Any:
        if self.is_scalar and not self.key.has_constraints:
            return self.key.type.value
        j: dict[str, Any] = {"key": self.key.to_json()}
        if self.value is not None:
            j["value"] = self.value.to_json()
        if self.n_min != 1:
            j["min"] = self.n_min
        if self.n_max != 1:
            j["max"] = "unlimited" if self.n_max == math.inf else self.n_max
        return j

    def default(self) -> Any:
        if self.is_scalar:
            return self.key.default()
        if self.n_min == 0:
            return ()
        if self.value is None:
            return (self.key.default(),)
        return ((self.key.default(), self.value.default()),)

    def datum_from_json(self, j: Any, symtab: dict | None = None) -> Any:
        """Parses an RFC 7047 <value> of this type (see the module docstring)."""
        key = self.key
        kind = self.kind
        if kind != MAP:
            if type(j) is not list or not j or j[0] != "set":
                atom = key.atom_from_json(j, symtab)
                return atom if kind == SCALAR else (atom,)
            inner = unwrap_json(j, "set", "array")
            n = len(inner)
            if n < self.n_min or n > self.n_max:
                raise syntax_error(j, self._count_message("set", n))
            if n == 1:
                atom = key.atom_from_json(inner[0], symtab)
                return atom if kind == SCALAR else (atom,)
            atoms = sorted({key.atom_from_json(e, symtab) for e in inner})
            if len(atoms) != n:
                raise OvsdbError("ovsdb error", "set contains duplicate")
            return tuple(atoms)
        inner = unwrap_json(j, "map", "array")
        n = len(inner)
        if n < self.n_min or n > self.n_max:
            raise syntax_error(j, self._count_message("map", n))
        value = self.value
        pairs = {}
        for e in inner:
            if type(e) is not list or len(e) != 2:
                raise syntax_error(e, "expected 2-element array")
            k = key.atom_from_json(e[0], symtab)  # the key first, as ovsdb-server checks it
            pairs[k] = value.atom_from_json(e[1], symtab)
        if len(pairs) != n:
            raise OvsdbError("ovsdb error", "map contains duplicate key")
        if n == 1:
            return tuple(pairs.items())
        return tuple(sorted(pairs.items()))

    def with_bounds(self, n_min: int, n_max: int | float, keys_only: bool = False) -> "Type":
        """This type with other size bounds (and without its value type if keys_only); cached."""
        k = (id(self), n_min, n_max, keys_only)
        v = _VARIANTS.get(k)
        if v is None or v[0] is not self:
            v = _VARIANTS[k] = (self, Type(self.key, None if keys_only else self.value, n_min, n_max))
        return v[1]

    def _count_message(self, cls: str, n: int) -> str:
        if self.n_min == 1 and self.n_max == 1:
            return f"{cls} must have exactly one member but {n} are present"
        hi = UINT_MAX if self.n_max == math.inf else self.n_max
        return f"{cls} must have {self.n_min} to {hi} members but {n} are present"

    def datum_to_json(self, value: Any) -> Any:
        """The RFC 7047 <value> for a datum, as ovsdb-server writes it."""
        kt = self.key.type
        if self.value is not None:
            vt = self.value.type
            if kt is AtomicType.UUID or vt is AtomicType.UUID:
                return ["map", [[atom_to_json(k, kt), atom_to_json(v, vt)] for k, v in value]]
            return ["map", [list(p) for p in value]]
        if type(value) is not tuple:
            return ["uuid", value] if kt is AtomicType.UUID else value
        if len(value) == 1:
            v = value[0]
            return ["uuid", v] if kt is AtomicType.UUID else v
        if kt is AtomicType.UUID:
            return ["set", [["uuid", v] for v in value]]
        return ["set", list(value)]

    def json_converter(self):
        """`datum_to_json` specialized for this type, or None where it is the identity
        (scalars other than uuids); cached.  For the hot loops of select and dump."""
        k = id(self)
        v = _CONVERTERS.get(k)
        if v is None or v[0] is not self:
            v = _CONVERTERS[k] = (self, self._make_converter())
        return v[1]

    def _make_converter(self):
        kt = self.key.type
        if self.kind == SCALAR:
            if kt is AtomicType.UUID:
                return lambda v: ["uuid", v]
            return None
        if self.kind == SET:
            if kt is AtomicType.UUID:
                return lambda v: ["uuid", v[0]] if len(v) == 1 else ["set", [["uuid", a] for a in v]]
            return lambda v: v[0] if len(v) == 1 else ["set", list(v)]
        return self.datum_to_json

    def datum_to_string(self, value: Any) -> str:
        """The datum in OVS's text syntax (as in ovs-vsctl and error messages)."""
        kt = self.key.type
        if self.value is not None:
            vt = self.value.type
            body = ", ".join(f"{atom_to_string(k, kt)}={atom_to_string(v, vt)}" for k, v in value)
        else:
            atoms = value if type(value) is tuple else (value,)
            body = ", ".join(atom_to_string(a, kt) for a in atoms)
            if self.n_max == 1 and atoms:
                return body
        if self.n_max > 1 or not value:
            return ("{%s}" if self.value is not None else "[%s]") % body
        return body

    def check_datum(self, value: Any) -> None:
        """Checks every atom of a datum against the base types' constraints."""
        if self.value is not None:
            for k, v in value:
                self.key.check_atom(k)
                self.value.check_atom(v)
        elif type(value) is tuple:
            for a in value:
                self.key.check_atom(a)
        else:
            self.key.check_atom(value)

    def diff(self, old: Any, new: Any, keys: set | None = None) -> Any:
        """The update2 "modify" difference from old to new.

        For a column holding at most one value or pair, the new value itself;
        for a set, the atoms added or removed; for a map, the pairs whose key
        was removed (with the old value) and the pairs added or changed (with
        the new value).  `keys`, if known, are the only keys (map) or atoms
        (set) at which old and new may differ: each is looked up by bisection.
        """
        if self.n_max == 1:
            return new
        if keys is not None:
            return _diff_at(old, new, keys, self.value is not None)
        out: list = []
        _diff_sorted(old, new, self.value is not None, out)
        return tuple(out)

    def apply_diff(self, old: Any, diff: Any) -> Any:
        """The inverse of `diff`: old plus a difference gives the new value."""
        if self.n_max == 1:
            return diff
        if self.value is None:
            return tuple(sorted(set(old).symmetric_difference(diff)))
        d = dict(old)
        for k, v in diff:
            if d.get(k, _MISSING) == v:
                del d[k]
            else:
                d[k] = v
        return tuple(sorted(d.items()))

    def to_english(self) -> str:
        """The type in words, as ovsdb-server's error messages put it."""
        key = self.key.type.value
        if self.is_scalar:
            return key
        s = "set" if self.value is None else "map"
        if self.n_max == math.inf:
            s += f" of {self.n_min} or more" if self.n_min else " of"
        elif self.n_min:
            s += f" of {self.n_min} to {self.n_max}"
        else:
            s += f" of up to {self.n_max}"
        if self.value is None:
            return f"{s} {key}s"
        return f"{s} ({key}, {self.value.type.value}) pairs"

    def refs(self, value: Any, weak: bool | None = None):
        """The uuids a datum references (strong, weak, or either when weak is None)."""
        out = []
        key, val = self.key, self.value
        kref = key.ref_table is not None and (weak is None or key.is_weak_ref == weak)
        vref = val is not None and val.ref_table is not None and (weak is None or val.is_weak_ref == weak)
        if val is not None:
            for k, v in value:
                if kref:
                    out.append((key.ref_table, k))
                if vref:
                    out.append((val.ref_table, v))
        elif kref:
            for a in (value if type(value) is tuple else (value,)):
                out.append((key.ref_table, a))
        return out


def _diff_at(old: tuple, new: tuple, keys: set, is_map: bool) -> tuple:
    """`Type.diff` of two sorted sets or maps that can differ only at keys."""
    out = []
    if not is_map:
        for a in sorted(keys):
            i = bisect_left(old, a)
            j = bisect_left(new, a)
            if (i < len(old) and old[i] == a) != (j < len(new) and new[j] == a):
                out.append(a)
        return tuple(out)
    no, nn = len(old), len(new)
    for k in sorted(keys):
        probe = (k,)
        i = bisect_left(old, probe)
        j = bisect_left(new, probe)
        op = old[i] if i < no and old[i][0] == k else None
        np = new[j] if j < nn and new[j][0] == k else None
        if np is None:
            if op is not None:
                out.append(op)          # removed: with the old value
        elif op is None or op[1] != np[1]:
            out.append(np)              # added or changed: with the new value
    return tuple(out)


def _diff_sorted(old: tuple, new: tuple, is_map: bool, out: list) -> None:
    """Appends the `Type.diff` of two sorted sets or maps to out, in order.

    A large value usually changes in a few places, so this splits both values
    at the middle of old (by key, found in new by bisection) and skips halves
    that are equal, which tuple comparison checks at C speed (mostly by
    identity, the unchanged atoms and pairs being the same objects): the cost
    follows the number of changes, not the size of the value."""
    n = len(old)
    if n == len(new) and old == new:
        return
    if n <= 8 or len(new) <= 8:
        if not is_map:
            out.extend(sorted(set(old).symmetric_difference(new)))
            return
        so, sn = set(old), set(new)
        added = sn - so      # pairs added, or changed (with the new value)
        removed = so - sn    # pairs removed, or changed (with the old value)
        if removed:
            changed = {k for k, _ in added}
            added.update(p for p in removed if p[0] not in changed)
        out.extend(sorted(added))
        return
    h = n >> 1
    # (key,) sorts just before every (key, value) pair: the key's place in new.
    j = bisect_left(new, (old[h][0],) if is_map else old[h])
    _diff_sorted(old[:h], new[:j], is_map, out)
    _diff_sorted(old[h:], new[j:], is_map, out)


_MISSING = object()
_VARIANTS: dict[tuple, tuple[Type, Type]] = {}
_CONVERTERS: dict[int, tuple[Type, Any]] = {}


def atom_to_json(atom: Any, atype: AtomicType) -> Any:
    return ["uuid", atom] if atype is AtomicType.UUID else atom


def _n_from_json(j: Any, default: int) -> int:
    if j is None:
        return default
    if type(j) is int and 0 <= j < UINT_MAX:
        return j
    raise syntax_error(j, "bad min or max value")


# --- a small parser for JSON objects with typed members, with OVS's words ---

_KNOWN_IDS: set[str] = set()
_KIND_TYPES = {"string": (str,), "id": (str,), "integer": (int,), "real": (float,), "number": (int, float),
               "boolean": (bool,), "array": (list,), "object": (dict,)}


class Parser:
    """Reads members of one JSON object; `finish` rejects members nobody read.

    Errors are ovsdb-server's: "Parsing NAME failed: Required 'x' member is
    missing." and so on, with the whole object as the "syntax" text.
    """

    __slots__ = ("json", "_name", "used", "failed")

    def __init__(self, j: Any, name: str | tuple) -> None:
        self.json = j
        self._name = name
        self.used: set[str] = set()
        self.failed = False
        if not isinstance(j, dict):
            self.failed = True
            raise OvsdbError("syntax error", f"Parsing {self.name} failed: Object expected.")

    @property
    def name(self) -> str:
        """The object's description; a (format, args) pair is formatted only when needed."""
        n = self._name
        return n if type(n) is str else n[0] % n[1]

    def error(self, details: str, tag: str = "syntax error") -> OvsdbError:
        self.failed = True
        return syntax_error(self.json, f"Parsing {self.name} failed: {details}", tag)

    def member(self, name: str, kinds: str | tuple, optional: bool = False) -> Any:
        j = self.json
        if name not in j:
            if optional:
                return None
            raise self.error(f"Required '{name}' member is missing.")
        v = j[name]
        self.used.add(name)
        if kinds == "any":
            return v
        tv = type(v)
        if type(kinds) is str:
            ok = tv in _KIND_TYPES[kinds]
        else:
            ok = any(tv in _KIND_TYPES[k] for k in kinds)
        if ok and kinds == "id" and v not in _KNOWN_IDS:
            if not is_id(v):
                ok = False
            elif len(_KNOWN_IDS) < 4096:
                _KNOWN_IDS.add(v)
        if not ok:
            raise self.error(f"Type mismatch for member '{name}'.")
        return v

    def finish(self) -> None:
        if self.failed or len(self.used) == len(self.json):
            return
        unused = sorted(k for k in self.json if k not in self.used)
        if len(unused) > 1:
            raise self.error(f"Member '{unused[0]}' and {len(unused) - 1} other member"
                             f"{'s' if len(unused) > 2 else ''} are present but not allowed here.")
        if unused:
            raise self.error(f"Member '{unused[0]}' is present but not allowed here.")
