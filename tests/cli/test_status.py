"""`meshq status` against the session server: reachable, version, each service, data dir,
metrics and Studio (a real HTTP server stands in for the Studio; a closed port for none)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from meshq.cli.common import EXIT_UNREACHABLE
from meshq.cli.main import cli
from meshq.cli.status import client_version


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"studio")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def studio() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def _status(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, cli, ["status", *args],
                                   catch_exceptions=False)


async def test_status_of_a_running_server(server: Any, studio: str) -> None:
    result = await _status("--server", server.address, "--token", server.token,
                           "--metrics", server.metrics_address, "--studio", studio,
                           "--data-dir", str(server.data_dir), "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["reachable"], report["status"]) == (True, "SERVING")
    assert report["services"]["meshq.v1.QueueService"] == "SERVING"
    assert set(report["services"].values()) <= {"SERVING", "NOT_HOSTED"}
    assert report["server_version"] == report["client_version"] == client_version()
    assert report["metrics"] == {"address": f"http://{server.metrics_address}/metrics",
                                 "answers": True}
    assert report["studio"]["answers"] is True
    assert report["data_dir"]["exists"] and report["data_dir"]["path"] == str(server.data_dir)
    held = report["data_dir"]["locks"]
    assert held["queue"] == {"pid": os.getpid(), "address": server.address}
    # The table says the same in words
    table = await _status("--server", server.address, "--token", server.token,
                          "--metrics", server.metrics_address, "--studio", _closed_port(),
                          "--data-dir", str(server.data_dir))
    assert table.exit_code == 0, table.output
    assert f"{server.address}: SERVING" in table.stdout and "no answer" in table.stdout


async def test_status_of_no_server(tmp_path: Any) -> None:
    result = await _status("--server", _closed_port(), "--timeout", "2", "--data-dir",
                           str(tmp_path / "none"), "-o", "json")
    assert result.exit_code == EXIT_UNREACHABLE
    report = json.loads(result.stdout)
    assert report["reachable"] is False and "UNAVAILABLE" in report["error"]
    assert report["data_dir"]["exists"] is False


async def test_status_finds_the_endpoints_the_server_wrote_in_its_data_dir(
        server: Any, studio: str) -> None:
    # Given a server that wrote its metrics and Studio URLs beside its address (as `meshq up`
    # does once they listen, on whatever ports it was given)
    server.stack.record_endpoints(metrics=f"http://{server.metrics_address}/metrics",
                                  studio=f"http://{studio}/")
    try:
        # When status is asked without --metrics / --studio
        result = await _status("--server", server.address, "--token", server.token,
                               "--data-dir", str(server.data_dir), "-o", "json")
    finally:
        server.stack.record_endpoints()
    # Then it probes those, not the default ports
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["metrics"] == {"address": f"http://{server.metrics_address}/metrics",
                                 "answers": True}
    assert report["studio"] == {"address": f"http://{studio}/", "answers": True}
    assert report["server_version"] == client_version()
