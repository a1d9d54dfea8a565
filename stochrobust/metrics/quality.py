"""Quality of restorations: PSNR and SSIM per sample, and the joint perceptual index.

PSNR and SSIM compare each restoration with its reference (full-reference distortion);
the joint perceptual index compares the *law* of the pairs ``(x̂, y)`` with that of the pairs
``(x, y)`` ([O24]): a deterministic estimator can score a good perceptual index of the
marginals while its joint law with the measurement is far from the true one.

References:
    [O23] eq. 9: robustness reported as ``E[PSNR(G(Y, Z), G(Y + δ(Y), Z))]``; [O24] joint
    perceptual index ``d(p_{X,Y}, p_{X̂,Y})``.
"""

from __future__ import annotations

import torch

from stochrobust._checks import (
    check_batch,
    check_image,
    check_int,
    check_positive,
    check_same_shape,
)
from stochrobust.errors import RangeError, ShapeError
from stochrobust.metrics.joint import joint_samples
from stochrobust.metrics.wasserstein import w2_empirical

__all__ = ["joint_perceptual_index", "psnr", "ssim"]


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

    Examples:
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


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    kernel_size: int = 11,
    kernel_sigma: float = 1.5,
    downsample: bool = True,
) -> torch.Tensor:
    """Structural similarity per sample (``piq.ssim``, Gaussian window, mean over channels).

    A thin, validated wrapper around ``piq.ssim(..., reduction="none")`` (imported on first
    use): inputs must lie in ``[0, data_range]``, and images whose shorter side exceeds 384
    pixels are average-pooled first when ``downsample`` is set, as in the reference MATLAB
    code. Differentiable.

    Args:
        x: images ``(N, C, H, W)`` in ``[0, data_range]``.
        y: reference images, same shape.
        data_range: the peak value (``1.0`` for images in ``[0, 1]``).
        kernel_size: odd side of the Gaussian window, at most ``min(H, W)``.
        kernel_sigma: standard deviation of the window.
        downsample: average-pool large images first (piq's default).

    Returns:
        ``(N,)`` SSIM values (``1`` for identical images) in ``x``'s dtype.

    Raises:
        ShapeError: images are not 4-D, differ in shape or are smaller than the window.
        NonFiniteError: NaN or Inf in the images.
        RangeError: values outside ``[0, data_range]``, an even or non-positive
            ``kernel_size``, ``data_range <= 0`` or ``kernel_sigma <= 0``.

    Shape:
        - ``x``, ``y``: ``(N, C, H, W)``; output: ``(N,)``.

    References:
        Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli. *Image Quality Assessment:
        From Error Visibility to Structural Similarity.* IEEE TIP 2004; [O23] §6.1.1.

    Examples:
        >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> ssim(x, x).tolist()
        [1.0, 1.0]
    """
    import piq

    xt = check_image(x, "x")
    yt = check_image(y, "y")
    check_same_shape(xt, yt, "x", "y")
    rng = check_positive(data_range, "data_range")
    sigma = check_positive(kernel_sigma, "kernel_sigma")
    ks = check_int(kernel_size, "kernel_size", minimum=1)
    if ks % 2 == 0:
        raise RangeError(f"kernel_size: expected an odd integer, got {ks}")
    if min(xt.shape[-2:]) < ks:
        raise ShapeError(
            f"x: expected images at least {ks}×{ks} (the window), got shape {tuple(xt.shape)}"
        )
    for t, name in ((xt, "x"), (yt, "y")):
        lo, hi = float(t.detach().min()), float(t.detach().max())
        if lo < 0 or hi > rng:
            raise RangeError(
                f"{name}: expected values in [0, {rng:g}], got values in [{lo:g}, {hi:g}]"
            )
    out: torch.Tensor = piq.ssim(
        xt,
        yt,
        kernel_size=ks,
        kernel_sigma=sigma,
        data_range=rng,
        reduction="none",
        downsample=downsample,
    )
    return out


def joint_perceptual_index(
    x: torch.Tensor, y: torch.Tensor, x_hat: torch.Tensor, squared: bool = False
) -> torch.Tensor:
    """Empirical ``W₂`` between the joint samples ``[x, y]`` and ``[x̂, y]`` ([O24]).

    Each sample is flattened and the measurement is appended: ``u_i = [x_i, y_i]`` and
    ``v_i = [x̂_i, y_i]``; the result is :func:`~stochrobust.metrics.w2_empirical` between
    the clouds ``{u_i}`` and ``{v_i}`` (exact, by an optimal assignment). It is 0 when the
    restorations have the right joint law with the measurements and grows when they do not
    — e.g. when a deterministic estimator reproduces the marginal law of ``x`` but pairs
    the samples with the wrong measurements. Coordinates of ``x`` and ``y`` enter with unit
    weight: rescale ``y`` beforehand to change its weight. Differentiable in ``x_hat``.
    For sets too large for an assignment see
    :func:`~stochrobust.metrics.joint_perceptual_index_sliced` and
    :func:`~stochrobust.metrics.joint_perceptual_index_gaussian`.

    Args:
        x: source samples ``(N, *)`` (images ``(N, C, H, W)`` or points ``(N, D)``).
        y: their measurements ``(N, *)``, any per-sample shape.
        x_hat: restorations of ``y``, same shape as ``x``.
        squared: return ``W₂²`` instead of ``W₂``.

    Returns:
        A 0-d tensor in ``x``'s dtype.

    Raises:
        ShapeError: ``x_hat`` differs in shape from ``x`` or the batch sizes differ.
        NonFiniteError: NaN or Inf in the inputs.

    Shape:
        - ``x``, ``x_hat``: ``(N, *)``, ``y``: ``(N, *)``; output: ``()``.

    References:
        [O24] the joint perceptual index ``W₂(p_{X,Y}, p_{X̂,Y})`` and its Lipschitz bound.

    Examples:
        >>> x = torch.tensor([[0.0], [1.0]])
        >>> y = x.clone()                        # measurement = the signal
        >>> float(joint_perceptual_index(x, y, x.flip(0)))  # right marginal, wrong pairs
        1.0
        >>> float(joint_perceptual_index(x, y, x))
        0.0
    """
    u, v = joint_samples(x, y, x_hat)
    return w2_empirical(u, v, squared=squared)
