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
    ("meshq.cli.status", "status"),
    ("meshq.cli.profiles", "profile"),
    ("meshq.cli.rooms", "rooms"),
    ("meshq.cli.queues", "room"),
    ("meshq.cli.queues", "queue"),
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
                try:
                    command = getattr(importlib.import_module(module), attr)
                except ModuleNotFoundError as err:
                    return _needs_extra(cmd_name, err)
                return command if isinstance(command, click.Command) else None
        return super().get_command(ctx, cmd_name)

    @staticmethod
    def _name(attr: str) -> str:
        return attr.replace("_", "-")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--profile", help="A named profile of the config file, for every command that "
              "connects (the same as their own --profile; docs/cli.md).")
@click.version_option(package_name="meshq")
def cli(verbose: int, profile: str | None) -> None:
    """meshq: durable queues, scheduled tasks and agent workers over gRPC."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _needs_extra(name: str, err: ModuleNotFoundError) -> click.Command:
    """A stand-in for a command whose server parts are not installed: it says which extra."""
    from meshq.cli.common import EXIT_USAGE, fail, missing_extra_message

    message = missing_extra_message(err, f"`meshq {name}`")

    def refuse(**_: object) -> None:
        fail(message, EXIT_USAGE)

    return click.Command(name, callback=refuse, help=message, short_help=message,
                         context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True})


def main() -> None:
    from meshq.cli.common import EXIT_USAGE, fail, missing_extra_message

    try:
        cli(prog_name="meshq")
    except ModuleNotFoundError as err:  # a command's lazy import of a part not installed
        fail(missing_extra_message(err), EXIT_USAGE)


if __name__ == "__main__":
    main()
