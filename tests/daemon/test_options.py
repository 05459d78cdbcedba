"""GNU getopt_long rules as OVS programs parse them."""

import pytest

from pyvswitch.cli.options import Arg, Option, OptionError, parse

OPTS = [Option("pidfile", Arg.OPTIONAL), Option("remote", Arg.REQUIRED), Option("detach"),
        Option("verbose", Arg.OPTIONAL, "v"), Option("target", Arg.REQUIRED, "t"),
        Option("help", Arg.NONE, "h")]


def test_optional_argument_only_with_equals():
    opts, rest = parse(["--pidfile", "conf.db", "--pidfile=/x.pid"], OPTS)
    assert opts == [("pidfile", None), ("pidfile", "/x.pid")]
    assert rest == ["conf.db"]


def test_required_argument_both_forms_and_prefixes():
    opts, rest = parse(["--remote", "punix:a", "--rem=ptcp:0", "--det", "db1"], OPTS)
    assert opts == [("remote", "punix:a"), ("remote", "ptcp:0"), ("detach", None)]
    assert rest == ["db1"]


def test_short_options():
    opts, _ = parse(["-vconsole:off", "-v", "-tfoo", "-t", "bar", "-hv"], OPTS)
    assert opts == [("verbose", "console:off"), ("verbose", None), ("target", "foo"),
                    ("target", "bar"), ("help", None), ("verbose", None)]


def test_permutation_and_double_dash():
    opts, rest = parse(["a", "--detach", "b", "--", "--remote"], OPTS)
    assert opts == [("detach", None)] and rest == ["a", "b", "--remote"]
    opts, rest = parse(["cmd", "--detach"], OPTS, stop_at_non_option=True)
    assert opts == [] and rest == ["cmd", "--detach"]


@pytest.mark.parametrize("argv, msg", [
    (["--bogus"], "unrecognized option '--bogus'"),
    (["--detach=1"], "option '--detach' doesn't allow an argument"),
    (["--remote"], "option '--remote' requires an argument"),
    (["-x"], "invalid option -- 'x'"),
    (["-t"], "option requires an argument -- 't'"),
])
def test_errors(argv, msg):
    with pytest.raises(OptionError) as e:
        parse(argv, OPTS)
    assert str(e.value) == msg
