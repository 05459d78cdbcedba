import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from util import VENV_BIN, ovs_env, run

TOYD = str(Path(__file__).resolve().parent / "toyd.py")
PYTHON = str(VENV_BIN / "python")


@pytest.fixture
def rundir():
    """A private OVS directory with a short path (Unix socket names are limited)."""
    d = Path(tempfile.mkdtemp(prefix="h4", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(rundir):
    return ovs_env(rundir)


def toyd(env, *args, **kw):
    return run([PYTHON, TOYD, *args], env=env, **kw)
