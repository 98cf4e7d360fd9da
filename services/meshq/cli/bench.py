"""`meshq bench …`: benchmark commands. Each prints its figures (and ratios) in one run."""

from __future__ import annotations

import importlib

import click

# subcommand name -> (module, attribute) of a click command that owns that benchmark
BENCHES = {
    "flow": ("meshq.bench.flow", "flow_bench"),
    "queue": ("meshq.bench.queue", "queue_bench"),
    "scheduler": ("meshq.bench.scheduler", "scheduler_bench"),
    "worker": ("meshq.bench.worker", "worker_bench"),
    "pool": ("meshq.bench.pool", "pool_bench"),
    "postgres": ("meshq.bench.postgres", "postgres_bench"),
}


class BenchGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BENCHES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in BENCHES:
            return None
        module, attr = BENCHES[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        return command if isinstance(command, click.Command) else None


@click.group(cls=BenchGroup)
def bench() -> None:
    """Benchmarks: queue throughput and latency, flow control, scheduler fire lag, worker and
    pool throughput.

    Figures and the commands that made them are in docs/benchmarks.md.
    """
