from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stochrobust import RangeError, ShapeError, StochRobustTypeError
from stochrobust.toy import (
    OutputColumn,
    disk_posterior_estimator,
    plot_outputs,
    plot_sensitivity_recall,
    sample_disk,
    sample_square,
    sine_disk,
    zigzag,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, stochrobust.toy, stochrobust.demo; print('matplotlib' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_plot_outputs_disk_and_square(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = sample_disk(300, generator=gen)
    post = disk_posterior_estimator().sample(y, 1, generator=gen)[:, 0]
    cols = [
        OutputColumn("a", sine_disk(y, 20.0), sine_disk(y[:30], 20.0), True),
        OutputColumn("b", post, post[:30], False),
    ]
    p = plot_outputs(cols, x[:30], tmp_path / "sub" / "disk.png", title="t")
    assert p == tmp_path / "sub" / "disk.png" and p.read_bytes()[:8] == PNG
    xs, ys = sample_square(100, generator=gen)
    q = plot_outputs(
        [OutputColumn("z", zigzag(ys, 3), zigzag(ys, 3), True)],
        xs,
        tmp_path / "sq.png",
        region="square",
    )
    assert q.read_bytes()[:8] == PNG


def test_plot_outputs_bad_arguments(tmp_path: Path) -> None:
    pts = torch.zeros(4, 2)
    col = OutputColumn("a", pts, pts, True)
    with pytest.raises(ShapeError, match="columns"):
        plot_outputs([], pts, tmp_path / "x.png")
    with pytest.raises(RangeError, match="region"):
        plot_outputs([col], pts, tmp_path / "x.png", region="ring")
    with pytest.raises(ShapeError, match="data"):
        plot_outputs([col], torch.zeros(4, 3), tmp_path / "x.png")
    with pytest.raises(ShapeError, match=r"columns\[0\].support"):
        plot_outputs([OutputColumn("a", torch.zeros(4), pts, True)], pts, tmp_path / "x.png")
    with pytest.raises(StochRobustTypeError, match=r"columns\[0\]"):
        plot_outputs([("a", pts, pts, True)], pts, tmp_path / "x.png")  # type: ignore[list-item]
    assert not (tmp_path / "x.png").exists()


def test_plot_sensitivity_recall(tmp_path: Path) -> None:
    p = plot_sensitivity_recall(
        ["a", "b", "c"],
        [0.1, 0.9, 1.0],
        [1e-6, 1e-3, 1e-6],
        [False, False, True],
        tmp_path / "s.png",
        title="t",
    )
    assert p.read_bytes()[:8] == PNG
    with pytest.raises(ShapeError, match="equal non-zero lengths"):
        plot_sensitivity_recall(["a"], [0.1, 0.2], [1e-6], [False], tmp_path / "e.png")
    with pytest.raises(RangeError, match=r"sensitivity\[1\]"):
        plot_sensitivity_recall(
            ["a", "b"], [0.1, 0.2], [1e-6, 0.0], [False, True], tmp_path / "e.png"
        )
