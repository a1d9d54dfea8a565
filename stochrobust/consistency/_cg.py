"""Batched, matrix-free conjugate gradients for the normal equations ``A Aᵀ q = r``.

Operators without a closed-form ``(A Aᵀ)⁻¹`` (the partial circulant of ILO) apply it by
(preconditioned) conjugate gradients, one independent system per batch row, with no Python
loop over rows. The solve is wrapped in an autograd function whose backward pass is another
solve with the same symmetric matrix, so gradients are exact to the solver tolerance and
cost no memory for the iterations.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, cast

import torch

__all__ = ["conjugate_gradient", "default_tol", "normal_solve"]

MatVec = Callable[[torch.Tensor], torch.Tensor]

DEFAULT_MAX_ITER = 500
_CHECK_EVERY = 8  # convergence is tested (one host sync) every this many iterations


def default_tol(dtype: torch.dtype) -> float:
    """Relative residual tolerance: ``max(1e-12, 10·eps)`` (1e-12 in float64, ≈1e-6 in float32)."""
    return max(1e-12, 10.0 * torch.finfo(dtype).eps)


def _dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Row-wise inner products, shaped ``(N, 1, ..., 1)`` to broadcast against the rows."""
    return (u * v).flatten(1).sum(dim=1).reshape(-1, *([1] * (u.ndim - 1)))


def conjugate_gradient(
    matvec: MatVec,
    b: torch.Tensor,
    *,
    precond: MatVec | None = None,
    tol: float | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
) -> torch.Tensor:
    """Solve ``M q = b`` row by row for a symmetric positive definite ``M`` (matrix-free).

    Every row of ``b`` (dim 0) is an independent system; all rows iterate together and a
    row stops moving once its residual satisfies ``‖b − M q‖ ≤ tol·‖b‖``. Convergence is
    tested every few iterations (one host sync each time); a warning is issued when
    ``max_iter`` iterations do not reach the tolerance.

    Args:
        matvec: ``v ↦ M v`` on batches shaped like ``b``.
        b: right-hand sides ``(N, ...)``.
        precond: ``v ↦ P⁻¹ v`` for an SPD preconditioner ``P ≈ M``, or ``None``.
        tol: relative residual tolerance (``None``: :func:`default_tol` of ``b.dtype``).
        max_iter: maximum number of iterations.

    Returns:
        ``q`` with the shape of ``b``.
    """
    tol = default_tol(b.dtype) if tol is None else tol
    zero = torch.zeros((), dtype=b.dtype, device=b.device)
    one = torch.ones((), dtype=b.dtype, device=b.device)
    q = torch.zeros_like(b)
    r = b.clone()
    z = precond(r) if precond is not None else r
    p = z
    rz = _dot(r, z)
    target = tol**2 * _dot(b, b)
    for it in range(1, max_iter + 1):
        active = _dot(r, r) > target
        mp = matvec(p)
        pmp = _dot(p, mp)
        alpha = torch.where(active, rz / torch.where(active, pmp, one), zero)
        q = q + alpha * p
        r = r - alpha * mp
        z = precond(r) if precond is not None else r
        rz_new = _dot(r, z)
        beta = torch.where(active, rz_new / torch.where(active, rz, one), zero)
        p = z + beta * p
        rz = torch.where(active, rz_new, rz)
        if (it % _CHECK_EVERY == 0 or it == max_iter) and not bool((_dot(r, r) > target).any()):
            return q
    warnings.warn(
        f"conjugate gradients: relative residual above tol={tol:g} after max_iter={max_iter} "
        "iterations; A Aᵀ may be ill-conditioned (raise max_iter or tol)",
        RuntimeWarning,
        stacklevel=3,
    )
    return q


class _Solve(torch.autograd.Function):
    """``q = M⁻¹ r`` for a symmetric ``M``; the backward pass is ``M⁻¹ grad``."""

    @staticmethod
    def forward(ctx: Any, r: torch.Tensor, solver: MatVec) -> torch.Tensor:
        ctx.solver = solver
        return solver(r)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return cast(torch.Tensor, _Solve.apply(grad, ctx.solver)), None


def normal_solve(
    r: torch.Tensor,
    matvec: MatVec,
    *,
    precond: MatVec | None = None,
    tol: float | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
) -> torch.Tensor:
    """``(A Aᵀ)⁻¹ r`` by conjugate gradients, differentiable with respect to ``r``.

    ``matvec`` applies ``A Aᵀ`` and must not depend on tensors that require gradients
    (the operator's data are fixed buffers): the backward pass is a second solve with the
    same symmetric matrix.

    Args:
        r: right-hand sides (measurements) ``(N, ...)``.
        matvec: ``v ↦ A Aᵀ v``, unchecked.
        precond: an SPD preconditioner ``v ↦ P⁻¹ v`` with ``P ≈ A Aᵀ``, or ``None``.
        tol: relative residual tolerance (``None``: :func:`default_tol`).
        max_iter: maximum number of iterations.

    Returns:
        ``q`` with ``A Aᵀ q = r`` to the tolerance, shaped like ``r``.
    """

    def solver(b: torch.Tensor) -> torch.Tensor:
        return conjugate_gradient(matvec, b, precond=precond, tol=tol, max_iter=max_iter)

    return cast(torch.Tensor, _Solve.apply(r, solver))
