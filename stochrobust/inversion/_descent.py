"""Machinery shared by CSGM and ILO: projected Adam descent over batched rows.

Every optimisation of :mod:`stochrobust.inversion` minimises a per-row objective
``(R, *shape) → (R,)`` over a feasible set given by a projection, with Adam steps, the
projection after every step and the best iterate kept per row by ``torch.where``. Nothing
here reads a value on the host inside the loop. With ``unroll=True`` the gradients are taken
with ``create_graph=True`` so that the returned iterate stays a differentiable function of
whatever the objective and the start depend on (the measurements ``y``): the descent is
unrolled.

References:
    Kingma & Ba, *Adam*, ICLR 2015 (Algorithm 1); Bora et al., *Compressed Sensing using
    Generative Models*, ICML 2017 (CSGM: gradient descent on the latent); [D21] Algorithm 1
    (projected gradient descent on every layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from stochrobust._checks import check_batch, check_callable, check_int, check_positive, describe
from stochrobust._seeds import draw
from stochrobust.consistency import LinearOperator
from stochrobust.errors import ModelError, ShapeError, StochRobustTypeError

Objective = Callable[[torch.Tensor], torch.Tensor]
Projection = Callable[[torch.Tensor], torch.Tensor]
UserLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8


@dataclass
class Descent:
    """Best iterate per row, its objective, the evaluations spent, the start's objective."""

    x: torch.Tensor
    loss: torch.Tensor
    n_evals: int
    start: torch.Tensor | None = None


def _keep_best(
    x: torch.Tensor, loss: torch.Tensor, best: Descent | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if best is None:
        return x, loss
    better = loss < best.loss  # NaN never wins
    mask = better.reshape(-1, *([1] * (x.ndim - 1)))
    return torch.where(mask, x, best.x), torch.where(better, loss, best.loss)


def adam_direction(
    g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, t: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam's step direction at step ``t ≥ 1`` and the updated moments ``(m, v)``.

    ``m̂ / sqrt(v̂ + ε²)`` with ``β = (0.9, 0.999)``, ``ε = 1e-8``: the step of Kingma & Ba
    (Algorithm 1) with the denominator smoothed, so that it is differentiable at ``v̂ = 0``.
    Pure tensor arithmetic (no host reads; torch.optim's first step imports torch._dynamo,
    seconds).
    """
    m = _BETA1 * m + (1 - _BETA1) * g
    v = _BETA2 * v + (1 - _BETA2) * g * g
    m_hat = m / (1 - _BETA1**t)
    v_hat = v / (1 - _BETA2**t)
    return m_hat / torch.sqrt(v_hat + _ADAM_EPS**2), m, v


def descend(
    objective: Objective,
    x0: torch.Tensor,
    project: Projection,
    *,
    steps: int,
    lr: float,
    unroll: bool,
) -> Descent:
    """Minimise ``objective`` from ``project(x0)`` by projected Adam; keep the best iterate.

    The objective is evaluated ``steps + 1`` times (once per step and once at the last
    iterate); the returned ``x`` is the feasible iterate with the lowest value per row.
    Must run with grad mode enabled. ``unroll=False`` detaches every iterate (the result
    carries no graph); ``unroll=True`` keeps the whole optimisation in the graph.

    The Adam denominator is ``sqrt(v̂ + ε²)`` instead of ``sqrt(v̂) + ε``: the same step
    size to within ``ε``, but smooth at ``v̂ = 0``, so unrolled second derivatives are
    finite.
    """
    x = project(x0)
    if not unroll:
        x = x.detach()
    if not x.requires_grad:
        x = x.requires_grad_(True)
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    best: Descent | None = None
    start: torch.Tensor | None = None
    for t in range(1, steps + 1):
        loss = objective(x)
        if start is None:
            start = loss.detach()
        bx, bl = _keep_best(x, loss, best)
        best = Descent(bx if unroll else bx.detach(), bl if unroll else bl.detach(), 0)
        (g,) = torch.autograd.grad(loss.sum(), x, create_graph=unroll)
        step, m, v = adam_direction(g, m, v, t)
        x = project(x - lr * step)
        if not unroll:
            x = x.detach().requires_grad_(True)
    if unroll:
        loss = objective(x)
    else:
        with torch.no_grad():
            loss = objective(x)
    bx, bl = _keep_best(x, loss, best)
    if not unroll:
        bx, bl = bx.detach(), bl.detach()
    return Descent(bx, bl, steps + 1, loss.detach() if start is None else start)


class Chain(nn.Module):
    """``layers[0]``, then ``layers[1]``, …: a composition of callables (identity if empty).

    The modules among the layers are registered, so that the model-state guard sees them.
    """

    def __init__(self, layers: Sequence[Callable[[torch.Tensor], torch.Tensor]]) -> None:
        super().__init__()
        self.items = list(layers)
        self.registered = nn.ModuleList([m for m in self.items if isinstance(m, nn.Module)])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the layers in order."""
        for layer in self.items:
            h = layer(h)
        return h


def squared_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``‖a − b‖²`` per row (all dims after the first summed)."""
    return (a - b).flatten(1).pow(2).sum(dim=1)


def gaussian_like(x: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    """``std · N(0, I)`` noise shaped like ``x``, drawn on the generator's device."""
    dev = generator.device if generator is not None else x.device
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=dev)
    return std * noise.to(x.device)


def measurement_objective(
    forward: Callable[[torch.Tensor], torch.Tensor],
    op: LinearOperator,
    y: torch.Tensor,
    *,
    noise_std: float,
    loss: UserLoss | None,
    generator: torch.Generator | None,
) -> Objective:
    """``w ↦ ‖A(forward(w) + n) − y‖² (+ loss(forward(w), y))`` per row, ``n`` the SNA noise.

    ``n ~ N(0, noise_std² I)`` is drawn afresh at every evaluation ([D21] §4, Stochastic
    Noise Addition); ``noise_std = 0`` adds nothing. The user term sees the noise-free image.
    """

    def objective(w: torch.Tensor) -> torch.Tensor:
        x = forward(w)
        seen = x + gaussian_like(x, noise_std, generator) if noise_std > 0 else x
        value = squared_error(op.A(seen, check=False), y)
        if loss is not None:
            value = value + loss(x, y)
        return value

    return objective


def l2_ball(radius: float) -> Projection:
    """Projection onto the L2 ball ``B₂(radius)`` around 0, row by row."""
    from stochrobust.sensitivity import project_l2

    def project(z: torch.Tensor) -> torch.Tensor:
        return project_l2(z, radius, check=False)

    return project


def l1_ball_around(center: torch.Tensor, radius: float) -> Projection:
    """Projection onto ``center + B₁(radius)`` (the extended range's ball), row by row."""
    from stochrobust.sensitivity import project_l1

    def project(w: torch.Tensor) -> torch.Tensor:
        return center + project_l1(w - center, radius, check=False)

    return project


# ---------------------------------------------------------------------- validation
def check_options(
    *, steps: Sequence[tuple[str, object]], lr: object, noise_std: object, loss: object
) -> tuple[list[int], float, float]:
    """Validate step counts (``≥ 0``), ``lr > 0``, ``noise_std ≥ 0`` and the user loss."""
    counts = [check_int(value, name, minimum=0) for name, value in steps]
    rate = check_positive(lr, "lr")
    std = check_positive(noise_std, "noise_std", allow_zero=True)
    if loss is not None:
        check_callable(loss, "loss")
    return counts, rate, std


def default_radius(latent_shape: Sequence[int]) -> float:
    """``2·sqrt(k)``: the L2 ball that holds the typical set of a ``N(0, I_k)`` latent."""
    return 2.0 * math.sqrt(max(1, math.prod(latent_shape)))


def check_radius(radius: object, latent_shape: Sequence[int]) -> float:
    """``radius`` (``> 0``) or the default :func:`default_radius` for ``None``."""
    if radius is None:
        return default_radius(latent_shape)
    return check_positive(radius, "radius")


def initial_latents(
    y: torch.Tensor,
    *,
    z0: object,
    n_seeds: object,
    latent_shape: object,
    net: object,
    generator: torch.Generator | None,
    check: bool,
) -> torch.Tensor:
    """The starting latents ``(B, K, *latent_shape)``: ``z0`` or ``N(0, I)`` draws.

    ``latent_shape`` defaults to ``net.latent_shape`` when the network has one.
    """
    if z0 is not None:
        z = check_batch(z0, "z0") if check else z0
        if not isinstance(z, torch.Tensor):  # check=False and a wrong type
            raise StochRobustTypeError(f"z0: expected a torch.Tensor, got {describe(z0)}")
        if check and (z.ndim < 3 or z.shape[0] != y.shape[0]):
            raise ShapeError(
                f"z0: expected shape (B, K, *latent_shape) with B = {y.shape[0]}, "
                f"got {tuple(z.shape)}"
            )
        return z.to(dtype=y.dtype, device=y.device)
    k = check_int(n_seeds, "n_seeds", minimum=1)
    shape = latent_shape if latent_shape is not None else getattr(net, "latent_shape", None)
    if shape is None:
        raise StochRobustTypeError(
            "latent_shape: expected a tuple of integers (the network has no latent_shape "
            "attribute and z0 is None), got None"
        )
    if isinstance(shape, int) or not isinstance(shape, Sequence):
        raise StochRobustTypeError(
            f"latent_shape: expected a tuple of integers, got {describe(shape)}"
        )
    dims = tuple(check_int(s, "latent_shape", minimum=1) for s in shape)
    return draw(torch.randn, (y.shape[0], k, *dims), generator=generator, dtype=y.dtype,
                device=y.device)  # fmt: skip


class Starts(NamedTuple):
    """The random starts of an inversion, shared by :func:`csgm` and :func:`ilo`."""

    z: torch.Tensor  # (B, K, *latent)
    batch: int
    k: int
    latent: tuple[int, ...]
    radius: float  # the latent L2 ball
    y_rows: torch.Tensor  # (B·K, *y_shape): every measurement once per start


def starts(
    y: torch.Tensor,
    *,
    z0: object,
    n_seeds: object,
    latent_shape: object,
    net: object,
    radius: object,
    generator: torch.Generator | None,
    check: bool,
) -> Starts:
    """:func:`initial_latents`, their sizes, the checked radius and the repeated ``y``."""
    z = initial_latents(
        y, z0=z0, n_seeds=n_seeds, latent_shape=latent_shape, net=net, generator=generator,
        check=check,
    )  # fmt: skip
    batch, k = z.shape[:2]
    latent = tuple(z.shape[2:])
    return Starts(z, batch, k, latent, check_radius(radius, latent), repeat_rows(y, k))


def repeat_rows(y: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, *s) → (B·K, *s)``: every measurement repeated for its ``K`` starts."""
    return y.unsqueeze(1).expand(y.shape[0], k, *y.shape[1:]).reshape(-1, *y.shape[1:])


def check_output(x: torch.Tensor, name: str) -> None:
    """Raise :class:`ModelError` if an inversion produced NaN or Inf (one host sync)."""
    if not bool(torch.isfinite(x).all()):
        raise ModelError(
            f"{name}: expected finite outputs, got NaN or Inf after the optimisation "
            "(lower lr or check the network)"
        )


def check_measurements(op: object, y: object) -> torch.Tensor:
    """Check that ``op`` is a :class:`LinearOperator` and ``y`` a finite batch in its range."""
    if not isinstance(op, LinearOperator):
        raise StochRobustTypeError(
            f"op: expected a stochrobust.consistency.LinearOperator, got {describe(op)}"
        )
    t = check_batch(y, "y")
    op.domain_shape(t.shape, "y")
    return t
