"""The perception–robustness tradeoff of Ohayon et al. 2024 on the disk, and exploration.

X is uniform on the unit disk, Y = X^(1), and X̂_α(y) = (y, sqrt(1 − y²)·sin(αy)) is a
consistent deterministic estimator ([O23] §4). The larger α, the closer the joint law of
(X̂_α, Y) to that of (X, Y) — a smaller joint perceptual index W2(p_{X,Y}, p_{X̂,Y}) — and,
as [O24] proves for every deterministic restorer, the larger its Lipschitz constant. This
script

1. sweeps α, measuring the exact joint index (stochrobust.metrics.joint_perceptual_index)
   and the Lipschitz lower bound (stochrobust.sensitivity.lipschitz_lower_bound), and plots
   one against the other on log–log axes with a least-squares fit of the theorem's form
   m1/sqrt(W) − m2 (a fit of the form: the theorem's own constants are not computed);
2. explores the posterior with a deterministic model (stochrobust.sensitivity.explore):
   at each y, farthest-point perturbations in an ε = 0.05 ball. The erratic X̂_50 spreads
   its outputs over the posterior chord (per-input std near the posterior's, high recall);
   the robust X̂_1 cannot.

    python examples/perception_robustness.py [--quick] [--n N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from stochrobust.metrics import joint_perceptual_index, precision_recall
from stochrobust.sensitivity import explore, lipschitz_lower_bound, tradeoff_bound
from stochrobust.toy import (
    disk_half_width,
    disk_posterior,
    sample_disk,
    sine_disk,
    sine_disk_estimator,
)

ALPHAS = [2.0, 4.0, 8.0, 16.0, 32.0]
"""The documented grid (docs/perception_robustness.md): the joint index decreases on it."""


def sweep(n: int, n_inputs: int, gen: torch.Generator) -> tuple[list[dict[str, float]], float]:
    """The α sweep, and the joint index of posterior samples (the finite-sample floor)."""
    x, y = sample_disk(n, generator=gen)
    floor = float(joint_perceptual_index(x, y, disk_posterior(y, torch.rand(n, 1, generator=gen))))
    inputs = torch.linspace(-0.8, 0.8, n_inputs).unsqueeze(1)
    rows = []
    for alpha in ALPHAS:
        joint = float(joint_perceptual_index(x, y, sine_disk(y, alpha)))
        res = lipschitz_lower_bound(
            sine_disk_estimator(alpha), inputs, 0.05, box=(-0.9, 0.9), generator=gen
        )
        rows.append({"alpha": alpha, "joint_index": joint, "lipschitz": res.value})
    return rows, floor


def fit_form(rows: list[dict[str, float]]) -> tuple[float, float]:
    """Least squares of Lip ≈ m1·W^(-1/2) − m2 over the sweep."""
    a = torch.tensor([[r["joint_index"] ** -0.5, -1.0] for r in rows], dtype=torch.float64)
    b = torch.tensor([r["lipschitz"] for r in rows], dtype=torch.float64)
    m1, m2 = torch.linalg.lstsq(a, b.unsqueeze(1)).solution.flatten().tolist()
    return m1, m2


def exploration(n_inputs: int, n_samples: int, gen: torch.Generator) -> dict[str, dict]:
    y = torch.linspace(-0.9, 0.9, n_inputs).unsqueeze(1)
    half = disk_half_width(y[:, 0])
    post = disk_posterior(
        y.repeat_interleave(n_samples, 0), torch.rand(n_inputs * n_samples, 1, generator=gen)
    )
    out: dict[str, dict] = {}
    for alpha in (50.0, 1.0):
        res = explore(
            sine_disk_estimator(alpha), y, 0.05, n_samples, box=(-1.0, 1.0), generator=gen
        )
        second = res.samples[..., 1]
        pr = precision_recall(post, res.samples.flatten(0, 1), k=5)
        out[f"alpha={alpha:g}"] = {
            "std_over_posterior_std": float((second.std(1) / (half / math.sqrt(3))).mean()),
            "chord_coverage": float(((second.amax(1) - second.amin(1)) / (2 * half)).mean()),
            "precision": float(pr.precision),
            "recall": float(pr.recall),
            "samples": res.samples.flatten(0, 1).tolist(),
        }
    return out


def plot(
    rows: list[dict[str, float]], floor: float, fit: tuple[float, float], expl: dict, out: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    w = torch.tensor([r["joint_index"] for r in rows], dtype=torch.float64)
    lip = [r["lipschitz"] for r in rows]
    ax = axes[0]
    ax.loglog(w.tolist(), lip, "o-", label="Lipschitz lower bound (found δ)")
    for r in rows:
        ax.annotate(f"α={r['alpha']:g}", (r["joint_index"], r["lipschitz"]), fontsize=8)
    grid = torch.logspace(math.log10(float(w.min())), math.log10(float(w.max())), 50)
    curve = tradeoff_bound(grid.double(), m1=max(fit[0], 1e-12), m2=fit[1])
    ax.loglog(grid.tolist(), curve.tolist(), "--", label="fit of m1/sqrt(W) − m2")
    ax.axvline(floor, color="grey", lw=0.8, label="posterior sampler (sample floor)")
    ax.set_xlabel("joint perceptual index W2(p_XY, p_X̂Y)")
    ax.set_ylabel("Lip(X̂_α) ≥")
    ax.set_title("Perception–robustness tradeoff (disk)")
    ax.legend(fontsize=8)
    t = torch.linspace(0, 2 * math.pi, 200)
    for ax, key in zip(axes[1:], ("alpha=50", "alpha=1"), strict=True):
        pts = torch.tensor(expl[key]["samples"])
        ax.plot(torch.cos(t), torch.sin(t), "k-", lw=0.5)
        ax.scatter(pts[:, 0], pts[:, 1], s=3)
        ax.set_aspect("equal")
        ax.set_title(
            f"explore X̂_{key.split('=')[1]}, ε=0.05: recall {expl[key]['recall']:.2f}", fontsize=9
        )
    fig.tight_layout()
    path = out / "perception_robustness.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke run (seconds)")
    ap.add_argument("--n", type=int, help="disk samples for the joint index (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="example-output/perception_robustness", help="output folder")
    args = ap.parse_args(argv)
    n = args.n or (300 if args.quick else 2000)
    n_inputs, n_explore, n_samples = (9, 20, 8) if args.quick else (65, 100, 16)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    rows, floor = sweep(n, n_inputs, gen)
    fit = fit_form(rows)
    print(f"{'alpha':>6}  {'joint W2':>9}  {'Lip >=':>8}")
    for r in rows:
        print(f"{r['alpha']:>6g}  {r['joint_index']:>9.4f}  {r['lipschitz']:>8.3f}")
    print(f"joint index of posterior samples (finite-sample floor): {floor:.4f}")
    print(f"fit of the theorem's form: m1 = {fit[0]:.4g}, m2 = {fit[1]:.4g}")
    expl = exploration(n_explore, n_samples, gen)
    for key, v in expl.items():
        print(
            f"explore {key}: std/posterior std {v['std_over_posterior_std']:.3f}, chord "
            f"coverage {v['chord_coverage']:.3f}, precision {v['precision']:.3f}, "
            f"recall {v['recall']:.3f}"
        )
    path = plot(rows, floor, fit, expl, out)
    summary = {
        "sweep": rows,
        "posterior_floor": floor,
        "fit": {"m1": fit[0], "m2": fit[1]},
        "explore": {k: {m: v[m] for m in v if m != "samples"} for k, v in expl.items()},
        "n": n,
        "seconds": time.perf_counter() - start,
    }
    (out / "perception_robustness.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {path} ({summary['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
