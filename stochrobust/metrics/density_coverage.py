"""Precision, recall, density and coverage in one exact pass, single-process or sharded.

Density and coverage (Naeem et al. 2020) use the same k-NN balls as improved precision and
recall (Kynkäänniemi et al. 2019): the ball of a real point ``r_i`` has radius
``NND_k(r_i)``, the distance to its ``k``-th nearest real neighbour excluding itself, and
membership counts ties as inside (``‖f − r_i‖ ≤ NND_k(r_i)``). With ``N`` real and ``M``
fake points:

- ``density = (1 / (k M)) Σ_j Σ_i 1[f_j ∈ B(r_i)]`` — how many real balls contain a fake
  point on average, divided by ``k`` (about 1 for matching laws, unbounded above);
- ``coverage = (1 / N) Σ_i 1[∃ j: f_j ∈ B(r_i)]`` — the share of real balls that hold at
  least one fake point (in ``[0, 1]``).

Exactness. All four values are ratios of integer counts, and every count is decided on
float64 distances measured directly (see the rounding bound of the k-NN kernel documented
in ``docs/metrics.md``): the result equals a dense float64 brute force for every input,
float32 features far from their centroid included, and it does not depend on
``block_size``, ``chunk_rows`` or the number of ranks.

Sharded computation. :func:`sharded_prdc` takes each rank's shard of both sets. Every
rank's rows are broadcast in chunks of ``chunk_rows``; each rank merges the exact k
smallest distances of its own points against each chunk (a cross-rank top-k merge), then
counts ball memberships of its own fake points against each chunk of real points (with
their radii), the per-chunk flags of the chunk's owner being summed over ranks. No rank
holds another rank's shard, and the working memory is ``block_size · chunk_rows`` scores
plus one chunk, whatever ``N``.

References:
    M. F. Naeem, S. J. Oh, Y. Uh, Y. Choi, J. Yoo. *Reliable Fidelity and Diversity
    Metrics for Generative Models.* ICML 2020, §3 (eqs. for density and coverage).
    T. Kynkäänniemi et al. *Improved Precision and Recall Metric for Assessing Generative
    Models.* NeurIPS 2019, eqs. 1–2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.distributed as dist

from stochrobust._checks import check_int
from stochrobust.metrics._knn import (
    Points,
    ball_pairs,
    check_k,
    check_sets,
    knn_sq,
    points,
    rows_of,
    search_dtype,
    smallest,
)
from stochrobust.metrics.distributed import all_reduce_sum, iter_shards, rank_info, shard_sizes

__all__ = ["PRDC", "density_coverage", "prdc", "sharded_prdc"]


class PRDC(NamedTuple):
    """Precision, recall, density and coverage; unpacks as ``p, r, d, c``."""

    precision: torch.Tensor
    """Share of fake points inside the real manifold, 0-d float64."""
    recall: torch.Tensor
    """Share of real points inside the fake manifold, 0-d float64."""
    density: torch.Tensor
    """Mean number of real balls holding a fake point, divided by ``k``, 0-d float64."""
    coverage: torch.Tensor
    """Share of real balls holding at least one fake point, 0-d float64."""


def _chunks(
    x: torch.Tensor, chunk_rows: int, group: dist.ProcessGroup | None, collective: bool
) -> Iterator[tuple[int, int, torch.Tensor]]:
    if collective:
        yield from iter_shards(x, chunk_rows, group)
        return
    for start in range(0, x.shape[0], chunk_rows):
        yield 0, start, x[start : start + chunk_rows]


def _base(own: Points, chunk: torch.Tensor, centre: torch.Tensor, start: int | None) -> Points:
    """The chunk's :class:`Points`: sliced from ``own`` when it is this rank's rows."""
    if start is None:
        return points(chunk, centre, own.search.dtype)
    return rows_of(own, slice(start, start + chunk.shape[0]))


def _radii(
    own: Points,
    centre: torch.Tensor,
    k: int,
    wire: torch.dtype,
    sizes: tuple[int, int],
    group: dist.ProcessGroup | None,
    collective: bool,
) -> torch.Tensor:
    """Exact squared k-NN radii of this rank's points over all ranks' points."""
    block, chunk_rows = sizes
    me = rank_info(group)[0] if collective else 0
    counts = shard_sizes(own.exact.shape[0], own.exact.device, group) if collective else [0]
    my_offset = sum(counts[:me])
    best = torch.full(
        (own.exact.shape[0], k), float("inf"), dtype=torch.float64, device=own.exact.device
    )
    for src, offset, chunk in _chunks(own.exact.to(wire), chunk_rows, group, collective):
        shift = my_offset - offset if src == me else None
        base = _base(own, chunk, centre, None if shift is None else -shift)
        found = knn_sq(own, base, k, block, shift)
        best = smallest(torch.cat([best, found], dim=1), k)
    return best[:, k - 1]


def _engine(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int,
    block_size: int,
    chunk_rows: int,
    group: dist.ProcessGroup | None,
    collective: bool,
) -> PRDC:
    r, f = check_sets(real, fake, allow_empty=collective)
    kk = check_int(k, "k", minimum=1)
    blk = check_int(block_size, "block_size", minimum=1)
    chunk = check_int(chunk_rows, "chunk_rows", minimum=1)
    dev = r.device
    wide = [t.numel() > 0 and t.dtype == torch.float64 for t in (r, f)]
    sums = torch.cat(
        [
            r.detach().sum(0, dtype=torch.float64) + f.detach().sum(0, dtype=torch.float64),
            torch.tensor([r.shape[0], f.shape[0], any(wide)], dtype=torch.float64, device=dev),
        ]
    )
    if collective:
        sums = all_reduce_sum(sums, group)
    n_real, n_fake = int(sums[-3]), int(sums[-2])
    wire = torch.float64 if float(sums[-1]) > 0 else torch.float32  # rows travel exactly
    check_k(kk, n_real, "real")
    check_k(kk, n_fake, "fake")
    centre = sums[:-3] / (n_real + n_fake)
    dtype = search_dtype(r, f)
    rp, fp = points(r, centre, dtype), points(f, centre, dtype)
    r_sq = _radii(rp, centre, kk, wire, (blk, chunk), group, collective)
    f_sq = _radii(fp, centre, kk, wire, (blk, chunk), group, collective)
    me = rank_info(group)[0] if collective else 0
    in_real = torch.zeros(f.shape[0], dtype=torch.int64, device=dev)
    hits = torch.zeros(2, dtype=torch.int64, device=dev)  # covered real balls, recalled reals
    feats = _chunks(rp.exact.to(wire), chunk, group, collective)
    radii = _chunks(r_sq.unsqueeze(1), chunk, group, collective)
    my_offset = sum(shard_sizes(r.shape[0], dev, group)[:me]) if collective else 0
    for (src, offset, rows), (_, _, rows_sq) in zip(feats, radii, strict=True):
        base = _base(rp, rows, centre, offset - my_offset if src == me else None)
        pairs = ball_pairs(fp, base, rows_sq[:, 0], f_sq, blk)
        in_real += pairs.in_base_balls
        flags = torch.stack([pairs.base_covered, pairs.base_in_query_balls]).to(torch.int64)
        if collective:
            flags = all_reduce_sum(flags, group)
        if src == me:
            hits += (flags > 0).sum(1)
    totals = torch.cat([torch.stack([(in_real > 0).sum(), in_real.sum()]), hits])
    if collective:
        totals = all_reduce_sum(totals, group)
    t = totals.to(torch.float64)
    return PRDC(t[0] / n_fake, t[3] / n_real, t[1] / (kk * n_fake), t[2] / n_real)


def prdc(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = 3,
    block_size: int = 1024,
    chunk_rows: int = 16384,
) -> PRDC:
    """Precision, recall, density and coverage of generated features, exact, one process.

    Args:
        real: real features ``(N, D)``.
        fake: generated features ``(M, D)``; ``M`` may differ from ``N``.
        k: neighbour rank of the radii, ``1 ≤ k < min(N, M)`` (Naeem et al. use 5,
            [O23] uses 3 for precision and recall).
        block_size: query rows per fast product.
        chunk_rows: rows of the other set per fast product; the working memory is
            ``block_size · chunk_rows`` scores. Neither changes the result.

    Returns:
        ``PRDC(precision, recall, density, coverage)``, 0-d float64 tensors on the
        features' device.

    Raises:
        ShapeError: a set is empty or not ``(N, D)``, or the feature dims differ.
        NonFiniteError: NaN or Inf in the features.
        RangeError: ``k`` not in ``[1, min(N, M))``, ``block_size`` or ``chunk_rows < 1``.
        StochRobustTypeError: non-tensor or integer features, sets on different devices.

    Shape:
        - ``real``: ``(N, D)``, ``fake``: ``(M, D)``; outputs: ``()``.

    References:
        Naeem et al. 2020, §3 (density, coverage); Kynkäänniemi et al. 2019, eqs. 1–2.

    Examples:
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> fake = torch.tensor([[0.5], [0.6], [9.0]])
        >>> [round(float(v), 4) for v in prdc(real, fake, k=1)]
        [0.6667, 0.75, 1.3333, 0.5]
    """
    return _engine(real, fake, k, block_size, chunk_rows, None, collective=False)


def density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int = 5, block_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Density and coverage (Naeem et al. 2020) of generated features, exact.

    Ties count as inside (``‖f − r_i‖ ≤ NND_k(r_i)``); the ``prdc`` package uses a strict
    ``<`` and agrees with this function whenever no distance equals a radius.

    Args:
        real: real features ``(N, D)``.
        fake: generated features ``(M, D)``.
        k: neighbour rank of the radii, ``1 ≤ k < min(N, M)`` (the paper's default: 5).
        block_size: query rows per fast product (does not change the result).

    Returns:
        ``(density, coverage)``, 0-d float64 tensors on the features' device.

    Raises:
        ShapeError: a set is empty or not ``(N, D)``, or the feature dims differ.
        NonFiniteError: NaN or Inf in the features.
        RangeError: ``k`` not in ``[1, min(N, M))`` or ``block_size < 1``.
        StochRobustTypeError: non-tensor or integer features, sets on different devices.

    Shape:
        - ``real``: ``(N, D)``, ``fake``: ``(M, D)``; outputs: ``()``.

    References:
        Naeem et al. 2020, §3.

    Examples:
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> d, c = density_coverage(real, torch.tensor([[0.5], [0.6], [9.0]]), k=1)
        >>> round(float(d), 4), float(c)
        (1.3333, 0.5)
    """
    out = prdc(real, fake, k, block_size)
    return out.density, out.coverage


def sharded_prdc(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = 3,
    block_size: int = 1024,
    chunk_rows: int = 16384,
    *,
    group: dist.ProcessGroup | None = None,
) -> PRDC:
    """:func:`prdc` over sets split across the ranks of a process group (a collective).

    Every rank passes its own shard of each set (sizes may differ, a shard may be empty);
    every rank gets the result for the union of the shards — the same value :func:`prdc`
    gives on the concatenated sets in one process, exactly. Without ``torch.distributed``
    initialised it equals :func:`prdc`.

    Args:
        real: this rank's real features ``(n_r, D)``.
        fake: this rank's generated features ``(m_r, D)``.
        k: neighbour rank, ``1 ≤ k < min(N, M)`` over the union.
        block_size: query rows per fast product.
        chunk_rows: rows per broadcast chunk; memory per rank is ``block_size ·
            chunk_rows`` scores plus one chunk, independent of ``N``.
        group: a process group, or ``None`` for the default one.

    Returns:
        ``PRDC(precision, recall, density, coverage)``, identical on every rank.

    Raises:
        ShapeError: a shard is not ``(n, D)`` or the feature dims differ.
        NonFiniteError: NaN or Inf in the features.
        RangeError: ``k`` not in ``[1, min(N, M))`` over the union.
        StochRobustTypeError: non-tensor or integer features.

    Shape:
        - ``real``: ``(n_r, D)``, ``fake``: ``(m_r, D)``; outputs: ``()``.

    References:
        Naeem et al. 2020, §3; Kynkäänniemi et al. 2019, eqs. 1–2.

    Examples:
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> float(sharded_prdc(real, torch.tensor([[0.5], [0.6], [9.0]]), k=1).coverage)
        0.5
    """
    return _engine(real, fake, k, block_size, chunk_rows, group, collective=True)
