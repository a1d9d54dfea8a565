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

from typing import ClassVar

import torch

from stochrobust._checks import RangeError, check_int, check_number, check_positive
from stochrobust.sensitivity._ascent import Ascent, Objective, Problem
from stochrobust.sensitivity.projections import project_l2
from stochrobust.sensitivity.solvers import Solver

__all__ = ["CW", "AdamAscent"]


class AdamAscent(Solver):
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

    def __init__(
        self,
        steps: int = 5,
        lr: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        adam_eps: float = 1e-8,
        *,
        restarts: int = 1,
        random_start: bool = True,
    ) -> None:
        super().__init__(restarts=restarts, random_start=random_start)
        self.steps = check_int(steps, "steps", minimum=1)
        self.lr = check_positive(lr, "lr")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise RangeError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        self.betas = (
            check_number(betas[0], "betas[0]", low=0.0, high=1.0, high_inclusive=False),
            check_number(betas[1], "betas[1]", low=0.0, high=1.0, high_inclusive=False),
        )
        self.adam_eps = check_positive(adam_eps, "adam_eps")

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
            AdamAscent(steps=5, lr=1, betas=(0.9, 0.999), restarts=1, random_start=True)
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

    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        b1, b2 = self.betas
        m = torch.zeros_like(delta)
        v = torch.zeros_like(delta)
        for t in range(1, self.steps + 1):
            _, _, grad = problem.value_and_grad(delta)
            m = m.mul(b1).add_(grad, alpha=1 - b1)
            v = v.mul(b2).addcmul_(grad, grad, value=1 - b2)
            step_size = self.lr / (1 - b1**t)
            denom = (v / (1 - b2**t)).sqrt_().add_(self.adam_eps)
            delta = problem.project(delta + step_size * m / denom)
        return delta

    def _extra_repr(self) -> str:
        return f"steps={self.steps}, lr={self.lr:g}, betas=({self.betas[0]:g}, {self.betas[1]:g})"


class CW(Solver):
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

    norms: ClassVar[tuple[str, ...]] = ("l2",)

    def __init__(
        self,
        steps: int = 20,
        lr: float = 0.05,
        c: float = 10.0,
        *,
        restarts: int = 1,
        random_start: bool = True,
    ) -> None:
        super().__init__(restarts=restarts, random_start=random_start)
        self.steps = check_int(steps, "steps", minimum=1)
        self.lr = check_positive(lr, "lr")
        self.c = check_positive(c, "c")

    def _solve(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: torch.Tensor,
        norm: str,
        box: tuple[float, float] | None,
        generator: torch.Generator | None,
    ) -> Ascent:
        return super()._solve(objective, y, eps, norm, box or (0.0, 1.0), generator)

    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        assert problem.box is not None  # set by _solve
        lo, hi = problem.box
        width = max(hi - lo, torch.finfo(delta.dtype).tiny)
        y = problem.y
        shrink = 1.0 - 4.0 * torch.finfo(delta.dtype).eps
        w = torch.atanh(((y + delta - lo) / width * 2 - 1).clamp(-shrink, shrink))
        m = torch.zeros_like(w)
        v = torch.zeros_like(w)
        b1, b2 = 0.9, 0.999
        scale: torch.Tensor | None = None
        tiny = torch.finfo(delta.dtype).tiny
        eps_safe = problem.eps.clamp_min(tiny)
        last = delta
        for t in range(1, self.steps + 1):
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
            m = m.mul(b1).add_(gw, alpha=1 - b1)
            v = v.mul(b2).addcmul_(gw, gw, value=1 - b2)
            denom = (v / (1 - b2**t)).sqrt_().add_(1e-8)
            w = w.detach() - (self.lr / (1 - b1**t)) * m / denom
            raw_next = lo + width * 0.5 * (torch.tanh(w) + 1) - y
            last = problem.project(raw_next)
        return last

    def _extra_repr(self) -> str:
        return f"steps={self.steps}, lr={self.lr:g}, c={self.c:g}"
