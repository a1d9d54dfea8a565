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

from stochrobust._checks import check_int, check_number, check_positive, describe
from stochrobust.errors import ShapeError, StochRobustTypeError

__all__ = ["eps_for_psnr", "psnr_for_eps"]


def _numel(shape: object, per_sample: object) -> int:
    """Values per input, from a per-sample shape, a batch shape or a batch tensor."""
    if per_sample is not None and not isinstance(per_sample, bool):
        raise StochRobustTypeError(
            f"per_sample: expected None, True or False, got {describe(per_sample)}"
        )
    if isinstance(shape, torch.Tensor):
        if shape.ndim < 2 or per_sample is True:
            raise ShapeError(
                f"shape: expected a batch tensor (B, *in_shape) (its rows are the inputs), got "
                f"shape {tuple(shape.shape)}{' with per_sample=True' if per_sample else ''}; "
                "pass a per-sample shape tuple instead"
            )
        return int(shape[0].numel())
    if isinstance(shape, int) or not isinstance(shape, Sequence):
        raise StochRobustTypeError(
            f"shape: expected the per-sample shape as a tuple of integers, got {shape!r}"
        )
    sizes = [check_int(s, "shape", minimum=1) for s in shape]
    if per_sample is False:
        if len(sizes) < 2:
            raise ShapeError(
                f"shape: expected a batch shape (B, *in_shape) with per_sample=False, got "
                f"{tuple(sizes)}"
            )
        sizes = sizes[1:]
    elif per_sample is None and len(sizes) >= 4:
        raise ShapeError(
            f"shape: expected the per-sample shape (no batch dimension), got {tuple(sizes)}, "
            f"whose leading {sizes[0]} looks like a batch (B, C, H, W); pass y.shape[1:] (or "
            f"per_sample=False to drop it), or per_sample=True if {tuple(sizes)} is one "
            "input's shape"
        )
    return math.prod(sizes)


def eps_for_psnr(
    shape: Sequence[int] | torch.Size | torch.Tensor,
    psnr_db: float,
    data_range: float = 1.0,
    *,
    per_sample: bool | None = None,
) -> float:
    """The L2 radius ``ε`` whose ball keeps ``PSNR(y + δ, y) ≥ psnr_db``.

    ``ε = sqrt(numel)·data_range·10^(−psnr_db/20)``.

    The radius depends on the number of values *per input*, so a batch dimension must not
    be counted (a batch of 4 would double ``ε``). ``shape`` is the per-sample shape, or a
    batch tensor ``y`` (its rows are the inputs). A shape of 4 or more dimensions is refused
    unless ``per_sample`` says what it is, since ``y.shape`` of an image batch is the usual
    mistake.

    Args:
        shape: the per-sample input shape (no batch dimension), e.g. ``(3, 64, 64)``, or
            the batch tensor ``y`` itself.
        psnr_db: the AI-PSNR target ``T`` in dB (any finite number).
        data_range: the peak value of the input (``1.0`` for images in ``[0, 1]``).
        per_sample: ``True``: ``shape`` is one input's shape, whatever its length;
            ``False``: ``shape`` is a batch shape ``(B, *in_shape)`` and ``B`` is dropped;
            ``None`` (default): a per-sample shape of at most 3 dimensions.

    Returns:
        ``ε`` as a float.

    Raises:
        StochRobustTypeError: ``shape`` is not a sequence of integers or a tensor.
        ShapeError: a 4-D or longer shape with ``per_sample=None`` (looks like a batch).
        RangeError: a size ``< 1`` or ``data_range ≤ 0``.
        NonFiniteError: ``psnr_db`` is not finite.

    References:
        [O23] §6.1.1, App. E.2.3.

    Examples:
        >>> round(eps_for_psnr((3, 64, 64), 32.9), 2)   # inpainting
        2.51
        >>> round(eps_for_psnr((3, 16, 16), 34.0), 3)   # super-resolution x4
        0.553
        >>> y = torch.rand(4, 3, 16, 16)
        >>> round(eps_for_psnr(y, 34.0), 3), round(eps_for_psnr(y.shape, 34.0, per_sample=False), 3)
        (0.553, 0.553)
    """
    n = _numel(shape, per_sample)
    t = check_number(psnr_db, "psnr_db")
    r = check_positive(data_range, "data_range")
    return float(math.sqrt(n) * r * 10.0 ** (-t / 20.0))


def psnr_for_eps(
    shape: Sequence[int] | torch.Size | torch.Tensor,
    eps: float,
    data_range: float = 1.0,
    *,
    per_sample: bool | None = None,
) -> float:
    """The worst-case AI-PSNR ``PSNR(y + δ, y)`` over the L2 ball of radius ``eps``.

    The inverse of :func:`eps_for_psnr`: ``20·log10(sqrt(numel)·data_range / ε)``;
    ``eps = 0`` gives ``inf``.

    Args:
        shape: the per-sample input shape, or the batch tensor ``y`` (as
            :func:`eps_for_psnr`).
        eps: the radius, ``≥ 0``.
        data_range: the peak value of the input.
        per_sample: what ``shape`` is (as :func:`eps_for_psnr`).

    Returns:
        The PSNR in dB.

    Raises:
        StochRobustTypeError: ``shape`` is not a sequence of integers or a tensor.
        ShapeError: a shape that looks like a batch (as :func:`eps_for_psnr`).
        RangeError: ``eps < 0``, ``data_range ≤ 0`` or a size ``< 1``.

    References:
        [O23] §6.1.1 (AI-PSNR).

    Examples:
        >>> round(psnr_for_eps((3, 16, 16), 0.553), 2)
        34.0
    """
    n = _numel(shape, per_sample)
    e = check_positive(eps, "eps", allow_zero=True)
    r = check_positive(data_range, "data_range")
    if e == 0:
        return math.inf
    return 20.0 * math.log10(math.sqrt(n) * r / e)
