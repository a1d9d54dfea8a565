"""Hand-crafted consistent estimators of the 2-D toy problems of [O23].

All of them keep the observed coordinate: ``x̂ = (y, g(y[, z]))``, so ``D(x̂) = y`` exactly
(perfect consistency, [O23] §2.2), and they are differentiable in ``y`` so that the
sensitivity solvers can attack them.

- :func:`sine_disk` — ``X̂_α = (Y, sqrt(1 − Y²)·sin(αY))`` on the disk ([O23] §4, Fig. 3):
  robust and of low recall for small α, erratic and of high recall for large α.
- :func:`zigzag` — ``G_f(y) = arccos(cos(2πfy))/π`` on the square ([O23] App. C).
- :func:`disk_posterior` — the posterior sampler of the disk,
  ``X⁽²⁾ | Y = y ~ U[−sqrt(1 − y²), sqrt(1 − y²)]``, written ``(2z − 1)·sqrt(1 − y²)``
  with the seed ``z ~ U[0, 1]`` ([O23] Thm. 3.1: the only consistent estimator with
  perfect perceptual quality).

Near ``y = ±1`` the half-width ``sqrt(1 − y²)`` has an infinite derivative. It is computed
as ``sqrt(max((1 − y)(1 + y), SQRT_FLOOR))``: exact inside the disk to float precision,
with finite (if large) gradients everywhere, and equal to ``sqrt(SQRT_FLOOR)`` ≈ 1e-6 for
``|y| ≥ 1``. Attacks should keep ``y + δ`` in the observable range by passing
``box=(-1, 1)`` to the sensitivity functions.

References:
    [O23] Ohayon, Adrai, Elad, Michaeli. ICML 2023: §4, Fig. 3 and App. C.
"""

from __future__ import annotations

import torch
from torch import nn

from stochrobust._checks import check_generator, check_int, check_number, check_tensor
from stochrobust._seeds import draw
from stochrobust.errors import ShapeError
from stochrobust.estimator import Estimator

__all__ = [
    "SQRT_FLOOR",
    "DiskPosterior",
    "SineDisk",
    "Zigzag",
    "disk_half_width",
    "disk_posterior",
    "disk_posterior_estimator",
    "sine_disk",
    "sine_disk_estimator",
    "uniform_seed_sampler",
    "zigzag",
    "zigzag_estimator",
]

SQRT_FLOOR = 1e-12
"""Floor of ``1 − y²`` inside the square root of :func:`disk_half_width`."""


def _check_y(y: object, name: str = "y") -> torch.Tensor:
    t = check_tensor(y, name)
    if t.ndim != 2 or t.shape[1] != 1:
        raise ShapeError(
            f"{name}: expected a (B, 1) tensor of observations, got shape {tuple(t.shape)}"
        )
    return t


def disk_half_width(y: torch.Tensor) -> torch.Tensor:
    """Half-width ``sqrt(1 − y²)`` of the unit disk's chord at abscissa ``y``.

    Computed as ``sqrt(max((1 − y)(1 + y), SQRT_FLOOR))`` so that the gradient stays finite
    at and beyond ``y = ±1`` (where the exact derivative is infinite).

    Args:
        y: abscissae, any shape.

    Returns:
        The half-widths, same shape, dtype and device.

    Raises:
        StochRobustTypeError: ``y`` is not a floating-point tensor.

    References:
        [O23] §4: the posterior support ``X⁽²⁾ ∈ [−sqrt(1 − y²), sqrt(1 − y²)]``.

    Examples:
        >>> disk_half_width(torch.tensor([0.0, 0.6, 1.0])).tolist()
        [1.0, 0.800000011920929, 9.999999974752427e-07]
    """
    y = check_tensor(y, "y")
    return ((1 - y) * (1 + y)).clamp_min(SQRT_FLOOR).sqrt()


def sine_disk(y: torch.Tensor, alpha: float) -> torch.Tensor:
    """The consistent deterministic disk estimator ``X̂_α(y) = (y, sqrt(1 − y²)·sin(αy))``.

    Its output stays inside the unit disk for ``|y| ≤ 1`` (one OCR of [O23] prints
    ``1/sqrt(1 − Y²)``, which leaves the disk; the figure and the text need the square
    root itself). Its graph oscillates ≈ ``α/π`` times across the disk: the larger α, the
    better it "fills" the support of ``p_X`` (higher recall) and the more sensitive it is.

    Args:
        y: observations ``(B, 1)``.
        alpha: frequency ``α ≥ 0`` (``α = 0`` is the posterior mean ``(y, 0)``).

    Returns:
        ``(B, 2)`` estimates ``(y, sqrt(1 − y²)·sin(αy))``.

    Raises:
        ShapeError: ``y`` is not ``(B, 1)``.
        RangeError: ``alpha < 0``.

    Shape:
        - ``y``: ``(B, 1)``; output: ``(B, 2)``.

    References:
        [O23] §4, Fig. 3: ``X̂_Robust = X̂_1``, ``X̂_Erratic = X̂_50``.

    Examples:
        >>> sine_disk(torch.tensor([[0.0], [0.5]]), alpha=1.0)
        tensor([[0.0000, 0.0000],
                [0.5000, 0.4152]])
    """
    y = _check_y(y)
    alpha = check_number(alpha, "alpha", low=0.0)
    return torch.cat([y, disk_half_width(y) * torch.sin(alpha * y)], dim=1)


def zigzag(y: torch.Tensor, f: int) -> torch.Tensor:
    """The consistent deterministic square estimator ``(y, G_f(y))``, ``G_f = arccos(cos(2πfy))/π``.

    ``G_f`` is the triangle wave with ``f`` teeth on ``[0, 1]`` and values in ``[0, 1]``.
    It is evaluated as ``1 − |1 − 2·frac(f·y)|``, which equals ``arccos(cos(2πfy))/π``
    exactly but has the finite derivative ``±2f`` everywhere (the arccos form's gradient is
    ``0/0`` at the kinks).

    Args:
        y: observations ``(B, 1)``.
        f: number of teeth, an integer ``≥ 1``.

    Returns:
        ``(B, 2)`` estimates ``(y, G_f(y))``.

    Raises:
        ShapeError: ``y`` is not ``(B, 1)``.
        RangeError: ``f < 1``.

    Shape:
        - ``y``: ``(B, 1)``; output: ``(B, 2)``.

    References:
        [O23] App. C, eq. 10: ``W₂(p_X, p_X̂) → 0`` as ``f → ∞``.

    Examples:
        >>> zigzag(torch.tensor([[0.0], [0.125], [0.25], [0.375]]), f=2)[:, 1].tolist()
        [0.0, 0.5, 1.0, 0.5]
    """
    y = _check_y(y)
    f = check_int(f, "f", minimum=1)
    frac = torch.remainder(f * y, 1.0)
    return torch.cat([y, 1 - (1 - 2 * frac).abs()], dim=1)


def disk_posterior(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The disk's posterior sampler ``(y, (2z − 1)·sqrt(1 − y²))`` with seed ``z ~ U[0, 1]``.

    For ``z`` uniform on ``[0, 1]`` the second coordinate is uniform on the chord
    ``[−sqrt(1 − y²), sqrt(1 − y²)]``, i.e. it follows ``p(x⁽²⁾ | y)`` exactly. A fixed
    seed maps ``y`` smoothly (the same relative height on every chord), which is why this
    sampler is both perfect in perceptual quality and robust.

    Args:
        y: observations ``(B, 1)``.
        z: seeds ``(B, 1)`` in ``[0, 1]``.

    Returns:
        ``(B, 2)`` samples.

    Raises:
        ShapeError: ``y`` or ``z`` is not ``(B, 1)`` (with the same ``B``).

    Shape:
        - ``y``, ``z``: ``(B, 1)``; output: ``(B, 2)``.

    References:
        [O23] Thm. 3.1 (the posterior sampler), §5 (robust stochastic estimators).

    Examples:
        >>> disk_posterior(torch.tensor([[0.6], [0.0]]), torch.tensor([[1.0], [0.25]]))
        tensor([[ 0.6000,  0.8000],
                [ 0.0000, -0.5000]])
    """
    y = _check_y(y)
    z = _check_y(z, "z")
    if z.shape[0] != y.shape[0]:
        raise ShapeError(f"z: expected shape ({y.shape[0]}, 1) like y, got {tuple(z.shape)}")
    return torch.cat([y, (2 * z - 1) * disk_half_width(y)], dim=1)


def uniform_seed_sampler(
    batch_size: int, y: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw ``batch_size`` scalar seeds ``z ~ U[0, 1]`` in ``y``'s dtype and on its device.

    The seed law of the toy estimators ([O23] App. E.1); pass it as
    ``Estimator(model, seed_sampler=uniform_seed_sampler)``.

    Args:
        batch_size: number of seeds.
        y: the input batch (for dtype and device).
        generator: random generator (the draw happens on its device).

    Returns:
        ``(batch_size, 1)`` seeds.

    Raises:
        StochRobustTypeError: ``generator`` is not a generator or ``y`` not a tensor.
        RangeError: ``batch_size < 0``.

    References:
        [O23] App. E.1: "the other is Z ~ U[0, 1]".

    Examples:
        >>> uniform_seed_sampler(3, torch.zeros(1, 1)).shape
        torch.Size([3, 1])
    """
    batch_size = check_int(batch_size, "batch_size", minimum=0)
    check_generator(generator)
    y = check_tensor(y, "y")
    return draw(torch.rand, (batch_size, 1), generator=generator, dtype=y.dtype, device=y.device)


class SineDisk(nn.Module):
    """Module form of :func:`sine_disk` holding ``alpha``.

    Args:
        alpha: frequency ``α ≥ 0``.

    Raises:
        RangeError: ``alpha < 0``.

    References:
        [O23] §4, Fig. 3.

    Examples:
        >>> SineDisk(50.0)(torch.zeros(2, 1)).shape
        torch.Size([2, 2])
    """

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = check_number(alpha, "alpha", low=0.0)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``X̂_α(y)``, see :func:`sine_disk`."""
        return sine_disk(y, self.alpha)

    def extra_repr(self) -> str:
        """Show ``alpha`` in the module's repr."""
        return f"alpha={self.alpha:g}"


class Zigzag(nn.Module):
    """Module form of :func:`zigzag` holding ``f``.

    Args:
        f: number of teeth, an integer ``≥ 1``.

    Raises:
        RangeError: ``f < 1``.

    References:
        [O23] App. C.

    Examples:
        >>> Zigzag(3)(torch.full((1, 1), 0.5)).tolist()
        [[0.5, 1.0]]
    """

    def __init__(self, f: int) -> None:
        super().__init__()
        self.f = check_int(f, "f", minimum=1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``(y, G_f(y))``, see :func:`zigzag`."""
        return zigzag(y, self.f)

    def extra_repr(self) -> str:
        """Show ``f`` in the module's repr."""
        return f"f={self.f}"


class DiskPosterior(nn.Module):
    """Module form of :func:`disk_posterior` (no parameters).

    References:
        [O23] Thm. 3.1.

    Examples:
        >>> DiskPosterior()(torch.zeros(1, 1), torch.ones(1, 1)).tolist()
        [[0.0, 1.0]]
    """

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """One posterior sample per row, see :func:`disk_posterior`."""
        return disk_posterior(y, z)


def sine_disk_estimator(alpha: float) -> Estimator:
    """The deterministic :class:`~stochrobust.Estimator` ``X̂_α`` of the disk problem.

    Args:
        alpha: frequency ``α ≥ 0``; [O23] uses ``α = 1`` (robust) and ``α = 50`` (erratic).

    Returns:
        A deterministic estimator wrapping :class:`SineDisk`.

    Raises:
        RangeError: ``alpha < 0``.

    References:
        [O23] §4, Fig. 3.

    Examples:
        >>> est = sine_disk_estimator(50.0)
        >>> est.is_stochastic, est.sample(torch.zeros(3, 1), 2).shape
        (False, torch.Size([3, 2, 2]))
    """
    return Estimator(SineDisk(alpha))


def zigzag_estimator(f: int) -> Estimator:
    """The deterministic :class:`~stochrobust.Estimator` ``(Y, G_f(Y))`` of the square problem.

    Args:
        f: number of teeth, an integer ``≥ 1``.

    Returns:
        A deterministic estimator wrapping :class:`Zigzag`.

    Raises:
        RangeError: ``f < 1``.

    References:
        [O23] App. C.

    Examples:
        >>> zigzag_estimator(4).is_stochastic
        False
    """
    return Estimator(Zigzag(f))


def disk_posterior_estimator(max_batch: int | None = None) -> Estimator:
    """The posterior sampler of the disk as a stochastic :class:`~stochrobust.Estimator`.

    Seeds are ``z ~ U[0, 1]`` (:func:`uniform_seed_sampler`), the model is
    :class:`DiskPosterior`.

    Args:
        max_batch: passed to :class:`~stochrobust.Estimator`.

    Returns:
        A stochastic estimator; ``sample(y, n)`` draws ``n`` posterior samples per ``y``.

    Raises:
        RangeError: ``max_batch < 1``.

    References:
        [O23] Thm. 3.1 and §5.

    Examples:
        >>> est = disk_posterior_estimator()
        >>> gen = torch.Generator().manual_seed(0)
        >>> s = est.sample(torch.full((1, 1), 0.6), 1000, generator=gen)
        >>> s.shape, bool((s[..., 1].abs() <= 0.8).all())
        (torch.Size([1, 1000, 2]), True)
    """
    return Estimator(DiskPosterior(), seed_sampler=uniform_seed_sampler, max_batch=max_batch)
