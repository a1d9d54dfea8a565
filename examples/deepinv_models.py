"""A deepinv reconstructor and a deepinv posterior sampler measured with stochrobust.

Data: scikit-learn's bundled 8×8 handwritten digits (values scaled to [0, 1]), inpainting
with a fixed random mask that keeps 50 % of the pixels (``deepinv.physics.Inpainting``).

- Deterministic: deepinv's ``ArtifactRemoval`` around a small ``DnCNN`` (random
  initialisation — nothing can be downloaded), trained for a few hundred Adam steps with an
  L2 loss to inpaint the training digits; wrapped with
  :func:`stochrobust.interop.deepinv.reconstructor`.
- Stochastic: deepinv's ``DDRM`` sampler with a second small ``DnCNN`` trained as a Gaussian
  denoiser (noise std uniform in [0.01, 1]) on the same digits, wrapped with
  :func:`stochrobust.interop.deepinv.sampler` (one integer seed per sample, reproducible
  from our generator).

Measured on held-out digits: PSNR to the clean digit, per-pixel diversity (std over 16
samples), consistency PSNR, and sensitivity: eq. 6 of [O23] for the reconstructor (PGD
attack, L2 ball, ε from an AI-PSNR of 34 dB); DDRM runs under ``torch.no_grad`` in deepinv,
so it cannot be attacked by gradients — instead the same-seed objective of eq. 6 is
*evaluated* for it at the reconstructor's worst perturbations (a transfer lower bound, not a
worst case) and at random perturbations of the same norm, next to the same numbers for the
reconstructor.

Run: ``PYTHONPATH=. python examples/deepinv_models.py [--quick] [--out DIR]``; ``--quick`` is a
smoke run of a few seconds (the full run takes about 8 CPU-minutes). Writes
``deepinv_models.json`` and ``deepinv_samples.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import deepinv
import numpy as np
import torch

from stochrobust.consistency import consistency_psnr, from_deepinv
from stochrobust.interop.deepinv import reconstructor, sampler
from stochrobust.metrics import per_pixel_std, psnr
from stochrobust.sensitivity import PGD, eps_for_psnr, sensitivity_at


def digits() -> torch.Tensor:
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().images, dtype=torch.float32) / 16.0
    return x.unsqueeze(1)  # (1797, 1, 8, 8)


def same_seed_objective(est, y, delta, seeds) -> torch.Tensor:
    with torch.no_grad():
        clean = est.forward_seeds(y, seeds)
        pert = est.forward_seeds(y + delta, seeds)
    return (pert - clean).pow(2).flatten(2).sum(-1).mean(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("example-output/deepinv"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    steps, n_test, n_seeds, ddrm_steps = (20, 4, 4, 4) if args.quick else (600, 32, 16, 20)
    t0 = time.time()

    x = digits()
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    train, test = x[perm[:1500]], x[perm[1500 : 1500 + n_test]]
    physics = deepinv.physics.Inpainting(
        img_size=(1, 8, 8), mask=0.5, rng=torch.Generator().manual_seed(1)
    )

    model = deepinv.models.ArtifactRemoval(
        deepinv.models.DnCNN(1, 1, depth=5, nf=32, pretrained=None)
    )
    denoiser = deepinv.models.DnCNN(1, 1, depth=5, nf=32, pretrained=None)
    g = torch.Generator().manual_seed(2)

    def train_steps(net: torch.nn.Module, make_input) -> None:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(steps):
            batch = train[torch.randint(0, train.shape[0], (64,), generator=g)]
            loss = (net(*make_input(batch)) - batch).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()

    train_steps(model, lambda b: (physics.A(b), physics))

    def noisy(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = 0.01 + 0.99 * torch.rand(b.shape[0], 1, 1, 1, generator=g)
        return b + sigma * torch.randn(b.shape, generator=g), sigma

    train_steps(denoiser, noisy)

    det = reconstructor(model, physics)
    ddrm = deepinv.sampling.DDRM(denoiser, sigmas=np.linspace(1.0, 0.01, ddrm_steps))
    sto = sampler(ddrm, physics)
    op = from_deepinv(physics)

    y = physics.A(test)
    eps = eps_for_psnr((1, 8, 8), 34.0)
    gen = torch.Generator().manual_seed(3)
    res = sensitivity_at(det, y, eps, solver=PGD(steps=20), generator=gen)
    rnd = torch.randn(y.shape, generator=gen)
    rnd = rnd / rnd.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * eps

    report: dict[str, dict[str, float]] = {}
    for name, est in (("ArtifactRemoval(DnCNN)", det), ("DDRM", sto)):
        seeds = est.sample_seeds(y, n_seeds, generator=torch.Generator().manual_seed(4))
        with torch.no_grad():
            samples = est.forward_seeds(y, seeds)
        report[name] = {
            "psnr_to_clean_db": float(
                psnr(samples.flatten(0, 1), test.repeat_interleave(samples.shape[1], 0)).mean()
            ),
            "per_pixel_std": float(per_pixel_std(samples).mean()) if est.is_stochastic else 0.0,
            "consistency_psnr_db": float(
                consistency_psnr(
                    samples.flatten(0, 1), y.repeat_interleave(samples.shape[1], 0), op
                )
                .clamp_max(100)
                .mean()
            ),
            "eq6_at_worst_delta_of_reconstructor": float(
                same_seed_objective(est, y, res.delta, seeds).mean()
            ),
            "eq6_at_random_delta": float(same_seed_objective(est, y, rnd, seeds).mean()),
        }
    report["ArtifactRemoval(DnCNN)"]["eq6_worst_case"] = float(res.value.mean())
    report["settings"] = {
        "eps": eps, "n_test": n_test, "n_seeds": n_seeds, "train_steps": steps,
        "ddrm_steps": ddrm_steps, "seconds": time.time() - t0,
    }  # fmt: skip
    (args.out / "deepinv_models.json").write_text(json.dumps(report, indent=2))
    for name, row in report.items():
        print(name, {k: round(v, 4) for k, v in row.items()})

    import matplotlib.pyplot as plt

    seeds = sto.sample_seeds(y[:1], 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        draws = sto.forward_seeds(y[:1], seeds)[0]
        panels = [test[0], y[0], det(y[:1])[0], *draws]
    titles = ["clean", "measured", "reconstructor", *[f"DDRM seed {i}" for i in range(4)]]
    fig, axes = plt.subplots(1, len(panels), figsize=(2 * len(panels), 2.2))
    for ax, img, title in zip(axes, panels, titles, strict=True):
        ax.imshow(img[0].detach().clamp(0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out / "deepinv_samples.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
