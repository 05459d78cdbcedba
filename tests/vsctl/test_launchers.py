"""The lean launchers (pyvswitch.launchers): what they are and that they run from bytecode."""

from __future__ import annotations

import os
import py_compile
import shutil
import subprocess
import sys

import pytest

from pyvswitch import launchers
from util import REPO


def test_every_console_script_gets_a_launcher(tmp_path):
    written = launchers.write(str(tmp_path))
    names = {os.path.basename(p) for p in written}
    assert names == {name for name, _, _ in launchers.entry_points()}
    assert {"ovs-vsctl", "ovsdb-server", "ovs-vswitchd", "pyvswitch"} <= names
    for p in written:
        text = open(p).read()
        first, *rest = text.split("\n")
        # One argument after the interpreter: the kernel passes the rest of the line as one word.
        interpreter, flags = first[2:].split(" ")
        assert flags == "-IS" and os.access(interpreter, os.X_OK)
        assert os.access(p, os.X_OK)
        name = os.path.basename(p)
        module = dict((n, m) for n, m, _ in launchers.entry_points())[name]
        # `pyvswitch start` recognizes our scripts by this line (cli/lifecycle.py).
        assert f"from {module} import main" in text
        assert ("gc.disable()" in text) == (name in launchers.ONE_SHOT)
        # Leaving: not by os._exit, whose import would cost the exit what it saves.
        assert "import os" not in text
        if name not in launchers.TOOLS:
            assert interpreter == sys.executable


def test_a_launcher_runs_its_tool(tmp_path):
    launchers.write(str(tmp_path))
    r = subprocess.run([str(tmp_path / "ovs-vsctl"), "--version"], capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": "/nonexistent", "PATH": os.environ.get("PATH", "")})
    assert r.returncode == 0 and r.stdout.startswith("ovs-vsctl (Open vSwitch) 3.1.0\n"), r.stderr
    r = subprocess.run([str(tmp_path / "ovsdb-tool"), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ovsdb-tool (Open vSwitch)" in r.stdout, r.stderr


def test_a_launcher_runs_from_bytecode(tmp_path):
    """A copy of the package whose ovs_vsctl bytecode was compiled from a variant
    of the source with the same size and time stamp: the launcher prints the
    variant's version, so it ran the bytecode without compiling anything."""
    pkg = tmp_path / "lib" / "pyvswitch"
    shutil.copytree(REPO / "src" / "pyvswitch", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    src = pkg / "cli" / "ovs_vsctl.py"
    original = src.read_text()
    variant = original.replace("ovs-vsctl (Open vSwitch) 3.1.0", "ovs-vsctl (Open vSwitch) 9.9.9", 1)
    assert variant != original and len(variant) == len(original)
    stamp = (1_700_000_000, 1_700_000_000)
    src.write_text(variant)
    os.utime(src, stamp)
    py_compile.compile(str(src), doraise=True)
    src.write_text(original)
    os.utime(src, stamp)
    python = launchers.system_python(sys.executable)
    script = tmp_path / "ovs-vsctl"
    script.write_text(launchers.render("ovs-vsctl", "pyvswitch.cli.ovs_vsctl", "main", python, str(tmp_path / "lib")))
    script.chmod(0o755)
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ovs-vsctl (Open vSwitch) 9.9.9\n")


def test_install_writes_the_launchers():
    text = (REPO / "install.sh").read_text()
    pip = text.index("pip install -q -e")
    assert text.index("-m pyvswitch.launchers .venv/bin", pip) > pip


@pytest.mark.parametrize("python", ["/bin/python with space", "/" + "x" * 300])
def test_no_launcher_where_a_shebang_cannot_name_the_interpreter(tmp_path, python, monkeypatch):
    monkeypatch.setattr(launchers, "system_python", lambda p: p)
    assert launchers.write(str(tmp_path), python) == []


def test_a_one_shot_launcher_keeps_output_and_exit_status(tmp_path):
    """Leaving by _exit loses neither the output (flushed first) nor the status."""
    from vsctl_harness import Server
    launchers.write(str(tmp_path))
    server = Server("ours")
    try:
        db = f"--db=unix:{server.sock}"
        lean = [str(tmp_path / "ovs-vsctl"), db]
        plain = [sys.executable, "-c", "import sys; from pyvswitch.cli.ovs_vsctl import main; sys.exit(main())", db]
        assert subprocess.run([*lean, "--no-wait", "add-br", "br0", "--", "add-port", "br0", "p1"], env=server.env,
                              timeout=60).returncode == 0
        for args in (["br-exists", "br9"], ["br-exists", "br0"], ["nonsense"], ["--no-wait", "add-br", "br0"],
                     ["--format=json", "list", "Open_vSwitch"], ["list", "port"], ["show"]):
            a = subprocess.run([*lean, *args], capture_output=True, text=True, timeout=60, env=server.env)
            b = subprocess.run([*plain, *args], capture_output=True, text=True, timeout=60, env=server.env)
            assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
        assert subprocess.run([*lean, "br-exists", "br9"], env=server.env, timeout=60).returncode == 2
    finally:
        server.close()


def test_the_tools_fall_back_to_this_interpreter(tmp_path, monkeypatch):
    """Without a system build of this Python version, every launcher names this interpreter."""
    real_access = os.access
    monkeypatch.setattr(launchers.os, "access", lambda p, m: False if p.startswith("/usr/bin/python") else
                        real_access(p, m))
    assert launchers.system_python("/some/venv/bin/python") == "/some/venv/bin/python"
    for p in launchers.write(str(tmp_path)):
        assert open(p).readline() == f"#!{sys.executable} -IS\n"
