"""vlog: OVS's -v syntax, its error words, the vlog/list table, line formats, rate limits."""

import io
import re

import pytest

from pyvswitch import vlog
from pyvswitch.unixctl.core import CommandTable


@pytest.fixture
def v():
    state = vlog._Vlog()
    for name in ("jsonrpc", "unixctl", "ovsdb_server"):
        state.module(name)
    state.console = io.StringIO()
    return state


def levels(v, name):
    return [lvl.name for lvl in v.modules[name].levels]


def test_default_levels_are_info(v):
    assert levels(v, "jsonrpc") == ["INFO", "INFO", "INFO"]


@pytest.mark.parametrize("spec, expect", [
    ("dbg", {"jsonrpc": ["DBG"] * 3, "unixctl": ["DBG"] * 3}),
    ("file:dbg", {"jsonrpc": ["INFO", "INFO", "DBG"]}),
    ("jsonrpc", {"jsonrpc": ["DBG"] * 3, "unixctl": ["INFO"] * 3}),
    ("jsonrpc:console:warn", {"jsonrpc": ["WARN", "INFO", "INFO"]}),
    ("console:off", {"unixctl": ["OFF", "INFO", "INFO"]}),
    ("ANY:syslog:err", {"jsonrpc": ["INFO", "ERR", "INFO"]}),
    ("any:any:emer", {"jsonrpc": ["EMER"] * 3}),
    ("jsonrpc console info", {"jsonrpc": ["INFO"] * 3}),
    ("jsonrpc,file,warn", {"jsonrpc": ["INFO", "INFO", "WARN"]}),
    ("ANY:file:dbg", {"jsonrpc": ["INFO", "INFO", "DBG"]}),
])
def test_set_levels_from_string(v, spec, expect):
    v.set_levels_from_string(spec)
    for name, want in expect.items():
        assert levels(v, name) == want


@pytest.mark.parametrize("spec, error", [
    ("foo", 'no destination, level, or module "foo"'),
    ("info:dbg", "cannot specify multiple levels"),
    ("console:file", "cannot specify multiple destinations"),
    ("jsonrpc:unixctl", "cannot specify multiple modules"),
    ("PATTERN:foo:%m", 'unknown destination "foo"'),
    ("FACILITY:foo", "invalid facility"),
])
def test_errors_use_ovs_words(v, spec, error):
    with pytest.raises(vlog.VlogError) as e:
        v.set_levels_from_string(spec)
    assert str(e.value) == error


def test_verbose_option_wording(v):
    with pytest.raises(vlog.VlogError) as e:
        v.set_verbosity("foo")
    assert str(e.value) == 'processing "foo": no destination, level, or module "foo"'
    v.set_verbosity(None)
    assert levels(v, "unixctl") == ["DBG"] * 3


def test_modules_created_later_inherit_any_settings(v):
    v.set_levels_from_string("console:off")
    assert levels(v, v.module("later").name) == ["OFF", "INFO", "INFO"]


def test_list_table_matches_ovs_layout(v):
    v.module("dpif_lookup_autovalidator")
    v.set_levels_from_string("console:off")
    v.set_levels_from_string("jsonrpc:file:dbg")
    text = v.list_levels()
    lines = text.splitlines()
    assert lines[0] == "                 console    syslog    file"
    assert lines[1] == "                 -------    ------    ------"
    assert "dpif_lookup_autovalidator   OFF       INFO       INFO" in lines
    assert "jsonrpc            OFF       INFO        DBG" in lines
    assert text.endswith("\n")


def test_list_patterns(v):
    lines = v.list_patterns().splitlines()
    assert lines[2] == "SYSLOG   <%B> %D{%h %e %T} %E %A:          ovs|%05N|%c%T|%p|%m"
    assert lines[3] == "CONSOLE  none                              %D{%Y-%m-%dT%H:%M:%SZ}|%05N|%c%T|%p|%m"
    assert lines[4] == "FILE     none                              %D{%Y-%m-%dT%H:%M:%S.###Z}|%05N|%c%T|%p|%m"
    v.set_levels_from_string("PATTERN:file:%m")
    assert v.list_patterns().splitlines()[4] == "FILE     none                              %m"


def test_file_and_console_line_formats(v, tmp_path):
    path = tmp_path / "x.log"
    v.set_log_file(str(path))
    v.module("jsonrpc").warn("hello %s", "world")
    lines = path.read_text().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\|00001\|vlog\|INFO\|opened log file "
                        + re.escape(str(path)), lines[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\|00002\|jsonrpc\|WARN\|hello world",
                        lines[1])
    console = v.console.getvalue().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|00002\|jsonrpc\|WARN\|hello world", console[1])


def test_disabled_levels_write_nothing(v, tmp_path):
    v.set_log_file(str(tmp_path / "x.log"))
    v.set_levels_from_string("off")
    v.module("jsonrpc").dbg("not %s", "shown")
    v.module("jsonrpc").emer("not shown either")
    assert v.console.getvalue().count("\n") == 1  # only "opened log file"


def test_pattern_width_and_justification(v):
    p = vlog._Pattern("[%-8c][%8p][%05N]%%")
    assert p.format(v, v.modules["jsonrpc"], vlog.Level.WARN, "m", 7, 0.0) == "[jsonrpc ][    WARN][00007]%"


def test_rate_limit_drops_and_reports(v):
    rl = vlog.RateLimit(rate=60, burst=2)   # one per second after a burst of two
    assert rl.admit(100.0) and rl.admit(100.0)
    assert not rl.admit(100.1) and not rl.admit(100.2)
    assert rl.n_dropped == 2
    assert rl.admit(101.5)


def test_rate_limited_messages_are_counted_in_the_log(v, tmp_path):
    path = tmp_path / "x.log"
    v.set_log_file(str(path))
    rl = vlog.RateLimit(rate=1, burst=1)
    for _ in range(5):
        v.module("jsonrpc").info("noisy", rl=rl)
    assert path.read_text().count("noisy") == 1


def test_reopen_without_file_is_an_error(v):
    with pytest.raises(vlog.VlogError, match="Logging to file not configured"):
        v.reopen_log_file()


def test_unixctl_commands_registered():
    t = CommandTable()
    vlog.register_unixctl_commands(t)
    for name in ("vlog/set", "vlog/list", "vlog/list-pattern", "vlog/reopen", "vlog/close"):
        assert name in t.commands
    ok, text = t.commands["vlog/set"].handler(["nonexistent_module_xyz:dbg"])
    assert not ok and text == 'no destination, level, or module "nonexistent_module_xyz"'


def test_reopen_after_rotation(v, tmp_path):
    path = tmp_path / "x.log"
    v.set_log_file(str(path))
    rotated = tmp_path / "x.log.1"
    path.rename(rotated)
    v.reopen_log_file()
    assert rotated.read_text().splitlines()[-1].endswith("|vlog|INFO|closing log file")
    assert path.read_text().splitlines()[0].endswith(f"|vlog|INFO|opened log file {path}")
    v.close_log_file()
    v.reopen_log_file()             # vlog/close, then vlog/reopen: back on the same path
    assert path.read_text().splitlines()[-1].endswith(f"|vlog|INFO|opened log file {path}")


class _FakeSyslog:
    def __init__(self):
        self.lines = []

    def openlog(self, ident, option, facility):
        pass

    def syslog(self, priority, line):
        self.lines.append(line)


def test_a_missing_syslog_socket_is_looked_for_once_a_second(v, tmp_path, monkeypatch):
    sock = tmp_path / "log"
    fake = _FakeSyslog()
    looks = []
    real_stat = vlog.posix.stat

    class Posix:
        @staticmethod
        def stat(path):
            looks.append(path)
            return real_stat(path)
    monkeypatch.setattr(vlog, "_syslog", fake)
    monkeypatch.setattr(vlog, "posix", Posix)
    monkeypatch.setattr(vlog, "SYSLOG_SOCKET", str(sock))
    m = v.modules["jsonrpc"]
    for i in range(100):                       # no socket: one look, no line
        v._write(m, vlog.Level.INFO, f"line {i}", 1000.0 + i / 1000)
    assert len(looks) == 1 and fake.lines == []
    sock.touch()                               # it appears: seen within a second
    v._write(m, vlog.Level.INFO, "early", 1000.5)
    v._write(m, vlog.Level.INFO, "late", 1001.0)
    v._write(m, vlog.Level.INFO, "next", 1001.2)
    assert len(looks) == 2 and [line.split("|")[-1] for line in fake.lines] == ["late", "next"]
    sock.unlink()                              # and one that goes away is noticed too
    v._write(m, vlog.Level.INFO, "gone", 1002.5)
    assert len(looks) == 3 and len(fake.lines) == 2
