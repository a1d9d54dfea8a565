"""Improved precision and recall (Kynkäänniemi et al. 2019), exact and memory-bounded.

Each set of features is turned into a union of balls: the ball of a point is centred on it
and its radius is the distance to its ``k``-th nearest neighbour *in its own set, excluding
the point itself* (a duplicate of the point is another point and counts, at distance 0).
A point lies inside the other set's manifold when its distance to at least one centre is
``≤`` that centre's radius — ties count as inside. Precision is the share of generated
points inside the real manifold (fidelity); recall is the share of real points inside the
generated manifold (coverage).

How it is computed. Nothing of size ``N × N`` is ever held: rows are processed in blocks of
``block_size`` against the whole other set, so the working memory is about
``8 · block_size · N`` bytes (one float64 block of scores) plus the float64 copies of the
features. Within a block, one float64 matrix product ranks the candidates (the nearest
neighbours for the radii, the deepest balls for the inside test); the few best candidates
of each row are then re-measured directly as ``Σ_d (a_d − b_d)²`` in float64 and every
decision is taken on those re-measured distances. Duplicated points are therefore at
distance exactly 0, equal distances compare equal, and the result equals a dense float64
brute force; the fast product only has to put the decisive candidates among the first few,
which can fail only when more than a handful of *distinct* points are tied with the
decisive one to within float64 rounding.

Set-level results (precision, recall) are 0-d float64 tensors on the features' device (no
host synchronisation; call ``float()`` for a number); per-point results (radii, realism)
keep the features' dtype.

References:
    T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen, T. Aila. *Improved Precision and
    Recall Metric for Assessing Generative Models.* NeurIPS 2019, §2 (eqs. 1–2) and §5
    (realism score). [O23] §2.1 and §6.1.1 use it with ``k = 3`` for images, ``k = 5`` for
    the toy problems.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from stochrobust._checks import (
    RangeError,
    ShapeError,
    StochRobustTypeError,
    check_features,
    check_int,
    check_number,
)

__all__ = ["PrecisionRecall", "manifold_radii", "precision_recall", "realism_score"]

_EXTRA_NEIGHBOURS = 8
"""Candidates re-measured beyond the k nearest (guards against float64 near-ties)."""

_BALL_CANDIDATES = 8
"""Balls re-measured per point in the inside test."""


class PrecisionRecall(NamedTuple):
    """Result of :func:`precision_recall`; unpacks as ``precision, recall``."""

    precision: torch.Tensor
    """Share of generated points inside the real manifold, 0-d float64 tensor."""
    recall: torch.Tensor
    """Share of real points inside the generated manifold, 0-d float64 tensor."""


# ---------------------------------------------------------------------------- internals
def _exact_sq(q: torch.Tensor, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Directly measured squared distances ``‖q_i − x_{idx[i, c]}‖²``, shape ``(b, c)``."""
    diff = q.unsqueeze(1) - x[idx]
    return diff.mul_(diff).sum(-1)


def _kth_sq_radii(x: torch.Tensor, k: int, block_size: int) -> torch.Tensor:
    """Squared k-NN radii (self excluded) of the float64 points ``x`` (N, D) → (N,)."""
    n = x.shape[0]
    x_sq = x.mul(x).sum(1).unsqueeze(0)
    cand = min(k + _EXTRA_NEIGHBOURS, n - 1)
    out = x.new_empty(n)
    for start in range(0, n, block_size):
        q = x[start : start + block_size]
        b = q.shape[0]
        # ‖q‖² + ‖x‖² − 2 q·x without the per-row constant ‖q‖²: the same ranking per row.
        score = torch.addmm(x_sq, q, x.T, alpha=-2.0)
        score[:, start : start + b].diagonal().fill_(math.inf)  # the point itself, only
        idx = score.topk(cand, dim=1, largest=False, sorted=False).indices
        del score
        out[start : start + b] = _exact_sq(q, x, idx).kthvalue(k, dim=1).values
    return out


def _inside_any_ball(
    points: torch.Tensor, centres: torch.Tensor, sq_radii: torch.Tensor, block_size: int
) -> torch.Tensor:
    """Whether each point lies in some ball ``‖p − c_j‖² ≤ r_j²`` (ties inside) → (M,) bool."""
    bias = (centres.mul(centres).sum(1) - sq_radii).unsqueeze(0)
    cand = min(_BALL_CANDIDATES, centres.shape[0])
    out = torch.empty(points.shape[0], dtype=torch.bool, device=points.device)
    for start in range(0, points.shape[0], block_size):
        q = points[start : start + block_size]
        # margin_j − ‖q‖² = ‖c_j‖² − r_j² − 2 q·c_j: the deepest balls come first.
        score = torch.addmm(bias, q, centres.T, alpha=-2.0)
        idx = score.topk(cand, dim=1, largest=False, sorted=False).indices
        del score
        out[start : start + q.shape[0]] = (_exact_sq(q, centres, idx) <= sq_radii[idx]).any(1)
    return out


def _pair(
    real: object, fake: object, k: object, block_size: object
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Validate two feature sets and the parameters; return float64 copies, k, block."""
    r = check_features(real, "real")
    f = check_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ShapeError(
            f"fake: expected feature dimension {r.shape[1]} like real, got shape {tuple(f.shape)}"
        )
    if r.device != f.device:
        raise StochRobustTypeError(
            f"fake: expected a tensor on {r.device} like real, got one on {f.device}"
        )
    kk = check_int(k, "k", minimum=1)
    for t, name in ((r, "real"), (f, "fake")):
        _check_k(kk, t.shape[0], name)
    blk = check_int(block_size, "block_size", minimum=1)
    return r.detach().to(torch.float64), f.detach().to(torch.float64), kk, blk


def _check_k(k: int, n: int, name: str) -> None:
    if k >= n:
        raise RangeError(
            f"k: expected an integer < {n} (the number of points in {name}; the radius "
            f"excludes the point itself), got {k}"
        )


# ---------------------------------------------------------------------------- public API
def manifold_radii(feats: torch.Tensor, k: int = 3, block_size: int = 1024) -> torch.Tensor:
    """Distance of every point to its ``k``-th nearest neighbour in the set, excluding itself.

    Exactly the point itself is excluded: a duplicate of a point is a neighbour at distance
    0. Computed blockwise in float64 (memory ``≈ 8 · block_size · N`` bytes, never ``N²``);
    the decisive distances are measured directly, so ties and duplicates are exact.

    Args:
        feats: features ``(N, D)``.
        k: neighbour rank, ``1 ≤ k < N``.
        block_size: rows per block (trades memory for speed; the result does not depend
            on it).

    Returns:
        ``(N,)`` radii in the dtype and on the device of ``feats``.

    Raises:
        ShapeError: ``feats`` is not a non-empty ``(N, D)`` matrix.
        NonFiniteError: NaN or Inf in ``feats``.
        RangeError: ``k < 1``, ``k ≥ N`` or ``block_size < 1``.
        StochRobustTypeError: ``feats`` is not a floating-point tensor, ``k`` not an integer.

    Shape:
        - ``feats``: ``(N, D)``; output: ``(N,)``.

    References:
        Kynkäänniemi et al. 2019, §2: ``NN_k(φ)``, the k-th nearest feature vector.

    Example:
        >>> pts = torch.tensor([[0.0], [0.0], [1.0], [3.0]])  # a duplicated point
        >>> manifold_radii(pts, k=1).tolist()
        [0.0, 0.0, 1.0, 2.0]
    """
    x = check_features(feats, "feats")
    kk = check_int(k, "k", minimum=1)
    _check_k(kk, x.shape[0], "feats")
    blk = check_int(block_size, "block_size", minimum=1)
    sq = _kth_sq_radii(x.detach().to(torch.float64), kk, blk)
    return sq.sqrt().to(x.dtype)


def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, block_size: int = 1024
) -> PrecisionRecall:
    """Improved precision and recall of generated features against real ones.

    ``precision = (1/M) Σ_i 1[fake_i ∈ manifold(real)]`` and
    ``recall = (1/N) Σ_j 1[real_j ∈ manifold(fake)]``, where a point is in a manifold when
    ``‖p − c‖ ≤ radius_k(c)`` for some centre ``c`` of the other set (ties count as inside)
    and ``radius_k`` is given by :func:`manifold_radii`. Identical sets give ``(1, 1)``; a
    mode-collapsed generator gives high precision and low recall. Exact (equal to a dense
    float64 brute force), with memory ``O(block_size · max(N, M))``: no ``N × M`` matrix is
    formed. Runs on the features' device.

    Args:
        real: real features ``(N, D)``.
        fake: generated features ``(M, D)``; ``M`` may differ from ``N``.
        k: neighbour rank of the radii, ``1 ≤ k < min(N, M)`` ([O23]: 3 for images, 5 for
            the toy problems; Kynkäänniemi et al.: 3).
        block_size: rows per block; the working memory is about ``8 · block_size ·
            max(N, M)`` bytes on top of float64 copies of the features. The result does not
            depend on it.

    Returns:
        ``PrecisionRecall(precision, recall)``, two 0-d float64 tensors on the features'
        device (a named tuple: ``p, r = precision_recall(...)``).

    Raises:
        ShapeError: a set is empty or not ``(N, D)``, or the feature dims differ.
        NonFiniteError: NaN or Inf in the features.
        RangeError: ``k < 1``, ``k ≥ N`` or ``k ≥ M``, or ``block_size < 1``.
        StochRobustTypeError: non-tensor or integer features, sets on different devices.

    Shape:
        - ``real``: ``(N, D)``, ``fake``: ``(M, D)``; outputs: ``()``.

    References:
        Kynkäänniemi et al. 2019, eqs. 1–2; [O23] §2.1 (perceptual quality) and §6.1.1.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> real = torch.randn(500, 2, generator=g)
        >>> collapsed = 0.05 * torch.randn(500, 2, generator=g)  # one mode only
        >>> p, r = precision_recall(real, collapsed, k=3)
        >>> float(p), round(float(r), 2)
        (1.0, 0.02)
        >>> tuple(float(v) for v in precision_recall(real, real))
        (1.0, 1.0)
    """
    r64, f64, kk, blk = _pair(real, fake, k, block_size)
    r_sq = _kth_sq_radii(r64, kk, blk)
    f_sq = _kth_sq_radii(f64, kk, blk)
    precision = _inside_any_ball(f64, r64, r_sq, blk).to(torch.float64).mean()
    recall = _inside_any_ball(r64, f64, f_sq, blk).to(torch.float64).mean()
    return PrecisionRecall(precision, recall)


def realism_score(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = 3,
    block_size: int = 1024,
    keep_fraction: float = 1.0,
) -> torch.Tensor:
    """Per-sample realism ``R(f) = max_j radius_k(r_j) / ‖f − r_j‖`` of generated features.

    ``R(f) ≥ 1`` exactly when ``f`` lies inside the real manifold (some ball contains it),
    and larger values mean deeper inside. A generated point that coincides with a real point
    gets ``+inf``. ``keep_fraction < 1``
    first keeps only the real points with the smallest radii (Kynkäänniemi et al. drop the
    half with the largest radii, ``keep_fraction=0.5``, so that outliers with huge balls
    do not dominate); the default keeps all of them.

    Args:
        real: real features ``(N, D)``.
        fake: generated features ``(M, D)``.
        k: neighbour rank of the radii, ``1 ≤ k < N``.
        block_size: rows per block (memory ``≈ 8 · block_size · N`` bytes).
        keep_fraction: share of the real balls kept, in ``(0, 1]``: the
            ``ceil(keep_fraction · N)`` smallest radii.

    Returns:
        ``(M,)`` realism scores in the dtype and on the device of ``fake``.

    Raises:
        ShapeError: empty or non-``(N, D)`` sets, or different feature dims.
        NonFiniteError: NaN or Inf in the features.
        RangeError: ``k`` out of ``[1, N)``, ``block_size < 1``, ``keep_fraction`` not in
            ``(0, 1]``.

    Shape:
        - ``real``: ``(N, D)``, ``fake``: ``(M, D)``; output: ``(M,)``.

    References:
        Kynkäänniemi et al. 2019, §5 (realism score).

    Example:
        >>> real = torch.tensor([[0.0], [1.0], [2.0]])
        >>> realism_score(real, torch.tensor([[0.5], [4.0], [2.0]]), k=1).tolist()
        [2.0, 0.5, inf]
    """
    r = check_features(real, "real")
    f = check_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ShapeError(
            f"fake: expected feature dimension {r.shape[1]} like real, got shape {tuple(f.shape)}"
        )
    if r.device != f.device:
        raise StochRobustTypeError(
            f"fake: expected a tensor on {r.device} like real, got one on {f.device}"
        )
    kk = check_int(k, "k", minimum=1)
    _check_k(kk, r.shape[0], "real")
    blk = check_int(block_size, "block_size", minimum=1)
    keep = check_number(keep_fraction, "keep_fraction", low=0.0, high=1.0, low_inclusive=False)
    r64 = r.detach().to(torch.float64)
    f64 = f.detach().to(torch.float64)
    r_sq = _kth_sq_radii(r64, kk, blk)
    if keep < 1.0:
        n_keep = max(1, math.ceil(keep * r64.shape[0]))
        order = torch.sort(r_sq, stable=True).indices[:n_keep]
        r64, r_sq = r64[order], r_sq[order]
    c_sq = r64.mul(r64).sum(1).unsqueeze(0)
    cand = min(_BALL_CANDIDATES, r64.shape[0])
    out = f64.new_empty(f64.shape[0])
    for start in range(0, f64.shape[0], blk):
        q = f64[start : start + blk]
        partial = torch.addmm(c_sq, q, r64.T, alpha=-2.0)  # ‖c‖² − 2 q·c
        nearest = partial.topk(1, dim=1, largest=False).indices
        d_sq = partial.add_(q.mul(q).sum(1, keepdim=True)).clamp_min_(torch.finfo(q.dtype).tiny)
        best = (r_sq / d_sq).topk(cand, dim=1).indices
        del partial, d_sq
        idx = torch.cat([best, nearest], dim=1)
        exact = _exact_sq(q, r64, idx)
        ratio = torch.where(exact > 0, r_sq[idx] / exact, math.inf)
        out[start : start + q.shape[0]] = ratio.amax(1).sqrt()
    return out.to(f.dtype)
