"""Attack radius ↔ adversarial-input PSNR (AI-PSNR) conversion.

For an input of ``n`` values with peak ``R`` (data range), ``PSNR(y + δ, y) =
10·log10(R² n / ‖δ‖₂²)``, so the L2 radius that guarantees ``PSNR(y + δ, y) ≥ T`` for every
``‖δ‖₂ ≤ ε`` is ``ε = sqrt(n)·R·10^(−T/20)``.

References:
    [O23] §6.1.1 (AI-PSNR 32.9 dB for inpainting, 34 dB for super-resolution) and App. E.2.3
    (ε = 2.5; 0.553, 0.276, 0.138).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from stochrobust._checks import StochRobustTypeError, check_int, check_number, check_positive

__all__ = ["eps_for_psnr", "psnr_for_eps"]


def _numel(shape: Sequence[int] | torch.Size) -> int:
    if isinstance(shape, int) or not isinstance(shape, Sequence):
        raise StochRobustTypeError(
            f"shape: expected the per-sample shape as a tuple of integers, got {shape!r}"
        )
    return math.prod(check_int(s, "shape", minimum=1) for s in shape)


def eps_for_psnr(
    shape: Sequence[int] | torch.Size, psnr_db: float, data_range: float = 1.0
) -> float:
    """The L2 radius ``ε`` whose ball keeps ``PSNR(y + δ, y) ≥ psnr_db``.

    ``ε = sqrt(numel)·data_range·10^(−psnr_db/20)``.

    Args:
        shape: the per-sample input shape (no batch dimension), e.g. ``(3, 64, 64)``.
        psnr_db: the AI-PSNR target ``T`` in dB (any finite number).
        data_range: the peak value of the input (``1.0`` for images in ``[0, 1]``).

    Returns:
        ``ε`` as a float.

    Raises:
        StochRobustTypeError: ``shape`` is not a sequence of integers.
        RangeError: a size ``< 1`` or ``data_range ≤ 0``.
        NonFiniteError: ``psnr_db`` is not finite.

    References:
        [O23] §6.1.1, App. E.2.3.

    Examples:
        >>> round(eps_for_psnr((3, 64, 64), 32.9), 2)   # inpainting
        2.51
        >>> round(eps_for_psnr((3, 16, 16), 34.0), 3)   # super-resolution x4
        0.553
    """
    n = _numel(shape)
    t = check_number(psnr_db, "psnr_db")
    r = check_positive(data_range, "data_range")
    return float(math.sqrt(n) * r * 10.0 ** (-t / 20.0))


def psnr_for_eps(shape: Sequence[int] | torch.Size, eps: float, data_range: float = 1.0) -> float:
    """The worst-case AI-PSNR ``PSNR(y + δ, y)`` over the L2 ball of radius ``eps``.

    The inverse of :func:`eps_for_psnr`: ``20·log10(sqrt(numel)·data_range / ε)``;
    ``eps = 0`` gives ``inf``.

    Args:
        shape: the per-sample input shape.
        eps: the radius, ``≥ 0``.
        data_range: the peak value of the input.

    Returns:
        The PSNR in dB.

    Raises:
        StochRobustTypeError: ``shape`` is not a sequence of integers.
        RangeError: ``eps < 0``, ``data_range ≤ 0`` or a size ``< 1``.

    References:
        [O23] §6.1.1 (AI-PSNR).

    Examples:
        >>> round(psnr_for_eps((3, 16, 16), 0.553), 2)
        34.0
    """
    n = _numel(shape)
    e = check_positive(eps, "eps", allow_zero=True)
    r = check_positive(data_range, "data_range")
    if e == 0:
        return math.inf
    return 20.0 * math.log10(math.sqrt(n) * r / e)
