"""Self-checks for linear degradation operators, ours and the ones users write.

:func:`check_linear_operator` runs, on random data, the checks that stochrobust's own test
suite applies to every operator of :mod:`stochrobust.consistency`: shapes, linearity,
adjointness ``⟨A u, v⟩ = ⟨u, Aᵀ v⟩``, the pseudo-inverse identities ``A A⁺ A = A`` and
``A⁺ A A⁺ = A⁺``, and the projection onto ``{x : A x = y}`` (consistent, idempotent and
orthogonal: ``x − project(x, y)`` is orthogonal to the null space of ``A``).

References:
    [O23] §2.2 (consistency); Bahat & Michaeli, CVPR 2020 (the projection
    ``x + Aᵀ(A Aᵀ)⁻¹(y − A x)``); Penrose, 1955 (the pseudo-inverse identities).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from stochrobust._checks import check_generator, check_int, check_number, describe
from stochrobust.consistency.base import LinearOperator
from stochrobust.errors import StochRobustTypeError

__all__ = ["check_linear_operator"]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum()


def _rel(err: torch.Tensor, scale: torch.Tensor) -> float:
    return float(err.abs() / scale.clamp_min(torch.finfo(err.dtype).tiny))


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return _rel((a - b).norm(), a.norm() + b.norm())


def check_linear_operator(
    op: LinearOperator,
    shape: Sequence[int],
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    rtol: float | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Check that ``op`` is a consistent linear operator on images of shape ``shape``.

    Draws standard normal ``u, w`` (images) and ``v`` (measurements) and measures, each as a
    relative error (the difference's norm over the norms involved):

    - ``shape``: ``range_shape`` / ``domain_shape`` are inverse to each other and match
      the shapes that ``A`` and ``A_adjoint`` return (exact);
    - ``linearity``: ``A(2u − 3w) = 2 A u − 3 A w``;
    - ``adjointness``: ``⟨A u, v⟩ = ⟨u, Aᵀ v⟩``;
    - ``pinv``: ``A A⁺ (A w) = A w`` and ``A⁺ A (A⁺ v) = A⁺ v`` (Penrose identities);
    - ``consistency``: ``A project(u, A w) = A w``;
    - ``idempotence``: ``project(p, A w) = p`` for ``p = project(u, A w)``;
    - ``orthogonality``: ``⟨u − p, n⟩ = 0`` for ``n = w − A⁺ A w`` in the null space.

    Args:
        op: the operator, an instance of
            :class:`~stochrobust.consistency.LinearOperator`.
        shape: an image shape ``(N, C, H, W)`` in the operator's domain.
        dtype: the floating dtype of the test data (float64 makes the checks sharp).
        device: where to run (default: CPU).
        rtol: the largest relative error accepted; ``None`` = ``1e-8`` in float64 and
            ``1e-4`` otherwise (the iterative pseudo-inverses converge to about that).
        generator: random generator for the test data (``None``: torch's global one).

    Returns:
        The relative error of every check, by the names above.

    Raises:
        AssertionError: a check exceeds ``rtol``; the message lists every check with its
            error.
        StochRobustTypeError: ``op`` is not a ``LinearOperator`` or ``dtype`` is not a
            floating dtype.
        ShapeError: ``shape`` is not in the operator's domain.

    Shape:
        - ``shape``: ``(N, C, H, W)``; the measurements have ``op.range_shape(shape)``.

    References:
        [O23] §2.2; Penrose (1955), the identities ``A A⁺ A = A`` and ``A⁺ A A⁺ = A⁺``.

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> errors = check_linear_operator(AvgPoolDownsample(2), (2, 3, 8, 8),
        ...                                generator=torch.Generator().manual_seed(0))
        >>> sorted(errors)
        ['adjointness', 'consistency', 'idempotence', 'linearity', 'orthogonality', 'pinv', 'shape']
        >>> max(errors.values()) < 1e-12
        True
    """
    if not isinstance(op, LinearOperator):
        raise StochRobustTypeError(
            f"op: expected a stochrobust.consistency.LinearOperator, got {describe(op)}"
        )
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise StochRobustTypeError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    dims = tuple(check_int(s, "shape", minimum=1) for s in shape)
    tol = (1e-8 if dtype == torch.float64 else 1e-4) if rtol is None else rtol
    tol = check_number(tol, "rtol", low=0.0)
    check_generator(generator)
    dev = torch.device("cpu") if device is None else torch.device(device)
    meas = op.range_shape(dims, "shape")

    gen_dev = generator.device if generator is not None else dev

    def draw(size: Sequence[int]) -> torch.Tensor:
        return torch.randn(tuple(size), generator=generator, dtype=dtype, device=gen_dev).to(dev)

    u, w, v = draw(dims), draw(dims), draw(meas)
    A: Callable[[torch.Tensor], torch.Tensor] = op.A
    with torch.no_grad():
        au, aw, atv = A(u), A(w), op.A_adjoint(v)
        shapes_ok = (
            tuple(au.shape) == meas
            and tuple(atv.shape) == dims
            and tuple(op.domain_shape(meas)) == dims
        )
        pinv_v = op.A_pinv(v)
        p = op.project(u, aw)
        null = w - op.A_pinv(aw)
        errors = {
            "shape": 0.0 if shapes_ok else float("inf"),
            "linearity": _rel_diff(A(2 * u - 3 * w), 2 * au - 3 * aw),
            "adjointness": _rel(
                _dot(au, v) - _dot(u, atv), au.norm() * v.norm() + u.norm() * atv.norm()
            ),
            "pinv": max(_rel_diff(A(op.A_pinv(aw)), aw), _rel_diff(op.A_pinv(A(pinv_v)), pinv_v)),
            "consistency": _rel_diff(A(p), aw),
            "idempotence": _rel_diff(op.project(p, aw), p),
            "orthogonality": _rel(_dot(u - p, null), (u - p).norm() * null.norm()),
        }
    failed = [name for name, err in errors.items() if not err <= tol]
    if failed:
        table = ", ".join(f"{name} {err:.3g}" for name, err in errors.items())
        raise AssertionError(
            f"check_linear_operator: {type(op).__name__} fails {', '.join(failed)} on shape "
            f"{dims} in {dtype} (relative errors: {table}; accepted: {tol:g})"
        )
    return errors
