"""Add a robustness regulariser to an existing inpainting GAN, on real pixels ([O23] §6.1).

The story of [O23] §6.1 at laptop scale. A small consistent U-Net
(``Consistent(UNet(...), Inpainting(mask))``, the upper 3/4 of the image masked as in
[O23] §6.1.1) inpaints 32×32 patches of the two photos that scikit-learn ships
(``china.jpg`` and ``flower.jpg``). Two "existing" GANs are trained first — a deterministic
one (``Z = 0``) and a stochastic one (one Gaussian seed per U-Net level) — and each is then
fine-tuned twice for the same number of steps: with the same loss ("erratic") and with the
same-seed robustness loss ``λ_R·L_R`` of [O23] eqs. 7–8 added on every third generator
step ("robust"). The four variants are compared on

- robustness, eq. 9: ``E[PSNR(G(y, z), G(y + δ, z))]`` with the paper's attack (5 Adam steps,
  lr 1, 10 seeds), ``ε`` giving an adversarial-input PSNR of 32.9 dB at this patch size;
- diversity: the per-pixel std over 32 samples per input (0 for deterministic models);
- perceptual quality: precision/recall (k = 3) and the Fréchet distance on features of a
  fixed, randomly initialised conv net — a stand-in for Inception, which cannot be
  downloaded here (the same frozen net embeds real and generated images);
- consistency: ``is_consistent`` (45 dB) on every output.

Data. Each photo is cut into a 6×10 grid of 64×64 tiles; the tiles with
``(row + col) % 3 == 0`` — a third, spread over the content of both photos — are held out.
Training crops are random 32×32 windows inside the other tiles, randomly flipped
left-right. The evaluation set is the 3×3 grid of 32×32 windows (stride 16) of every
held-out tile, 360 patches, in a fixed shuffled order.

Loss. Critic: the non-saturating GAN loss with an R1 penalty on real images (γ = 1, [O23]
App. E.2.2). Generator: the non-saturating loss ``softplus(−D(x̂))`` plus
``rec·mean|pool4(x̂ − x)|`` — an L1 term on 4×4 block averages only, which gives a
few-minute training the coarse colours and layout (the GAN loss alone produces noise after
a few hundred steps) while leaving the detail inside each 4×4 block, where a seed can act,
to the critic — plus ``λ_R·L_R`` for the robust variants. ``L_R`` is the regulariser's
default ``reduction="mean"``: eq. 6 divided by the ``d = 3·32·32`` output values. [O23]'s
``λ_R = 500`` only balances a GAN loss of order 1 for such a per-pixel *mean* (their robust
models reach about 26 dB in eq. 9, i.e. a per-pixel squared change of 0.0025 — a sum of 30
over 64×64×3 values), so it is used as is (with ``reduction="sum"`` it would be
``500 / d``). Adam (0.5, 0.99) as in the paper, but
with lr 5e-4 instead of 1e-4 for a short training.

Run: ``PYTHONPATH=. python examples/inpainting_real_images.py [--quick] [--out DIR]``.
Full mode: about 4 minutes on 2 CPU cores; ``--quick``: a smoke run of a few seconds.
Writes ``inpainting_samples.png``, ``inpainting_metrics.png`` and ``inpainting.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _photos import load_photos, split_tiles
from torch import nn

from stochrobust import Estimator
from stochrobust.consistency import Consistent, Inpainting, consistency_psnr, is_consistent
from stochrobust.metrics import frechet_distance, per_pixel_std, precision_recall
from stochrobust.nets import UNet
from stochrobust.sensitivity import AdamAscent, RobustnessRegularizer, eps_for_psnr, robustness

PATCH = 32
TILE = 64
VARIANTS = ("det-erratic", "det-robust", "sto-erratic", "sto-robust")


@dataclass
class Config:
    pretrain_steps: int = 500
    finetune_steps: int = 200
    batch: int = 16
    reg_batch: int = 8  # inputs per L_R evaluation (each with n_seeds seeds)
    width: int = 8  # U-Net base width s (widths 8, 16, 32, 64)
    lr: float = 5e-4
    rec: float = 5.0
    r1: float = 1.0
    lam_per_pixel: float = 500.0  # [O23]'s λ_R, on the per-pixel mean L_R (reduction="mean")
    ai_psnr: float = 32.9
    n_seeds: int = 10
    n_div: int = 32
    n_robust: int = 64  # held-out patches for the eq. 9 attack
    n_eval: int | None = None
    seed: int = 0


def quick_config() -> Config:
    return Config(
        pretrain_steps=6, finetune_steps=3, batch=8, reg_batch=2, n_div=4, n_robust=4, n_eval=16
    )


# ----------------------------------------------------------------------------- data
def random_crops(tiles: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random ``PATCH``-sized windows inside random tiles, randomly flipped."""
    idx = torch.randint(len(tiles), (n,), generator=gen).tolist()
    off = torch.randint(TILE - PATCH + 1, (n, 2), generator=gen).tolist()
    flip = (torch.rand(n, generator=gen) < 0.5).tolist()
    crops = [tiles[i, :, a : a + PATCH, b : b + PATCH] for i, (a, b) in zip(idx, off, strict=True)]
    return torch.stack([c.flip(-1) if f else c for c, f in zip(crops, flip, strict=True)])


def windows(tiles: torch.Tensor, stride: int = PATCH // 2) -> torch.Tensor:
    """All ``PATCH``-sized windows of every tile at the given stride."""
    t = tiles.unfold(2, PATCH, stride).unfold(3, PATCH, stride)  # (N, C, a, b, P, P)
    return t.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, PATCH, PATCH).contiguous()


# ----------------------------------------------------------------------------- networks
class Critic(nn.Sequential):
    """A small convolutional critic for 32×32 images (LeakyReLU 0.2, no normalisation)."""

    def __init__(self, f: int = 16) -> None:
        act = nn.LeakyReLU(0.2)
        super().__init__(
            nn.Conv2d(3, f, 3, padding=1), act,
            nn.Conv2d(f, 2 * f, 4, stride=2, padding=1), act,      # 16×16
            nn.Conv2d(2 * f, 4 * f, 4, stride=2, padding=1), act,  # 8×8
            nn.Conv2d(4 * f, 4 * f, 4, stride=2, padding=1), act,  # 4×4
            nn.Flatten(), nn.Linear(4 * f * 16, 1),
        )  # fmt: skip


def random_feature_net(seed: int) -> nn.Module:
    """A fixed, randomly initialised conv net: 512 features per 32×32 image.

    The stand-in for the Inception features of [O23] App. E.2.5, which cannot be
    downloaded here: the same frozen net embeds real and generated images.
    """
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for c_in, c_out, stride in ((3, 32, 1), (32, 64, 2), (64, 128, 2), (128, 128, 2)):
        conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=gen)
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU()]
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())
    return net.eval().requires_grad_(False)


def estimator(net: UNet, op: Inpainting, stochastic: bool, eval_mode: bool = True) -> Estimator:
    """The consistent estimator ``project(UNet(y, z), y)`` (``Z = 0`` if not stochastic)."""
    return Estimator(
        Consistent(net, op),
        seed_sampler=net.seed_sampler if stochastic else None,
        eval_mode=eval_mode,
    )


# ----------------------------------------------------------------------------- training
@dataclass
class GAN:
    net: UNet
    critic: Critic
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    stochastic: bool


def new_gan(cfg: Config, stochastic: bool, like: GAN | None = None) -> GAN:
    """A fresh GAN, or an independent copy of ``like`` (weights and optimiser states)."""
    net, critic = UNet(s=cfg.width, depth=3), Critic()
    gan = GAN(
        net, critic,
        torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.5, 0.99)),
        torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=(0.5, 0.99)),
        stochastic,
    )  # fmt: skip
    if like is not None:
        for mine, theirs in zip(
            (gan.net, gan.critic, gan.opt_g, gan.opt_d),
            (like.net, like.critic, like.opt_g, like.opt_d),
            strict=True,
        ):
            mine.load_state_dict(theirs.state_dict())
    return gan


def train(
    gan: GAN,
    steps: int,
    tiles: torch.Tensor,
    op: Inpainting,
    cfg: Config,
    gen: torch.Generator,
    reg: RobustnessRegularizer | None = None,
) -> list[float]:
    """Alternate one critic and one generator step; returns the ``L_R`` values applied."""
    net, critic = gan.net.train(), gan.critic.train()
    G = Consistent(net, op)
    est = estimator(net, op, gan.stochastic, eval_mode=False)  # L_R in training mode
    lam = cfg.lam_per_pixel  # L_R is a per-pixel mean (reduction="mean")

    def seeds(y: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
        return net.seed_sampler(len(y), y, gen) if gan.stochastic else None

    applied = []
    for _ in range(steps):
        x = random_crops(tiles, cfg.batch, gen)
        y = op.A(x)
        # critic: non-saturating loss + R1 penalty on the real images
        with torch.no_grad():
            fake = G(y, seeds(y))
        real = x.clone().requires_grad_(True)
        d_real, d_fake = critic(real), critic(fake)
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        r1 = grad.pow(2).flatten(1).sum(1).mean()
        loss_d = F.softplus(d_fake).mean() + F.softplus(-d_real).mean() + 0.5 * cfg.r1 * r1
        gan.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        gan.opt_d.step()
        # generator: non-saturating loss + coarse L1 (+ λ_R·L_R every third step)
        critic.requires_grad_(False)
        fake = G(y, seeds(y))
        loss_g = F.softplus(-critic(fake)).mean()
        loss_g = loss_g + cfg.rec * F.avg_pool2d(fake - x, 4).abs().mean()
        if reg is not None:
            applies = reg.applies_next
            l_r = reg(est, y[: cfg.reg_batch], generator=gen)
            loss_g = loss_g + lam * l_r
            if applies:
                applied.append(float(l_r.detach()))
        gan.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        gan.opt_g.step()
        critic.requires_grad_(True)
    return applied


# ----------------------------------------------------------------------------- evaluation
def evaluate(
    gan: GAN,
    x: torch.Tensor,
    op: Inpainting,
    eps: float,
    features: nn.Module,
    cfg: Config,
    gen: torch.Generator,
) -> tuple[dict[str, float], torch.Tensor]:
    """The metrics of one variant; also returns ``cfg.n_div`` samples per input."""
    est = estimator(gan.net, op, gan.stochastic)  # eval mode: BatchNorm running statistics
    y = op.A(x)
    rep = robustness(
        est, y[: cfg.n_robust], eps, n_seeds=cfg.n_seeds,
        solver=AdamAscent.paper_natural_images(), generator=gen, batch_size=32, progress=False,
    )  # fmt: skip
    chunks, consistent, exact = [], [], []
    with torch.no_grad():
        for i in range(0, len(y), 32):
            part = est.sample(y[i : i + 32], cfg.n_div, generator=gen)
            flat = part.flatten(0, 1)
            y_rep = y[i : i + 32].repeat_interleave(cfg.n_div, 0)
            consistent.append(is_consistent(flat, y_rep, op))
            exact.append(consistency_psnr(flat, y_rep, op).isinf())
            chunks.append(part)
        samples = torch.cat(chunks)
        one = samples[:, 0].clamp(0, 1)  # one output per input, as [O23] App. E.2.5
        real_f, fake_f = features(x), features(one)
        p, r = precision_recall(real_f, fake_f, k=3)
        fd = frechet_distance(real_f, fake_f)
    metrics = {
        "robustness_psnr_db": rep.mean_output_psnr,
        "sqrt_r_tilde": rep.sqrt_r_tilde,
        "r_tilde_ci95_low": rep.ci[0],
        "r_tilde_ci95_high": rep.ci[1],
        "ai_psnr_db": float(rep.input_psnr.mean()),
        "per_pixel_std": float(per_pixel_std(samples).mean()),
        "precision": float(p),
        "recall": float(r),
        "frechet_random_features": float(fd),
        "consistent_fraction": float(torch.cat(consistent).double().mean()),
        "exactly_consistent_fraction": float(torch.cat(exact).double().mean()),
        "mae_to_source": float((samples[:, 0] - x).abs().mean()),
    }
    return metrics, samples


# ----------------------------------------------------------------------------- figures
def plot_samples(
    x: torch.Tensor, samples: dict[str, torch.Tensor], path: Path, rows: int = 6
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols: list[tuple[str, str, int]] = [("source x", "", 0), ("input y", "", 0)]
    for name in VARIANTS:
        n = 3 if name.startswith("sto") else 1
        cols += [(name if k == 0 else f"sample {k + 1}", name, k) for k in range(n)]
    rows = min(rows, len(x))
    fig, axes = plt.subplots(rows, len(cols), figsize=(0.95 * len(cols), 1.0 * rows + 0.7))
    axes = np.atleast_2d(axes)
    masked = x.clone()
    masked[:, :, : 3 * PATCH // 4] = 0.5  # the missing part, in grey
    for r in range(rows):
        for c, (title, name, k) in enumerate(cols):
            img = x[r] if title == "source x" else masked[r] if title == "input y" else None
            img = samples[name][r, k] if img is None else img
            ax = axes[r, c]
            ax.imshow(img.clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.axhline(3 * PATCH / 4 - 0.5, color="w", lw=0.5, ls=":")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title.replace("-", "\n", 1), fontsize=7)
    fig.suptitle(
        "Held-out 32×32 patches: upper 3/4 inpainted (dotted line: mask edge); "
        "stochastic variants: 3 seeds",
        fontsize=8,
    )
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_metrics(results: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("robustness_psnr_db", "eq. 9 robustness PSNR (dB) ↑"),
        ("per_pixel_std", "per-pixel std (32 samples) ↑"),
        ("precision", "precision (k=3, random feat.) ↑"),
        ("recall", "recall (k=3, random feat.) ↑"),
    ]
    colors = ["#1f77b4", "#9ecae1", "#d62728", "#fc9272"]
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 2.6))
    for ax, (key, title) in zip(axes, panels, strict=True):
        bars = ax.bar(range(len(VARIANTS)), [results[v][key] for v in VARIANTS], color=colors)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(range(len(VARIANTS)), [v.replace("-", "\n") for v in VARIANTS], fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.margins(y=0.18)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run (a few seconds)")
    parser.add_argument("--out", type=Path, default=Path("examples-out/inpainting"))
    parser.add_argument("--pretrain-steps", type=int, default=None)
    parser.add_argument("--finetune-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch intra-op threads (1: these tiny convolutions gain little from more)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = quick_config() if args.quick else Config()
    cfg.seed = args.seed
    if args.pretrain_steps is not None:
        cfg.pretrain_steps = args.pretrain_steps
    if args.finetune_steps is not None:
        cfg.finetune_steps = args.finetune_steps
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    train_tiles, held_tiles = split_tiles(load_photos(), TILE)
    x_eval = windows(held_tiles)
    x_eval = x_eval[torch.randperm(len(x_eval), generator=torch.Generator().manual_seed(3))]
    x_eval = x_eval[: cfg.n_eval]
    mask = torch.zeros(PATCH, PATCH, dtype=torch.bool)
    mask[3 * PATCH // 4 :] = True  # observe the bottom quarter ([O23] §6.1.1)
    op = Inpainting(mask)
    eps = eps_for_psnr((3, PATCH, PATCH), cfg.ai_psnr)
    print(f"{len(train_tiles)} training tiles, {len(x_eval)} held-out patches, eps = {eps:.3f}")

    results: dict[str, dict[str, float]] = {}
    samples: dict[str, torch.Tensor] = {}
    timings: dict[str, float] = {}
    features = random_feature_net(seed=1234)
    for stochastic in (False, True):
        kind = "sto" if stochastic else "det"
        t0 = time.perf_counter()
        base = new_gan(cfg, stochastic)
        train(base, cfg.pretrain_steps, train_tiles, op, cfg, gen)
        timings[f"{kind}-pretrain"] = time.perf_counter() - t0
        print(f"{kind}: existing GAN trained for {cfg.pretrain_steps} steps "
              f"({timings[f'{kind}-pretrain']:.0f} s)")  # fmt: skip
        for robust in (False, True):
            name = f"{kind}-{'robust' if robust else 'erratic'}"
            t0 = time.perf_counter()
            gan = new_gan(cfg, stochastic, like=base)
            reg = RobustnessRegularizer(
                eps, n_seeds=cfg.n_seeds, solver=AdamAscent.paper_natural_images(), every=3,
                reduction="mean",
            ) if robust else None  # fmt: skip
            applied = train(gan, cfg.finetune_steps, train_tiles, op, cfg, gen, reg)
            timings[f"{name}-finetune"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            metrics, samples[name] = evaluate(gan, x_eval, op, eps, features, cfg, gen)
            timings[f"{name}-eval"] = time.perf_counter() - t0
            if applied:
                metrics["train_l_r_first"] = applied[0]
                metrics["train_l_r_last"] = applied[-1]
            results[name] = metrics
            print(
                f"  {name:12s} eq.9 {metrics['robustness_psnr_db']:5.2f} dB  "
                f"std {metrics['per_pixel_std']:.4f}  P {metrics['precision']:.3f}  "
                f"R {metrics['recall']:.3f}  consistent {metrics['consistent_fraction']:.0%}  "
                f"({timings[f'{name}-finetune']:.0f} s + {timings[f'{name}-eval']:.0f} s)"
            )

    plot_samples(x_eval, samples, args.out / "inpainting_samples.png")
    plot_metrics(results, args.out / "inpainting_metrics.png")
    report = {
        "mode": "quick" if args.quick else "full",
        "config": asdict(cfg),
        "lambda_r_sum": cfg.lam_per_pixel / (3 * PATCH * PATCH),
        "patch": PATCH,
        "eps_l2": eps,
        "n_eval": len(x_eval),
        "n_train_tiles": len(train_tiles),
        "attack": repr(AdamAscent.paper_natural_images()),
        "features": "fixed random conv net (stand-in for Inception), 512-d",
        "variants": results,
        "timings_s": timings,
        "wall_s": time.perf_counter() - start,
        "torch_threads": torch.get_num_threads(),
    }
    (args.out / "inpainting.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out} in {report['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
