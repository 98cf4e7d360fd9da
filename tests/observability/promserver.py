"""A real Prometheus server for tests: Debian's ``prometheus`` binary, a temp config, its HTTP API.

Outside CI a missing binary skips the test with the reason; in CI (``CI=true``) it fails, so the
check can never silently vanish there.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
INSTALL_HINT = "apt-get install -y prometheus (Debian's package gives prometheus and promtool)"


def require_binary(name: str) -> str:
    """The binary's path, or skip (fail in CI) saying why."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return path


def run_promtool(*args: str) -> str:
    """Run promtool; on failure the assertion shows its output."""
    done = subprocess.run(
        [require_binary("promtool"), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def scrape_config(meshq_target: str, worker_targets: list[str] | None = None
                  ) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml as shipped, scraping every second, its targets (the
    only thing an operator edits) pointed at the live endpoints' ports."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"meshq", "meshq-workers"}, "a job was added: point it somewhere here"
    jobs["meshq"]["static_configs"][0]["targets"] = [meshq_target]
    jobs["meshq-workers"]["static_configs"][0]["targets"] = list(worker_targets or [])
    return config


@dataclass
class Prometheus:
    url: str

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def series_exist(self, name: str) -> bool:
        return bool(self.api("series", **{"match[]": name, "start": str(time.time() - 600)}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_prometheus(workdir: Path, config: dict[str, Any]) -> Iterator[Prometheus]:
    """Start Prometheus on a free loopback port with ``config``; stop it afterwards."""
    binary = require_binary("prometheus")
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={config_file}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    prometheus = Prometheus(url=f"http://127.0.0.1:{port}")
    try:
        _wait_ready(prometheus, process, workdir / "prometheus.log")
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(prometheus: Prometheus, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # polling a child process's readiness: nothing to wait on
    raise AssertionError(f"prometheus not ready in 60 s:\n{log.read_text()}")


async def poll(check: Callable[[], Any], *, timeout: float, interval: float = 0.5) -> Any:
    """Run blocking ``check`` off the loop until it is truthy or the deadline passes (then the last).

    The event loop stays free meanwhile: the load and the engine's scrape-time reads run on it.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(interval)
