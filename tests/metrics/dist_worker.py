"""Worker for ``test_distributed.py``: every metric state on uneven shards under torchrun.

Run as ``torchrun --nproc_per_node 2 tests/metrics/dist_worker.py OUT.json``. Every rank
builds the same data (fixed seeds), keeps a contiguous, uneven slice of it (rank r of W
gets ``sizes[r]`` rows, rank 0 the fewest), updates each state with its slice in several
batches and calls ``compute()``; rank 0 writes the results as JSON.
"""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist

from stochrobust.metrics import (
    CertifiedRateState,
    FrechetState,
    MeanState,
    PixelStdState,
    PRDCState,
    PSNRState,
    SSIMState,
)
from stochrobust.sensitivity import RobustnessAggregator, SensitivityResult


def data() -> dict[str, torch.Tensor]:
    """The whole data set, identical on every rank and in the single-process test."""
    g = torch.Generator().manual_seed(7)
    real = torch.randn(97, 6, generator=g)
    fake = torch.randn(61, 6, generator=g) * 1.3 + 0.2
    real[5] = real[3]  # a duplicate
    x = torch.rand(23, 1, 16, 16, generator=g)
    y = (x + 0.1 * torch.rand(23, 1, 16, 16, generator=g)).clamp(0, 1)
    values = torch.randn(41, generator=g, dtype=torch.float64) + 50.0
    samples = torch.rand(4, 19, 2, 3, generator=g)  # 19 seeds of 4 inputs
    certified = torch.rand(29, 3, generator=g) > 0.3
    return {
        "real": real,
        "fake": fake,
        "x": x,
        "y": y,
        "values": values,
        "samples": samples,
        "certified": certified,
    }


def shard(t: torch.Tensor, rank: int, world: int, dim: int = 0) -> torch.Tensor:
    """Rank ``rank``'s contiguous, uneven slice: weights 1, 2, …, world (rank 0 smallest)."""
    n = t.shape[dim]
    weights = list(range(1, world + 1))
    bounds = [n * sum(weights[:r]) // sum(weights) for r in range(world + 1)]
    return t.narrow(dim, bounds[rank], bounds[rank + 1] - bounds[rank])


def batches(t: torch.Tensor, size: int, dim: int = 0) -> list[torch.Tensor]:
    return list(torch.split(t, size, dim=dim)) if t.shape[dim] else []


def sensitivity_result(values: torch.Tensor) -> SensitivityResult:
    """A result with these eq. 6 values (eq. 9 and AI-PSNRs are functions of them)."""
    b = values.shape[0]
    return SensitivityResult(
        value=values, root=values.sqrt(), delta=torch.zeros(b, 2, dtype=values.dtype),
        output_psnr=-values.log(), input_psnr=values / 2, eps=torch.full((b,), 0.1),
        ball="l2", n_seeds=3, solver="given",
    )  # fmt: skip


def evaluate(rank: int, world: int) -> dict[str, list[float]]:
    d = data()
    part = {k: shard(v, rank, world, dim=1 if k == "samples" else 0) for k, v in d.items()}
    states = {
        "prdc": PRDCState(k=3, block_size=8, chunk_rows=13),
        "frechet": FrechetState(),
        "psnr": PSNRState(),
        "ssim": SSIMState(),
        "mean": MeanState(),
        "pixel_std": PixelStdState(),
        "certified": CertifiedRateState(),
    }
    for b in batches(part["real"], 10):
        states["prdc"].update(real=b)
        states["frechet"].update(feats_a=b)
    for b in batches(part["fake"], 7):
        states["prdc"].update(fake=b)
        states["frechet"].update(feats_b=b)
    for bx, by in zip(batches(part["x"], 4), batches(part["y"], 4), strict=True):
        states["psnr"].update(bx, by)
        states["ssim"].update(bx, by)
    for b in batches(part["values"], 5):
        states["mean"].update(b)
    for b in batches(part["samples"], 3, dim=1):
        states["pixel_std"].update(b)
    for b in batches(part["certified"], 6):
        states["certified"].update(b)
    robust = RobustnessAggregator()
    for b in batches(part["values"], 4):
        robust.update(sensitivity_result(b))
    rep = robust.compute()
    out: dict[str, list[float]] = {
        "robustness": [rep.r_tilde, rep.r, rep.mean_output_psnr, *rep.ci, rep.n_samples],
        "robustness_inputs": [*rep.values.tolist(), *rep.input_psnr.tolist()],
    }
    for name, st in states.items():
        value = st.compute()
        parts = value if isinstance(value, tuple) else (value,)
        out[name] = [float(v) for p in parts for v in p.reshape(-1)]
    return out


def main() -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    result = evaluate(rank, world)
    if rank == 0:
        with open(sys.argv[1], "w") as fh:
            json.dump(result, fh)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
