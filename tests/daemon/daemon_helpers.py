"""Helpers for the tests in tests/daemon (a module name no other test folder uses)."""

from pathlib import Path

from util import VENV_BIN, run

TOYD = str(Path(__file__).resolve().parent / "toyd.py")
PYTHON = str(VENV_BIN / "python")


def toyd(env, *args, **kw):
    """Runs the toy daemon (tests/daemon/toyd.py) with args."""
    return run([PYTHON, TOYD, *args], env=env, **kw)
