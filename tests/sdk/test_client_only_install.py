"""A plain `pip install .` in a fresh venv is a client: the SDK and the CLI, no server parts.

The venv is built from the repository as a user would (`python -m venv`, `pip install .`;
pip finds the wheels in its cache or the configured index). Inside it the SDK sends and
receives against the session server, neither ray nor openai is installed, and the SDK loads
no module of the server (only ``meshq.api`` and ``meshq.v1``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

CLIENT_SCRIPT = r"""
import asyncio, importlib.util, json, sys
from meshq.api.client import MeshqClient
from meshq.api import errors

async def main(server, token, room):
    async with MeshqClient(server=server, token=token, timeout=10) as client:
        queues = client.room(room).queues
        sent = await queues.send("jobs", {"n": 1})
        got = await queues.receive("jobs", wait=False)
        try:
            await queues.message_state("missing", sent)
            missing = "no error"
        except errors.NotFound:
            missing = "NotFound"
    server_modules = sorted(m for m in sys.modules if m.startswith("meshq.")
                            and not m.startswith(("meshq.api", "meshq.v1")))
    print(json.dumps({
        "sent": sent, "got": got, "missing": missing, "server_modules": server_modules,
        "absent": {name: importlib.util.find_spec(name) is None
                   for name in ("ray", "openai", "prometheus_client", "opentelemetry", "cryptography",
                                "grpc_tools")},
    }))

asyncio.run(main(*sys.argv[1:]))
"""


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=540)


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with `pip install <repo>` and nothing else."""
    home = tmp_path_factory.mktemp("client-venv")
    venv = home / "venv"
    made = _run(sys.executable, "-m", "venv", venv, cwd=home)
    assert made.returncode == 0, made.stderr
    installed = _run(venv / "bin" / "python", "-m", "pip", "install", "-q",
                     "--disable-pip-version-check", REPO, cwd=home)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


@pytest.mark.slow
async def test_plain_install_is_a_client(client_venv: Path, server: Any, unique: str) -> None:
    # Given the fresh venv, When a script sends and receives with the SDK
    done = await asyncio.to_thread(
        _run, client_venv / "bin" / "python", "-c", CLIENT_SCRIPT, server.address,
        server.token, unique, cwd=client_venv.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    # Then the job went through, with typed errors, and nothing of the server was loaded
    assert report["got"] == {"n": 1} and report["sent"]
    assert report["missing"] == "NotFound"
    assert report["server_modules"] == []
    assert all(report["absent"].values()), report["absent"]


@pytest.mark.slow
async def test_cli_client_commands_work_and_server_ones_name_their_extra(
        client_venv: Path, server: Any, unique: str) -> None:
    meshq = client_venv / "bin" / "meshq"
    where = ("--server", server.address, "--token", server.token)
    listed = await asyncio.to_thread(_run, meshq, "--help", cwd=client_venv.parent)
    assert listed.returncode == 0 and "queue" in listed.stdout, listed.stderr
    sent = await asyncio.to_thread(_run, meshq, "queue", "send", "--room", unique, "--queue",
                                   "q", "--json", "{}", "--create-room", "-o", "json", *where,
                                   cwd=client_venv.parent)
    assert sent.returncode == 0, sent.stderr
    assert len(json.loads(sent.stdout)["message_ids"]) == 1
    for command in (["setup", "--data-dir", str(client_venv.parent / "data")],
                    ["status", "--data-dir", str(client_venv.parent / "data"), *where],
                    ["token", "mint", "--room", unique, "--name", "n", "--send", "q",
                     "--data-dir", str(client_venv.parent / "data")],
                    ["scheduled-task", "preview", "--schedule", "* * * * *"]):
        done = await asyncio.to_thread(_run, meshq, *command, cwd=client_venv.parent)
        assert done.returncode == 0, (command, done.stderr)
    for command, extra in ((["up"], "server"),
                           (["process", "join", "--room", unique, "--agent-name", "a",
                             "--channel", "queue:q", *where], "openai")):
        refused = await asyncio.to_thread(_run, meshq, *command, cwd=client_venv.parent)
        assert refused.returncode == 2, (command, refused.stderr)
        assert f'pip install "meshq[{extra}]"' in refused.stderr, (command, refused.stderr)
