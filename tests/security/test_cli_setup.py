"""`meshq setup` and `meshq token mint` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from meshq.api.tokens import ParticipantToken
from meshq.cli.main import cli


def test_setup_is_idempotent_and_mint_signs_with_the_local_key(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = str(tmp_path / "data")
    first = runner.invoke(cli, ["setup", "--data-dir", data_dir, "-o", "json", "--show-api-key"])
    second = runner.invoke(cli, ["setup", "--data-dir", data_dir, "-o", "json",
                                 "--show-api-key"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    info = json.loads(first.output)
    assert info == json.loads(second.output)
    assert Path(info["api_key_path"]).read_text().strip() == info["api_key"]
    text = runner.invoke(cli, ["setup", "--data-dir", data_dir]).output
    assert info["api_key"] not in text  # printed only when asked
    assert info["api_key"] not in runner.invoke(cli, ["setup", "--data-dir", data_dir,
                                                      "-o", "json"]).output
    shown = runner.invoke(cli, ["setup", "--data-dir", data_dir, "--show-api-key"]).output
    assert shown == info["api_key"] + "\n"

    minted = runner.invoke(cli, ["token", "mint", "--data-dir", data_dir, "--room", "r1",
                                 "--name", "bob", "--send", "jobs*", "--storage-write", "out",
                                 "--scheduler", "--ttl", "15m"])
    assert minted.exit_code == 0, minted.output
    token = ParticipantToken.from_jwt(minted.output.strip(), api_key=info["api_key"])
    assert token.rooms == ("r1",) and token.name == "bob"
    assert token.api.can_send("jobs-1") and not token.api.can_receive("jobs-1")
    assert token.api.can_write("out/x") and token.api.scheduler and not token.api.workers
    assert token.expires_at is not None and token.issued_at is not None
    assert token.expires_at - token.issued_at == 900


def test_mint_refuses_bad_input_with_usage_exit_code(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["setup", "--data-dir", str(tmp_path)])
    for args in (["--room", "bad room"], ["--room", "r", "--ttl", "soon"],
                 ["--room", "r", "--agent-default", "--workers"]):
        result = runner.invoke(cli, ["token", "mint", "--data-dir", str(tmp_path), "--name",
                                     "n", *args])
        assert result.exit_code == 2, (args, result.output)
    missing = runner.invoke(cli, ["token", "mint", "--data-dir", str(tmp_path / "none"),
                                  "--room", "r", "--name", "n"], env={"MESHQ_API_KEY": ""})
    assert missing.exit_code == 2 and "meshq setup" in missing.output


def test_setup_makes_the_data_dir_and_its_new_parents_private_and_tightens_an_old_one(
    tmp_path: Path,
) -> None:
    import os
    import stat

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    runner = CliRunner()
    nested = tmp_path / "a" / "b" / "data"
    old_umask = os.umask(0o022)
    try:
        assert runner.invoke(cli, ["setup", "--data-dir", str(nested)]).exit_code == 0
    finally:
        os.umask(old_umask)
    assert [oct(mode(p)) for p in (tmp_path / "a", tmp_path / "a" / "b", nested)] == [
        "0o700"] * 3
    assert {oct(mode(p)) for p in nested.iterdir()} == {"0o600"}
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    assert runner.invoke(cli, ["setup", "--data-dir", str(loose)]).exit_code == 0
    assert mode(loose) == 0o700


def test_setup_refuses_a_shared_folder_in_one_line(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    result = CliRunner().invoke(cli, ["setup", "--data-dir", str(shared)])
    assert result.exit_code == 2, result.output
    assert "shared folder" in result.output and len(result.output.strip().splitlines()) == 1
