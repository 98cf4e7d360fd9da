"""`buf lint` is clean and `buf breaking` guards the released contract (contract/released)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "clients" / "node" / "node_modules" / ".bin" / "buf"
PROTOS = ROOT / "protos"
RELEASED = ROOT / "contract" / "released"


def buf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    if not BUF.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BUF} is missing: `make test` installs it with npm")
        pytest.skip(f"{BUF} is missing: run `make test` (npm install in clients/node)")
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_buf_lint_is_clean() -> None:
    result = buf("lint", str(PROTOS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_current_protos_do_not_break_the_released_contract() -> None:
    result = buf("breaking", str(PROTOS), "--against", str(RELEASED))
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_catches_a_removed_field(tmp_path: Path) -> None:
    # Given a copy of the protos where a field of QueueService's Send request is gone
    broken = tmp_path / "protos"
    shutil.copytree(PROTOS, broken)
    queues = broken / "meshq" / "v1" / "queues.proto"
    text = queues.read_text()
    assert "  bool create = 4;\n}" in text
    queues.write_text(text.replace("  bool create = 4;\n}", "}", 1))
    # When buf compares it with the released contract
    result = buf("breaking", str(broken), "--against", str(RELEASED))
    # Then it fails and names the deleted field
    assert result.returncode != 0
    assert "create" in (result.stdout + result.stderr)


def test_buf_lint_requires_a_comment_on_every_field(tmp_path: Path) -> None:
    # Given a copy of the protos where one field lost its comment
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy)
    rooms = copy / "meshq" / "v1" / "rooms.proto"
    text = rooms.read_text()
    assert "  // When true, an existing room" in text
    rooms.write_text(text.replace(
        "  // When true, an existing room with this name is returned instead of ALREADY_EXISTS.\n",
        "", 1))
    # Then buf lint (STANDARD + COMMENTS) refuses it
    result = buf("lint", str(copy))
    assert result.returncode != 0
    assert "if_not_exists" in result.stdout + result.stderr
