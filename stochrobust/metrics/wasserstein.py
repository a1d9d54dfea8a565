"""Wasserstein-2 distances: between Diracs and between empirical point clouds.

References:
    [O23] §5 and App. D: ``W₂`` between Diracs is the Euclidean distance; the same-seed
    objective (eq. 6) upper-bounds the squared ``W₂`` between the output laws (eq. 4).
"""

from __future__ import annotations

import numpy as np
import torch

from stochrobust._checks import (
    RangeError,
    ShapeError,
    check_finite,
    check_ndim,
    check_tensor,
)

__all__ = ["optimal_assignment", "w2_dirac", "w2_empirical"]


def w2_dirac(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``W₂`` between Dirac measures at ``a[i]`` and ``b[i]``: the Euclidean distance.

    Args:
        a: points ``(N, *)``.
        b: points, same shape.

    Returns:
        ``(N,)`` distances ``‖a[i] − b[i]‖₂`` (all non-batch dims flattened).

    Raises:
        ShapeError: shapes differ.

    Shape:
        - ``a``, ``b``: ``(N, *)``; output: ``(N,)``.

    References:
        [O23] §5: for deterministic estimators eq. 4 reduces to (eq. 2)².

    Example:
        >>> w2_dirac(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])).tolist()
        [5.0]
    """
    check_tensor(a, "a")
    check_tensor(b, "b")
    if a.shape != b.shape or a.ndim < 1:
        raise ShapeError(f"b: expected the shape of a {tuple(a.shape)}, got {tuple(b.shape)}")
    dist: torch.Tensor = torch.linalg.vector_norm((a - b).flatten(1), dim=1)
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
    return (torch.cdist(a64, b64) ** 2).numpy()


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
        ShapeError: the clouds differ in shape.

    Shape:
        - ``a``, ``b``: ``([B,] n, D)``; output: ``([B,] n)``.

    References:
        Exact empirical optimal transport between uniform clouds of equal size is an
        assignment problem (Birkhoff–von Neumann).

    Example:
        >>> a = torch.tensor([[0.0], [1.0]])
        >>> optimal_assignment(a, torch.tensor([[1.1], [0.1]])).tolist()
        [1, 0]
    """
    from scipy.optimize import linear_sum_assignment

    a3, b3, batched = _clouds(a, b)
    if a3.shape != b3.shape:
        raise ShapeError(
            f"b: expected the shape of a {tuple(a.shape)} (equal-size clouds), got {tuple(b.shape)}"
        )
    cost = _sq_cost(a3, b3)
    perms = np.stack([linear_sum_assignment(c)[1] for c in cost])
    out = torch.from_numpy(perms).to(device=a.device, dtype=torch.long)
    return out if batched else out[0]


def _transport_plan(cost: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Exact optimal transport plan by linear programming (HiGHS)."""
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


def _weights(w: torch.Tensor | None, batch: int, n: int, name: str) -> np.ndarray:
    if w is None:
        return np.full((batch, n), 1.0 / n)
    check_tensor(w, name)
    w2 = w.reshape(1, -1).expand(batch, -1) if w.ndim == 1 else w
    if w2.shape != (batch, n):
        raise ShapeError(f"{name}: expected shape ({n},) or ({batch}, {n}), got {tuple(w.shape)}")
    check_finite(w2, name)
    arr = w2.detach().to("cpu", torch.float64).numpy()
    if (arr < 0).any() or (arr.sum(axis=1) <= 0).any():
        raise RangeError(f"{name}: expected non-negative weights with a positive sum")
    return np.asarray(arr / arr.sum(axis=1, keepdims=True))


def w2_empirical(
    a: torch.Tensor,
    b: torch.Tensor,
    weights_a: torch.Tensor | None = None,
    weights_b: torch.Tensor | None = None,
    squared: bool = False,
) -> torch.Tensor:
    """Exact Wasserstein-2 distance between two empirical (weighted) point clouds.

    Uniform clouds of equal size are matched by an optimal assignment; otherwise the exact
    transport linear program is solved (HiGHS). The optimal plan is found on the host in
    float64; the value is then computed from the input tensors with the plan fixed, so it is
    differentiable in the points. Weights are normalised to sum to one.

    Args:
        a: first cloud ``(n, D)`` or a batch of clouds ``(B, n, D)``.
        b: second cloud ``(m, D)`` or ``(B, m, D)``.
        weights_a: optional non-negative weights ``(n,)`` or ``(B, n)`` (default uniform).
        weights_b: optional non-negative weights ``(m,)`` or ``(B, m)`` (default uniform).
        squared: return ``W₂²`` instead of ``W₂``.

    Returns:
        A scalar tensor, or ``(B,)`` for batched clouds.

    Raises:
        ShapeError: feature dims or batch sizes differ, or a cloud is empty.
        NonFiniteError: NaN or Inf in the points or weights.
        RangeError: negative weights or weights summing to zero.

    Shape:
        - ``a``: ``([B,] n, D)``, ``b``: ``([B,] m, D)``; output: ``()`` or ``(B,)``.

    References:
        [O23] eq. 4 (squared ``W₂`` between output laws) and App. D.

    Example:
        >>> a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> float(w2_empirical(a, a + torch.tensor([0.0, 2.0])))
        2.0
    """
    a3, b3, batched = _clouds(a, b)
    batch, n, m = a3.shape[0], a3.shape[1], b3.shape[1]
    if weights_a is None and weights_b is None and n == m:
        perm = optimal_assignment(a3, b3)
        matched = torch.gather(b3, 1, perm.unsqueeze(-1).expand(-1, -1, b3.shape[2]))
        value = (a3 - matched).pow(2).sum(-1).mean(-1)
    else:
        wa = _weights(weights_a, batch, n, "weights_a")
        wb = _weights(weights_b, batch, m, "weights_b")
        cost = _sq_cost(a3, b3)
        plans = np.stack([_transport_plan(cost[i], wa[i], wb[i]) for i in range(batch)])
        plan = torch.from_numpy(plans).to(device=a3.device, dtype=a3.dtype)
        sq = (
            a3.pow(2).sum(-1, keepdim=True)
            + b3.pow(2).sum(-1).unsqueeze(1)
            - 2 * a3 @ b3.transpose(1, 2)
        ).clamp_min(0)
        value = (plan * sq).sum(dim=(1, 2))
    if not squared:
        value = value.clamp_min(0).sqrt()
    return value if batched else value[0]
