"""Joint perceptual index ([O24]) for large sets: the joint samples, sliced and Gaussian ``W₂``.

The joint perceptual index compares the law of the pairs ``(x, y)`` with that of the pairs
``(x̂, y)``. With samples it is a distance between the clouds ``u_i = [x_i, y_i]`` and
``v_i = [x̂_i, y_i]`` (:func:`joint_samples`). Three estimators, from exact to scalable:

- :func:`~stochrobust.metrics.joint_perceptual_index` — the exact empirical ``W₂`` by an
  optimal assignment, ``O(N³)`` time and ``O(N²)`` memory: up to a few thousand samples;
- :func:`joint_perceptual_index_sliced` — the sliced ``W₂`` (Rabin et al. 2011): the root
  mean over random unit directions ``θ`` of the 1-D ``W₂²`` of the projections, exact per
  direction by sorting, ``O(L·N log N)``; a lower bound of the exact ``W₂``
  (``SW₂ ≤ W₂``), and ``0`` iff the clouds coincide (as ``L → ∞``);
- :func:`joint_perceptual_index_gaussian` — the ``W₂`` between Gaussians fitted to the two
  clouds (the Fréchet distance of FID, here on joint samples), ``O(N·D² + D³)``: for
  feature vectors of moderate dimension ``D``; by Gelbrich's bound it is at most the exact
  ``W₂`` of the empirical laws (up to the ``N/(N − 1)`` of the unbiased covariance).

References:
    [O24] the joint perceptual index ``W_p(p_{X,Y}, p_{X̂,Y})``. Rabin, Peyré, Delon,
    Bernot 2011 (sliced Wasserstein); Gelbrich 1990 (the Gaussian lower bound).
"""

from __future__ import annotations

import torch

from stochrobust._checks import check_batch, check_generator, check_int, check_same_shape
from stochrobust.errors import ShapeError
from stochrobust.metrics.frechet import frechet_distance

__all__ = ["joint_perceptual_index_gaussian", "joint_perceptual_index_sliced", "joint_samples"]

_DIRECTION_BLOCK = 64
"""Directions projected at once by the sliced estimator (bounds memory to ``N × 64``)."""


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1) if t.ndim > 1 else t.unsqueeze(1)


def joint_samples(
    x: torch.Tensor, y: torch.Tensor, x_hat: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The joint samples ``u_i = [x_i, y_i]`` and ``v_i = [x̂_i, y_i]``, flattened.

    Coordinates of ``x`` and ``y`` enter with unit weight: rescale ``y`` beforehand to
    change its weight. ``y`` is cast to ``x``'s dtype. Differentiable in ``x_hat``.

    Args:
        x: source samples ``(N, *)`` (images ``(N, C, H, W)`` or points ``(N, D)``).
        y: their measurements ``(N, *)``, any per-sample shape.
        x_hat: restorations of ``y``, same shape as ``x``.

    Returns:
        ``(u, v)``, each ``(N, D_x + D_y)``.

    Raises:
        ShapeError: ``x_hat`` differs in shape from ``x`` or the batch sizes differ.
        NonFiniteError: NaN or Inf in the inputs.

    Shape:
        - ``x``, ``x_hat``: ``(N, *)``; ``y``: ``(N, *)``; outputs: ``(N, D_x + D_y)``.

    References:
        [O24] the joint laws ``p_{X,Y}`` and ``p_{X̂,Y}``.

    Examples:
        >>> u, v = joint_samples(torch.zeros(2, 1, 2, 2), torch.ones(2, 3), torch.ones(2, 1, 2, 2))
        >>> u.shape, v[0].tolist()
        (torch.Size([2, 7]), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """
    xt = check_batch(x, "x")
    yt = check_batch(y, "y")
    xh = check_batch(x_hat, "x_hat")
    check_same_shape(xt, xh, "x", "x_hat")
    if yt.shape[0] != xt.shape[0]:
        raise ShapeError(
            f"y: expected {xt.shape[0]} measurements like x, got shape {tuple(yt.shape)}"
        )
    yf = _flat(yt).to(xt.dtype)
    u = torch.cat([_flat(xt), yf], dim=1)
    v = torch.cat([_flat(xh).to(xt.dtype), yf], dim=1)
    return u, v


def joint_perceptual_index_sliced(
    x: torch.Tensor,
    y: torch.Tensor,
    x_hat: torch.Tensor,
    *,
    n_projections: int = 256,
    squared: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced ``W₂`` between the joint samples ``[x, y]`` and ``[x̂, y]`` ([O24], large sets).

    ``SW₂²(u, v) = (1/L) Σ_l W₂²(θ_l·u, θ_l·v)`` with ``L = n_projections`` directions
    ``θ_l`` drawn uniformly on the unit sphere; each 1-D ``W₂²`` between the ``N``
    projections is exact (sorted values matched in order). ``SW₂ ≤ W₂`` (every projection
    is 1-Lipschitz), so it under-reports the exact index by a factor that depends on the
    dimension, but it ranks estimators in the same order on a common data set and costs
    ``O(L·N log N)``. Memory is ``O(N·64)`` (directions are projected in blocks).
    Differentiable in ``x_hat``.

    Args:
        x: source samples ``(N, *)``.
        y: their measurements ``(N, *)``.
        x_hat: restorations of ``y``, same shape as ``x``.
        n_projections: number of directions ``L ≥ 1``.
        squared: return ``SW₂²`` instead of ``SW₂``.
        generator: random generator for the directions (drawn on its device, in ``x``'s
            dtype); the same state gives the same value.

    Returns:
        A 0-d tensor in ``x``'s dtype.

    Raises:
        ShapeError: as :func:`joint_samples`.
        NonFiniteError: NaN or Inf in the inputs.
        RangeError: ``n_projections < 1``.

    Shape:
        - ``x``, ``x_hat``: ``(N, *)``; ``y``: ``(N, *)``; output: ``()``.

    References:
        [O24] joint perceptual index; Rabin et al. 2011 (sliced Wasserstein).

    Examples:
        >>> x = torch.rand(500, 2, generator=torch.Generator().manual_seed(0))
        >>> y = x[:, :1]
        >>> float(joint_perceptual_index_sliced(x, y, x))
        0.0
    """
    u, v = joint_samples(x, y, x_hat)
    n_dirs = check_int(n_projections, "n_projections", minimum=1)
    check_generator(generator)
    dev = generator.device if generator is not None else u.device
    theta = torch.randn(u.shape[1], n_dirs, generator=generator, dtype=u.dtype, device=dev)
    theta = (theta / theta.norm(dim=0, keepdim=True)).to(u.device)
    total = u.new_zeros(())
    for start in range(0, n_dirs, _DIRECTION_BLOCK):
        block = theta[:, start : start + _DIRECTION_BLOCK]
        pu = (u @ block).sort(dim=0).values
        pv = (v @ block).sort(dim=0).values
        total = total + (pu - pv).pow(2).mean(dim=0).sum()
    value = total / n_dirs
    return value if squared else value.clamp_min(0).sqrt()


def joint_perceptual_index_gaussian(
    x: torch.Tensor, y: torch.Tensor, x_hat: torch.Tensor, *, squared: bool = False
) -> torch.Tensor:
    """Gaussian ``W₂`` (Fréchet distance) between the joint samples ``[x, y]``, ``[x̂, y]``.

    Fits ``N(μ, Σ)`` to each cloud of :func:`joint_samples` (unbiased covariance) and
    returns :func:`~stochrobust.metrics.frechet_distance` between them — its square root
    unless ``squared`` (the FID convention is the square). Exact when both joint laws are
    Gaussian; otherwise a lower bound of the true ``W₂`` between the laws (Gelbrich). The
    ``D × D`` covariances limit it to a moderate joint dimension ``D`` (a few thousand):
    pass features (e.g. of a perceptual network) rather than raw pixels of large images.
    Computed in float64; not differentiable.

    Args:
        x: source samples ``(N, *)``, ``N ≥ 2``.
        y: their measurements ``(N, *)``.
        x_hat: restorations of ``y``, same shape as ``x``.
        squared: return the squared distance.

    Returns:
        A 0-d float64 tensor.

    Raises:
        ShapeError: as :func:`joint_samples`, or fewer than 2 samples.
        NonFiniteError: NaN or Inf in the inputs.

    Shape:
        - ``x``, ``x_hat``: ``(N, *)``; ``y``: ``(N, *)``; output: ``()``.

    References:
        [O24] joint perceptual index; Dowson & Landau 1982; Gelbrich 1990.

    Examples:
        >>> x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
        >>> y = x[:, :1]
        >>> shift = torch.tensor([0.0, 0.5])  # same covariance: the distance is ‖shift‖
        >>> round(float(joint_perceptual_index_gaussian(x, y, x + shift)), 6)
        0.5
    """
    u, v = joint_samples(x, y, x_hat)
    value = frechet_distance(u.detach(), v.detach())
    return value if squared else value.clamp_min(0).sqrt()
