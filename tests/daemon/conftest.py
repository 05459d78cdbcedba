import shutil
import tempfile
from pathlib import Path

import pytest

from util import ovs_env


@pytest.fixture
def rundir():
    """A private OVS directory with a short path (Unix socket names are limited)."""
    d = Path(tempfile.mkdtemp(prefix="h4", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(rundir):
    return ovs_env(rundir)
