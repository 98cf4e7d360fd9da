"""`meshq demo` ends with where its report files are and the next steps (a real run: the
command starts its own stack, without a model)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshq.cli.main import cli

pytestmark = pytest.mark.slow


async def test_demo_says_where_the_reports_are_and_what_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    data_dir = tmp_path / "demo"
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["demo", "--jobs", "3", "--concurrency", "2", "--data-dir",
                                  str(data_dir), "--timeout", "60"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    reports = data_dir / "storage" / "demo" / "reports"
    # Then the files it names are there, after the command ended
    assert f"Report files: 4 in {reports}/" in result.output
    assert sorted(p.name for p in reports.iterdir()) == [
        "job-0.json", "job-1.json", "job-2.json", "scheduled.json"]
    # And the next steps: the server, the reference flow, the Studio
    after = result.output[result.output.index("Next steps:"):]
    assert "meshq up" in after and "meshq rooms create --name myroom" in after
    assert "http://127.0.0.1:8470/" in after
    assert f"--data-dir {data_dir}" in result.output
