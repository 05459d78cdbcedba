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

Usage (install.sh does this after `pip install`):

    python -m pyvswitch.launchers [BINDIR]

writes a launcher for every console script of the installed distribution
into BINDIR (default: the directory of this interpreter), over pip's.
"""

from __future__ import annotations

import os
import sys

TEMPLATE = """#!{python} -IS
# pyvswitch's lean launcher for {name}, written by `python -m pyvswitch.launchers`
# over pip's console script: no site, and the package's directory on the path.
import sys
sys.path.append({path!r})
from {module} import {func}
sys.exit({func}())
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


def render(name: str, module: str, func: str, python: str, path: str) -> str:
    return TEMPLATE.format(name=name, module=module, func=func, python=python, path=path)


def write(bindir: str, python: str | None = None) -> list[str]:
    """Writes the launchers into bindir; returns their paths.

    The interpreter is this one, named by the path it was started with (a
    virtual environment's python, not what that links to, so that sys.prefix
    stays the environment's)."""
    python = python or sys.executable
    if any(c.isspace() for c in python) or len(python) > 200:
        # A shebang cannot carry such a path; pip's scripts work around it, so keep them.
        return []
    path = package_dir()
    written = []
    for name, module, func in entry_points():
        target = os.path.join(bindir, name)
        tmp = target + ".tmp"
        with open(tmp, "w") as f:
            f.write(render(name, module, func, python, path))
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
