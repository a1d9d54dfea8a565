"""Full-reference quality: PSNR (per sample, differentiable).

References:
    [O23] eq. 9: robustness reported as ``E[PSNR(G(Y, Z), G(Y + δ(Y), Z))]``.
"""

from __future__ import annotations

import torch

from stochrobust._checks import check_batch, check_positive, check_same_shape

__all__ = ["psnr"]


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per sample, ``10·log10(data_range² / MSE)``.

    Unlike ``piq.psnr`` the inputs need not lie in ``[0, data_range]`` (model outputs under
    attack often leave it), and the result is differentiable. Identical samples give
    ``+inf``.

    Args:
        x: first batch ``(N, *)``.
        y: second batch, same shape.
        data_range: the peak value of the signal (``1.0`` for images in ``[0, 1]``).

    Returns:
        ``(N,)`` PSNR values in dB, in the dtype of ``x``.

    Raises:
        ShapeError: ``x`` and ``y`` differ in shape or have no batch dimension.
        NonFiniteError: NaN or Inf in the inputs.
        RangeError: ``data_range <= 0``.

    Shape:
        - ``x``, ``y``: ``(N, *)``; output: ``(N,)``.

    References:
        [O23] eq. 9 and §6.1.1 (AI-PSNR, the PSNR between ``y + δ`` and ``y``).

    Example:
        >>> x = torch.zeros(2, 1, 4, 4)
        >>> psnr(x, x + 0.1).tolist()  # MSE = 0.01 -> 20 dB
        [20.0, 20.0]
    """
    check_batch(x, "x")
    check_batch(y, "y")
    check_same_shape(x, y, "x", "y")
    rng = check_positive(data_range, "data_range")
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(rng**2 / mse)
