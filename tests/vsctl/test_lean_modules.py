"""What keeps re and enum off the tools' import path behaves as they did: the
syntax checks written out accept exactly what the regular expressions they
replace accept, and the constant classes that replace enums (ovsdb.types'
AtomicType, vlog's Level and Destination) behave as those enums did."""

from __future__ import annotations

import enum
import os
import pickle
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch import dirs, vlog
from pyvswitch.ovsdb import datum_text, schema, table_format, types

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
INTEGER = re.compile(r"[+-]?[0-9]+\Z")
REAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)\Z")

_some = st.text(alphabet="0123456789aAfFgG-_ .eE+\n٣é", max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_some, st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()),
                 st.uuids().map(lambda u: str(u)[:-1] + "-"), st.uuids().map(lambda u: str(u) + "\n")))
def test_uuid(s):
    assert types.is_uuid(s) == (UUID.match(s) is not None)


@settings(max_examples=300, deadline=None)
@given(_some)
def test_id_integer_real_version(s):
    assert types.is_id(s) == (ID.match(s) is not None)
    assert datum_text._is_integer(s) == (INTEGER.match(s) is not None)
    assert datum_text._is_real(s) == (REAL.match(s) is not None)
    m = VERSION.match(s)
    assert schema.is_valid_version(s) == (m is not None and all(int(g) <= types.UINT_MAX for g in m.groups()))


def test_examples():
    for s in ("1", "+1", "-0", "1.", ".5", "1.5e3", "1E+3", ".e3", "1e", "e3", "1.2.3", "1e5E3", "--1", ""):
        assert datum_text._is_real(s) == (REAL.match(s) is not None), s
    assert [types.is_id(s) for s in ("_", "a1", "1a", "", "a-b", "é")] == [True, True, False, False, False, False]
    assert types.is_uuid(1) is False and types.is_id(None) is False


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab&<>"\'0123456789-', max_size=60))
def test_html_escape(s):
    escapes = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
    assert table_format._html_escape(s) == re.sub(r'[&<>"]', lambda m: escapes[m.group()], s)


# The enums they stand for, by the same names.
_AtomicEnum = enum.Enum("AtomicType", [(n.upper(), n) for n in ("integer", "real", "boolean", "string", "uuid")],
                        type=str)
_LevelEnum = enum.IntEnum("Level", [(n, i) for i, n in enumerate(("OFF", "EMER", "ERR", "WARN", "INFO", "DBG"))])


def _face(x):
    return (str(x), repr(x), f"{x}", f"{x:>20}", "%s" % (x,), x.name, x.value if hasattr(x, "value") else int(x))


@pytest.mark.parametrize("name", [m.name for m in _AtomicEnum])
def test_atomic_type_behaves_as_the_enum(name):
    ours, theirs = getattr(types.AtomicType, name), getattr(_AtomicEnum, name)
    assert _face(ours) == _face(theirs)
    assert types.AtomicType(theirs.value) is ours and ours == theirs.value and hash(ours) == hash(theirs.value)
    assert type(ours.value) is str and pickle.loads(pickle.dumps(ours)) is ours
    with pytest.raises(ValueError, match="'nope' is not a valid AtomicType"):
        types.AtomicType("nope")


def test_vlog_levels_behave_as_the_enum():
    assert [m.name for m in vlog.Level] == [m.name for m in _LevelEnum] and len(vlog.Level) == 6
    for ours, theirs in zip(vlog.Level, _LevelEnum):
        assert _face(ours) == _face(theirs)
        assert vlog.Level(int(theirs)) is ours and ours == int(theirs) and hash(ours) == hash(int(theirs))
    assert vlog.Level.WARN < vlog.Level.DBG and max(vlog.Level.INFO, vlog.Level.ERR) is vlog.Level.INFO
    assert [d.name for d in vlog.Destination] == ["CONSOLE", "SYSLOG", "FILE"]
    with pytest.raises(ValueError):
        vlog.Level(6)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab/.", max_size=6), st.text(alphabet="ab/.", max_size=6))
def test_dirs_join_is_os_path_join(a, b):
    assert dirs._join(a, b) == os.path.join(a, b)
    assert dirs.abs_file_name(a, b) == (b if os.path.isabs(b) else os.path.join(a, b))


def test_dirs_read_the_environment_as_os_environ(monkeypatch):
    monkeypatch.setenv("OVS_RUNDIR", "/tmp/r\u00e9")
    assert dirs.rundir() == "/tmp/r\u00e9"
    monkeypatch.delenv("OVS_RUNDIR")
    assert dirs.rundir() == "/var/run/openvswitch"
    # Without os imported: the environment the process started with, decoded alike.
    env = {"PATH": os.environ.get("PATH", ""), "OVS_LOGDIR": "/tmp/l\u00e9"}
    code = "import sys; from pyvswitch import dirs; print(dirs.logdir(), dirs.rundir(), 'os' in sys.modules)"
    r = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.append({dirs.__file__.rsplit('/', 2)[0]!r}); " + code],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.stdout == "/tmp/l\u00e9 /var/run/openvswitch False\n", r.stderr
