"""Posterior exploration with a deterministic restorer: farthest-point search in the ε-ball.

[O24] observes that the instability a deterministic, high-perceptual-quality restorer must
have (its large Lipschitz constant) can be *used*: tiny perturbations of the input make an
erratic model produce many different plausible outputs, which imitate samples of the
posterior ``p(x | y)``. :func:`explore` finds them by a farthest-point search: the first
sample is ``G(y)``; each next one is ``G(y + δ_i)`` with ``δ_i`` in the ball of radius
``eps`` chosen to maximise the distance to the nearest sample found so far, optionally
projected onto the outputs consistent with ``y``. A robust (small-Lipschitz) model cannot
move its output by more than ``Lip·eps`` and its samples stay close together.

References:
    [O24] Ohayon, Michaeli, Elad. The Perception-Robustness Tradeoff in Deterministic Image
    Restoration. ICML 2024 (exploring the posterior by perturbing the input).
    Eldar, Lindenbaum, Porat, Zeevi. The farthest point strategy for progressive image
    sampling. IEEE TIP 1997.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stochrobust._checks import check_int
from stochrobust.consistency.base import LinearOperator
from stochrobust.consistency.projection import project as consistency_project
from stochrobust.estimator import Estimator, Seeds
from stochrobust.sensitivity._objective import check_output, prepare
from stochrobust.sensitivity.projections import check_ball
from stochrobust.sensitivity.solvers import Solver

__all__ = ["Exploration", "explore"]


@dataclass(repr=False)
class Exploration:
    """Result of :func:`explore`.

    Attributes:
        samples: ``(B, n_samples, *out_shape)`` outputs; ``samples[:, 0]`` is ``G(y)``
            (projected when an operator is given). Usable wherever the samples of a
            stochastic estimator are (e.g. :func:`~stochrobust.metrics.per_pixel_std`).
        delta: ``(B, n_samples, *in_shape)`` the perturbations (``delta[:, 0] = 0``).
        distance: ``(B, n_samples)`` the L2 distance of each sample to the nearest earlier
            one when it was found (``0`` for the first).
        eps: ``(B,)`` the radii.
        ball: the ball searched.
        consistent: whether the samples were projected onto consistency with ``y``.
        solver: ``repr`` of the solver.

    Examples:
        >>> res = explore(lambda y: 3 * y, torch.zeros(2, 2), 0.1, 4,
        ...               generator=torch.Generator().manual_seed(0))
        >>> res.samples.shape, res.delta.shape, res.distance.shape
        (torch.Size([2, 4, 2]), torch.Size([2, 4, 2]), torch.Size([2, 4]))
    """

    samples: torch.Tensor
    delta: torch.Tensor
    distance: torch.Tensor
    eps: torch.Tensor
    ball: str
    consistent: bool
    solver: str

    @property
    def n_samples(self) -> int:
        """Samples per input, the first being ``G(y)``."""
        return int(self.samples.shape[1])

    def __repr__(self) -> str:
        spread = float(self.distance[:, 1:].mean()) if self.n_samples > 1 else 0.0
        return (
            f"Exploration(batch={self.samples.shape[0]}, n_samples={self.n_samples}, "
            f"mean distance {spread:.4g}, ball={self.ball!r}, consistent={self.consistent})"
        )


class _Farthest:
    """``δ ↦ min_j ‖P(G(y + δ, z)) − s_j‖²`` over the samples ``s_j`` found so far.

    ``P`` is the consistency projection (identity without an operator). One fused model
    call per evaluation, for all ``B`` inputs; returns ``(values (B,), outputs (B, ...))``.
    The squared distance is smooth (the solver's argmax is the same as the distance's).
    """

    def __init__(
        self,
        est: Estimator,
        y: torch.Tensor,
        seeds: Seeds,
        found: torch.Tensor,
        op: LinearOperator | None,
    ) -> None:
        self.est, self.y, self.seeds, self.found, self.op = est, y, seeds, found, op

    def output(self, delta: torch.Tensor) -> torch.Tensor:
        out = self.est.forward_seeds(self.y + delta, self.seeds)[:, 0]
        if self.op is not None:
            out = self.op.project(out, self.y, check=False)
        return out

    def __call__(self, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.output(delta)
        gap = out.flatten(1).unsqueeze(1) - self.found
        return gap.pow(2).sum(-1).amin(dim=1), out


def explore(
    estimator: Estimator | torch.nn.Module,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    n_samples: int,
    *,
    ball: str = "l2",
    op: LinearOperator | None = None,
    box: tuple[float, float] | None = None,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    data_range: float | None = 1.0,
) -> Exploration:
    """Farthest-point exploration of the outputs ``G(y + δ)``, ``δ`` in the ε-ball ([O24]).

    ``samples[:, 0] = G(y)``; for ``i ≥ 1`` the solver finds ``δ_i`` in ``ball`` (radius
    ``eps``, intersected with ``box``) maximising ``min_{j < i} ‖G(y + δ_i) − s_j‖₂`` and
    sets ``s_i = G(y + δ_i)``. With ``op``, every output is first projected onto
    ``{x : A x = y}`` (:func:`stochrobust.consistency.project`), so the samples are
    consistent with ``y`` exactly (the model input ``y`` must then be the measurement that
    ``op`` produces). All inputs are explored together: every solver step is one fused model
    call on the ``B`` rows. A stochastic estimator is explored at one seed per input, drawn
    once from ``generator`` (the deterministic model ``G(·, z)``). The result is
    deterministic given the generator's state (bit for bit on CPU).

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        y: inputs ``(B, *in_shape)``, finite; never modified.
        eps: radius, a number or a ``(B,)`` tensor, ``≥ 0`` (``0``: every sample is
            ``G(y)``).
        n_samples: samples per input, ``≥ 1``, the first being ``G(y)``.
        ball: ``"l2"``, ``"linf"`` or ``"l1"``.
        op: optional :class:`~stochrobust.consistency.LinearOperator` for the consistency
            projection.
        box: ``(lo, hi)`` constraint on ``y + δ`` or ``None``.
        solver: the maximiser of each step; ``None`` uses
            :func:`~stochrobust.sensitivity.default_solver` for ``ball``.
        generator: random generator for the random starts (and the seed).
        data_range: ``y`` must lie in ``[0, data_range]`` (``None``: not checked; a ``box``
            declares the range itself).

    Returns:
        An :class:`Exploration`.

    Raises:
        RangeError: ``eps < 0``, ``n_samples < 1``, an unknown ``ball``, ``y`` outside
            ``box``.
        ShapeError: ``eps`` is not a number or ``(B,)``; with ``op``, an output or ``y``
            outside the operator's domain or range.
        StochRobustTypeError: ``op`` is not a linear operator; a wrong ``solver``.
        NonFiniteError: NaN/Inf in ``y`` or in the model output.
        ModelError: the model returns a wrong shape or is not differentiable in its input.

    Shape:
        - ``y``: ``(B, *in_shape)``; ``samples``: ``(B, n_samples, *out_shape)``;
          ``delta``: ``(B, n_samples, *in_shape)``; ``distance``: ``(B, n_samples)``.

    References:
        [O24] (posterior exploration with a deterministic model); Eldar et al. 1997
        (farthest-point sampling).

    Examples:
        >>> from stochrobust.toy import sine_disk_estimator
        >>> g = torch.Generator().manual_seed(0)
        >>> res = explore(sine_disk_estimator(50.0), torch.zeros(1, 1), 0.05, 8,
        ...               box=(-1.0, 1.0), generator=g)
        >>> spread = res.samples[0, :, 1]  # second coordinate; the chord at y = 0 is [-1, 1]
        >>> bool(spread.max() - spread.min() > 1.5)
        True
    """
    n = check_int(n_samples, "n_samples", minimum=1)
    with prepare(
        estimator, y, eps, check_ball(ball), 1, solver, generator, box, entry="explore",
        data_range=data_range,
    ) as p:  # fmt: skip
        clean = p.clean[:, 0]
        if op is not None:
            clean = consistency_project(clean, p.y, op)
        batch = p.y.shape[0]
        samples = clean.unsqueeze(1).repeat(1, n, *([1] * (clean.ndim - 1)))
        deltas = torch.zeros(batch, n, *p.y.shape[1:], dtype=p.y.dtype, device=p.y.device)
        distance = torch.zeros(batch, n, dtype=clean.dtype, device=clean.device)
        if p.any_active and n > 1:
            found = samples.flatten(2).clone()
            for i in range(1, n):
                objective = _Farthest(p.est, p.y, p.seeds, found[:, :i], op)
                best = p.solver.maximize(
                    objective, p.y, p.eps, ball=p.ball, box=p.box, generator=generator,
                    validate_args=False,
                )  # fmt: skip
                assert best.aux is not None
                samples[:, i] = best.aux
                found[:, i] = best.aux.flatten(1)
                deltas[:, i] = best.delta
                distance[:, i] = best.value.clamp_min(0).sqrt()
            check_output(samples, "at y + delta")
    return Exploration(
        samples=samples,
        delta=deltas,
        distance=distance,
        eps=p.eps,
        ball=p.ball,
        consistent=op is not None,
        solver=repr(p.solver),
    )
