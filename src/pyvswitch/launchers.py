"""Lean launchers for pyvswitch's command-line tools.

pip's console scripts start the interpreter with `site`, which reads the
virtual environment's configuration and every .pth file (one of them imports
setuptools' distutils shim), and they import `re` before the tool's module.
That is milliseconds, more than the real ovs-vsctl spends on a whole call,
and agents run the tools thousands of times.

A lean launcher replaces each console script with one that runs

    #!PYTHON -IS

(one argument after the interpreter: the kernel passes the rest of the
shebang line as a single word, and Python reads "-IS" as -I -S): isolated
mode, so no PYTHON* variables, user site or script directory; and no `site`.
The project has no run-time dependencies, so the launcher only appends the
directory that holds the `pyvswitch` package (src/ in an editable install,
site-packages in a regular one), found when the launcher is written, and
calls the entry point.  Bytecode comes from the package's __pycache__, which
install.sh fills; in isolated mode PYTHONDONTWRITEBYTECODE is ignored, so a
module edited since is compiled once and cached, not at every call.

The command-line tools (`TOOLS`) prefer the system's build of the same
Python version, /usr/bin/pythonX.Y, when there is one: Debian's is built
with profile-guided and link-time optimization and has the extension modules
the tools use built in, so it starts ~1.5 ms sooner and runs ~15% faster
than a shared-library build such as pyenv's, and both read the same
bytecode.  The daemons keep the environment's interpreter.

The tools that live for one request (`ONE_SHOT`: no threads, no atexit
work) also switch the cyclic garbage collector off, since their imports
allocate enough to trigger collections that find nothing; and once the entry
point has returned and the output is flushed, they leave with _exit,
skipping the interpreter's teardown (it frees, one by one, what the exit
frees at once: about 2 ms with ovs-vsctl's modules loaded).  Should the
flush fail (a closed pipe), or the entry point return something other than
an exit status, the normal exit takes over and reports it as usual.

Usage (install.sh does this after `pip install`):

    python -m pyvswitch.launchers [BINDIR]

writes a launcher for every console script of the installed distribution
into BINDIR (default: the directory of this interpreter), over pip's.
"""

from __future__ import annotations

import os
import sys

TOOLS = frozenset({"ovs-vsctl", "ovs-appctl", "ovs-dpctl", "ovsdb-client", "ovsdb-tool"})
# ovsdb-client too: most of its commands are one request, and those that run
# until killed (monitors, wait, lock) switch the collector back on themselves.
ONE_SHOT = frozenset({"ovs-vsctl", "ovs-appctl", "ovs-dpctl", "ovsdb-client"})

TEMPLATE = """#!{python} -IS
# pyvswitch's lean launcher for {name}, written by `python -m pyvswitch.launchers`
# over pip's console script: no site, and the package's directory on the path.
import sys
sys.path.append({path!r})
from {module} import {func}
sys.exit({func}())
"""

# A one-shot tool: no cyclic GC, and no interpreter teardown once its output is out.
TEMPLATE_ONE_SHOT = """#!{python} -IS
# pyvswitch's lean launcher for {name}, written by `python -m pyvswitch.launchers`
# over pip's console script: no site, the package's directory on the path, no cyclic GC,
# and no interpreter teardown once the output is out (see pyvswitch/launchers.py).
import gc, sys
gc.disable()
sys.path.append({path!r})
from {module} import {func}
status = {func}()
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BaseException:
    sys.exit(status)
if status is None or type(status) is int:
    import posix
    posix._exit(status or 0)
sys.exit(status)
"""


def package_dir() -> str:
    """The sys.path entry that holds the pyvswitch package in this installation."""
    import pyvswitch
    return os.path.dirname(os.path.dirname(os.path.abspath(pyvswitch.__file__)))


def entry_points() -> list[tuple[str, str, str]]:
    """(script name, module, function) of every console script pyvswitch installs."""
    from importlib.metadata import distribution
    out = []
    for ep in distribution("pyvswitch").entry_points:
        if ep.group == "console_scripts":
            module, _, func = ep.value.partition(":")
            out.append((ep.name, module.strip(), func.strip()))
    return sorted(out)


def system_python(python: str) -> str:
    """The system's build of this Python version if there is one, else python."""
    candidate = f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"
    return candidate if os.access(candidate, os.X_OK) else python


def render(name: str, module: str, func: str, python: str, path: str) -> str:
    template = TEMPLATE_ONE_SHOT if name in ONE_SHOT else TEMPLATE
    return template.format(name=name, module=module, func=func, python=python, path=path)


def _shebang_ok(python: str) -> bool:
    # A shebang cannot carry such a path; pip's scripts work around it, so those are kept.
    return not any(c.isspace() for c in python) and len(python) <= 200


def write(bindir: str, python: str | None = None) -> list[str]:
    """Writes the launchers into bindir; returns their paths.

    The interpreter is this one, named by the path it was started with (a
    virtual environment's python, not what that links to, so that sys.prefix
    stays the environment's); the tools prefer the system's (see above)."""
    python = python or sys.executable
    path = package_dir()
    written = []
    for name, module, func in entry_points():
        interpreter = system_python(python) if name in TOOLS else python
        if not _shebang_ok(interpreter):
            continue
        target = os.path.join(bindir, name)
        tmp = target + ".tmp"
        with open(tmp, "w") as f:
            f.write(render(name, module, func, interpreter, path))
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    bindir = argv[0] if argv else os.path.dirname(sys.executable)
    for p in write(bindir):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
