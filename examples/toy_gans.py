"""Train the four toy GANs of Ohayon et al. 2023 (App. E.1) and compare them.

X is uniform on the unit disk and Y = X^(1). Four consistent estimators x̂ = (y, MLP(y, z))
are trained as WGAN-GP generators (critic: the same MLP, gradient penalty 10, Adam (0, 0.9),
one critic step per estimator step; [O23] App. E.1 says it reuses its natural-image loss,
non-saturating GAN + R1, with penalty 10 — we use the WGAN-GP form):

    ErraticGAN      deterministic (z = 0), GAN loss only
    RobustGAN       deterministic, GAN loss + λ_R · L_R        (λ_R = 0.1, ε = 1e-3)
    StoErraticGAN   stochastic (z ~ U[0, 1]), GAN loss only
    StoRobustGAN    stochastic, GAN loss + λ_R · L_R

L_R is the same-seed robustness loss ([O23] eq. 7) of stochrobust.sensitivity's
RobustnessRegularizer with the paper's toy attack: 4 Adam steps, lr 1e-4, K = 50 seeds.

Reported per model: sqrt(R̃) with that attack (what [O23] Table 3 reports), sqrt(R̃) with a
strong attack (PGD with restarts, y + δ in [−1, 1]), precision/recall (k = 5, 1000 vs 1000)
and the per-sample diversity (std of x̂^(2) over 32 seeds, mean over inputs). The erratic and
robust twins share initial weights and data stream, so they differ only by λ_R·L_R.
[O23] Table 3 (×1e-3): ErraticGAN 3.62 > RobustGAN 0.77; StoRobustGAN 0.51 > StoErraticGAN
0.13, and the robust stochastic model is the more diverse one.

Modes: --quick (CI smoke, seconds); default (< 5 min on 2 CPU cores: width 128, 2000 steps,
lr 1e-3 — ten times the paper's, so that the GANs get somewhere in 2000 steps); --paper (the
App. E.1 setting: width 512, 20 000 steps, lr 1e-4; hours on a CPU). Note that with the
paper's λ_R = 0.1 and ε = 1e-3 the term λ_R·L_R is about 1e-7 (L_R ≈ ε²·(1 + slope²)), far
below the GAN loss; --lambda-r scales it.

    python examples/toy_gans.py [--quick | --paper] [--steps N] [--width W] [--lr LR]
                                [--lambda-r L] [--seed S] [--threads T] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from stochrobust.metrics import per_pixel_std, precision_recall
from stochrobust.sensitivity import PGD, AdamAscent, RobustnessRegularizer, sensitivity_at
from stochrobust.toy import (
    OutputColumn,
    ToyGAN,
    plot_outputs,
    sample_disk,
    toy_gan,
)

MODELS = (
    ("ErraticGAN", False, False),
    ("RobustGAN", False, True),
    ("StoErraticGAN", True, False),
    ("StoRobustGAN", True, True),
)
PAPER_TABLE3 = {"ErraticGAN": 3.62, "RobustGAN": 0.77, "StoErraticGAN": 0.13, "StoRobustGAN": 0.51}


@dataclass
class Settings:
    steps: int
    width: int
    depth: int
    batch: int
    reg_batch: int
    n_seeds: int
    n_eval: int
    n_support: int
    lr: float
    lambda_r: float = 0.1
    eps: float = 1e-3
    gp: float = 10.0


QUICK = Settings(
    steps=30,
    width=32,
    depth=2,
    batch=64,
    reg_batch=8,
    n_seeds=8,
    n_eval=100,
    n_support=500,
    lr=1e-3,
)
DEFAULT = Settings(
    steps=2000,
    width=128,
    depth=4,
    batch=256,
    reg_batch=16,
    n_seeds=50,
    n_eval=1000,
    n_support=10_000,
    lr=1e-3,
)
PAPER = Settings(
    steps=20_000,
    width=512,
    depth=4,
    batch=256,
    reg_batch=64,
    n_seeds=50,
    n_eval=1000,
    n_support=10_000,
    lr=1e-4,
)


def gradient_penalty(
    critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """WGAN-GP: E[(‖∇D(x̃)‖ − 1)²] on random interpolates of real and fake points."""
    t = torch.rand(real.shape[0], 1, generator=gen)
    mix = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    return (grad.norm(dim=1) - 1).pow(2).mean()


def train(
    stochastic: bool, robust: bool, s: Settings, train_x: torch.Tensor, seed: int
) -> tuple[ToyGAN, list[float]]:
    """Train one toy GAN. Erratic and robust twins share the initial weights and the data
    stream (same ``seed``); the regulariser draws from its own generator, so the only
    difference between them is the λ_R·L_R term."""
    gen = torch.Generator().manual_seed(seed)
    reg_gen = torch.Generator().manual_seed(seed + 1)
    gan = toy_gan(stochastic, width=s.width, depth=s.depth, generator=gen)
    est = gan.net.estimator(eval_mode=False)
    opt_g = torch.optim.Adam(gan.net.parameters(), lr=s.lr, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(gan.critic.parameters(), lr=s.lr, betas=(0.0, 0.9))
    # [O23] App. E.1 preset: K = 50 seeds, 4 Adam steps with lr 1e-4 (1 seed if deterministic);
    # reduction="sum" so that the paper's λ_R = 0.1 applies (docs/sensitivity.md, "What λ means")
    reg = RobustnessRegularizer(
        s.eps, n_seeds=s.n_seeds, solver=AdamAscent.paper_toy(), reduction="sum"
    )
    reg_values: list[float] = []
    n = train_x.shape[0]
    for step in range(s.steps):
        x = train_x[torch.randint(n, (s.batch,), generator=gen)]
        y = x[:, :1]
        z = torch.rand(s.batch, 1, generator=gen) if stochastic else torch.zeros(s.batch, 1)
        # critic step
        fake = gan.net(y, z).detach()
        loss_d = (
            gan.critic(fake).mean()
            - gan.critic(x).mean()
            + s.gp * gradient_penalty(gan.critic, x, fake, gen)
        )
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # estimator step
        loss_g = -gan.critic(gan.net(y, z)).mean()
        if robust:
            l_r = reg(est, y[: s.reg_batch], generator=reg_gen)
            loss_g = loss_g + s.lambda_r * l_r
            if step % 50 == 0:
                reg_values.append(float(l_r.detach()))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    return gan, reg_values


def evaluate(gan: ToyGAN, s: Settings, val_x: torch.Tensor, gen: torch.Generator) -> dict:
    est = gan.estimator
    n = s.n_eval
    y = val_x[:n, :1]
    # (a deterministic estimator is evaluated on one seed whatever n_seeds says)
    paper = sensitivity_at(
        est,
        y,
        s.eps,
        n_seeds=s.n_seeds,
        solver=AdamAscent.paper_toy(),
        generator=gen,
        data_range=None,
    )
    strong = sensitivity_at(
        est, y, s.eps, n_seeds=s.n_seeds, solver=PGD(restarts=8), generator=gen, box=(-1.0, 1.0)
    )
    with torch.no_grad():
        fake = est.sample(val_x[n : 2 * n, :1], 1, generator=gen)[:, 0]
        p, r = precision_recall(val_x[2 * n : 3 * n], fake, k=5)
        div = per_pixel_std(est.sample(y, 32, generator=gen)[..., 1:])
    return {
        "sqrt_R_paper_attack": math.sqrt(float(paper.value.mean())),
        "sqrt_R_strong_attack": math.sqrt(float(strong.value.mean())),
        "precision": float(p),
        "recall": float(r),
        "diversity": float(div.mean()),
    }


def plot_bars(metrics: dict[str, dict], s: Settings, path: Path) -> Path:
    """sqrt(R̃) (both attacks, with [O23] Table 3), precision/recall and diversity per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics)
    pos = list(range(len(names)))
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8))
    w = 0.27
    for off, key, label in (
        (-w, "sqrt_R_paper_attack", "paper attack (4 Adam steps)"),
        (0.0, "sqrt_R_strong_attack", "strong attack (PGD)"),
    ):
        axes[0].bar([p + off for p in pos], [1e3 * metrics[n][key] for n in names], w, label=label)
    axes[0].bar(
        [p + w for p in pos],
        [PAPER_TABLE3[n] for n in names],
        w,
        color="0.6",
        label="[O23] Table 3",
    )
    axes[0].set_ylabel(r"$\sqrt{\tilde R}$  ($\times 10^{-3}$, $\varepsilon$ = 1e-3)")
    axes[0].set_title(r"sensitivity $\sqrt{\tilde R}$ (eq. 7), lower = more robust", fontsize=9)
    axes[0].legend(fontsize=7)
    axes[1].bar(
        [p - 0.2 for p in pos], [metrics[n]["precision"] for n in names], 0.4, label="precision"
    )
    axes[1].bar([p + 0.2 for p in pos], [metrics[n]["recall"] for n in names], 0.4, label="recall")
    axes[1].set_ylim(0, 1.22)
    axes[1].set_title(f"precision / recall (k = 5, {s.n_eval} vs {s.n_eval})", fontsize=9)
    axes[1].legend(fontsize=7, ncol=2, loc="upper center")
    axes[2].bar(pos, [metrics[n]["diversity"] for n in names], 0.5, color="tab:purple")
    axes[2].set_title(r"diversity: std of $\hat x^{(2)}$ over 32 seeds", fontsize=9)
    for ax in axes:
        ax.set_xticks(pos)
        ax.set_xticklabels(names, fontsize=8, rotation=15)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(
        f"Toy GANs: {s.steps} steps, width {s.width}, lr {s.lr:g}, $\\lambda_R$ = {s.lambda_r:g}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def figures(
    gans: dict[str, ToyGAN], metrics: dict[str, dict], s: Settings, out: Path, gen: torch.Generator
) -> list[Path]:
    data, _ = sample_disk(100, generator=gen)
    _, y_sup = sample_disk(s.n_support, generator=gen)
    _, y_shown = sample_disk(100, generator=gen)
    cols = []
    for name, gan in gans.items():
        m = metrics[name]
        with torch.no_grad():
            sup = gan.estimator.sample(y_sup, 1, generator=gen)[:, 0]
            shown = gan.estimator.sample(y_shown, 1, generator=gen)[:, 0]
        title = (
            f"{name}\nP = {m['precision']:.2f}, R = {m['recall']:.2f}\n"
            rf"$\sqrt{{\tilde R}}$ = {1e3 * m['sqrt_R_paper_attack']:.2f}e-3, "
            f"std = {m['diversity']:.2f}"
        )
        cols.append(OutputColumn(title, sup, shown, line=not gan.estimator.is_stochastic))
    f1 = plot_outputs(
        cols,
        data,
        out / "toy_gans_outputs.png",
        title=(
            f"Toy GANs ([O23] App. E.1): {s.steps} steps, width {s.width}, lr {s.lr:g}, "
            rf"$\lambda_R$ = {s.lambda_r:g}"
        ),
    )
    f2 = plot_bars(metrics, s, out / "toy_gans_metrics.png")
    return [f1, f2]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="CI smoke run (seconds)")
    mode.add_argument("--paper", action="store_true", help="[O23] App. E.1 sizes (hours)")
    ap.add_argument("--steps", type=int, help="training steps per model")
    ap.add_argument("--width", type=int, help="hidden width of both MLPs")
    ap.add_argument("--lambda-r", type=float, help="weight of the robustness loss (0.1)")
    ap.add_argument("--lr", type=float, help="Adam learning rate (paper 1e-4; default 1e-3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: these small MLPs gain little from more, "
        "and lose a lot when the cores are shared)",
    )
    ap.add_argument("--out", default="example-output/toy_gans", help="output folder")
    args = ap.parse_args(argv)
    s = QUICK if args.quick else PAPER if args.paper else DEFAULT
    overrides = {
        "steps": args.steps,
        "width": args.width,
        "lambda_r": args.lambda_r,
        "lr": args.lr,
    }
    s = replace(s, **{k: v for k, v in overrides.items() if v is not None})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    # [O23] App. E.1: 100 000 training and 10 000 validation samples.
    train_x, _ = sample_disk(100_000, generator=gen)
    val_x, _ = sample_disk(max(3 * s.n_eval, 10_000), generator=gen)
    start = time.perf_counter()
    gans: dict[str, ToyGAN] = {}
    metrics: dict[str, dict] = {}
    for name, stochastic, robust in MODELS:
        t0 = time.perf_counter()
        gans[name], reg_trace = train(stochastic, robust, s, train_x, args.seed + 10)
        metrics[name] = evaluate(gans[name], s, val_x, gen)
        metrics[name]["seconds"] = round(time.perf_counter() - t0, 1)
        metrics[name]["L_R_trace"] = reg_trace
        m = metrics[name]
        reg_note = (
            f"  mean lambda_R*L_R {s.lambda_r * sum(reg_trace) / len(reg_trace):.1e}"
            if reg_trace
            else ""
        )
        print(
            f"{name:<14} sqrt(R~) {1e3 * m['sqrt_R_paper_attack']:6.2f}e-3 (strong attack "
            f"{1e3 * m['sqrt_R_strong_attack']:6.2f}e-3)  P {m['precision']:.3f}  "
            f"R {m['recall']:.3f}  diversity {m['diversity']:.3f}{reg_note}  ({m['seconds']} s)",
            flush=True,
        )
    files = figures(gans, metrics, s, out, gen)
    e, r, se, sr = (metrics[k]["sqrt_R_paper_attack"] for k in PAPER_TABLE3)
    checks = {
        "ErraticGAN more sensitive than RobustGAN": e > r,
        "StoRobustGAN more diverse than StoErraticGAN": metrics["StoRobustGAN"]["diversity"]
        > metrics["StoErraticGAN"]["diversity"],
        "StoRobustGAN sqrt(R~) above StoErraticGAN's (as in Table 3)": sr > se,
    }
    print(
        "[O23] Table 3 sqrt(R~) (x1e-3): " + ", ".join(f"{k} {v}" for k, v in PAPER_TABLE3.items())
    )
    for text, ok in checks.items():
        print(f"  [{'yes' if ok else 'NO '}] {text}")
    total = time.perf_counter() - start
    payload = {
        "settings": vars(s),
        "models": metrics,
        "paper_table3_x1e-3": PAPER_TABLE3,
        "checks": checks,
        "seconds": round(total, 1),
    }
    (out / "toy_gans.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out / 'toy_gans.json'}, " + ", ".join(str(f) for f in files))
    print(f"total {total:.0f} s")


if __name__ == "__main__":
    main()
