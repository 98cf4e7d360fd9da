"""The committed Python stubs match the protos: regenerate into a temp dir and compare."""

from __future__ import annotations

from pathlib import Path

from meshq.tools_dev.gen_protos import STUB_ROOT, generate


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    # Given the stubs regenerated from protos/ into a fresh folder
    generate(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in (tmp_path / "meshq" / "v1").glob("*_pb2*.py*"))
    committed = sorted(
        p.relative_to(STUB_ROOT) for p in (STUB_ROOT / "meshq" / "v1").glob("*_pb2*.py*")
    )
    # Then the same files exist, byte for byte (run `make protos` when this fails)
    assert fresh == committed
    stale = [str(p) for p in fresh if (tmp_path / p).read_bytes() != (STUB_ROOT / p).read_bytes()]
    assert stale == [], f"stale stubs, run `make protos`: {stale}"
