"""Every command loads and has --help: a module that fails to import is caught here."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from meshq.cli.main import COMMANDS, cli


def _walk(command: click.Command, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    paths = [path]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} {name} does not load"
            paths += _walk(sub, (*path, name))
    return paths


def all_command_paths() -> list[tuple[str, ...]]:
    return _walk(cli, ())


def test_every_listed_command_module_loads() -> None:
    ctx = click.Context(cli)
    names = {attr.replace("_", "-") for _, attr in COMMANDS}
    for name in sorted(names):
        assert isinstance(cli.get_command(ctx, name), click.Command), name


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "meshq")
def test_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_shell_completion_as_docs_cli_md_says() -> None:
    # `eval "$(_MESHQ_COMPLETE=bash_source meshq)"` installs click's completion ...
    script = CliRunner().invoke(cli, [], prog_name="meshq",
                                env={"_MESHQ_COMPLETE": "bash_source"})
    assert script.exit_code == 0 and "_meshq_completion" in script.output
    # ... which completes subcommands of the lazily loaded groups
    done = CliRunner().invoke(cli, [], prog_name="meshq", env={
        "_MESHQ_COMPLETE": "bash_complete", "COMP_WORDS": "meshq queue ex", "COMP_CWORD": "2"})
    assert done.output.split() == ["plain,extend"]
