"""`meshq service run` says what its workers do: one line per job at the default level
(queue, message id, outcome, duration), and the user's own INFO lines. A real subprocess
against the session server; its stderr is read line by line until the lines come."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from meshq.api.client import MeshqClient

REPO = Path(__file__).resolve().parents[2]
SERVICE_FILE = '''
import asyncio, logging
from meshq.agents.retry import RetryPolicy
from meshq.agents.worker import Worker
from meshq.api.services import ServiceHost

log = logging.getLogger("worker")
log.info("Listening on jobs")
host = ServiceHost()


@host.path(path="/worker", identity="echo")
class Echo(Worker):
    def __init__(self):
        super().__init__(queue="jobs", name="echo", retry=RetryPolicy(initial_delay=60))

    async def process_message(self, *, chat_context, room, message, toolkits):
        log.info(f"processing {message}")
        if message.get("fail"):
            raise RuntimeError("asked to fail")
        return "done"


asyncio.run(host.run())
'''


async def _read_until(stream: asyncio.StreamReader, wanted: list[str], seen: list[str]) -> None:
    while any(not any(w in line for line in seen) for w in wanted):
        line = await stream.readline()
        assert line, "the service ended early:\n" + "".join(seen)
        seen.append(line.decode())


async def test_service_run_prints_a_line_per_job_and_the_users_info(
        server: Any, unique: str, tmp_path: Path) -> None:
    # Given a service file whose worker logs with log.info, run by `meshq service run`
    path = tmp_path / "main.py"
    path.write_text(SERVICE_FILE)
    env = {**os.environ, "MESHQ_SERVER": server.address, "MESHQ_TOKEN": server.token,
           "PYTHONPATH": f"{REPO / 'services'}:{REPO / 'clients/python'}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshq.cli.main", "service", "run", str(path), "--room", unique,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    seen: list[str] = []
    try:
        # When a job that succeeds and one that fails are sent
        async with MeshqClient(server=server.address, token=server.token) as client:
            queues = client.room(unique).queues
            ok = await queues.send("jobs", {"n": 1})
            failed = await queues.send("jobs", {"fail": True})
        # Then each gets one line: queue, message id, outcome, duration; and the user's lines
        await asyncio.wait_for(_read_until(process.stderr, [
            f"jobs {ok} ok in ", f"jobs {failed} failed in ", "worker: Listening on jobs",
            "worker: processing {'n': 1}"], seen), timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stderr.read(), timeout=30)
        code = await process.wait()
    text = "".join(seen) + rest.decode()
    assert code == 0, text
    [line] = [line for line in seen if f"jobs {ok} ok in " in line]
    assert line.rstrip().endswith("(attempt 1)") and "INFO meshq.jobs:" in line
    assert "HTTP Request" not in text and "DEBUG" not in text  # libraries stay quiet
