"""The reference's files and commands, run as a user runs them (subprocesses, real server)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fake_openai.server import RESPONSES_PATH, FakeOpenAI, Reply, response_text
from prometheus_client.parser import text_string_to_metric_families

from agents.conftest import eventually
from agents.test_llm_worker import POEM, poem_writer
from agents.test_worker_delivery import RecordingWorker
from meshq.api.paths import api_key_path
from meshq.api.rooms import RoomClient, RoomsClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "examples" / "reference"
MESHQ = [sys.executable, "-m", "meshq.cli.main"]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.handler = poem_writer
        yield server


def environment(mq: Any, fake: FakeOpenAI, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MESHQ_SERVER=mq.address, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="test",
               WORKER_QUEUE="test", MESHQ_DATA_DIR=str(tmp_path / "client-data"))
    env.pop("OPENAI_MODEL", None)
    if mq.token:
        env["MESHQ_TOKEN"] = mq.token
    return env


async def spawn(args: list[str], env: dict[str, str], log: Path,
                cwd: Path = ROOT) -> asyncio.subprocess.Process:
    out = log.open("wb")
    return await asyncio.create_subprocess_exec(*args, env=env, cwd=cwd, stdout=out,
                                                stderr=asyncio.subprocess.STDOUT)


async def finished(process: asyncio.subprocess.Process, log: Path, timeout: float = 60) -> int:
    try:
        return await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        raise AssertionError(f"{process} did not finish:\n{log.read_text()}") from None


@pytest.fixture
async def reference_room(mq: Any) -> AsyncIterator[RoomClient]:
    async with RoomClient(room="queue-test", server=mq.address, token=mq.token or None) as room:
        # `meshq queue send` refuses a room that does not exist (docs/cli.md), and the send
        # may run before the worker has opened it.
        await RoomsClient(room.connection).create("queue-test", if_not_exists=True)
        yield room


async def has_file(room: RoomClient, path: str) -> bool:
    return await room.storage.exists(path)


async def remove(room: RoomClient, path: str) -> None:
    if await has_file(room, path):
        await room.storage.delete(path)


@asynccontextmanager
async def reference_service(env: dict[str, str], logs: Path) -> AsyncIterator[None]:
    """The reference's main.py under `meshq service run --room=queue-test`; stopped by SIGTERM,
    it must exit 0."""
    service = await spawn([*MESHQ, "service", "run", str(REFERENCE / "main.py"),
                           "--room=queue-test"], env, logs / "service.log")
    try:
        yield
    finally:
        service.send_signal(signal.SIGTERM)
        code = await finished(service, logs / "service.log", timeout=30)
    assert code == 0, (logs / "service.log").read_text()


async def test_reference_worker_under_service_run_with_the_cli_send(
        mq: Any, fake: FakeOpenAI, tmp_path: Path, reference_room: RoomClient) -> None:
    env = environment(mq, fake, tmp_path)
    await remove(reference_room, "poem.txt")
    # Given the reference's worker running
    async with reference_service(env, tmp_path):
        # When the reference's CLI command sends its job
        send = await spawn([*MESHQ, "queue", "send", "--room=queue-test", "--queue=test",
                            "--json", '{"instructions": "save a poem about ai to poem.txt"}'],
                           env, tmp_path / "send.log")
        assert await finished(send, tmp_path / "send.log") == 0, (
            tmp_path / "send.log").read_text()
        # Then poem.txt appears in the room's storage
        await eventually(lambda: has_file(reference_room, "poem.txt"), timeout=60,
                         what="poem.txt from the CLI job")
    assert (await reference_room.storage.read("poem.txt")).decode() == POEM
    assert len(fake.bodies(RESPONSES_PATH)) == 2  # a write_file turn, then the answer


async def test_reference_worker_with_push_queue(mq: Any, fake: FakeOpenAI, tmp_path: Path,
                                                reference_room: RoomClient) -> None:
    env = environment(mq, fake, tmp_path)
    key = api_key_path(mq.data_dir)
    env["MESHQ_API_KEY"] = key.read_text().strip() if key.exists() else "no-auth-server"
    await remove(reference_room, "poem.txt")
    async with reference_service(env, tmp_path):
        push = await spawn([sys.executable, str(REFERENCE / "push_queue.py")], env,
                           tmp_path / "push.log", cwd=REFERENCE)
        assert await finished(push, tmp_path / "push.log") == 0, (
            tmp_path / "push.log").read_text()
        await eventually(lambda: has_file(reference_room, "poem.txt"), timeout=60,
                         what="poem.txt from push_queue.py")
    assert (await reference_room.storage.read("poem.txt")).decode() == POEM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def jobs_done(port: int, queue: str) -> bool:
    def scrape() -> bool:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        for family in text_string_to_metric_families(text.decode()):
            for sample in family.samples:
                if (sample.name == "meshq_worker_jobs_total" and sample.value == 1
                        and sample.labels.get("queue") == queue
                        and sample.labels.get("outcome") == "ok"):
                    return True
        return False

    return await asyncio.to_thread(scrape)


async def test_process_join_runs_the_no_code_agent(mq: Any, fake: FakeOpenAI, tmp_path: Path,
                                                   room: RoomClient, unique: str) -> None:
    env = environment(mq, fake, tmp_path)
    metrics_port = free_port()
    agent = await spawn([*MESHQ, "process", "join", f"--room={room.room_name}",
                         "--agent-name=queue-agent", f"--channel=queue:{unique}",
                         "--require-storage", "--rule", "save what you are asked to save",
                         f"--metrics-listen=127.0.0.1:{metrics_port}"],
                        env, tmp_path / "join.log")
    try:
        await room.queues.send(unique, {"instructions": "save a poem about ai to poems/ai.txt"})
        await eventually(lambda: has_file(room, "poems/ai.txt"), timeout=60,
                         what="the agent's file")
        # And the worker process reports the finished job on its own /metrics
        await eventually(lambda: jobs_done(metrics_port, unique), timeout=30,
                         what="the job in the worker's metrics")
    finally:
        agent.send_signal(signal.SIGINT)
        code = await finished(agent, tmp_path / "join.log", timeout=30)
    assert code == 0, (tmp_path / "join.log").read_text()
    first = fake.bodies(RESPONSES_PATH)[0]
    assert first["instructions"] == "save what you are asked to save"


async def test_a_killed_worker_process_loses_no_job(mq: Any, fake: FakeOpenAI, tmp_path: Path,
                                                    room: RoomClient, unique: str) -> None:
    # Given a worker process whose model call hangs (the job is mid-flight)
    model_called = asyncio.Event()
    loop = asyncio.get_running_loop()

    def hang(path: str, body: dict[str, Any]) -> Reply:
        loop.call_soon_threadsafe(model_called.set)
        return Reply(response_text("too late"), hang=30)

    fake.handler = hang
    env = environment(mq, fake, tmp_path)
    agent = await spawn([*MESHQ, "process", "join", f"--room={room.room_name}",
                         "--agent-name=doomed", f"--channel=queue:{unique}"],
                        env, tmp_path / "doomed.log")
    await room.queues.send(unique, {"n": 1, "instructions": "think hard"})
    await asyncio.wait_for(model_called.wait(), 60)
    # When the process is SIGKILLed mid-job
    agent.kill()
    await agent.wait()
    # Then the job is redelivered and another worker finishes it
    survivor = RecordingWorker(unique)
    async with survivor.serving(room):
        await eventually(lambda: survivor.stats.done == 1, timeout=30, what="the redelivery")
    [message] = survivor.seen
    assert json.loads(json.dumps(message))["n"] == 1
