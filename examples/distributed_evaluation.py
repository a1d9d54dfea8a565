"""Data-set evaluation on several processes: robustness, diversity, P/R/D/C, FID, certification.

The disk problem of [O23] §4: X uniform on the unit disk, Y = X⁽¹⁾. Over a data set of
inputs split across the ranks of a ``torch.distributed`` group, this script measures

- robustness of the erratic deterministic estimator X̂₅₀ ([O23] Fig. 3): the mean squared
  same-seed sensitivity (eq. 7), its root (eq. 3 for a deterministic model) and the mean
  output PSNR under attack (eq. 9);
- diversity of the posterior sampler G(y, z) ([O23] Thm. 3.1): per-pixel std over 32 seeds;
- precision, recall, density and coverage of X̂₅₀'s outputs against X (exact, sharded: no
  rank holds the other ranks' features), and the Fréchet distance;
- the certification rate of the median-smoothed X̂₅₀ ([C24] §4).

Randomness is drawn per global batch (a generator seeded by the batch index), so the
figures do not depend on the number of ranks: ``torchrun --nproc_per_node 2`` prints the
same numbers as one plain process, to float reduction order (the counting metrics exactly).

    python examples/distributed_evaluation.py [--quick] [--out DIR] [--verify]
    torchrun --nproc_per_node 2 examples/distributed_evaluation.py --quick --verify

``--verify`` makes rank 0 recompute every figure in one process afterwards and fail if any
differs (beyond ``1e-9`` relative for the float means). Gloo on CPU; with CUDA ranks use
``--backend nccl`` (each rank takes the GPU of its ``LOCAL_RANK``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import warnings
from pathlib import Path

import torch
import torch.distributed as dist

from stochrobust import Estimator
from stochrobust.metrics import (
    CertifiedRateState,
    FrechetState,
    MeanState,
    PRDCState,
    per_pixel_std,
)
from stochrobust.metrics.distributed import rank_info
from stochrobust.metrics.progress import progress
from stochrobust.sensitivity import sensitivity_at
from stochrobust.smoothing import certify_percentile
from stochrobust.toy import DiskPosterior, sample_disk, sine_disk_estimator, uniform_seed_sampler


def batch_data(index: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Global batch ``index``: ``size`` disk points and their observations (own seed)."""
    g = torch.Generator().manual_seed(10_000 + index)
    x, y = sample_disk(size, generator=g)
    return x.to(device), y.to(device)


def evaluate(args: argparse.Namespace, batches: range, sync: bool) -> dict[str, float]:
    """Run the states over ``batches`` (this rank's global batch indices)."""
    device = torch.device(args.device)
    erratic = sine_disk_estimator(50.0)
    posterior = Estimator(DiskPosterior(), seed_sampler=uniform_seed_sampler)
    sens, out_psnr, diversity = (MeanState(sync_on_compute=sync) for _ in range(3))
    quality = PRDCState(k=5, sync_on_compute=sync)
    frechet = FrechetState(sync_on_compute=sync)
    certified = CertifiedRateState(sync_on_compute=sync)
    for index in progress(batches, len(batches), "batches") if sync else batches:
        x, y = batch_data(index, args.batch, device)
        g = torch.Generator().manual_seed(20_000 + index)
        res = sensitivity_at(erratic, y, args.eps, generator=g, box=(-1.0, 1.0))
        sens.update(res.value)
        out_psnr.update(res.output_psnr)
        diversity.update(per_pixel_std(posterior.sample(y, 32, generator=g)))
        x_hat = erratic(y)
        quality.update(real=x, fake=x_hat)
        frechet.update(feats_a=x, feats_b=x_hat)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # uncertifiable coordinates are counted, not shown
            cert = certify_percentile(
                erratic.model, y, args.eps, 0.25, n_samples=200, alpha=1e-3, generator=g
            )
        certified.update(cert.certified)
    mean_sq = float(sens.compute())
    p, r, d, c = (float(v) for v in quality.compute())
    coords, inputs = (float(v) for v in certified.compute())
    return {
        "robustness_eq7": mean_sq,
        "robustness_root": math.sqrt(mean_sq),
        "output_psnr_eq9": float(out_psnr.compute()),
        "per_pixel_std": float(diversity.compute()),
        "precision": p,
        "recall": r,
        "density": d,
        "coverage": c,
        "frechet": float(frechet.compute()),
        "certified_coordinates": coords,
        "certified_inputs": inputs,
    }


def my_batches(n_batches: int) -> range:
    """This rank's contiguous block of global batches (uneven when W does not divide it)."""
    rank, world = rank_info()
    bounds = [n_batches * r // world for r in range(world + 1)]
    return range(bounds[rank], bounds[rank + 1])


def plot(figures: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["precision", "recall", "density", "coverage", "certified_coordinates"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(names, [figures[n] for n in names])
    ax.set_title("X̂₅₀ on the disk problem (all ranks)")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds (CI)")
    parser.add_argument("--out", type=Path, default=Path("example-output/distributed"))
    parser.add_argument("--verify", action="store_true", help="rank 0 rechecks in one process")
    parser.add_argument("--backend", default="gloo", help="gloo (CPU) or nccl (CUDA)")
    parser.add_argument("--eps", type=float, default=0.01)
    args = parser.parse_args()
    args.batch, n_batches = (64, 5) if args.quick else (500, 40)
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    args.device = "cpu"
    if launched:
        if args.backend == "nccl":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            args.device = f"cuda:{local}"
        dist.init_process_group(args.backend)
    rank, world = rank_info()
    figures = evaluate(args, my_batches(n_batches), sync=True)
    failed = False
    if rank == 0:
        print(f"{world} rank(s), {n_batches} batches of {args.batch} inputs")
        reference = evaluate(args, range(n_batches), sync=False) if args.verify else None
        for name, value in figures.items():
            line = f"{name:>22s} {value:.10g}"
            if reference is not None:
                same = math.isclose(value, reference[name], rel_tol=1e-9, abs_tol=1e-12)
                failed |= not same
                line += f"   one process {reference[name]:.10g} {'ok' if same else 'DIFFERS'}"
            print(line)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "figures.json").write_text(json.dumps({"world": world, **figures}, indent=1))
        plot(figures, args.out / "figures.png")
    if launched:
        dist.destroy_process_group()
    if failed:
        raise SystemExit("the sharded figures differ from the one-process figures")


if __name__ == "__main__":
    main()
