"""Regenerate the committed Python stubs from ``protos/`` (``make protos``).

``generate(out_dir)`` is also used by the staleness test, which generates into a temporary
folder and compares byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[3]
PROTO_ROOT = ROOT / "protos"
STUB_ROOT = ROOT / "clients" / "python"


def proto_files() -> list[Path]:
    """Every .proto of the contract, sorted."""
    return sorted((PROTO_ROOT / "meshq" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> None:
    """Write ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` for every proto under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def main() -> None:
    generate(STUB_ROOT)
    print(f"generated stubs for {len(proto_files())} protos under {STUB_ROOT / 'meshq' / 'v1'}")


if __name__ == "__main__":
    main()
    sys.exit(0)
