"""aio/service.py in process: unixctl up before setup, exit, the memory log lines."""

import asyncio
import re

from pyvswitch import vlog
from pyvswitch.aio import service
from pyvswitch.aio.service import Service
from pyvswitch.unixctl.client import UnixctlClient


def test_serve_runs_setup_answers_unixctl_and_logs_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(service, "MEMORY_CHECK_INTERVAL", 0.05)
    log_path = tmp_path / "svc.log"
    ctl = tmp_path / "svc.ctl"
    svc = Service("testsvc")
    svc.unixctl_option = str(ctl)
    svc.memory_report = lambda: "widgets:3"
    seen = []

    async def setup(s):
        seen.append(ctl.exists())
        s.commands.register("test/hello", "", 0, 0, lambda args: (True, "hi\n"))

    async def client():
        loop = asyncio.get_running_loop()
        while "memory|INFO|widgets:3" not in log_path.read_text():
            await asyncio.sleep(0.02)
        c = UnixctlClient(str(ctl))
        try:
            seen.append(await loop.run_in_executor(None, c.transact, "test/hello", []))
            seen.append(await loop.run_in_executor(None, c.transact, "memory/show", []))
        finally:
            c.close()
        svc.request_exit(3)

    async def main():
        asyncio.get_running_loop().create_task(client())
        return await svc.serve(setup)

    vlog.set_log_file(str(log_path))
    try:
        assert asyncio.run(main()) == 3
    finally:
        vlog.set_log_file(None)
    assert seen == [True, (True, "hi\n"), (True, "widgets:3\n")]
    text = log_path.read_text()
    assert re.search(r"\|memory\|INFO\|\d+ kB peak resident set size after \d+\.\d seconds\n", text)
    assert not ctl.exists()
