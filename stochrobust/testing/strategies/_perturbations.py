"""Perturbation strategies: ``δ`` inside an L2 / L∞ / L1 ball, interior to vertices.

Internal to :mod:`stochrobust.testing.strategies`, which re-exports :func:`perturbations`.

References:
    [O23] App. E.2.3 (the ε-ball of the attack); Duchi et al. 2008 (L1-ball projection);
    docs: sensitivity.md (balls and projections).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from hypothesis import strategies as st

from stochrobust._checks import check_int, check_positive, describe
from stochrobust.errors import StochRobustTypeError
from stochrobust.sensitivity.projections import check_ball
from stochrobust.testing.strategies._common import dtypes_of, seeded_generator

__all__ = ["perturbations"]


def _row_norm(t: torch.Tensor, ball: str) -> torch.Tensor:
    """The ``ball`` norm of each row of ``t`` (flattened from dimension 1), in its dtype."""
    flat = t.flatten(1)
    if ball == "l2":
        out: torch.Tensor = flat.norm(dim=1)
        return out
    if ball == "l1":
        return flat.abs().sum(dim=1)
    return flat.abs().amax(dim=1)


def _norms(delta: torch.Tensor, ball: str) -> torch.Tensor:
    """Per-row norm, the larger of its value in the tensor's dtype and in float64."""
    return torch.maximum(_row_norm(delta, ball).double(), _row_norm(delta.double(), ball))


def _inside(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Shrink rows (never grow them) until their norm is inside the ball in both precisions."""
    u = torch.finfo(delta.dtype).eps
    # L2/L1 norms sum many terms: keep a margin so any summation order finds them inside
    limit = eps if norm == "linf" else eps * (1 - 16 * u)
    for _ in range(64):
        n = _norms(delta, norm)
        over = n > limit
        if not bool(over.any()):
            return delta
        scale = torch.where(over, limit / n * (1 - 4 * u), torch.ones_like(n))
        delta = (delta.double() * scale.reshape(-1, *([1] * (delta.ndim - 1)))).to(delta.dtype)
    return torch.zeros_like(delta)  # pragma: no cover - not reached for finite eps


@st.composite
def _perturbations(
    draw: st.DrawFn, shape: tuple[int, ...], eps: float, norm: str, dtype: torch.dtype
) -> torch.Tensor:
    kind = draw(st.sampled_from(("interior", "boundary", "vertex", "zero")))
    if kind == "zero" or eps == 0:
        return torch.zeros(shape, dtype=dtype)
    gen = seeded_generator(draw)
    rows, d = shape[0], math.prod(shape[1:])
    if kind == "vertex":  # ±ε·e_i (L2, L1) or a corner of the cube (L∞)
        if norm == "linf":
            base = torch.where(torch.rand(rows, d, generator=gen) < 0.5, -1.0, 1.0).double()
        else:
            base = torch.zeros(rows, d, dtype=torch.float64)
            idx = torch.randint(d, (rows, 1), generator=gen)
            signs = torch.where(torch.rand(rows, 1, generator=gen) < 0.5, -1.0, 1.0).double()
            base.scatter_(1, idx, signs)
    else:
        base = torch.randn(rows, d, generator=gen, dtype=torch.float64)
        if norm == "l1":
            base = base * torch.rand(rows, d, generator=gen, dtype=torch.float64)
        size = _row_norm(base, norm)
        base = base / size.clamp_min(torch.finfo(torch.float64).tiny).unsqueeze(1)
    frac = 1.0 if kind != "interior" else draw(st.floats(0.0, 1.0))
    delta = (base * (eps * frac)).reshape(shape).to(dtype)
    return _inside(delta, eps, norm)


def perturbations(
    shape: Sequence[int],
    eps: float,
    norm: str = "l2",
    *,
    dtype: torch.dtype = torch.float32,
) -> st.SearchStrategy[torch.Tensor]:
    """Perturbations ``δ`` of the given shape inside the ``norm`` ball of radius ``eps``.

    Per sample (the first dimension is the batch), ``‖δ_b‖ ≤ eps`` holds exactly when the
    norm is computed in float64 and in ``dtype``; for L2 and L1, whose norms sum many
    terms, the radius is kept ``16`` units in the last place of ``dtype`` below ``eps`` so
    that any summation order finds ``δ`` inside. Kinds: ``"interior"`` (a random direction
    at a random fraction of the radius), ``"boundary"`` (on the sphere, up to that margin),
    ``"vertex"`` (``±ε·eᵢ`` on L2/L1, a corner ``±ε`` of the cube on L∞) and ``"zero"``.
    Combine with :func:`images` by ``images().flatmap(lambda x: perturbations(x.shape,
    eps))``.

    Args:
        shape: the full shape ``(B, ...)``.
        eps: the radius, ``≥ 0``.
        norm: ``"l2"``, ``"linf"`` or ``"l1"``.
        dtype: a floating dtype.

    Returns:
        A strategy of CPU tensors of ``shape``.

    Raises:
        StochRobustTypeError: a malformed shape or dtype.
        RangeError: an unknown norm, ``eps < 0`` or an empty shape.
        NonFiniteError: ``eps`` is not finite.

    References:
        [O23] eq. 6 (the ε-ball of the attack); docs: sensitivity.md.

    Examples:
        >>> from hypothesis import given
        >>> @given(perturbations((3, 1, 4, 4), eps=0.5, norm="l1"))
        ... def test_inside(d):
        ...     assert bool((d.flatten(1).abs().sum(1) <= 0.5).all())
        >>> test_inside()
    """
    n = check_ball(norm, "norm")
    e = check_positive(eps, "eps", allow_zero=True)
    if isinstance(shape, int) or not isinstance(shape, Sequence) or len(shape) < 1:
        raise StochRobustTypeError(f"shape: expected a shape (B, ...), got {describe(shape)}")
    shp = tuple(check_int(s, "shape", minimum=1) for s in shape)
    return _perturbations(shp, e, n, dtypes_of(dtype)[0])
