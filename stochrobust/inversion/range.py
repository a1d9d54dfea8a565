"""The projection back to the range of the earlier layers, ILO's line 5–6 ([D21] Alg. 1).

After the extended-range search has found an intermediate code ``w̃`` that lies off the
range of ``G₁`` (the earlier layers), ILO pulls it back:
``û = argmin_{u ∈ U} ‖G₁(u) − w̃‖²`` by projected gradient descent started at the current
``u``, and continues from ``G₁(û)``. :func:`project_to_range` is that step, on its own and
tested: it reports the residual ``‖G₁(û) − w̃‖₂``, which is ``0`` exactly when ``w̃`` is
reachable and is never above the starting distance ``‖G₁(u₀) − w̃‖₂`` (the best iterate is
kept and the start is one of the iterates). The feasible set ``U`` is the latent ball
``B₂(r₁)`` (the first split) or, for deeper splits, the previous split's extended range
``c + B₁(r)``.

References:
    [D21] Algorithm 1, lines 5–6 ("projection back to the range"), §2.2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stochrobust._checks import check_batch, check_callable, check_positive, frozen
from stochrobust.errors import ShapeError
from stochrobust.inversion._descent import (
    check_options,
    descend,
    l1_ball_around,
    l2_ball,
    squared_error,
)
from stochrobust.inversion.results import RangeProjection

__all__ = ["project_to_range"]


def project_to_range(
    net: Callable[[torch.Tensor], torch.Tensor],
    target: torch.Tensor,
    u0: torch.Tensor,
    *,
    radius: float,
    center: torch.Tensor | None = None,
    steps: int = 25,
    lr: float = 0.05,
    check: bool = True,
) -> RangeProjection:
    """Pull ``target`` back to the range of ``net``: ``min_{u ∈ U} ‖net(u) − target‖²``.

    Projected Adam from ``u₀`` (projected onto ``U`` first), the best iterate kept per
    row, no host synchronisation in the loop; ``net`` is evaluated in eval mode with frozen
    parameters. ``U = B₂(radius)`` around ``0`` when ``center`` is ``None`` (the latent ball
    of CSGM), else ``center + B₁(radius)`` (an extended range of [D21]). Differentiable by
    unrolling when grad mode is on and an input requires grad.

    Args:
        net: the earlier layers ``G₁``, mapping ``(R, *u_shape)`` to ``(R, *p)``.
        target: the codes ``w̃`` to pull back, ``(R, *p)``.
        u0: the starting inputs ``(R, *u_shape)`` (ILO: the current ``u``).
        radius: the radius of ``U``.
        center: ``(R, *u_shape)`` the centre of the L1 ball, or ``None`` for ``B₂(radius)``.
        steps: Adam steps.
        lr: Adam learning rate.
        check: validate the tensors (``False``: no host sync).

    Returns:
        A :class:`RangeProjection` with ``u``, ``point``, ``residual`` and
        ``start_distance``.

    Raises:
        StochRobustTypeError: ``net`` is not callable or a tensor is not floating-point.
        ShapeError: ``target`` and ``u0`` have different batch sizes, or ``center`` is not
            shaped like ``u0``.
        RangeError: ``radius ≤ 0``, ``lr ≤ 0`` or ``steps < 0``.
        NonFiniteError: NaN or Inf in a tensor.

    Shape:
        - ``target``: ``(R, *p)``; ``u0``, ``center``, ``u``: ``(R, *u_shape)``;
          ``residual``: ``(R,)``.

    References:
        [D21] Algorithm 1, lines 5–6.

    Examples:
        >>> lin = torch.nn.Linear(2, 3)
        >>> u_true = torch.tensor([[0.5, -1.0]])
        >>> with torch.no_grad():
        ...     target = lin(u_true)
        >>> res = project_to_range(lin, target, torch.zeros(1, 2), radius=10.0, steps=300, lr=0.05)
        >>> bool(res.residual[0] < 1e-3), bool(res.residual[0] <= res.start_distance[0])
        (True, True)
    """
    check_callable(net, "net")
    if check:
        target = check_batch(target, "target")
        u0 = check_batch(u0, "u0")
        if u0.shape[0] != target.shape[0]:
            raise ShapeError(
                f"u0: expected {target.shape[0]} rows like target, got shape {tuple(u0.shape)}"
            )
        if center is not None:
            center = check_batch(center, "center")
            if center.shape != u0.shape:
                raise ShapeError(
                    f"center: expected the shape of u0 {tuple(u0.shape)}, got {tuple(center.shape)}"
                )
    r = check_positive(radius, "radius")
    (n_steps,), rate, _ = check_options(steps=[("steps", steps)], lr=lr, noise_std=0.0, loss=None)
    unroll = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (target, u0, center)
    )
    feasible = l2_ball(r) if center is None else l1_ball_around(center, r)

    def distance(v: torch.Tensor) -> torch.Tensor:
        return squared_error(net(v), target)

    with frozen(net), torch.enable_grad():
        found = descend(distance, u0, feasible, steps=n_steps, lr=rate, unroll=unroll)
        with torch.set_grad_enabled(unroll):
            point = net(found.x)
    assert found.start is not None
    return RangeProjection(
        u=found.x,
        point=point if unroll else point.detach(),
        residual=found.loss.detach().clamp_min(0).sqrt(),
        start_distance=found.start.clamp_min(0).sqrt(),
        n_evals=found.n_evals + 1,
    )
