"""A GAN generator step with ``RobustnessRegularizer`` vs a plain one; freezing in the attack.

Set-up ([O23] eq. 8, App. E.2.2–E.2.3): generator ``UNet(s=24)`` in training mode on
3×64×64 inputs, ``B = 4``, a small convolutional discriminator (frozen during the generator
step), Adam on the generator, non-saturating GAN loss. The regulariser is
``RobustnessRegularizer(eps=2.5, n_seeds=10, solver=AdamAscent(steps=5, lr=1.0), every=1)``
with ``λ_R = 500``, evaluated through ``G.estimator(eval_mode=False)`` (its final
differentiable pass in training mode, as in training).

- ``regularized_over_plain``: median time of a generator step with ``L_GAN + λ_R·L_R`` over
  a step with ``L_GAN`` only (interleaved). ``regularized_every3_over_plain`` is the
  per-step cost with the paper's ``every = 3`` derived from the same two times:
  ``(2·plain + regularized) / (3·plain)``.
- ``attack_frozen_over_unfrozen``: the inner attack alone (seeds, clean outputs, 5 Adam
  steps, written here), with the parameters frozen (``requires_grad=False``, what the
  library does) over the same attack with the parameters left requiring grad and the
  gradient taken by ``torch.autograd.grad`` with respect to ``δ`` only.
  ``attack_frozen_over_unfrozen_backward``: over the naive ``loss.backward()`` version,
  which also computes (and must then discard) the weight gradients.
- ``extra_mb_attack_*``: memory of one attack above the set-up, in a fresh process (full
  run only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from _common import child_peak, interleaved, row
from torch import nn
from torch.nn import functional as F

from stochrobust import frozen
from stochrobust.nets import UNet
from stochrobust.sensitivity import AdamAscent, RobustnessRegularizer, project_l2

NAME = "regularizer_step"


@dataclass(frozen=True)
class Config:
    s: int
    size: int
    batch: int
    repeats: int
    seeds: int = 10
    steps: int = 5
    lr: float = 1.0
    eps: float = 2.5
    lam: float = 500.0


FULL = Config(s=24, size=64, batch=4, repeats=4)
QUICK = Config(s=8, size=32, batch=2, repeats=2, seeds=4)


def discriminator(size: int) -> nn.Module:
    """Three stride-2 convolutions and a linear read-out."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * (size // 8) ** 2, 1),
    )  # fmt: skip


@dataclass
class Setup:
    gen: UNet
    disc: nn.Module
    opt: torch.optim.Optimizer
    reg: RobustnessRegularizer
    y: torch.Tensor


def setup(cfg: Config, device: str) -> Setup:
    """Generator (training mode), frozen discriminator, optimiser, regulariser and inputs."""
    torch.manual_seed(0)
    gen = UNet(s=cfg.s).to(device).train()
    disc = discriminator(cfg.size).to(device).requires_grad_(False)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.5, 0.999))
    solver = AdamAscent(steps=cfg.steps, lr=cfg.lr)
    reg = RobustnessRegularizer(cfg.eps, n_seeds=cfg.seeds, solver=solver, every=1)
    y = torch.rand(cfg.batch, 3, cfg.size, cfg.size, generator=torch.Generator().manual_seed(1))
    return Setup(gen, disc, opt, reg, y.to(device))


def generator_step(st: Setup, cfg: Config, g: torch.Generator, regularized: bool) -> None:
    """One generator update: non-saturating GAN loss, plus ``λ_R·L_R`` if ``regularized``."""
    st.opt.zero_grad(set_to_none=True)
    fake = st.gen(st.y, st.gen.seed_sampler(st.y.shape[0], st.y, g))
    loss = F.softplus(-st.disc(fake)).mean()
    if regularized:
        loss = loss + cfg.lam * st.reg(st.gen.estimator(eval_mode=False), st.y, generator=g)
    loss.backward()
    st.opt.step()


def attack(gen: UNet, y: torch.Tensor, cfg: Config, g: torch.Generator, mode: str) -> None:
    """The inner eq. 6 attack, fused over seeds; ``mode`` says how the parameters are treated.

    ``frozen``: ``requires_grad=False`` (the library's choice); ``unfrozen``: left on, the
    gradient by ``torch.autograd.grad`` w.r.t. ``δ`` only; ``unfrozen_backward``: left on,
    ``loss.backward()`` (weight gradients computed, then dropped).
    """
    k, b1, b2 = cfg.seeds, 0.9, 0.999
    with frozen(gen, freeze_parameters=mode == "frozen"):
        z = gen.seed_sampler(y.shape[0] * k, y, g)
        with torch.no_grad():
            clean = gen(y.repeat_interleave(k, 0), z)
        delta = project_l2(0.01 * torch.randn(y.shape, generator=g, device=g.device), cfg.eps)
        m, v = torch.zeros_like(y), torch.zeros_like(y)
        for t in range(1, cfg.steps + 1):
            d = delta.to(y.device).requires_grad_(True)
            out = gen((y + d).repeat_interleave(k, 0), z)
            loss = (out - clean).pow(2).flatten(1).sum(1).mean()
            if mode == "unfrozen_backward":
                loss.backward()
                grad = d.grad
                assert grad is not None
            else:
                (grad,) = torch.autograd.grad(loss, d)
            m = b1 * m + (1 - b1) * grad
            v = b2 * v + (1 - b2) * grad * grad
            step = cfg.lr / (1 - b1**t) * m / ((v / (1 - b2**t)).sqrt() + 1e-8)
            delta = project_l2(d.detach() + step, cfg.eps)
    if mode == "unfrozen_backward":
        gen.zero_grad(set_to_none=True)


_MODES = ("frozen", "unfrozen", "unfrozen_backward")


def memory(device: str, mode: str, quick: bool) -> Callable[[], None]:
    """Child-process set-up for :func:`_common.child_peak`: one attack in ``mode``."""
    cfg = QUICK if quick else FULL
    st = setup(cfg, device)

    def call() -> None:
        attack(st.gen, st.y, cfg, torch.Generator(device=device).manual_seed(3), mode)

    return call


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure the step and attack ratios; see the module docstring."""
    cfg = QUICK if quick else FULL
    st = setup(cfg, device)

    def gen_() -> torch.Generator:
        return torch.Generator(device=device).manual_seed(3)

    steps = interleaved(
        {
            "plain": lambda: generator_step(st, cfg, gen_(), regularized=False),
            "regularized": lambda: generator_step(st, cfg, gen_(), regularized=True),
        },
        cfg.repeats,
        device,
    )
    attacks = interleaved(
        {mode: (lambda mode=mode: attack(st.gen, st.y, cfg, gen_(), mode)) for mode in _MODES},
        cfg.repeats,
        device,
    )
    plain, reg = steps["plain"], steps["regularized"]
    rows = [
        row(NAME, "regularized_over_plain", reg / plain),
        row(NAME, "regularized_every3_over_plain", (2 * plain + reg) / (3 * plain)),
        row(NAME, "seconds_plain", plain),
        row(NAME, "seconds_regularized", reg),
        row(NAME, "attack_frozen_over_unfrozen", attacks["frozen"] / attacks["unfrozen"]),
        row(
            NAME,
            "attack_frozen_over_unfrozen_backward",
            attacks["frozen"] / attacks["unfrozen_backward"],
        ),
    ]
    rows += [row(NAME, f"seconds_attack_{mode}", attacks[mode]) for mode in _MODES]
    if not quick:
        for mode in _MODES:
            peak = child_peak(NAME, "memory", device, mode=mode, quick=quick)
            if peak["extra_mb"] is not None:
                rows.append(row(NAME, f"extra_mb_attack_{mode}", peak["extra_mb"]))
    return rows
