"""Smoke test: every script in examples/ runs with --quick and writes files to --out.

New examples are picked up automatically (one test per ``examples/*.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def test_examples_are_found() -> None:
    assert EXAMPLES, "no examples/*.py found"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_quick_run(script: Path, tmp_path: Path) -> None:
    env = dict(
        os.environ,
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    )
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, f"{script.name} failed:\n{res.stdout}\n{res.stderr}"
    written = sorted(p.name for p in out.iterdir())
    assert any(name.endswith(".png") for name in written), written
