"""The PostgreSQL tier's flags reach the stack's settings; without them nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshq.cli.serve import make_config, server_options


def options(**given: object) -> dict[str, object]:
    """Every option `up` takes, at its default, with ``given`` on top."""
    import click

    @click.command()
    @server_options
    def probe(**opts: object) -> None:
        captured.update(opts)

    captured: dict[str, object] = {}
    probe.main(args=[], standalone_mode=False)
    captured.pop("data_dir", None)
    captured.pop("listen", None)
    return {**captured, **given}


def test_database_url_api_key_and_replica_id_become_settings(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text("shared-key\n")
    monkeypatch.delenv("MESHQ_API_KEY", raising=False)
    config, _ = make_config(("queue",), data_dir=tmp_path, listen="127.0.0.1:0",
                            **options(database_url="postgresql://db/meshq",
                                      api_key_file=key_file, replica_id="r1"))
    assert config.settings["database_url"] == "postgresql://db/meshq"
    assert config.settings["api_key"] == "shared-key"
    assert config.settings["replica_id"] == "r1"


def test_without_the_flags_the_embedded_stack_is_unchanged(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    for name in ("MESHQ_DATABASE_URL", "MESHQ_API_KEY", "MESHQ_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    config, _ = make_config(("queue",), data_dir=tmp_path, listen="127.0.0.1:0", **options())
    assert config.settings["database_url"] == "" and config.settings["api_key"] == ""


def test_the_api_key_may_come_from_the_environment(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHQ_API_KEY", "from-env")
    config, _ = make_config(("queue",), data_dir=tmp_path, listen="127.0.0.1:0", **options())
    assert config.settings["api_key"] == "from-env"
