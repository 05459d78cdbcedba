"""Fuzz: peer bytes and user strings raise nothing but the errors the design names."""

import json

from hypothesis import given, settings, strategies as st

from pyvswitch import vlog
from pyvswitch.aio.stream import RemoteError, parse_remote
from pyvswitch.cli.options import Arg, Option, OptionError, parse
from pyvswitch.unixctl.core import Close, CommandTable, Connection, Invoke, Send

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                           max_leaves=8)
messages = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"method": st.sampled_from(["exit", "vlog/set", "nope", 3]),
                           "params": json_values, "id": json_values}).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(messages, max_size=4), st.integers(min_value=1, max_value=7))
def test_unixctl_connection_survives_any_bytes(chunks, step):
    t = CommandTable()
    t.register("exit", "", 0, 0, lambda a: (True, ""))
    t.register("vlog/set", "", 0, 3, lambda a: (True, ""))
    c = Connection(t, "unix#1")
    data = b"".join(chunks)
    for i in range(0, len(data), step):
        for ev in c.receive(data[i:i + step]):
            assert isinstance(ev, (Invoke, Send, Close))
            if isinstance(ev, Invoke):
                assert all(isinstance(a, str) for a in ev.args)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="anyconsolefiledbgwarnoffemerinfo:, PATTERN%mFACILITYjsonrpcANY", max_size=30))
def test_vlog_spec_parsing_raises_only_vlog_errors(spec):
    v = vlog._Vlog()
    v.module("jsonrpc")
    try:
        v.set_levels_from_string(spec)
    except vlog.VlogError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_remote_parsing_raises_only_remote_errors(text):
    try:
        parse_remote(text)
    except RemoteError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="-=abvtx:", max_size=8), max_size=6))
def test_option_parsing_raises_only_option_errors(argv):
    opts = [Option("abc", Arg.OPTIONAL), Option("tx", Arg.REQUIRED, "t"), Option("v", Arg.NONE, "v")]
    try:
        parse(argv, opts)
    except OptionError:
        pass
