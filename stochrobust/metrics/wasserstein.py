"""Wasserstein-2 distances: between Diracs and between empirical point clouds.

References:
    [O23] §5 and App. D: ``W₂`` between Diracs is the Euclidean distance; the same-seed
    objective (eq. 6) upper-bounds the squared ``W₂`` between the output laws (eq. 4).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch

from stochrobust._checks import check_finite, check_ndim, check_tensor
from stochrobust.errors import RangeError, ShapeError

__all__ = ["optimal_assignment", "w2_dirac", "w2_empirical"]

_MAX_REPLICATION = 4
"""Uniform clouds of sizes n, m use an assignment when lcm(n, m) ≤ this · max(n, m)."""


def w2_dirac(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``W₂`` between Dirac measures at ``a[i]`` and ``b[i]``: the Euclidean distance.

    Cheap and differentiable; it does not scan for NaN/Inf (no host synchronisation), so
    it can sit inside attack loops.

    Args:
        a: points ``(N, *)`` (a 1-D ``(N,)`` tensor holds ``N`` scalar points).
        b: points, same shape.

    Returns:
        ``(N,)`` distances ``‖a[i] − b[i]‖₂`` (all non-batch dims flattened), in ``a``'s
        dtype.

    Raises:
        ShapeError: shapes differ or ``a`` is 0-D.
        StochRobustTypeError: non-tensor or non-floating inputs.

    Shape:
        - ``a``, ``b``: ``(N, *)``; output: ``(N,)``.

    References:
        [O23] §5: for deterministic estimators eq. 4 reduces to (eq. 2)².

    Examples:
        >>> w2_dirac(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])).tolist()
        [5.0]
    """
    check_tensor(a, "a")
    check_tensor(b, "b")
    if a.ndim < 1:
        raise ShapeError(f"a: expected a batch (N, *) of points, got shape {tuple(a.shape)}")
    if a.shape != b.shape:
        raise ShapeError(f"b: expected the shape of a {tuple(a.shape)}, got {tuple(b.shape)}")
    diff = a - b
    diff = diff.flatten(1) if diff.ndim > 1 else diff.unsqueeze(1)
    dist: torch.Tensor = torch.linalg.vector_norm(diff, dim=1)
    return dist


def _clouds(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    check_tensor(a, "a")
    check_tensor(b, "b")
    check_ndim(a, "a", (2, 3), "(n, D) or (B, n, D)")
    check_ndim(b, "b", (2, 3), "(m, D) or (B, m, D)")
    if a.ndim != b.ndim:
        raise ShapeError(
            f"b: expected {a.ndim} dims like a {tuple(a.shape)}, got shape {tuple(b.shape)}"
        )
    batched = a.ndim == 3
    if not batched:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ShapeError(
            "b: expected the batch size and feature dimension of a "
            f"{(a.shape[0], a.shape[2])}, got {(b.shape[0], b.shape[2])}"
        )
    if a.shape[1] == 0 or b.shape[1] == 0:
        raise ShapeError(
            f"a, b: expected non-empty clouds, got {a.shape[1]} and {b.shape[1]} points"
        )
    check_finite(a, "a")
    check_finite(b, "b")
    return a, b, batched


def _sq_cost(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Squared Euclidean costs ``(B, n, m)`` in float64 on the host."""
    a64 = a.detach().to("cpu", torch.float64)
    b64 = b.detach().to("cpu", torch.float64)
    cost = a64.pow(2).sum(-1, keepdim=True) + b64.pow(2).sum(-1).unsqueeze(1)
    cost.baddbmm_(a64, b64.transpose(1, 2), alpha=-2.0).clamp_min_(0.0)
    return cost.numpy()


def _assign(a3: torch.Tensor, b3: torch.Tensor) -> torch.Tensor:
    """Optimal permutations ``(B, n)`` for validated equal-size clouds ``(B, n, D)``."""
    from scipy.optimize import linear_sum_assignment

    cost = _sq_cost(a3, b3)
    perms = np.stack([linear_sum_assignment(c)[1] for c in cost])
    return torch.from_numpy(perms).to(device=a3.device, dtype=torch.long)


def optimal_assignment(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Optimal matching of two equal-size clouds for the squared Euclidean cost.

    Solves the assignment problem exactly (``scipy.optimize.linear_sum_assignment`` on the
    float64 squared distances, on the host). The matched cost
    ``mean_i ‖a[i] − b[σ(i)]‖²`` is the squared empirical ``W₂`` and, computed from the
    tensors with ``σ`` fixed, is differentiable in ``a`` and ``b`` (envelope theorem).

    Args:
        a: ``(n, D)`` or ``(B, n, D)``.
        b: same shape as ``a``.

    Returns:
        ``σ`` as a long tensor ``(n,)`` or ``(B, n)`` on ``a``'s device: ``a[i] ↔ b[σ(i)]``.

    Raises:
        ShapeError: the clouds differ in shape or are empty.
        NonFiniteError: NaN or Inf in the points.

    Shape:
        - ``a``, ``b``: ``([B,] n, D)``; output: ``([B,] n)``.

    References:
        Exact empirical optimal transport between uniform clouds of equal size is an
        assignment problem (Birkhoff–von Neumann).

    Examples:
        >>> a = torch.tensor([[0.0], [1.0]])
        >>> optimal_assignment(a, torch.tensor([[1.1], [0.1]])).tolist()
        [1, 0]
    """
    a3, b3, batched = _clouds(a, b)
    if a3.shape != b3.shape:
        raise ShapeError(
            f"b: expected the shape of a {tuple(a.shape)} (equal-size clouds), got {tuple(b.shape)}"
        )
    out = _assign(a3, b3)
    return out if batched else out[0]


@functools.lru_cache(maxsize=1)
def _network_simplex() -> Callable[..., Any] | None:
    """POT's exact network simplex ``ot.emd`` when POT is installed, else ``None``."""
    try:
        import ot
    except ImportError:
        return None
    return cast(Callable[..., Any], ot.emd)


def _transport_plan(cost: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Exact optimal transport plan ``(n, m)``: POT's network simplex, else HiGHS's LP."""
    emd = _network_simplex()
    if emd is not None:
        with warnings.catch_warnings():  # "numItermax reached": handled by the fallback
            warnings.simplefilter("ignore")
            plan, log = emd(wa, wb, cost, numItermax=max(100_000, 50 * cost.size), log=True)
        if log["result_code"] == 1:  # optimal; otherwise the LP below decides
            return np.asarray(plan, dtype=np.float64)
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    n, m = cost.shape
    rows = np.repeat(np.arange(n), m)
    cols = np.arange(n * m)
    a_rows = coo_matrix((np.ones(n * m), (rows, cols)), shape=(n, n * m))
    a_cols = coo_matrix((np.ones(n * m), (np.tile(np.arange(m), n), cols)), shape=(m, n * m))
    res = linprog(
        cost.ravel(),
        A_eq=vstack([a_rows, a_cols]).tocsr(),
        b_eq=np.concatenate([wa, wb]),
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0:  # pragma: no cover - HiGHS solves feasible transport LPs
        raise RuntimeError(f"optimal transport LP failed: {res.message}")
    return np.asarray(res.x).reshape(n, m)


def _weights(w: torch.Tensor | None, batch: int, n: int, name: str) -> np.ndarray | None:
    """Validated, normalised weights ``(B, n)``; ``None`` when they are uniform."""
    if w is None:
        return None
    check_tensor(w, name)
    w2 = w.reshape(1, -1).expand(batch, -1) if w.ndim == 1 else w
    if w2.shape != (batch, n):
        raise ShapeError(f"{name}: expected shape ({n},) or ({batch}, {n}), got {tuple(w.shape)}")
    check_finite(w2, name)
    arr = w2.detach().to("cpu", torch.float64).numpy()
    if (arr < 0).any() or (arr.sum(axis=1) <= 0).any():
        raise RangeError(
            f"{name}: expected non-negative weights with a positive sum, "
            f"got minimum {arr.min():g} and smallest row sum {arr.sum(axis=1).min():g}"
        )
    if (arr == arr[:, :1]).all():
        return None
    return np.asarray(arr / arr.sum(axis=1, keepdims=True))


def w2_empirical(
    a: torch.Tensor,
    b: torch.Tensor,
    weights_a: torch.Tensor | None = None,
    weights_b: torch.Tensor | None = None,
    squared: bool = False,
) -> torch.Tensor:
    """Exact Wasserstein-2 distance between two empirical (weighted) point clouds.

    ``W₂²(μ, ν) = min_P Σ_ij P_ij ‖a_i − b_j‖²`` over the couplings ``P ≥ 0`` with row sums
    ``weights_a`` and column sums ``weights_b``. Uniform clouds of equal size are matched by
    an optimal assignment (an optimal plan is a permutation). Other problems — general
    weights, or sizes ``n ≠ m`` — are solved exactly by POT's network simplex (``ot.emd``)
    when POT is installed (``pip install POT``; the first such call imports it, about
    0.6 s). Without POT, uniform clouds of sizes ``n ≠ m`` are matched by an assignment
    after repeating every point up to ``L = lcm(n, m)`` copies, when ``L ≤ 4·max(n, m)``
    (the scaled transport polytope has integral vertices, so this is exact), and the rest
    (or a network simplex that stops early) by HiGHS's linear program, whose ``n·m``
    variables make it practical up to a few hundred points per cloud. The optimal plan is
    found on the host in float64; the value is then
    computed from the input tensors with the plan fixed, as ``Σ P_ij ‖a_i − b_j‖²`` over the
    support of the plan with the differences formed directly, so it is accurate in float32
    and differentiable in the points (envelope theorem; the square root has an infinite
    derivative at ``W₂ = 0``, use ``squared=True`` for gradients there). Weights are
    normalised to sum to one.

    Args:
        a: first cloud ``(n, D)`` or a batch of clouds ``(B, n, D)``.
        b: second cloud ``(m, D)`` or ``(B, m, D)``.
        weights_a: optional non-negative weights ``(n,)`` or ``(B, n)`` (default uniform).
        weights_b: optional non-negative weights ``(m,)`` or ``(B, m)`` (default uniform).
        squared: return ``W₂²`` instead of ``W₂``.

    Returns:
        A scalar tensor, or ``(B,)`` for batched clouds, in ``a``'s dtype and on its device.

    Raises:
        ShapeError: feature dims or batch sizes differ, or a cloud is empty.
        NonFiniteError: NaN or Inf in the points or weights.
        RangeError: negative weights or weights summing to zero.

    Shape:
        - ``a``: ``([B,] n, D)``, ``b``: ``([B,] m, D)``; output: ``()`` or ``(B,)``.

    References:
        [O23] eq. 4 (squared ``W₂`` between output laws) and App. D; [O24] (joint laws).

    Examples:
        >>> a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> float(w2_empirical(a, a + torch.tensor([0.0, 2.0])))
        2.0
        >>> float(w2_empirical(torch.zeros(1, 1), torch.tensor([[1.0], [3.0]]), squared=True))
        5.0
    """
    a3, b3, batched = _clouds(a, b)
    batch, n, m = a3.shape[0], a3.shape[1], b3.shape[1]
    wa = _weights(weights_a, batch, n, "weights_a")
    wb = _weights(weights_b, batch, m, "weights_b")
    common = math.lcm(n, m)
    uniform = wa is None and wb is None
    if uniform and (
        n == m or (common <= _MAX_REPLICATION * max(n, m) and _network_simplex() is None)
    ):
        # Uniform clouds: with every point repeated to lcm(n, m) copies the transport
        # polytope's vertices are permutations, so an assignment solves the LP exactly.
        ar = a3.repeat_interleave(common // n, dim=1) if common != n else a3
        br = b3.repeat_interleave(common // m, dim=1) if common != m else b3
        perm = _assign(ar, br)
        matched = torch.gather(br, 1, perm.unsqueeze(-1).expand(-1, -1, br.shape[2]))
        value = (ar - matched).pow(2).sum(-1).mean(-1)
    else:
        wa = np.full((batch, n), 1.0 / n) if wa is None else wa
        wb = np.full((batch, m), 1.0 / m) if wb is None else wb
        cost = _sq_cost(a3, b3)
        plans = np.stack([_transport_plan(cost[i], wa[i], wb[i]) for i in range(batch)])
        bi, ii, jj = (torch.from_numpy(t).to(a3.device) for t in np.nonzero(plans > 0))
        mass = torch.from_numpy(plans[plans > 0]).to(device=a3.device, dtype=a3.dtype)
        terms = mass * (a3[bi, ii] - b3[bi, jj]).pow(2).sum(-1)
        value = a3.new_zeros(batch).index_add(0, bi, terms)
    if not squared:
        value = value.clamp_min(0).sqrt()
    return value if batched else value[0]
