"""The Node.js client's own tests (node's test runner) against this suite's live server,
with messages crossing between Python and Node both ways."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from meshq.v1 import queues_pb2, queues_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "clients" / "node"


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules").exists():
        if os.environ.get("CI"):
            pytest.fail("node or clients/node/node_modules is missing: `make test` installs them")
        pytest.skip("node or clients/node/node_modules is missing (run `make test`)")
    return node


async def test_node_client_suite_against_live_server(server, unique) -> None:
    node = _node()
    room, from_py, to_py = unique, unique + "-py2node", unique + "-node2py"
    conn = server.connection()
    stub = conn.stub(queues_pb2_grpc.QueueServiceStub)
    try:
        # Given a message sent from Python for Node to receive
        await stub.Send(queues_pb2.SendRequest(
            room=room, queue=from_py, create=True,
            messages=[queues_pb2.OutgoingMessage(json=json.dumps({"from": "python", "text": "héllo"}))],
        ), metadata=conn.metadata, timeout=10)
        # When node's test runner runs the client suite against this server
        env = {**os.environ, "MESHQ_SERVER": server.address, "MESHQ_TOKEN": server.token,
               "MESHQ_TEST_ROOM": room, "MESHQ_TEST_FROM_PY_QUEUE": from_py,
               "MESHQ_TEST_TO_PY_QUEUE": to_py}
        proc = await asyncio.create_subprocess_exec(
            node, "--test", "--test-concurrency=1", "test/", cwd=NODE_DIR, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        report = out.decode()
        # Then every Node test passed, none skipped
        assert proc.returncode == 0, report
        assert "# fail 0" in report and "# skipped 0" in report, report
        # And the message Node sent is here for Python, intact
        reply = await stub.Receive(queues_pb2.ReceiveRequest(
            room=room, queue=to_py, wait=True, timeout_seconds=5, auto_ack=True,
        ), metadata=conn.metadata, timeout=10)
        assert [json.loads(d.json) for d in reply.deliveries] == [{"from": "node", "text": "grüß"}]
    finally:
        await conn.close()
