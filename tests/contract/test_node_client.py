"""The Node.js client: its own suite (`npm test`, node's test runner) against this suite's live
server, messages crossing between Python and Node both ways, and the runner's refusal to pass
a run that skipped a test or had no server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from meshq.v1 import queues_pb2, queues_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "clients" / "node"
SUMMARY = re.compile(r"^node client: (\d+) passed, (\d+) failed, (\d+) skipped$", re.M)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None or not (NODE_DIR / "node_modules").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{name} or clients/node/node_modules is missing: `make test` installs them")
        pytest.skip(f"{name} or clients/node/node_modules is missing (run `make test`)")
    return path


async def _run(*cmd: str, env: dict[str, str], timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=NODE_DIR, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def _env(server: object, **extra: str) -> dict[str, str]:
    return {**os.environ, "MESHQ_SERVER": server.address,  # type: ignore[attr-defined]
            "MESHQ_TOKEN": server.token, **extra}  # type: ignore[attr-defined]


async def test_npm_test_passes_against_the_live_server_with_nothing_skipped(server) -> None:
    npm = _tool("npm")
    # When `npm test` is handed this suite's server
    code, report = await _run(npm, "test", "--silent", env=_env(server), timeout=600)
    # Then it passed, with every test run and none skipped
    assert code == 0, report
    summary = SUMMARY.search(report)
    assert summary is not None, report
    passed, failed, skipped = map(int, summary.groups())
    assert passed >= 30 and failed == 0 and skipped == 0, report


async def test_messages_cross_between_python_and_node(server, unique) -> None:
    node = _tool("node")
    from_py, to_py = unique + "-py2node", unique + "-node2py"
    conn = server.connection()
    stub = conn.stub(queues_pb2_grpc.QueueServiceStub)
    try:
        # Given a message sent from Python
        await stub.Send(queues_pb2.SendRequest(
            room=unique, queue=from_py, create=True,
            messages=[queues_pb2.OutgoingMessage(json=json.dumps({"from": "python", "text": "héllo"}))],
        ), **conn.call_options())
        # When Node subscribes, acks it and sends one back
        script = f"""
            const {{ MeshqClient }} = require('./src');
            const client = new MeshqClient({{ timeoutMs: 10000 }});
            (async () => {{
              const queues = client.room({json.dumps(unique)}).queues;
              const sub = await queues.subscribe({json.dumps(from_py)});
              const message = (await sub.next()).value;
              await message.ack();
              await sub.close();
              await queues.send({json.dumps(to_py)}, {{ from: 'node', text: 'grüß' }});
              console.log(JSON.stringify(message.body));
              client.close();
            }})().catch((err) => {{ console.error(err); process.exit(1); }});
        """
        code, out = await _run(node, "-e", script, env=_env(server), timeout=60)
        assert code == 0, out
        # Then Node got Python's message intact, and Python gets Node's
        assert json.loads(out) == {"from": "python", "text": "héllo"}
        reply = await stub.Receive(queues_pb2.ReceiveRequest(
            room=unique, queue=to_py, wait=True, timeout_seconds=5, auto_ack=True,
        ), **conn.call_options(15))
        assert [json.loads(d.json) for d in reply.deliveries] == [{"from": "node", "text": "grüß"}]
        state = await stub.GetMessage(queues_pb2.GetMessageRequest(
            room=unique, queue=from_py, message_id=reply.deliveries[0].message_id,
        ), **conn.call_options())
        assert state.state == queues_pb2.MESSAGE_STATE_GONE
    finally:
        await conn.close()


async def test_a_skipped_test_fails_the_run(server, tmp_path: Path) -> None:
    node = _tool("node")
    # Given a test file where one test passes and one is skipped
    suite = tmp_path / "skipping.test.js"
    suite.write_text("const test = require('node:test');\n"
                     "test('runs', () => {});\n"
                     "test('skipped', { skip: 'no reason' }, () => {});\n")
    # When the runner runs it
    code, report = await _run(node, "scripts/test.js", str(suite), env=_env(server), timeout=60)
    # Then the run fails, saying so
    assert code != 0, report
    assert "node client: 1 passed, 0 failed, 1 skipped" in report, report


async def test_no_server_fails_the_run(tmp_path: Path) -> None:
    node = _tool("node")
    # Given no server handed in and a meshq command that cannot start one
    env = {k: v for k, v in os.environ.items() if k not in ("MESHQ_SERVER", "MESHQ_TOKEN")}
    env["MESHQ_BIN"] = str(tmp_path / "no-such-meshq")
    # When npm test's runner runs
    code, report = await _run(node, "scripts/test.js", env=env, timeout=60)
    # Then it fails instead of skipping
    assert code != 0, report
    assert "cannot start a meshq server" in report, report
    assert "0 passed, 1 failed" in report, report
