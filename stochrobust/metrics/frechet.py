"""Fréchet distance: the Wasserstein-2 distance between Gaussians fitted to features.

For ``N(μ_a, Σ_a)`` and ``N(μ_b, Σ_b)``,
``W₂² = ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}``.
The trace of the matrix square root is computed as the sum of the square roots of the
eigenvalues of the *symmetric* positive semi-definite matrix ``Σ_a^{1/2} Σ_b Σ_a^{1/2}``
(``torch.linalg.eigvalsh`` in float64, tiny negative eigenvalues from rounding clamped to 0):
no non-symmetric ``sqrtm`` whose imaginary parts have to be discarded, as in the classic FID
code. FID is this squared distance between Inception-v3 pool features of real and generated
images; :func:`fid_from_features` takes the feature network as an argument, because no
pretrained weights can be downloaded here — pass the Inception network you have (or any
other network) and the function computes the rest offline.

References:
    M. Heusel et al. *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium.* NeurIPS 2017 (FID). D. C. Dowson, B. V. Landau. *The Fréchet distance
    between multivariate normal distributions.* J. Multivariate Anal. 1982. [O23] §2.1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stochrobust._checks import (
    check_callable,
    check_features,
    check_finite,
    check_image,
    check_int,
    check_tensor,
    describe,
)
from stochrobust._guard import frozen
from stochrobust.errors import ModelError, RangeError, ShapeError

__all__ = ["fid_from_features", "frechet_distance", "gaussian_w2"]

_PSD_TOLERANCE = 1e-8
"""Relative size of negative eigenvalues accepted (and clamped) in a covariance."""


def _sqrt_psd(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD float64 matrix (eigenvalues clamped ≥ 0)."""
    evals, evecs = torch.linalg.eigh(cov)
    root: torch.Tensor = (evecs * evals.clamp_min(0).sqrt().unsqueeze(-2)) @ evecs.mT
    return root


def _check_cov(cov: object, name: str, dim: int) -> torch.Tensor:
    c = check_tensor(cov, name)
    if c.shape != (dim, dim):
        raise ShapeError(f"{name}: expected shape ({dim}, {dim}), got {tuple(c.shape)}")
    check_finite(c, name)
    c64 = c.detach().to(torch.float64)
    scale = float(c64.abs().max()) or 1.0
    asym = float((c64 - c64.mT).abs().max())
    if asym > 1e-6 * scale:
        raise RangeError(f"{name}: expected a symmetric matrix, got asymmetry {asym:g}")
    c64 = 0.5 * (c64 + c64.mT)
    low = float(torch.linalg.eigvalsh(c64).min())
    if low < -_PSD_TOLERANCE * scale * dim:
        raise RangeError(
            f"{name}: expected a positive semi-definite matrix, got eigenvalue {low:g}"
        )
    return c64


def _gaussian_w2_sq(
    mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor, cov_b: torch.Tensor
) -> torch.Tensor:
    """Squared Gaussian ``W₂`` for validated float64 moments."""
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    middle = 0.5 * (middle + middle.mT)
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum()
    value: torch.Tensor = (
        (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2.0 * trace_sqrt
    )
    return value.clamp_min(0)


def gaussian_w2(
    mean_a: torch.Tensor,
    cov_a: torch.Tensor,
    mean_b: torch.Tensor,
    cov_b: torch.Tensor,
    squared: bool = False,
) -> torch.Tensor:
    """Wasserstein-2 distance between two Gaussians ``N(mean_a, cov_a)``, ``N(mean_b, cov_b)``.

    ``W₂² = ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}``, computed
    in float64 with the trace term from the eigenvalues of the symmetrised product. Like
    :func:`~stochrobust.metrics.w2_empirical` it returns the distance by default and its
    square with ``squared=True``; :func:`frechet_distance` (FID convention) is the square.

    Args:
        mean_a: mean ``(D,)``.
        cov_a: covariance ``(D, D)``, symmetric positive semi-definite.
        mean_b: mean ``(D,)``.
        cov_b: covariance ``(D, D)``.
        squared: return ``W₂²`` instead of ``W₂``.

    Returns:
        A 0-d float64 tensor on ``mean_a``'s device.

    Raises:
        ShapeError: the shapes do not fit ``(D,)`` / ``(D, D)``.
        NonFiniteError: NaN or Inf in an argument.
        RangeError: a covariance is not symmetric or has a clearly negative eigenvalue
            (rounding-size negative eigenvalues are clamped to 0).

    Shape:
        - ``mean_*``: ``(D,)``, ``cov_*``: ``(D, D)``; output: ``()``.

    References:
        Dowson & Landau 1982; [O23] §2.1.

    Examples:
        >>> eye = torch.eye(2)
        >>> float(gaussian_w2(torch.zeros(2), eye, torch.tensor([3.0, 4.0]), 4 * eye))
        5.196152422706632
    """
    ma = check_tensor(mean_a, "mean_a")
    if ma.ndim != 1 or ma.shape[0] == 0:
        raise ShapeError(f"mean_a: expected a non-empty 1-D tensor (D,), got {tuple(ma.shape)}")
    dim = ma.shape[0]
    mb = check_tensor(mean_b, "mean_b")
    if mb.shape != (dim,):
        raise ShapeError(f"mean_b: expected shape ({dim},) like mean_a, got {tuple(mb.shape)}")
    check_finite(ma, "mean_a")
    check_finite(mb, "mean_b")
    ca = _check_cov(cov_a, "cov_a", dim).to(ma.device)
    cb = _check_cov(cov_b, "cov_b", dim).to(ma.device)
    value = _gaussian_w2_sq(
        ma.detach().to(torch.float64), ca, mb.detach().to(ma.device, torch.float64), cb
    )
    return value if squared else value.sqrt()


def _moments(x: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape[0] < 2:
        raise ShapeError(
            f"{name}: expected at least 2 samples to estimate a covariance, "
            f"got shape {tuple(x.shape)}"
        )
    x64 = x.detach().to(torch.float64)
    mean = x64.mean(0)
    centred = x64 - mean
    cov = centred.mT @ centred / (x64.shape[0] - 1)
    return mean, 0.5 * (cov + cov.mT)


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> torch.Tensor:
    """Squared Fréchet distance between Gaussians fitted to two feature sets (FID convention).

    Fits ``N(μ, Σ)`` to each set (sample mean, unbiased covariance with ``N − 1`` as in the
    reference FID code) and returns ``gaussian_w2(μ_a, Σ_a, μ_b, Σ_b, squared=True)``, all
    in float64. With Inception-v3 pool features of real and generated images this is FID.

    Args:
        feats_a: features ``(N, D)``, ``N ≥ 2``.
        feats_b: features ``(M, D)``, ``M ≥ 2``; ``M`` may differ from ``N``.

    Returns:
        A 0-d float64 tensor ``≥ 0`` on the features' device.

    Raises:
        ShapeError: non-``(N, D)`` input, fewer than 2 samples, or different feature dims.
        NonFiniteError: NaN or Inf in the features.

    Shape:
        - ``feats_a``: ``(N, D)``, ``feats_b``: ``(M, D)``; output: ``()``.

    References:
        Heusel et al. 2017 (FID); Dowson & Landau 1982; [O23] §2.1.

    Examples:
        >>> a = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0))
        >>> shift = torch.tensor([3.0, 4.0, 0.0])  # same covariance: only ‖Δμ‖² = 25 is left
        >>> round(float(frechet_distance(a, a + shift)), 6)
        25.0
    """
    a = check_features(feats_a, "feats_a")
    b = check_features(feats_b, "feats_b")
    return _fitted_w2_sq(a, b, "feats_a", "feats_b")


def _fitted_w2_sq(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> torch.Tensor:
    """Squared ``W₂`` between Gaussians fitted to the ``(N, D)`` and ``(M, D)`` features."""
    if a.shape[1] != b.shape[1]:
        raise ShapeError(
            f"{name_b}: expected feature dimension {a.shape[1]} like {name_a}, "
            f"got features of dimension {b.shape[1]}"
        )
    mu_a, cov_a = _moments(a, name_a)
    mu_b, cov_b = _moments(b, name_b)
    return _gaussian_w2_sq(mu_a, cov_a, mu_b.to(mu_a.device), cov_b.to(mu_a.device))


def _extract(
    extractor: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    batch_size: int,
    name: str,
) -> torch.Tensor:
    feats = []
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start : start + batch_size]
        out = extractor(chunk)
        if not isinstance(out, torch.Tensor) or out.ndim < 1 or out.shape[0] != chunk.shape[0]:
            raise ModelError(
                f"extractor: expected a tensor with {chunk.shape[0]} rows for {name} images "
                f"of shape {tuple(chunk.shape)}, got {describe(out)}"
            )
        feats.append(out.reshape(out.shape[0], -1).to(torch.float64))
    result = torch.cat(feats)
    if not bool(torch.isfinite(result).all()):
        raise ModelError(f"extractor: expected finite features for {name}, got NaN or Inf")
    return result


def fid_from_features(
    extractor: Callable[[torch.Tensor], torch.Tensor],
    real_images: torch.Tensor,
    fake_images: torch.Tensor,
    batch_size: int = 64,
) -> torch.Tensor:
    """Fréchet distance between the features a user-supplied network extracts from images.

    With an Inception-v3 pool-feature network this is FID; stochrobust ships no weights and
    downloads none, so any network works offline (Inception, a CLIP or DINO encoder, a
    small task-specific encoder). The extractor runs under ``torch.no_grad()`` in eval mode
    with frozen parameters (:func:`stochrobust.frozen`): the train/eval flags,
    ``requires_grad`` and BatchNorm statistics of an ``nn.Module`` extractor (or of the
    module behind a bound method) are left unchanged, also on errors; a plain function
    that wraps a model is called as it is, so put such a model in eval mode yourself.
    Outputs ``(n, D, 1, 1)`` (pooled maps) are flattened to ``(n, D)``.

    Args:
        extractor: an ``nn.Module`` or callable mapping images ``(n, C, H, W)`` to features
            ``(n, D)`` (or ``(n, *)``, flattened).
        real_images: ``(N, C, H, W)``, ``N ≥ 2``.
        fake_images: ``(M, C, H, W)``, ``M ≥ 2``.
        batch_size: images per extractor call.

    Returns:
        The squared Fréchet distance, a 0-d float64 tensor on the features' device.

    Raises:
        ShapeError: images are not 4-D, are empty, or fewer than 2 per set; the two sets
            give different feature dimensions.
        NonFiniteError: NaN or Inf in the images.
        ModelError: the extractor returns a non-tensor, a wrong number of rows, or
            non-finite features.
        StochRobustTypeError: ``extractor`` is not callable.
        RangeError: ``batch_size < 1``.

    Shape:
        - images: ``(N, C, H, W)`` and ``(M, C, H, W)``; output: ``()``.

    References:
        Heusel et al. 2017 (FID); [O23] §6.1.1.

    Examples:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1))
        >>> g = torch.Generator().manual_seed(0)
        >>> real = torch.rand(32, 3, 16, 16, generator=g)
        >>> float(fid_from_features(net, real, real)) < 1e-12
        True
    """
    check_callable(extractor, "extractor")
    real = check_image(real_images, "real_images")
    fake = check_image(fake_images, "fake_images")
    bs = check_int(batch_size, "batch_size", minimum=1)
    with torch.no_grad(), frozen(extractor):
        fr = _extract(extractor, real, bs, "real_images")
        ff = _extract(extractor, fake, bs, "fake_images")
    return _fitted_w2_sq(fr, ff, "real_images", "fake_images")
