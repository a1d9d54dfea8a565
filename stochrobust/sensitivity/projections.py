"""Exact batched Euclidean projections onto L2, L∞ and L1 balls, and box clipping.

Every function treats dim 0 as the batch and projects each row ``delta[b]`` (all its other
dims flattened) onto the ball of radius ``eps[b]`` centred at zero. The radius is a number
or a ``(B,)`` tensor. The computations stay on ``delta``'s device; with ``check=False`` they
do no host synchronisation at all on accelerators (the attack solvers call them that way
inside their loops, after validating ``eps`` once; on CPU, where reading a value costs
nothing, :func:`project_l1` reads one count to size its partial sort).

References:
    Duchi, Shalev-Shwartz, Singer, Chandra. Efficient Projections onto the ℓ1-Ball for
    Learning in High Dimensions. ICML 2008 (Fig. 1, the sort-based algorithm).
    Michelot. A finite algorithm for finding the projection of a point onto the canonical
    simplex of Rⁿ. J. Optim. Theory Appl. 1986. Condat. Fast projection onto the simplex
    and the ℓ1 ball. Math. Program. 2016 (§2: Michelot's iteration as a bound).
    [O23] App. E.2.3: "we project δ on the ε ball after each update step of the attack".
"""

from __future__ import annotations

from typing import Any

import torch

from stochrobust._checks import check_batch, check_eps, check_same_shape, check_tensor
from stochrobust._deprecate import _UNSET, renamed_argument, warn_renamed
from stochrobust.errors import RangeError, ShapeError

__all__ = [
    "BALLS",
    "clip_box",
    "project",
    "project_ball",
    "project_l1",
    "project_l2",
    "project_linf",
]

BALLS = ("l2", "linf", "l1")
"""Names of the supported balls."""


def __getattr__(name: str) -> Any:
    if name == "NORMS":  # 0.1 spelling
        warn_renamed("stochrobust.sensitivity.NORMS", "stochrobust.sensitivity.BALLS")
        return BALLS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _radius(delta: torch.Tensor, eps: float | torch.Tensor, check: bool) -> torch.Tensor:
    """``eps`` as a ``(B, 1, ..., 1)`` tensor broadcastable against ``delta``."""
    if check:
        check_batch(delta, "delta", finite=False)
        e = check_eps(eps, delta.shape[0], device=delta.device, dtype=delta.dtype)
    elif isinstance(eps, torch.Tensor):
        e = eps.to(device=delta.device, dtype=delta.dtype).reshape(-1)
        if e.numel() == 1:
            e = e.expand(delta.shape[0])
    else:
        e = torch.full((delta.shape[0],), float(eps), device=delta.device, dtype=delta.dtype)
    return e.reshape(-1, *([1] * (delta.ndim - 1)))


def project_l2(
    delta: torch.Tensor, eps: float | torch.Tensor, *, check: bool = True
) -> torch.Tensor:
    """Project each row of ``delta`` onto the L2 ball of radius ``eps``.

    ``delta · min(1, ε / ‖delta‖₂)`` per row; rows inside the ball are returned unchanged,
    an all-zero row stays zero (no NaN) and ``ε = 0`` gives zeros.

    Args:
        delta: perturbations, batch first.
        eps: radius, a number or a ``(B,)`` tensor (``≥ 0``).
        check: validate the arguments (costs one host sync for a tensor ``eps`` on an
            accelerator). ``False`` skips validation and never synchronises.

    Returns:
        The projection, same shape, dtype and device as ``delta``.

    Raises:
        ShapeError: ``delta`` has no batch dimension or ``eps`` is not ``(B,)``.
        RangeError: a negative radius.

    Shape:
        - ``delta``: ``(B, *)``; ``eps``: scalar or ``(B,)``; output: ``(B, *)``.

    References:
        [O23] eqs. 2, 4 and 6: the constraint ``‖δ‖₂ ≤ ε``.

    Examples:
        >>> project_l2(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.0)
        tensor([[0.6000, 0.8000],
                [0.3000, 0.4000]])
    """
    e = _radius(delta, eps, check)
    norm = delta.flatten(1).norm(dim=1).reshape(e.shape)
    tiny = torch.finfo(delta.dtype).tiny
    factor = torch.clamp(e / norm.clamp_min(tiny), max=1.0)
    return delta * factor


def project_linf(
    delta: torch.Tensor, eps: float | torch.Tensor, *, check: bool = True
) -> torch.Tensor:
    """Project each row of ``delta`` onto the L∞ ball of radius ``eps`` (clamp to ±ε).

    Args:
        delta: perturbations, batch first.
        eps: radius, a number or a ``(B,)`` tensor (``≥ 0``).
        check: validate the arguments (see :func:`project_l2`).

    Returns:
        ``clamp(delta, -ε, ε)`` row by row.

    Raises:
        ShapeError: ``delta`` has no batch dimension or ``eps`` is not ``(B,)``.
        RangeError: a negative radius.

    Shape:
        - ``delta``: ``(B, *)``; ``eps``: scalar or ``(B,)``; output: ``(B, *)``.

    References:
        Madry et al. 2018 (PGD); [C24] §3 (I-FGSM with an L∞ budget).

    Examples:
        >>> project_linf(torch.tensor([[0.5, -2.0, 0.1]]), 0.2)
        tensor([[ 0.2000, -0.2000,  0.1000]])
    """
    e = _radius(delta, eps, check)
    return torch.minimum(torch.maximum(delta, -e), e)


_MICHELOT_STEPS = 4
"""Most fixed-point steps spent bounding the support of an L1 projection on CPU."""


def _l1_support_bound(mag: torch.Tensor, l1: torch.Tensor, e_acc: torch.Tensor) -> int:
    """An upper bound on ``ρ + 1`` over the rows that need shrinking (``d``: sort fully).

    Michelot's fixed-point iteration ``θ' = (Σ_{|v_i|>θ} |v_i| − ε) / #{i : |v_i| > θ}``,
    started at the lower bound ``θ₀ = max(0, (‖v‖₁ − ε)/d)`` of the exact threshold ``θ*``,
    increases towards ``θ*`` without passing it, so the count ``#{i : |v_i| > θ}`` never
    drops below ``ρ = #{i : |v_i| > θ*}`` (Michelot 1986; Condat 2016, §2). Each step costs
    a few passes over the data; the steps stop once the count no longer halves, and a
    count above ``3d/4`` (a dense projection, where a partial sort saves little) returns
    ``d``. Reads the counts (free on CPU only).
    """
    d = mag.shape[1]
    active = (l1 > e_acc) & (e_acc > 0)
    theta = ((l1 - e_acc) / d).clamp_min(0)
    bound = d
    for _ in range(_MICHELOT_STEPS):
        above = mag > theta.to(mag.dtype).unsqueeze(1)
        count = above.sum(dim=1)
        previous, bound = bound, int(torch.where(active, count, 0).max()) + 1
        if 4 * bound > 3 * d:
            return d
        if 2 * bound > previous:
            break
        total = (mag * above).sum(dim=1, dtype=l1.dtype)
        theta = torch.maximum(theta, (total - e_acc) / count.clamp_min(1).to(l1.dtype))
    return bound


def _l1_threshold(
    mag: torch.Tensor, e_acc: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Duchi et al.'s ``θ`` from the ``k`` largest magnitudes of every row.

    Returns ``(θ, open)``: ``open[b]`` is ``True`` where the condition still holds at the
    ``k``-th magnitude, i.e. where ``ρ`` may exceed ``k`` (never when ``k = d``).
    """
    acc = e_acc.dtype
    if k >= mag.shape[1]:
        mu = torch.sort(mag, dim=1, descending=True).values.to(acc)
    else:
        mu = torch.topk(mag, k, dim=1).values.to(acc)
    cums = torch.cumsum(mu, dim=1)
    j = torch.arange(1, mu.shape[1] + 1, device=mag.device, dtype=acc)
    cond = mu * j > cums - e_acc.unsqueeze(1)
    # ρ = the largest j satisfying the condition (a prefix of j for every row).
    rho = torch.where(cond, j, torch.zeros((), dtype=acc, device=mag.device)).amax(dim=1)
    rho_idx = (rho.long() - 1).clamp_min(0).unsqueeze(1)
    theta = (cums.gather(1, rho_idx).squeeze(1) - e_acc) / rho.clamp_min(1)
    return theta, cond[:, -1] & (k < mag.shape[1])


def project_l1(
    delta: torch.Tensor, eps: float | torch.Tensor, *, check: bool = True
) -> torch.Tensor:
    """Project each row of ``delta`` onto the L1 ball of radius ``eps`` (exact).

    Sort-based algorithm of Duchi et al. (2008): for a row ``v`` with ``‖v‖₁ > ε``, sort
    ``|v|`` descending into ``μ``, take cumulative sums ``S``, find the largest ``ρ`` with
    ``μ_ρ > (S_ρ − ε)/ρ``, set ``θ = (S_ρ − ε)/ρ`` and return ``sign(v)·max(|v| − θ, 0)``.
    Rows already inside the ball are returned unchanged; ``ε = 0`` gives zeros; ties are
    handled exactly. The cumulative sums, ``θ`` and the shrink are computed in float64 and
    each shrunk row is rescaled (in float64) onto the sphere before the one rounding to
    ``delta``'s dtype, so that ``‖result‖₁ ≤ ε·(1 + 4u)`` holds for every row, with ``u``
    the unit roundoff of the dtype (``2⁻²⁴`` for float32): the float32 result never
    overshoots by more than a few ulps, whatever ``‖delta‖₁ / ε`` is. (On MPS, which has no
    float64, the same computation runs in float32 and the bound is ``ε·(1 + 4du)`` with ``d``
    the row length.)

    On CPU only the ``k`` largest magnitudes are sorted (``torch.topk``), with ``k`` an
    upper bound on ``ρ + 1`` from at most four vectorised fixed-point steps of Michelot's
    algorithm — several times faster than a full sort when the result is sparse, as in L1
    attacks — and the full sort is used for dense results and whenever the bound turns out
    too small, so the result is the same. Reading ``k`` is free on CPU; other devices sort
    fully and never synchronise.

    Args:
        delta: perturbations, batch first.
        eps: radius, a number or a ``(B,)`` tensor (``≥ 0``).
        check: validate the arguments (see :func:`project_l2`).

    Returns:
        The Euclidean projection onto ``{v : ‖v‖₁ ≤ ε}``, row by row.

    Raises:
        ShapeError: ``delta`` has no batch dimension or ``eps`` is not ``(B,)``.
        RangeError: a negative radius.

    Shape:
        - ``delta``: ``(B, *)``; ``eps``: scalar or ``(B,)``; output: ``(B, *)``.

    References:
        Duchi et al. ICML 2008, Fig. 1; Michelot, J. Optim. Theory Appl. 1986; Condat,
        Math. Program. 2016; [D21] §3 (ILO's L1-ball constraint).

    Examples:
        >>> project_l1(torch.tensor([[1.0, -2.0, 0.5]]), 2.0).tolist()
        [[0.5, -1.5, 0.0]]
    """
    e = _radius(delta, eps, check).reshape(-1)
    flat = delta.flatten(1)
    acc = torch.float32 if flat.device.type == "mps" else torch.float64
    mag = flat.abs()
    l1 = mag.sum(dim=1, dtype=acc)
    e_acc = e.to(acc)
    d = flat.shape[1]
    k = _l1_support_bound(mag, l1, e_acc) if flat.device.type == "cpu" and d > 1 else d
    theta, still_open = _l1_threshold(mag, e_acc, k)
    if k < d and bool((still_open & (l1 > e_acc)).any()):  # the bound was too small
        theta, _ = _l1_threshold(mag, e_acc, d)
    # Shrink in the accumulation dtype: rounding θ to float32 first would move every kept
    # coordinate by up to ulp(θ), which exceeds ε itself when θ ≫ ε.
    kept = (mag.to(acc) - theta.unsqueeze(1)).clamp_min(0)
    total = kept.sum(dim=1, keepdim=True)
    tiny = torch.finfo(acc).tiny
    kept = kept * torch.clamp(e_acc.unsqueeze(1) / total.clamp_min(tiny), max=1.0)
    shrunk = (torch.sign(flat).to(acc) * kept).to(flat.dtype)
    inside = (l1 <= e_acc).unsqueeze(1)
    out = torch.where(inside, flat, shrunk)
    out = torch.where(e.unsqueeze(1) > 0, out, torch.zeros_like(out))
    return out.reshape(delta.shape)


_PROJECTIONS = {"l2": project_l2, "linf": project_linf, "l1": project_l1}


def check_ball(ball: object, name: str = "ball") -> str:
    """Validate a ball name (``"l2"``, ``"linf"`` or ``"l1"``) and return it."""
    if ball not in _PROJECTIONS:
        raise RangeError(f"{name}: expected one of {BALLS}, got {ball!r}")
    return str(ball)


def project_ball(
    delta: torch.Tensor,
    eps: float | torch.Tensor,
    ball: str = "l2",
    *,
    check: bool = True,
    norm: Any = _UNSET,
) -> torch.Tensor:
    """Project each row of ``delta`` onto the ``ball`` of radius ``eps``.

    Dispatches to :func:`project_l2`, :func:`project_linf` or :func:`project_l1`. (Not to
    be confused with :func:`stochrobust.consistency.project`, the consistency projection.)

    Args:
        delta: perturbations, batch first.
        eps: radius, a number or a ``(B,)`` tensor.
        ball: ``"l2"``, ``"linf"`` or ``"l1"``.
        check: validate the arguments (see :func:`project_l2`).
        norm: deprecated spelling of ``ball`` (0.1; warns).

    Returns:
        The projection, same shape as ``delta``.

    Raises:
        RangeError: unknown ``ball`` or a negative radius.

    Shape:
        - ``delta``: ``(B, *)``; output: ``(B, *)``.

    References:
        [O23] App. E.2.3 (projection after each attack step).

    Examples:
        >>> project_ball(torch.tensor([[2.0, 0.0]]), 1.0, "linf")
        tensor([[1., 0.]])
    """
    ball = renamed_argument("norm", norm, "ball", ball, "l2")
    return _PROJECTIONS[check_ball(ball)](delta, eps, check=check)


def project(
    delta: torch.Tensor,
    eps: float | torch.Tensor,
    ball: str = "l2",
    *,
    check: bool = True,
    norm: Any = _UNSET,
) -> torch.Tensor:
    """Deprecated alias of :func:`project_ball` (0.1 name; warns ``DeprecationWarning``).

    Args:
        delta: perturbations, batch first.
        eps: radius.
        ball: the ball.
        check: validate the arguments.
        norm: deprecated spelling of ``ball``.

    Returns:
        ``project_ball(delta, eps, ball, check=check)``.

    Raises:
        RangeError: as :func:`project_ball`.

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     project(torch.tensor([[2.0, 0.0]]), 1.0, "linf")
        tensor([[1., 0.]])
    """
    warn_renamed("stochrobust.sensitivity.project", "stochrobust.sensitivity.project_ball")
    ball = renamed_argument("norm", norm, "ball", ball, "l2")
    return project_ball(delta, eps, ball, check=check)


def clip_box(
    delta: torch.Tensor,
    y: torch.Tensor,
    box: tuple[float, float] = (0.0, 1.0),
    *,
    check: bool = True,
) -> torch.Tensor:
    """Clip ``delta`` so that ``y + delta`` lies in the box ``[lo, hi]``.

    Note that clipping after a ball projection gives a point of ``ball ∩ box`` (clipping
    only shrinks each coordinate towards zero, so the norm does not grow) but not the exact
    Euclidean projection onto that intersection; the attack solvers only need feasibility.
    If ``y`` itself lies outside the box, the clipped ``delta`` moves it back inside.

    Args:
        delta: perturbations ``(B, *)``.
        y: the points being perturbed, same shape as ``delta``.
        box: ``(lo, hi)`` with ``lo ≤ hi``.
        check: validate the arguments.

    Returns:
        ``clamp(delta, lo − y, hi − y)``.

    Raises:
        ShapeError: ``y`` and ``delta`` differ in shape.
        RangeError: ``lo > hi``.

    Shape:
        - ``delta``, ``y``: ``(B, *)``; output: ``(B, *)``.

    References:
        [C24] §3 (attacks constrained to the image range [0, 1]).

    Examples:
        >>> clip_box(torch.tensor([[0.5, -0.5]]), torch.tensor([[0.8, 0.2]]))
        tensor([[ 0.2000, -0.2000]])
    """
    lo, hi = box
    if check:
        check_tensor(delta, "delta")
        check_tensor(y, "y")
        check_same_shape(y, delta, "y", "delta")
        if not float(lo) <= float(hi):
            raise RangeError(f"box: expected lo <= hi, got {box!r}")
    if delta.ndim == 0:
        raise ShapeError("delta: expected a batch (B, ...), got a 0-D tensor")
    return torch.clamp(delta, min=float(lo) - y, max=float(hi) - y)
