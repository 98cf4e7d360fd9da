"""`meshq demo`'s flow, both modes, against a stack it starts itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai.server import FakeOpenAI, function_outputs, response_calls, response_text
from rich.progress import Progress

from meshq.demo.runner import run_demo

pytestmark = pytest.mark.slow


async def test_demo_without_a_model_runs_the_word_count_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = await run_demo(data_dir=tmp_path, jobs=20, concurrency=4,
                            progress=Progress(disable=True), timeout=60)
    assert result.mode.startswith("word-count")
    assert result.done >= 21 and result.failed == 0  # the batch and the scheduled job
    assert result.scheduled_runs >= 1
    assert {f"reports/job-{i}.json" for i in range(20)} <= set(result.files)
    assert "reports/scheduled.json" in result.files
    assert 0 < result.percentile(50) <= result.percentile(99)


def summariser(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Read the named text, then write a summary where asked."""
    outputs = function_outputs(body)
    job = json.loads(body["input"][0]["content"])["instructions"]
    source, target = re.findall(r"(texts/\d+\.txt|summaries/\d+\.txt)", job)
    if not outputs:
        return response_calls(("read_file", {"path": source}))
    if len(outputs) == 1:
        return response_calls(("write_file", {"path": target, "text": "two lines\nof summary"}))
    return response_text("summarised")


async def test_demo_with_a_model_runs_the_llm_agent(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI() as fake:
        fake.handler = summariser
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        result = await run_demo(data_dir=tmp_path, jobs=3, concurrency=2,
                                progress=Progress(disable=True), timeout=60)
    assert result.mode == "LLM agent"
    assert {"summaries/0.txt", "summaries/1.txt", "summaries/2.txt"} <= set(result.files)
