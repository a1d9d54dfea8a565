"""Optimiser-driven attack solvers: projected Adam ascent ([O23]) and Carlini–Wagner L2.

Both follow the conventions of :mod:`stochrobust.sensitivity.solvers` (objective-agnostic,
random start, projection after every step, best iterate per sample tracked on the device).

References:
    [O23] Ohayon et al. 2023, App. E.2.3 (5 Adam steps, lr 1, betas (0.9, 0.999), optimiser
    state re-initialised per call, projection after each step) and App. E.1 (4 Adam steps,
    lr 1e-4).
    [C24] Chaouai et al. 2024, eq. 2 (Carlini–Wagner in tanh space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from stochrobust._checks import check_int, check_number, check_positive
from stochrobust.errors import RangeError
from stochrobust.sensitivity._ascent import Problem
from stochrobust.sensitivity.projections import project_l2
from stochrobust.sensitivity.solvers import RestartSolver

__all__ = ["CW", "AdamAscent"]


class AdamMoments:
    """Adam's bias-corrected moment estimates (Kingma & Ba 2015, Algorithm 1).

    The one Adam update shared by the optimiser-driven solvers (projected Adam ascent and
    Carlini–Wagner): :meth:`direction` returns ``m̂ / (sqrt(v̂) + adam_eps)`` for the next
    gradient; the caller multiplies by its learning rate and adds or subtracts it.
    """

    def __init__(self, like: torch.Tensor, betas: tuple[float, float], adam_eps: float) -> None:
        self.m = torch.zeros_like(like)
        self.v = torch.zeros_like(like)
        self.b1, self.b2 = betas
        self.adam_eps = adam_eps
        self.t = 0

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        """Update the moments with ``grad`` and return the bias-corrected Adam direction."""
        self.t += 1
        self.m = self.m.mul(self.b1).add_(grad, alpha=1 - self.b1)
        self.v = self.v.mul(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        denom = (self.v / (1 - self.b2**self.t)).sqrt_().add_(self.adam_eps)
        return self.m / (1 - self.b1**self.t) / denom


def _check_betas(betas: object) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise RangeError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
    return (
        check_number(betas[0], "betas[0]", low=0.0, high=1.0, high_inclusive=False),
        check_number(betas[1], "betas[1]", low=0.0, high=1.0, high_inclusive=False),
    )


@dataclass
class AdamAscent(RestartSolver):
    """Projected Adam ascent — the attack of [O23] App. E.2.3.

    Adam on ``-objective`` with a fresh optimiser state for every call (the paper
    re-initialises it for every new batch), bias correction, and a projection of ``delta``
    onto the ball (then the box) after every step. The first Adam step moves every
    coordinate by about ``lr`` (it is a sign step), so ``lr`` is absolute, not relative to
    ``eps``: with the paper's ``lr = 1`` and image-sized inputs every step overshoots and is
    projected back onto the sphere.

    Args:
        steps: Adam steps (gradient evaluations) per restart.
        lr: learning rate (absolute), ``> 0``.
        betas: Adam's ``(β₁, β₂)``, each in ``[0, 1)``.
        adam_eps: Adam's denominator offset, ``> 0``.
        restarts: independent runs.
        random_start: start uniformly in the ball.

    References:
        [O23] App. E.2.3 (natural images: 5 steps, lr 1, betas (0.9, 0.999)) and App. E.1
        (toy: 4 steps, lr 1e-4); Kingma & Ba 2015.

    Examples:
        >>> obj = lambda d: (3.0 * d).pow(2).sum(1)
        >>> best = AdamAscent().maximize(obj, torch.zeros(2, 8), 0.5,
        ...                              generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(best.value, torch.full((2,), 9 * 0.25))
        True
    """

    steps: int = 5
    lr: float = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        self.steps = check_int(self.steps, "steps", minimum=1)
        self.lr = check_positive(self.lr, "lr")
        self.betas = _check_betas(self.betas)
        self.adam_eps = check_positive(self.adam_eps, "adam_eps")

    @classmethod
    def paper_natural_images(cls) -> AdamAscent:
        """[O23] App. E.2.3 preset (inpainting and super-resolution on 64×64 images).

        5 steps, ``lr = 1``, ``betas = (0.9, 0.999)``; use it with ``n_seeds = 10`` and ``ε``
        from :func:`~stochrobust.sensitivity.eps_for_psnr` (2.5 for inpainting; 0.553, 0.276,
        0.138 for super-resolution ×4, ×8, ×16).

        Returns:
            The solver.

        Examples:
            >>> AdamAscent.paper_natural_images()
            AdamAscent(restarts=1, random_start=True, steps=5, lr=1.0, betas=(0.9, 0.999),
            adam_eps=1e-08)
        """
        return cls(steps=5, lr=1.0, betas=(0.9, 0.999))

    @classmethod
    def paper_toy(cls) -> AdamAscent:
        """[O23] App. E.1 preset (2-D toy problem): 4 steps, ``lr = 1e-4``.

        Use it with ``ε = 1e-3`` and ``n_seeds = 50``.

        Returns:
            The solver.

        Examples:
            >>> AdamAscent.paper_toy().lr
            0.0001
        """
        return cls(steps=4, lr=1e-4, betas=(0.9, 0.999))

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """One restart: ``steps`` Adam steps on ``-objective``, projected after each.

        Arguments and result (the last iterate) as in :meth:`RestartSolver.ascend`.
        """
        adam = AdamMoments(delta, self.betas, self.adam_eps)
        for _ in range(self.steps):
            _, _, grad = problem.value_and_grad(delta)
            delta = problem.project(delta + self.lr * adam.direction(grad))
        return delta


@dataclass
class CW(RestartSolver):
    """Carlini–Wagner L2 attack in tanh space ([C24] eq. 2), tied to the ε-ball.

    The box is enforced by the change of variables ``y + δ = lo + (hi − lo)·½(tanh(w) + 1)``
    (``[0, 1]`` when no box is given). [C24] eq. 2 minimises ``‖δ‖₂ − c·L(δ)`` without a
    radius; here the objective is evaluated at the projection ``Π_ε(δ)`` of the tanh-space
    point onto the ε-ball (a rescaling, which stays in the box because ``y`` does), so every
    iterate is feasible and the best feasible one is returned; the ``‖δ‖₂`` term keeps the raw
    iterate near the ball. To make ``c`` independent of the objective's scale, the loss is
    ``‖δ‖₂/ε − c·L(Π_ε δ)/L(δ₀)`` with ``L(δ₀)`` the objective at the start (this is eq. 2
    with a per-sample constant ``c·ε/L(δ₀)``; where ``L(δ₀) = 0``, e.g. a start at
    ``δ = 0``, ``ε‖∇L(δ₀)‖₂`` replaces it). Adam minimises it over ``w``.

    Args:
        steps: Adam steps on ``w`` per restart.
        lr: Adam learning rate in tanh space.
        c: trade-off constant (scale-free, see above), ``> 0``.
        betas: Adam's ``(β₁, β₂)`` in tanh space.
        restarts: independent runs.
        random_start: start at a uniform random point of the ball (clipped to the box).

    References:
        Carlini & Wagner 2017; [C24] eq. 2 and §3.1 (Adam, lr 1e-2).

    Examples:
        >>> obj = lambda d: (4.0 * d).pow(2).sum(1)
        >>> y = torch.full((2, 6), 0.5)
        >>> delta = CW()(obj, y, 0.3, generator=torch.Generator().manual_seed(0))
        >>> bool((delta.norm(dim=1) <= 0.3 + 1e-6).all() and ((y + delta) >= 0).all())
        True
    """

    balls: ClassVar[tuple[str, ...]] = ("l2",)
    default_box: ClassVar[tuple[float, float] | None] = (0.0, 1.0)

    steps: int = 20
    lr: float = 0.05
    c: float = 10.0
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.steps = check_int(self.steps, "steps", minimum=1)
        self.lr = check_positive(self.lr, "lr")
        self.c = check_positive(self.c, "c")
        self.betas = _check_betas(self.betas)

    def ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """One restart: Adam on the tanh-space variable ``w`` (see the class docstring).

        Args:
            problem: the Problem (its box is ``default_box`` when the caller gave none).
            delta: the start.

        Returns:
            The last feasible iterate.
        """
        assert problem.box is not None  # default_box when the caller gave none
        lo, hi = problem.box
        width = max(hi - lo, torch.finfo(delta.dtype).tiny)
        y = problem.y
        shrink = 1.0 - 4.0 * torch.finfo(delta.dtype).eps
        w = torch.atanh(((y + delta - lo) / width * 2 - 1).clamp(-shrink, shrink))
        adam = AdamMoments(w, self.betas, 1e-8)
        scale: torch.Tensor | None = None
        tiny = torch.finfo(delta.dtype).tiny
        eps_safe = problem.eps.clamp_min(tiny)
        last = delta
        for _ in range(self.steps):
            w = w.detach().requires_grad_(True)
            with torch.enable_grad():
                raw = lo + width * 0.5 * (torch.tanh(w) + 1) - y
                feasible = project_l2(raw, problem.eps, check=False)
            value, _, grad = problem.value_and_grad(feasible.detach())
            if scale is None:
                # L(δ₀) = 0 (e.g. a start at δ = 0) would make the scale infinite and the
                # iterates NaN: use the first-order size ε‖∇L(δ₀)‖₂ of L over the ball then.
                size = value.abs()
                size = torch.where(size > 0, size, eps_safe * grad.flatten(1).norm(dim=1))
                scale = self.c * eps_safe / size.clamp_min(tiny)
            with torch.enable_grad():
                surrogate = raw.flatten(1).norm(dim=1) - scale * (feasible * grad).flatten(1).sum(1)
                (gw,) = torch.autograd.grad(surrogate.sum(), w)
            w = w.detach() - self.lr * adam.direction(gw)
            raw_next = lo + width * 0.5 * (torch.tanh(w) + 1) - y
            last = problem.project(raw_next)
        return last
