"""/metrics has no authentication: beyond loopback it needs --metrics-public."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from meshq.core.errors import FailedPrecondition
from meshq.metrics.server import check_metrics_listen
from meshq.server.app import StackConfig
from meshq.server.runner import open_stack

MESHQ = Path(sys.executable).with_name("meshq")


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", ":9464", "[::]:9464", "192.0.2.7:9464",
                                    "metrics.example.com:9464"])
def test_a_non_loopback_metrics_address_is_refused_without_the_flag(listen: str) -> None:
    with pytest.raises(FailedPrecondition, match="--metrics-public"):
        check_metrics_listen(listen)
    assert check_metrics_listen(listen, public=True)[1] == 9464


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "localhost:0", "[::1]:0"])
def test_loopback_needs_no_flag(listen: str) -> None:
    check_metrics_listen(listen)


def test_meshq_up_refuses_public_metrics_in_one_line_before_touching_the_data_dir(
    tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [str(MESHQ), "up", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0",
         "--metrics-listen", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--metrics-public" in lines[0], lines
    assert not data_dir.exists()


async def test_with_the_flag_metrics_serve_on_every_interface(tmp_path: Path) -> None:
    stack = await open_stack(
        StackConfig(data_dir=tmp_path, listen="127.0.0.1:0", services=("storage",)),
        metrics_listen="0.0.0.0:0", metrics_public=True)
    try:
        url = f"http://127.0.0.1:{stack.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - loopback
            assert reply.status == 200
    finally:
        await stack.stop(grace=0.5)
