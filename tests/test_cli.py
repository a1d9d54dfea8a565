from __future__ import annotations

import json

import pytest
import torch

from stochrobust.cli import main


def test_demo_command_prints_table_and_writes_files(tmp_path, capsys) -> None:
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[5/5] posterior sampler" in out
    assert "sensitivity (eq. 6)" in out and "done in" in out
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["conclusion"] in out
    assert (tmp_path / "disk_estimators.png").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_demo_cuda_without_cuda_is_an_error(tmp_path, capsys) -> None:
    assert main(["demo", "--quick", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "CUDA not available" in capsys.readouterr().err


def test_demo_rejects_unknown_device() -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--device", "tpu"])
