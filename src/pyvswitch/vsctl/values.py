"""ovs-vsctl's view of OVS's value syntax.

Values are read and printed by pyvswitch.ovsdb.datum_text (shared with
ovsdb-client); this module turns its errors into ovs-vsctl's, and adds the
tokenizer ovs-vsctl uses to split COLUMN[:KEY]=VALUE arguments: a token runs
to the next delimiter (`:=, []{}!<>` or white space) outside double quotes,
quotes stay in the token, and outside quotes a backslash makes the next
character ordinary.
"""

from __future__ import annotations

from pyvswitch.ovsdb import datum_text
from pyvswitch.ovsdb.types import AtomicType, BaseType, Type, is_uuid
from pyvswitch.ovsdb.types import atom_to_string as _atom_to_string
from pyvswitch.vsctl.command import VsctlError

UUID_TYPE = Type(BaseType(AtomicType.UUID))
# Characters that end a token outside double quotes.
DELIMS = ":=, []{}!<>\t\r\n"


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


def atom_from_string(base: BaseType, text: str, symtab=None):
    """One atom from a whole argument (e.g. the VALUE of COLUMN:KEY=VALUE)."""
    try:
        return datum_text.atom_from_string(base, text, symtab)
    except datum_text.DatumTextError as e:
        raise VsctlError(str(e)) from None


def datum_from_string(t: Type, s: str, symtab=None):
    """A datum from text, in OVS's syntax (pyvswitch.ovsdb.datum_text)."""
    try:
        return datum_text.datum_from_string(t, s, symtab)
    except datum_text.DatumTextError as e:
        raise VsctlError(str(e)) from None


# --- printing ---

def atom_to_string(base: BaseType, atom) -> str:
    return _atom_to_string(atom, base.type)


def datum_to_string(t: Type, value) -> str:
    return t.datum_to_string(value)
