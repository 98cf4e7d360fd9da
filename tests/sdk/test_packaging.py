"""pyproject.toml's promises, checked statically: a small client install, true floors, a lock
that pins what `make` installs, and an SDK that imports nothing of the server."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
CLIENT = {"grpcio", "protobuf", "pyjwt", "click", "rich"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _name(requirement: str) -> str:
    match = _NAME.match(requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _closure(extra: str) -> set[str]:
    """Every requirement name an extra brings, following meshq[...] references."""
    names: set[str] = set()
    for requirement in EXTRAS[extra]:
        self_ref = re.fullmatch(r"meshq\[([a-z,]+)\]", requirement)
        if self_ref:
            for inner in self_ref.group(1).split(","):
                names |= _closure(inner)
        else:
            names.add(_name(requirement))
    return names


def test_plain_install_is_the_client_only() -> None:
    assert {_name(r) for r in PROJECT["dependencies"]} == CLIENT


def test_floors_are_what_the_committed_stubs_need() -> None:
    stubs = REPO / "clients/python/meshq/v1"
    grpc_version = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'",
                             (stubs / "queues_pb2_grpc.py").read_text())
    proto_version = re.search(r"Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),",
                              (stubs / "queues_pb2.py").read_text())
    assert grpc_version and proto_version
    floors = {_name(r): r for r in PROJECT["dependencies"]}
    assert f">={grpc_version.group(1)}," in floors["grpcio"]
    assert f">={'.'.join(proto_version.groups())}," in floors["protobuf"]


def test_build_tools_are_dev_only() -> None:
    for extra in EXTRAS:
        if extra != "dev":
            assert not {"grpcio-tools", "cryptography"} & _closure(extra), extra
    assert {"grpcio-tools", "cryptography"} <= _closure("dev")
    assert {"ray", "openai", "prometheus-client"} <= _closure("all") <= _closure("dev")


def test_the_lock_pins_everything_make_installs() -> None:
    lock = (REPO / "requirements-dev.lock").read_text()
    pinned = {_name(line) for line in lock.splitlines() if "==" in line and line[:1].isalnum()}
    unpinned = _closure("dev") - pinned
    assert not unpinned, f"run `make lock`: requirements-dev.lock lacks {sorted(unpinned)}"
    assert " @ " not in lock, "the lock pins a local path (pip refuses it as a constraint)"
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q -c $(LOCK) -e '.[dev]'" in makefile


def test_the_sdk_imports_nothing_of_the_server() -> None:
    for path in sorted((REPO / "clients/python/meshq/api").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                if module.startswith("meshq"):
                    assert module.startswith(("meshq.api", "meshq.v1")), f"{path.name}: {module}"
