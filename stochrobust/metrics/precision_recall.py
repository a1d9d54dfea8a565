"""Improved precision and recall (Kynkäänniemi et al. 2019), exact and memory-bounded.

Each set of features is turned into a union of balls: the ball of a point is centred on it
and its radius is the distance to its ``k``-th nearest neighbour *in its own set, excluding
the point itself* (a duplicate of the point is another point and counts, at distance 0).
A point lies inside the other set's manifold when its distance to at least one centre is
``≤`` that centre's radius — ties count as inside. Precision is the share of generated
points inside the real manifold (fidelity); recall is the share of real points inside the
generated manifold (coverage).

How it is computed. Nothing of size ``N × N`` is ever held: rows are processed in blocks
against chunks of the other set. One matrix product on the centred features ranks the
candidates (in float32 for features of at most float32 precision, float64 otherwise), and
every decision is either proven by a per-row bound on that product's rounding error or
taken on distances re-measured directly as ``Σ_d (a_d − b_d)²`` in float64 on the
features as given. Duplicated points are therefore at distance exactly 0, equal distances
compare equal, and the result equals a dense float64 brute force for every input —
including float32 features far from their common centroid, where the product's rounding
is large and more pairs are re-measured (see :mod:`stochrobust.metrics.density_coverage`
and the "Exactness" section of the metrics guide).

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

from stochrobust._checks import check_features, check_int, check_number
from stochrobust.metrics._knn import Points, check_k, check_sets, gathered_sq, knn_sq, points
from stochrobust.metrics.density_coverage import prdc

__all__ = ["PrecisionRecall", "manifold_radii", "precision_recall", "realism_score"]

_BALL_CANDIDATES = 8
"""Balls re-measured per point by :func:`realism_score`."""


class PrecisionRecall(NamedTuple):
    """Result of :func:`precision_recall`; unpacks as ``precision, recall``."""

    precision: torch.Tensor
    """Share of generated points inside the real manifold, 0-d float64 tensor."""
    recall: torch.Tensor
    """Share of real points inside the generated manifold, 0-d float64 tensor."""


def _centre(r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Mean of both sets in float64 (distances are translation invariant)."""
    total = r.detach().sum(0, dtype=torch.float64) + f.detach().sum(0, dtype=torch.float64)
    return total / (r.shape[0] + f.shape[0])


# ---------------------------------------------------------------------------- public API
def manifold_radii(feats: torch.Tensor, k: int = 3, block_size: int = 1024) -> torch.Tensor:
    """Distance of every point to its ``k``-th nearest neighbour in the set, excluding itself.

    Exactly the point itself is excluded: a duplicate of a point is a neighbour at distance
    0. Computed blockwise (memory ``block_size · N`` numbers, never ``N²``); the decisive
    distances are measured directly in float64, so ties and duplicates are exact.

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

    Examples:
        >>> pts = torch.tensor([[0.0], [0.0], [1.0], [3.0]])  # a duplicated point
        >>> manifold_radii(pts, k=1).tolist()
        [0.0, 0.0, 1.0, 2.0]
    """
    x = check_features(feats, "feats")
    kk = check_int(k, "k", minimum=1)
    check_k(kk, x.shape[0], "feats")
    blk = check_int(block_size, "block_size", minimum=1)
    pts = points(x, _centre(x, x))
    sq = knn_sq(pts, pts, kk, blk, self_shift=0)[:, kk - 1]
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
        block_size: rows per block; the working memory is ``block_size · max(N, M)``
            scores (4 bytes each for float32 features, 8 for float64) on top of float64
            copies of the features. The result does not depend on it.

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

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> real = torch.randn(500, 2, generator=g)
        >>> collapsed = 0.05 * torch.randn(500, 2, generator=g)  # one mode only
        >>> p, r = precision_recall(real, collapsed, k=3)
        >>> float(p), round(float(r), 3)   # a float64 brute force gives the same figures
        (1.0, 0.014)
        >>> tuple(float(v) for v in precision_recall(real, real))
        (1.0, 1.0)
    """
    out = prdc(real, fake, k, block_size)
    return PrecisionRecall(out.precision, out.recall)


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
        block_size: rows per block (memory ``block_size · N`` scores).
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

    Examples:
        >>> real = torch.tensor([[0.0], [1.0], [2.0]])
        >>> realism_score(real, torch.tensor([[0.5], [4.0], [2.0]]), k=1).tolist()
        [2.0, 0.5, inf]
    """
    r, f = check_sets(real, fake)
    kk = check_int(k, "k", minimum=1)
    check_k(kk, r.shape[0], "real")
    blk = check_int(block_size, "block_size", minimum=1)
    keep = check_number(keep_fraction, "keep_fraction", low=0.0, high=1.0, low_inclusive=False)
    centre = _centre(r, f)
    rp, fp = points(r, centre), points(f, centre)
    r_sq = knn_sq(rp, rp, kk, blk, self_shift=0)[:, kk - 1]
    if keep < 1.0:
        n_keep = max(1, math.ceil(keep * r_sq.shape[0]))
        order = torch.sort(r_sq, stable=True).indices[:n_keep]
        rp = Points(rp.exact[order], rp.search[order], rp.search_sq[order], rp.norm[order])
        r_sq = r_sq[order]
    r_sq_search = r_sq.to(rp.search.dtype)
    tiny = torch.finfo(rp.search.dtype).tiny
    cand = min(_BALL_CANDIDATES, r_sq.shape[0])
    m = fp.exact.shape[0]
    out = fp.exact.new_empty(m)
    for start in range(0, m, blk):
        q = fp.search[start : start + blk]
        partial = torch.addmm(rp.search_sq.unsqueeze(0), q, rp.search.T, alpha=-2.0)
        nearest = partial.topk(1, dim=1, largest=False).indices  # catches coincident points
        d_sq = partial.add_(fp.search_sq[start : start + blk].unsqueeze(1)).clamp_min_(tiny)
        best = (r_sq_search / d_sq).topk(cand, dim=1).indices
        del partial, d_sq
        idx = torch.cat([best, nearest], dim=1)
        exact = gathered_sq(fp.exact[start : start + q.shape[0]], rp.exact, idx)
        ratio = torch.where(exact > 0, r_sq[idx] / exact, math.inf)
        out[start : start + q.shape[0]] = ratio.amax(1).sqrt()
    return out.to(f.dtype)
