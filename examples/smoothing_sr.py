"""×4 super-resolution of real photos with and without median smoothing ([C24] §4).

A small SR model — bicubic upsampling plus a learned residual (a conv body on the LR image,
upsampled by pixel shuffle) — is trained for a minute or two with an L1 loss on patches of
the two photos that scikit-learn ships (``china.jpg`` and ``flower.jpg``), degraded by ×4
box averaging (:class:`~stochrobust.consistency.AvgPoolDownsample`). A copy is then
fine-tuned with CertSR's Gaussian noise augmentation ([C24] §4.2 and §5: five copies of each
batch with σ = 0.03, 0.03, 0.2, 0.2, 0; L1 on the per-σ medians of
:func:`~stochrobust.smoothing.median_aggregate`). Each of the two base models is evaluated
as is and wrapped in :class:`~stochrobust.smoothing.MedianSmoothing` (n = 21, outputs
clipped to [0, 1]) on held-out 64×64 tiles (16×16 LR inputs, the ×4 setting of [O23]):

- (a) Gaussian noise on the LR input, std 0.03 (the sensor noise of [C24] §5.2) and 0.06,
  with smoothing σ ∈ {0.03, 0.05, 0.07};
- (b) an L∞ attack on the LR input, budgets 1/255 … 8/255 on the [0, 1] scale, box [0, 1]:
  BIM (I-FGSM, 10 steps of ε/10 from a random start) maximising ``‖f(y) − f(y + δ)‖²`` — the
  deviation from the clean-input output, as in Choi et al. 2019 and [O23] eq. 2. The
  smoothed model (σ = 0.05) is attacked *through its differentiable Monte-Carlo median with
  fixed noise*: the same generator seed on every call makes it a deterministic function of
  the input. It is then evaluated with fresh noise, the same draw for the clean and the
  attacked input. No expectation over the noise (EOT) is attacked;
- certificates (σ = 0.05, n = 2000, α = 1e-3 per pixel and side, fresh noise): the
  certified L2 radius, the fraction certified and the mean width ``upper − lower`` at
  several radii, the L2 size of each attack against the radius, and for the attacks inside
  the radius whether the smoothed output at the attacked input stays within the bounds.

Reported: PSNR to the HR image and to the output on the clean input, and the consistency
PSNR ``PSNR(A x̂, y)``.

Data. Each photo is cut into a 6×10 grid of 64×64 tiles; the tiles with
``(row + col) % 3 == 0`` (a third, spread over both photos' content) are held out for
evaluation, in a fixed shuffled order. Training crops are random 48×48 windows inside the
other tiles, with random flips and 90° rotations.

Run: ``PYTHONPATH=. python examples/smoothing_sr.py [--quick] [--out DIR]``.
Full mode: a few minutes on 2 CPU cores; ``--quick``: a smoke run of a few seconds.
Writes ``sr_examples.png``, ``sr_curves.png`` and ``smoothing_sr.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _photos import load_photos, split_tiles
from torch import nn

from stochrobust.consistency import AvgPoolDownsample, consistency_psnr
from stochrobust.metrics import psnr
from stochrobust.sensitivity import BIM, sensitivity_at
from stochrobust.smoothing import (
    MedianSmoothing,
    certified_indices,
    certified_radius,
    median_aggregate,
    noise_augment,
)

SCALE = 4
TILE = 64
CROP = 48


@dataclass
class Config:
    train_steps: int = 2000
    finetune_steps: int = 400
    batch: int = 16
    width: int = 32
    depth: int = 5
    lr: float = 1e-3
    sigma: float = 0.05
    sigma_sweep: tuple[float, ...] = (0.03, 0.05, 0.07)
    n_smooth: int = 21
    noise_levels: tuple[float, ...] = (0.03, 0.06)
    budgets_255: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    bim_steps: int = 10
    n_attack: int = 8
    n_cert: int = 3
    cert_samples: int = 2000
    alpha: float = 1e-3
    max_batch: int = 512
    n_eval: int | None = None
    seed: int = 0


def quick_config() -> Config:
    return Config(
        train_steps=20, finetune_steps=4, width=16, depth=3, sigma_sweep=(0.05,),
        noise_levels=(0.06,), budgets_255=(1.0, 8.0), bim_steps=2, n_attack=2,
        n_cert=1, cert_samples=200, n_eval=6,
    )  # fmt: skip


# ----------------------------------------------------------------------------- data
def random_crops(tiles: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random ``CROP``-sized windows inside random tiles, random flips/rotations."""
    idx = torch.randint(len(tiles), (n,), generator=gen).tolist()
    off = torch.randint(TILE - CROP + 1, (n, 2), generator=gen).tolist()
    rot = torch.randint(4, (n,), generator=gen).tolist()
    flip = torch.randint(2, (n,), generator=gen).tolist()
    crops = []
    for i, (a, b), k, f in zip(idx, off, rot, flip, strict=True):
        crop = tiles[i, :, a : a + CROP, b : b + CROP].rot90(k, (1, 2))
        crops.append(crop.flip(-1) if f else crop)
    return torch.stack(crops)


# ----------------------------------------------------------------------------- models
class ResidualSR(nn.Module):
    """LR → HR: bicubic upsampling plus a residual (conv body at LR, pixel shuffle)."""

    def __init__(self, width: int = 32, depth: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1, padding_mode="replicate")]
        for _ in range(depth - 2):
            layers += [nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate")]
        last = nn.Conv2d(width, 3 * SCALE**2, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(last.weight)  # start exactly at bicubic
        nn.init.zeros_(last.bias)
        self.body = nn.Sequential(*layers, nn.ReLU(), last, nn.PixelShuffle(SCALE))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(y, scale_factor=SCALE, mode="bicubic", align_corners=False)
        out: torch.Tensor = up + self.body(4.0 * (y - 0.5))  # input scaled to about ±2
        return out


class FixedNoise(nn.Module):
    """The smoothed model with the same noise on every call: a deterministic function.

    This is what the attack differentiates through (the Monte-Carlo median is
    differentiable; the gradient flows through the selected sample).
    """

    def __init__(self, smooth: MedianSmoothing, seed: int) -> None:
        super().__init__()
        self.smooth, self.seed = smooth, seed

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.smooth(y, generator=torch.Generator().manual_seed(self.seed))
        return out


def train(
    model: nn.Module,
    steps: int,
    tiles: torch.Tensor,
    op: AvgPoolDownsample,
    cfg: Config,
    gen: torch.Generator,
    noise_aug: bool = False,
) -> float:
    """L1 training on random crops (``noise_aug``: CertSR's per-σ median recipe)."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.train()
    loss = torch.zeros(())
    for _ in range(steps):
        x = random_crops(tiles, cfg.batch, gen)
        y = op.A(x)
        if noise_aug:
            aug = noise_augment(y, generator=gen)  # σ = 0.03, 0.03, 0.2, 0.2, 0
            pred = median_aggregate(model(aug.y), aug.group)
            target = x[aug.group_index]
        else:
            pred, target = model(y), x
        loss = (pred - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return float(loss.detach())


# ----------------------------------------------------------------------------- evaluation
def mean_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR (dB) over the batch, on outputs clipped to [0, 1]."""
    return float(psnr(a.clamp(0, 1), b.clamp(0, 1)).mean())


def pooled_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) of the MSE pooled over the batch (less dominated by flat tiles)."""
    return float(-10.0 * torch.log10((a.clamp(0, 1) - b.clamp(0, 1)).pow(2).mean()))


class Evaluation:
    """Evaluates one base model ``f`` and its median-smoothed versions."""

    def __init__(self, base: nn.Module, x: torch.Tensor, op: AvgPoolDownsample, cfg: Config):
        self.base, self.x, self.op, self.cfg = base, x, op, cfg
        self.y = op.A(x)
        self.images: dict[str, torch.Tensor] = {}

    def smoothed(self, sigma: float) -> MedianSmoothing:
        return MedianSmoothing(
            self.base, sigma=sigma, n_samples=self.cfg.n_smooth, max_batch=self.cfg.max_batch,
            box=(0.0, 1.0),
        )  # fmt: skip

    def fresh(self) -> torch.Generator:
        """Evaluation noise of the smoothed model: never the attack's nor the certificate's."""
        return torch.Generator().manual_seed(self.cfg.seed + 7)

    def noise(self) -> dict[str, Any]:
        """(a) clean and Gaussian-noise PSNRs, base and smoothed for every σ."""
        cfg, x, y, op = self.cfg, self.x, self.y, self.op
        noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(cfg.seed + 101))
        out: dict[str, Any] = {}
        with torch.no_grad():
            models: list[tuple[str, Any]] = [("base", None)]
            models += [(f"smoothed_sigma_{s:g}", self.smoothed(s)) for s in cfg.sigma_sweep]
            for name, smooth in models:

                def f(inp: torch.Tensor, smooth: MedianSmoothing | None = smooth) -> torch.Tensor:
                    return self.base(inp) if smooth is None else smooth(inp, generator=self.fresh())

                clean = f(y)
                entry: dict[str, Any] = {
                    "clean_psnr_hr": mean_psnr(clean, x),
                    "clean_psnr_hr_pooled": pooled_psnr(clean, x),
                    "consistency_psnr_db": float(consistency_psnr(clean, y, op).mean()),
                }
                for level in cfg.noise_levels:
                    noisy = f(y + level * noise)
                    entry[f"noise_{level:g}"] = {
                        "psnr_hr": mean_psnr(noisy, x),
                        "psnr_clean_output": mean_psnr(noisy, clean),
                    }
                out[name] = entry
                if smooth is None or smooth.sigma == cfg.sigma:
                    kind = "base" if smooth is None else "smoothed"
                    self.images[f"{kind} clean"] = clean
                    self.images[f"{kind} noisy"] = noisy  # the largest noise level
        return out

    def attacks(self) -> tuple[dict[str, Any], dict[float, torch.Tensor]]:
        """(b) BIM on the base model and on the fixed-noise smoothed model."""
        cfg = self.cfg
        xa, ya = self.x[: cfg.n_attack], self.y[: cfg.n_attack]
        smooth = self.smoothed(cfg.sigma)
        with torch.no_grad():
            clean = {"base": self.base(ya), "smoothed": smooth(ya, generator=self.fresh())}
        rows: dict[str, Any] = {
            "0/255": {
                "linf": 0.0,
                "base_psnr_hr": mean_psnr(clean["base"], xa),
                "smoothed_psnr_hr": mean_psnr(clean["smoothed"], xa),
            }
        }
        deltas: dict[float, torch.Tensor] = {}
        for budget in cfg.budgets_255:
            eps = budget / 255.0
            row: dict[str, float] = {"linf": eps}
            for kind, model in (
                ("base", self.base),
                ("smoothed", FixedNoise(smooth, cfg.seed + 55)),
            ):
                res = sensitivity_at(
                    model, ya, eps, ball="linf", solver=BIM(steps=cfg.bim_steps), box=(0.0, 1.0),
                    generator=torch.Generator().manual_seed(cfg.seed + 11),
                )  # fmt: skip
                y_adv = ya + res.delta
                with torch.no_grad():
                    adv = (
                        self.base(y_adv)
                        if kind == "base"
                        else smooth(y_adv, generator=self.fresh())
                    )
                row[f"{kind}_delta_l2_max"] = float(res.delta.flatten(1).norm(dim=1).max())
                row[f"{kind}_psnr_hr"] = mean_psnr(adv, xa)
                row[f"{kind}_psnr_clean_output"] = mean_psnr(adv, clean[kind])
                if kind == "smoothed":  # the attack's own view: the noise it was fitted to
                    row["smoothed_psnr_clean_output_attack_noise"] = float(res.output_psnr.mean())
                    deltas[budget] = res.delta
                if budget == max(cfg.budgets_255):
                    self.images[f"{kind} attacked"] = adv
            rows[f"{budget:g}/255"] = row
        return rows, deltas

    def certificates(self, deltas: dict[float, torch.Tensor]) -> dict[str, Any]:
        """Certified bounds of the smoothed model (σ = cfg.sigma) at several L2 radii.

        ``certify`` runs with the same dedicated generator seed at every radius (so the
        bounds are nested) at fractions of the certified radius and at the L2 size of every
        attack inside it; beyond the certified radius no index is valid for any draw
        (``certified_indices`` returns ``None``), so no samples are drawn there.
        """
        cfg = self.cfg
        smooth = self.smoothed(cfg.sigma)
        y = self.y[: cfg.n_cert]
        radius = certified_radius(cfg.cert_samples, cfg.sigma, cfg.alpha) or 0.0
        sizes = {b: float(d[: cfg.n_cert].flatten(1).norm(dim=1).max()) for b, d in deltas.items()}
        radii = sorted({round(f * radius, 4) for f in (0.25, 0.5, 0.99)} | set(sizes.values()))
        rows = []
        for eps in radii:
            k_low, k_up = certified_indices(cfg.cert_samples, eps, cfg.sigma, cfg.alpha)
            row: dict[str, Any] = {"eps_l2": eps, "indices": [k_low, k_up]}
            if k_low is None or k_up is None:
                row.update(fraction_certified=0.0, mean_width=None)
                rows.append(row)
                continue
            # one tile per call: certify keeps and sorts all n outputs of its batch at once
            certs = [
                smooth.certify(
                    y[i : i + 1], eps=eps, n_samples=cfg.cert_samples, alpha=cfg.alpha,
                    generator=torch.Generator().manual_seed(cfg.seed + 999 + i),
                )
                for i in range(len(y))
            ]  # fmt: skip
            lower = torch.cat([c.lower for c in certs])
            upper = torch.cat([c.upper for c in certs])
            width = upper - lower
            row.update(
                fraction_certified=float(torch.cat([c.certified for c in certs]).double().mean()),
                mean_width=float(width.mean()),
            )
            for budget, size in sizes.items():
                if size == eps:  # the smoothed output at the attacked input, checked
                    with torch.no_grad():
                        adv = smooth.percentile(
                            y + deltas[budget][: cfg.n_cert], 0.5, n_samples=cfg.cert_samples // 4,
                            generator=torch.Generator().manual_seed(cfg.seed + 3),
                        )  # fmt: skip
                    inside = (lower <= adv) & (adv <= upper)
                    row[f"attack_{budget:g}/255_inside_fraction"] = float(inside.double().mean())
            self.images["certified width"] = width
            self.images["certified width eps"] = torch.tensor(eps)
            rows.append(row)
        attack_sizes = {f"{b:g}/255": s for b, s in sizes.items()}
        return {
            "sigma": cfg.sigma,
            "n": cfg.cert_samples,
            "alpha": cfg.alpha,
            "certified_radius_l2": radius,
            "attack_l2_sizes": attack_sizes,
            "attacks_inside_radius": [b for b, s in attack_sizes.items() if s < radius],
            "radii": rows,
        }


# ----------------------------------------------------------------------------- figures
def plot_examples(
    x: torch.Tensor, y: torch.Tensor, images: dict[str, torch.Tensor], cfg: Config, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noise, budget = max(cfg.noise_levels), max(cfg.budgets_255)
    cols = [
        ("HR x", x), ("LR y (nearest ×4)", F.interpolate(y, scale_factor=SCALE)),
        ("base f, clean", images["base clean"]),
        (f"smoothed σ={cfg.sigma:g}, clean", images["smoothed clean"]),
        (f"f, noise std {noise:g}", images["base noisy"]),
        ("smoothed, noise", images["smoothed noisy"]),
        (f"f, BIM {budget:g}/255", images["base attacked"]),
        (f"smoothed, BIM {budget:g}/255", images["smoothed attacked"]),
    ]  # fmt: skip
    rows = min(3, cfg.n_attack, cfg.n_cert)
    width = images.get("certified width")
    n_cols = len(cols) + int(width is not None)
    fig, axes = plt.subplots(rows, n_cols, figsize=(1.42 * n_cols, 1.5 * rows + 0.35))
    axes = np.atleast_2d(axes)
    for r in range(rows):
        for c, (title, imgs) in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(imgs[r].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=6.5)
        if width is not None:
            ax = axes[r, -1]
            im = ax.imshow(width[r].mean(0).numpy(), cmap="magma", vmin=0)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=5)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                eps = float(images["certified width eps"])
                ax.set_title(f"certified width\nat ‖δ‖₂ < {eps:.3g}", fontsize=6.5)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(models: dict[str, Any], cfg: Config, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.5))
    budgets = [0.0, *cfg.budgets_255]
    levels = [0.0, *cfg.noise_levels]
    smooth_key = f"smoothed_sigma_{cfg.sigma:g}"
    for (name, res), ls in zip(models.items(), ("-", "--"), strict=False):
        for kind, color in (("base", "C3"), ("smoothed", "C0")):
            label = f"{name}, {'f' if kind == 'base' else f'smoothed σ={cfg.sigma:g}'}"
            entry = res["noise"]["base" if kind == "base" else smooth_key]
            noisy = [entry["clean_psnr_hr"]] + [
                entry[f"noise_{lv:g}"]["psnr_hr"] for lv in cfg.noise_levels
            ]
            axes[0].plot(levels, noisy, ls, color=color, marker="o", label=label)
            att = [res["attacks"][f"{b:g}/255"][f"{kind}_psnr_hr"] for b in budgets]
            axes[1].plot(budgets, att, ls, color=color, marker="o", label=label)
            dev = [res["attacks"][f"{b:g}/255"][f"{kind}_psnr_clean_output"] for b in budgets[1:]]
            axes[2].plot(budgets[1:], dev, ls, color=color, marker="o", label=label)
        cert = res["certificates"]
        ok = [r for r in cert["radii"] if r["mean_width"] is not None]
        axes[3].plot(
            [r["eps_l2"] for r in ok], [r["mean_width"] for r in ok], ls, color="C0",
            marker="o", label=f"{name}, smoothed",
        )  # fmt: skip
    axes[0].set(xlabel="std of Gaussian noise on the LR input", ylabel="PSNR to HR (dB)")
    axes[0].set_title("(a) Gaussian input noise: PSNR to HR", fontsize=9)
    axes[1].set(xlabel="L∞ budget on the LR input (×1/255)", ylabel="PSNR to HR (dB)")
    axes[1].set_title(f"(b) BIM attack ({cfg.n_attack} tiles): PSNR to HR", fontsize=9)
    axes[2].set(xlabel="L∞ budget on the LR input (×1/255)", ylabel="PSNR (dB)")
    axes[2].set_title("(b) BIM attack: PSNR to the clean-input output", fontsize=9)
    radius = next(iter(models.values()))["certificates"]["certified_radius_l2"]
    axes[3].axvline(radius, color="k", ls=":", label=f"certified radius {radius:.3f}")
    d = 3 * (TILE // SCALE) ** 2
    for b in cfg.budgets_255:
        axes[3].axvline(b / 255.0 * d**0.5, color="C3", alpha=0.5, lw=1)
        axes[3].text(b / 255.0 * d**0.5, 0.03, f" {b:g}/255", rotation=90, fontsize=6,
                     color="C3", transform=axes[3].get_xaxis_transform())  # fmt: skip
    axes[3].set_xscale("log")
    axes[3].set(xlabel="L2 radius ε (red: L2 size of the L∞ balls)", ylabel="mean width")
    axes[3].set_title(
        f"certified bounds, σ={cfg.sigma:g} (n={cfg.cert_samples}, α={cfg.alpha:g})", fontsize=9
    )
    for ax in axes:
        ax.legend(fontsize=6.5)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run (a few seconds)")
    parser.add_argument("--out", type=Path, default=Path("examples-out/smoothing_sr"))
    parser.add_argument("--train-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch intra-op threads (1: these small convolutions gain little from more)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = quick_config() if args.quick else Config()
    cfg.seed = args.seed
    if args.train_steps is not None:
        cfg.train_steps = args.train_steps
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    train_tiles, x_eval = split_tiles(load_photos(), TILE)
    x_eval = x_eval[torch.randperm(len(x_eval), generator=torch.Generator().manual_seed(5))]
    x_eval = x_eval[: cfg.n_eval]
    # attacks run on the first n_attack tiles (random); put the most textured of them first,
    # so that the certificates (first n_cert tiles) and the figure show informative tiles
    texture = x_eval[: cfg.n_attack].flatten(1).std(dim=1)
    x_eval[: cfg.n_attack] = x_eval[: cfg.n_attack][texture.argsort(descending=True)]
    op = AvgPoolDownsample(SCALE)
    y_eval = op.A(x_eval)
    bicubic = F.interpolate(y_eval, scale_factor=SCALE, mode="bicubic", align_corners=False)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    plain = ResidualSR(cfg.width, cfg.depth)
    train(plain, cfg.train_steps, train_tiles, op, cfg, gen)
    timings["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tuned = ResidualSR(cfg.width, cfg.depth)
    tuned.load_state_dict(plain.state_dict())
    train(tuned, cfg.finetune_steps, train_tiles, op, cfg, gen, noise_aug=True)
    timings["noise_aug_finetune"] = time.perf_counter() - t0
    print(
        f"trained {cfg.train_steps} steps ({timings['train']:.0f} s), noise-augmented "
        f"fine-tuning {cfg.finetune_steps} steps ({timings['noise_aug_finetune']:.0f} s)"
    )

    models: dict[str, Any] = {}
    figure_images: dict[str, torch.Tensor] = {}
    for name, model in (("plain", plain), ("noise-aug", tuned)):
        t0 = time.perf_counter()
        ev = Evaluation(model, x_eval, op, cfg)
        res: dict[str, Any] = {"noise": ev.noise()}
        res["attacks"], deltas = ev.attacks()
        res["certificates"] = ev.certificates(deltas)
        models[name] = res
        timings[f"{name}_eval"] = time.perf_counter() - t0
        if name == "plain":
            figure_images = ev.images
        smooth_key = f"smoothed_sigma_{cfg.sigma:g}"
        cert = res["certificates"]
        print(
            f"{name}: clean {res['noise']['base']['clean_psnr_hr']:.2f} dB (smoothed "
            f"{res['noise'][smooth_key]['clean_psnr_hr']:.2f} dB); certified radius "
            f"{cert['certified_radius_l2']:.3f}; {timings[f'{name}_eval']:.0f} s"
        )
        for budget, row in list(res["attacks"].items())[1:]:
            print(
                f"  BIM {budget:>7s}: f {row['base_psnr_hr']:.2f} dB, smoothed "
                f"{row['smoothed_psnr_hr']:.2f} dB to HR; ‖δ‖₂ ≤ {row['smoothed_delta_l2_max']:.3f}"
            )

    plot_examples(x_eval, y_eval, figure_images, cfg, args.out / "sr_examples.png")
    plot_curves(models, cfg, args.out / "sr_curves.png")
    report = {
        "mode": "quick" if args.quick else "full",
        "config": asdict(cfg),
        "n_eval_tiles": len(x_eval),
        "n_train_tiles": len(train_tiles),
        "bicubic_psnr_hr": mean_psnr(bicubic, x_eval),
        "attack": f"BIM(steps={cfg.bim_steps}) on ‖f(y) − f(y+δ)‖², L∞ ball, box [0, 1]",
        "models": models,
        "timings_s": timings,
        "wall_s": time.perf_counter() - start,
        "torch_threads": torch.get_num_threads(),
    }
    (args.out / "smoothing_sr.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out} in {report['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
