"""`meshq`: the root command. Each command group lives in its own module."""

from __future__ import annotations

import importlib
import logging

import click

# (module, attribute) of each top-level command; a module owns its group and subcommands.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("meshq.cli.serve", "up"),
    ("meshq.cli.serve", "serve"),
    ("meshq.cli.demo", "demo"),
    ("meshq.cli.setup", "setup"),
    ("meshq.cli.setup", "token"),
    ("meshq.cli.rooms", "rooms"),
    ("meshq.cli.rooms", "room"),
    ("meshq.cli.rooms", "queue"),
    ("meshq.cli.tasks", "scheduled_task"),
    ("meshq.cli.storage", "storage"),
    ("meshq.cli.process", "process"),
    ("meshq.cli.process", "service"),
    ("meshq.cli.pools", "pool"),
    ("meshq.cli.bench", "bench"),
    ("meshq.cli.studio", "studio"),
)


class LazyGroup(click.Group):
    """Imports a command's module only when it is listed or run, so `meshq --help` is quick."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {self._name(attr) for _, attr in COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module, attr in COMMANDS:
            if self._name(attr) == cmd_name:
                command = getattr(importlib.import_module(module), attr)
                return command if isinstance(command, click.Command) else None
        return super().get_command(ctx, cmd_name)

    @staticmethod
    def _name(attr: str) -> str:
        return attr.replace("_", "-")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="meshq")
def cli(verbose: int) -> None:
    """meshq: durable queues, scheduled tasks and agent workers over gRPC."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli(prog_name="meshq")


if __name__ == "__main__":
    main()
