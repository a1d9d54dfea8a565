"""Certified k-NN kernels: a fast ranking product whose every decision is proven or re-measured.

The fast path ranks squared distances with one matrix product on centred features
(``‖q‖² + ‖x‖² − 2 q·x``), in float32 for features of at most float32 precision. Its rounding
error is bounded per query row by

    ``E = 1.01 (D + 16) u (‖q‖ + max_j ‖x_j‖)²``

(``u`` the unit roundoff of the product: 2⁻²⁴ for float32, 2⁻⁸ when TF32 or a reduced
float32 matmul precision is allowed, 2⁻⁵³ for float64; ``D`` stands for the longest sum,
``min(D, 512)`` plus the number of 512-feature slices, since the product runs slice by
slice into fresh buffers; the bound covers the rounding of the features into the search
precision, the dot products — ``γ_K Σ|q_d x_d| ≤ K u ‖q‖‖x‖`` for any summation order of
``K`` terms — and the float64 re-measurement). Every decision is then either
proven by the bound or taken on distances measured directly as ``Σ_d (a_d − b_d)²`` in
float64 on the features as given:

- k nearest neighbours: the ``k + 4`` best-ranked candidates are re-measured; the row is
  proven when every other point's fast score minus ``E`` still exceeds the k-th re-measured
  distance, otherwise every point whose fast score minus ``E`` does not is re-measured;
- ball membership ``‖q − x_j‖² ≤ r²``: pairs farther than ``E`` from the threshold are
  decided by the fast score, the others are re-measured.

So results equal a dense float64 brute force for every input; far-from-centroid float32
features only cost more re-measurements.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from stochrobust._checks import check_features, check_finite, check_ndim, check_tensor
from stochrobust.errors import RangeError, ShapeError, StochRobustTypeError

__all__ = [
    "BallPairs",
    "Points",
    "ball_pairs",
    "check_k",
    "check_sets",
    "gathered_sq",
    "knn_sq",
    "pair_sq",
    "points",
    "rows_of",
    "search_dtype",
    "smallest",
]

EXTRA_NEIGHBOURS = 4
"""Candidates re-measured beyond the k nearest."""

SLICE = 512
"""Features per dot-product slice of the fast product (bounds its rounding error)."""

_PAIR_CHUNK = 1 << 16
"""Numbers per float64 difference buffer when re-measuring."""


class Points(NamedTuple):
    """A feature set in the forms the kernels need."""

    exact: torch.Tensor
    """Features as given (float32 or float64, no copy): re-measured in float64 from these."""
    search: torch.Tensor
    """Centred features in the search precision."""
    search_sq: torch.Tensor
    """Squared norms of ``search``, ``(N,)``."""
    norm: torch.Tensor
    """Float64 norms of the centred features, ``(N,)``, for the rounding bound."""


def search_dtype(*feats: torch.Tensor) -> torch.dtype:
    """float64 when every set is float64, else float32 (the ranking product's precision)."""
    return torch.float64 if all(f.dtype == torch.float64 for f in feats) else torch.float32


def points(x: torch.Tensor, centre: torch.Tensor, dtype: torch.dtype | None = None) -> Points:
    """Build :class:`Points` from features ``(N, D)`` and a float64 centre ``(D,)``.

    ``dtype``: the search precision (default: :func:`search_dtype` of ``x``).
    """
    exact = x.detach()
    if exact.dtype not in (torch.float32, torch.float64):
        exact = exact.to(torch.float32)  # float16 / bfloat16 convert exactly
    centred = exact.to(torch.float64) - centre
    search = centred.to(search_dtype(x) if dtype is None else dtype)
    sq = search.to(torch.float64).square().sum(1)  # float64 sums: one rounding into search
    return Points(exact, search, sq.to(search.dtype), centred.norm(dim=1))


def _unit_roundoff(p: Points) -> float:
    if p.search.dtype == torch.float64:
        return 2.0**-53
    reduced = torch.get_float32_matmul_precision() != "highest"
    if p.search.is_cuda and torch.backends.cuda.matmul.allow_tf32:
        reduced = True
    return 2.0**-8 if reduced else 2.0**-24


def _bound(q: Points, base: Points, extra: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Per-row bound ``E`` on the fast squared distances, float64 ``(b, 1)``.

    ``extra`` (``(b,)`` or a number) adds squared radii compared against in the search
    precision, whose rounding the bound must also cover.
    """
    d = q.exact.shape[1]
    terms = min(d, SLICE) + -(-d // SLICE)  # longest dot-product sum + slice additions
    u = max(_unit_roundoff(q), _unit_roundoff(base))
    reach = q.norm + base.norm.max()
    return (1.01 * (terms + 16) * u * (reach * reach + extra)).unsqueeze(1)


def _fast_sq(q: Points, base: Points) -> torch.Tensor:
    """Fast squared distances ``(b, n)`` in the search precision.

    The dot products run over slices of at most :data:`SLICE` features, each into a fresh
    buffer, so a rounding error accumulates over ``SLICE`` terms, not ``D``.
    """
    d = q.search.shape[1]
    score = torch.addmm(
        base.search_sq.unsqueeze(0), q.search[:, :SLICE], base.search[:, :SLICE].T, alpha=-2.0
    )
    for lo in range(SLICE, d, SLICE):
        score.add_(q.search[:, lo : lo + SLICE] @ base.search[:, lo : lo + SLICE].T, alpha=-2.0)
    return score.add_(q.search_sq.unsqueeze(1))


def rows_of(p: Points, sl: slice) -> Points:
    """The rows ``sl`` of every field of ``p``."""
    return Points(p.exact[sl], p.search[sl], p.search_sq[sl], p.norm[sl])


def gathered_sq(q: torch.Tensor, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``‖q_i − x_{idx[i, c]}‖²`` measured directly in float64, shape ``(b, c)``."""
    out = torch.empty(idx.shape, dtype=torch.float64, device=q.device)
    rows = max(1, _PAIR_CHUNK // max(1, idx.shape[1] * q.shape[1]))
    for start in range(0, q.shape[0], rows):
        sl = slice(start, start + rows)
        diff = q[sl].unsqueeze(1).to(torch.float64) - x[idx[sl]].to(torch.float64)
        out[sl] = diff.mul_(diff).sum(-1)
    return out


def pair_sq(
    q: torch.Tensor, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """``‖q_{rows[p]} − x_{cols[p]}‖²`` measured directly in float64, ``(P,)``, chunked."""
    out = torch.empty(rows.shape[0], dtype=torch.float64, device=q.device)
    step = max(1, _PAIR_CHUNK // max(1, q.shape[1]))
    for p in range(0, rows.shape[0], step):
        i, j = rows[p : p + step], cols[p : p + step]
        diff = q[i].to(torch.float64) - x[j].to(torch.float64)
        out[p : p + step] = diff.mul_(diff).sum(1)
    return out


def _mask_self(score: torch.Tensor, shift: int | None, fill: float) -> None:
    """Set ``score[i, i + shift]`` to ``fill`` where that column exists (in place)."""
    if shift is None:
        return
    b, n = score.shape
    lo, hi = max(0, -shift), min(b, n - shift)
    if lo < hi:
        rows = torch.arange(lo, hi, device=score.device)
        score[rows, rows + shift] = fill


def smallest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` smallest entries of each row, sorted, padded with ``+inf``, ``(b, k)``."""
    if values.shape[1] < k:
        pad = values.new_full((values.shape[0], k - values.shape[1]), float("inf"))
        values = torch.cat([values, pad], dim=1)
    return values.topk(k, dim=1, largest=False, sorted=True).values


def knn_sq(
    queries: Points, base: Points, k: int, block_size: int, self_shift: int | None = None
) -> torch.Tensor:
    """The ``k`` smallest squared distances of every query to ``base``, exact, ``(m, k)``.

    ``self_shift``: query row ``i`` is the same point as base row ``i + self_shift`` and is
    excluded (only that row: duplicates count). Rows with fewer than ``k`` other points are
    padded with ``+inf``, so results over several bases merge with :func:`smallest`.
    """
    m, n = queries.exact.shape[0], base.exact.shape[0]
    out = torch.full((m, k), float("inf"), dtype=torch.float64, device=queries.exact.device)
    if n == 0:
        return out
    cand = min(k + EXTRA_NEIGHBOURS, n)
    for start in range(0, m, block_size):
        q = rows_of(queries, slice(start, start + block_size))
        shift = None if self_shift is None else self_shift + start
        score = _fast_sq(q, base)
        _mask_self(score, shift, float("inf"))
        top = score.topk(cand, dim=1, largest=False, sorted=False)
        exact = gathered_sq(q.exact, base.exact, top.indices)
        if shift is not None:  # the point itself, if it was picked (only when cand = n)
            own = torch.arange(shift, shift + q.exact.shape[0], device=exact.device)
            exact = exact.masked_fill(top.indices == own.unsqueeze(1), float("inf"))
        best = smallest(exact, k)
        if cand < n:  # prove that no other point can enter the k smallest
            bound = _bound(q, base)
            floor = top.values.amax(1, keepdim=True).to(torch.float64) - bound
            unsure = (floor <= best[:, -1:]).squeeze(1).nonzero().squeeze(1)
            for i in unsure.tolist():  # measure every point that could still be closer
                lower = score[i].to(torch.float64) - bound[i]
                cols = (lower <= best[i, -1]).nonzero().squeeze(1)  # never the point itself
                rows = torch.full_like(cols, i)
                best[i] = smallest(pair_sq(q.exact, base.exact, rows, cols).unsqueeze(0), k)[0]
        del score
        out[start : start + q.exact.shape[0]] = best
    return out


class BallPairs(NamedTuple):
    """Counts of :func:`ball_pairs` for one block of queries against one base."""

    in_base_balls: torch.Tensor
    """``(m,)`` int64: number of base balls ``‖q − x_j‖ ≤ r_j`` containing each query."""
    base_covered: torch.Tensor
    """``(n,)`` bool: base ball ``j`` contains at least one query."""
    base_in_query_balls: torch.Tensor
    """``(n,)`` bool: base point ``j`` lies in at least one query ball ``‖q_i − x_j‖ ≤ ρ_i``."""


def ball_pairs(
    queries: Points,
    base: Points,
    base_sq_radii: torch.Tensor,
    query_sq_radii: torch.Tensor,
    block_size: int,
) -> BallPairs:
    """Every pair's two ball memberships (ties inside), exact; one fast product per block."""
    m, n = queries.exact.shape[0], base.exact.shape[0]
    dev = queries.exact.device
    counts = torch.zeros(m, dtype=torch.int64, device=dev)
    covered = torch.zeros(n, dtype=torch.bool, device=dev)
    in_query = torch.zeros(n, dtype=torch.bool, device=dev)
    if n == 0 or m == 0:
        return BallPairs(counts, covered, in_query)
    r_base = base_sq_radii.to(queries.search.dtype).unsqueeze(0)
    for start in range(0, m, block_size):
        sl = slice(start, start + block_size)
        q = rows_of(queries, sl)
        extra = query_sq_radii[sl] + base_sq_radii.max()
        bound = _bound(q, base, extra).to(q.search.dtype)
        r_query = query_sq_radii[sl].to(q.search.dtype).unsqueeze(1)
        d_sq = _fast_sq(q, base)
        gap_a = d_sq - r_base  # ≤ 0: inside base ball j
        gap_b = d_sq.sub_(r_query)  # ≤ 0: base point j inside query ball i
        sure_a, sure_b = gap_a < -bound, gap_b < -bound
        unsure = (gap_a.abs_() <= bound) | (gap_b.abs_() <= bound)
        del gap_a, gap_b, d_sq
        rows, cols = unsure.nonzero(as_tuple=True)
        del unsure
        if rows.numel():  # re-measure the undecided pairs in float64
            sq = pair_sq(q.exact, base.exact, rows, cols)
            sure_a[rows, cols] = sq <= base_sq_radii[cols]
            sure_b[rows, cols] = sq <= query_sq_radii[sl][rows]
        counts[sl] = sure_a.sum(1)
        covered |= sure_a.any(0)
        in_query |= sure_b.any(0)
    return BallPairs(counts, covered, in_query)


def check_sets(
    real: object, fake: object, *, allow_empty: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two feature sets (same dims, same device, real-valued); shards may be empty."""
    out = []
    for t, name in ((real, "real"), (fake, "fake")):
        if allow_empty:
            x = check_tensor(t, name)
            check_ndim(x, name, 2, "(N, D)")
            check_finite(x, name)
        else:
            x = check_features(t, name)
        if x.is_complex():
            raise StochRobustTypeError(
                f"{name}: expected a real floating-point tensor, got {x.dtype}"
            )
        out.append(x)
    r, f = out
    if r.shape[1] != f.shape[1]:
        raise ShapeError(
            f"fake: expected feature dimension {r.shape[1]} like real, got shape {tuple(f.shape)}"
        )
    if r.device != f.device:
        raise StochRobustTypeError(
            f"fake: expected a tensor on {r.device} like real, got one on {f.device}"
        )
    return r, f


def check_k(k: int, n: int, name: str) -> None:
    """``k`` must leave at least one other point: ``k < n``."""
    if k >= n:
        raise RangeError(
            f"k: expected an integer < {n} (the number of points in {name}; the radius "
            f"excludes the point itself), got {k}"
        )
