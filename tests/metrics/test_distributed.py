"""Two Gloo ranks under torchrun give the single-process value of every metric state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from stochrobust.metrics import (
    frechet_distance,
    per_pixel_std,
    prdc,
    psnr,
    ssim,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import dist_worker  # noqa: E402


def torchrun(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("torchrun") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]
    cmd += ["--nproc_per_node", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", "localhost:0"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_process() -> dict[str, list[float]]:
    """The functions of the library on the whole data set (no states involved)."""
    d = dist_worker.data()
    certified = d["certified"]
    v = d["values"].numpy()
    ci = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    return {
        "robustness": [v.mean(), np.sqrt(v).mean(), -np.log(v).mean(), *ci, len(v)],
        "robustness_inputs": [*v.tolist(), *(v / 2).tolist()],
        "prdc": [float(v) for v in prdc(d["real"], d["fake"], k=3)],
        "frechet": [float(frechet_distance(d["real"], d["fake"]))],
        "psnr": [float(psnr(d["x"], d["y"]).double().mean())],
        "ssim": [float(ssim(d["x"], d["y"]).double().mean())],
        "mean": [float(d["values"].mean())],
        "pixel_std": per_pixel_std(d["samples"].double()).tolist(),
        "certified": [float(certified.double().mean()), float(certified.all(1).double().mean())],
    }


@pytest.mark.slow  # two interpreter start-ups (seconds of CPU); CI runs it
@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="needs Gloo")
def test_two_ranks_equal_one_process(tmp_path: Path) -> None:
    out = tmp_path / "dist.json"
    run = torchrun(str(HERE / "dist_worker.py"), str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    got = json.loads(out.read_text())
    want = one_process()
    assert got.keys() == want.keys()
    for name in ("prdc", "certified", "robustness_inputs"):  # counts, concatenations: exact
        assert got[name] == want[name], name
    floats = ("frechet", "psnr", "ssim", "mean", "pixel_std", "robustness")
    for name in floats:  # float reduction order
        assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), name


def test_uneven_shards_are_uneven() -> None:
    x = torch.arange(10)
    parts = [dist_worker.shard(x, r, 2).tolist() for r in range(2)]
    assert parts == [[0, 1, 2], [3, 4, 5, 6, 7, 8, 9]]


@pytest.mark.slow  # CI runs it: the example's --quick mode on two Gloo ranks
@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="needs Gloo")
def test_example_on_two_ranks_prints_the_one_process_figures(tmp_path: Path) -> None:
    script = ROOT / "examples" / "distributed_evaluation.py"
    run = torchrun(str(script), "--quick", "--verify", "--out", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(" ok") == 11 and "DIFFERS" not in run.stdout
    assert json.loads((tmp_path / "figures.json").read_text())["world"] == 2
    assert run.stderr.count("batches 0/") == 1  # progress from rank 0 only, no repeated bars
