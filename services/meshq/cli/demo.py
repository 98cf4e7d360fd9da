"""`meshq demo`: start everything embedded, run a real job flow, print the results."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

from meshq.cli.common import fail

DEFAULT_JOBS = 200  # word-count jobs; an LLM run defaults to 5 (they cost money and time)
LLM_JOBS = 5
STUDIO_URL = "http://127.0.0.1:8470/"  # where `meshq up` serves the Studio by default


@click.command()
@click.option("--jobs", type=click.IntRange(min=1), help="Jobs in the batch "
              f"[default: {DEFAULT_JOBS}, or {LLM_JOBS} with a model].")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Jobs the worker runs at once.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the stack's data (and the report files) here [default: a new "
                   "meshq-demo-* dir in the temporary folder, kept and named at the end].")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds to wait for the batch.")
def demo(jobs: int | None, concurrency: int, data_dir: Path | None, timeout: float) -> None:
    """Start the stack in this process, create a room, start a worker, add a scheduled task,
    send a batch of jobs, wait for them, and print a results table.

    With OPENAI_API_KEY or OPENAI_BASE_URL set the worker is the LLM queue agent (it writes
    summaries to room storage); without, the word-count worker from examples/ (it writes a
    JSON report per job). Ends with where those files are and the next steps. Exits 0
    when every job was done.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from meshq.demo.runner import llm_configured, run_demo

    console = Console()
    count = jobs or (LLM_JOBS if llm_configured() else DEFAULT_JOBS)
    directory = data_dir or Path(tempfile.mkdtemp(prefix="meshq-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console) as progress:
            result = asyncio.run(run_demo(data_dir=directory, jobs=count,
                                          concurrency=concurrency, progress=progress,
                                          timeout=timeout))
    except TimeoutError as err:
        fail(str(err))
    _print(console, result)
    for line in next_steps(directory, result.files):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if result.done < result.jobs:
        fail(f"only {result.done} of {result.jobs} jobs were done")


def next_steps(data_dir: Path, files: Sequence[str]) -> list[str]:
    """Where the demo's files are, and what to try next (printed after the table)."""
    from meshq.demo.runner import ROOM

    folder = files[0].split("/", 1)[0] if files else "reports"
    where = data_dir / "storage" / ROOM / folder
    return [
        f"Report files: {len(files)} in {where}/ (room {ROOM!r}, folder {folder}/)",
        f"  read them through meshq: meshq up --data-dir {data_dir} --listen 127.0.0.1:50061 "
        "--metrics-listen ''",
        f"  then: meshq storage list {folder} --room {ROOM} --server 127.0.0.1:50061",
        f"  remove them: rm -r {data_dir}",
        "Next steps:",
        "  1. meshq setup && meshq up     # the services on ~/.local/share/meshq (Ctrl-C stops)",
        "  2. the reference flow (README.md, \"The reference's commands, with meshq\"):",
        "     meshq rooms create --name myroom --if-not-exists",
        "     meshq queue send --room myroom --queue support-jobs --json '{\"prompt\": \"...\"}'",
        "     meshq queue receive --room myroom --queue support-jobs",
        "     meshq scheduled-task add --room myroom --queue support-jobs "
        "--schedule \"30 17 * * *\" --timezone Europe/Berlin",
        f"  3. the Studio, once `meshq up` runs: {STUDIO_URL} (`meshq studio url` signs you in)",
        "  4. `meshq status` says what is running and where; docs/cli.md lists every command",
    ]


def _print(console: object, result: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from meshq.demo.runner import DemoResult

    assert isinstance(console, Console) and isinstance(result, DemoResult)
    table = Table(title=f"meshq demo: {result.mode}")
    table.add_column("what")
    table.add_column("value", justify="right")
    rate = result.jobs / result.seconds if result.seconds else 0.0
    rows = [
        ("jobs sent (batch)", str(result.jobs)),
        ("jobs done (incl. scheduled)", str(result.done)),
        ("failed attempts", str(result.failed)),
        ("scheduled task fires", str(result.scheduled_runs)),
        ("batch wall time", f"{result.seconds:.2f} s"),
        ("throughput", f"{rate:.1f} jobs/s"),
        ("job latency p50 (delivery -> ack)", f"{result.percentile(50) * 1000:.1f} ms"),
        ("job latency p99 (delivery -> ack)", f"{result.percentile(99) * 1000:.1f} ms"),
        ("files written to storage", str(len(result.files))),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if result.files:
        console.print("e.g. " + ", ".join(result.files[:3]))
