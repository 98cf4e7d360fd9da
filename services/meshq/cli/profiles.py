"""Named connection profiles: ``meshq --profile prod …`` reads server, token and TLS CA from a
config file, so nobody retypes them.

The file is TOML, ``$MESHQ_CONFIG`` or ``$XDG_CONFIG_HOME/meshq/config.toml`` (default
``~/.config/meshq/config.toml``)::

    default_profile = "local"          # used when no --profile / $MESHQ_PROFILE is given

    [profiles.prod]
    server = "meshq.example.com:50051"
    token_file = "~/.config/meshq/prod.token"   # or token = "…"
    tls_ca = "~/.config/meshq/prod-ca.pem"
    insecure = false
    timeout = 30

A value given on the command line or in the environment (``MESHQ_SERVER``, ``MESHQ_TOKEN``,
``MESHQ_TLS_CA``) wins over the profile's; the profile wins over the built-in defaults.
``meshq profile list`` shows the file's profiles (never their tokens).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

CONFIG_ENV = "MESHQ_CONFIG"
PROFILE_ENV = "MESHQ_PROFILE"
KEYS = frozenset({"server", "token", "token_file", "tls_ca", "insecure", "timeout"})


class ProfileError(ValueError):
    """The config file or the profile asked for is missing or malformed (the message says
    which and how to fix it)."""


@dataclass(frozen=True)
class Profile:
    """Connection settings of one profile; None where the profile says nothing."""

    name: str
    server: str | None = None
    token: str | None = None
    tls_ca: str | None = None
    insecure: bool | None = None
    timeout: float | None = None


def config_path(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "meshq" / "config.toml"


def load_config(path: Path) -> dict[str, Any]:
    """The parsed file, or {} when there is none."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ProfileError(f"cannot read the config file {path}: {err}") from None


def select(name: str | None, path: Path | None = None) -> Profile | None:
    """The profile ``name`` (else the file's ``default_profile``), or None when neither is
    set; ProfileError when it is named but not there."""
    path = path or config_path()
    config = load_config(path)
    chosen = name or config.get("default_profile")
    if not chosen:
        return None
    profiles = config.get("profiles", {})
    if not isinstance(profiles, dict) or chosen not in profiles:
        known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) and profiles else "none"
        raise ProfileError(f"no profile {chosen!r} in {path} (profiles: {known})")
    return _profile(chosen, profiles[chosen], path)


def _profile(name: str, table: Any, path: Path) -> Profile:
    if not isinstance(table, dict):
        raise ProfileError(f"[profiles.{name}] in {path} must be a table")
    unknown = set(table) - KEYS
    if unknown:
        raise ProfileError(f"[profiles.{name}] in {path}: unknown key(s) {sorted(unknown)}; "
                           f"known: {sorted(KEYS)}")
    token = table.get("token")
    if token is None and table.get("token_file"):
        token_path = Path(str(table["token_file"])).expanduser()
        try:
            token = token_path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ProfileError(f"profile {name!r}: cannot read token_file {token_path}: "
                               f"{err.strerror}") from None
    tls_ca = table.get("tls_ca")
    timeout = table.get("timeout")
    return Profile(name=name, server=table.get("server"), token=token,
                   tls_ca=str(Path(str(tls_ca)).expanduser()) if tls_ca else None,
                   insecure=table.get("insecure"),
                   timeout=float(timeout) if timeout is not None else None)


def list_profiles(path: Path | None = None) -> tuple[str | None, dict[str, Profile]]:
    """The default profile's name and every profile of the file."""
    path = path or config_path()
    config = load_config(path)
    profiles = config.get("profiles", {}) if isinstance(config.get("profiles"), dict) else {}
    return config.get("default_profile"), {n: _profile(n, t, path) for n, t in profiles.items()}


@click.group("profile")
def profile() -> None:
    """Named connection profiles of the config file ($MESHQ_CONFIG or
    ~/.config/meshq/config.toml)."""


@profile.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table",
              show_default=True, help="table; wide; json.")
def profile_list(output: str) -> None:
    """List the profiles: server, TLS CA, whether a token is set (never the token)."""
    from meshq.cli.common import EXIT_USAGE, emit, fail

    path = config_path()
    try:
        default, found = list_profiles(path)
    except ProfileError as err:
        fail(str(err), EXIT_USAGE)
    data = [{"name": p.name, "default": p.name == default, "server": p.server,
             "tls_ca": p.tls_ca, "token": p.token is not None, "insecure": bool(p.insecure),
             "timeout": p.timeout} for p in found.values()]
    if output != "json" and not data:
        click.echo(f"no profiles in {path}", err=True)
        return
    emit(output, {"config": str(path), "profiles": data},
         columns=("name", "default", "server", "tls ca", "token"),
         rows=[(d["name"], "yes" if d["default"] else "", d["server"] or "", d["tls_ca"] or "",
                "set" if d["token"] else "") for d in data], title=str(path))
