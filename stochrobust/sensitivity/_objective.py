"""Objectives of the sensitivity attacks and the shared validation/preparation step.

Internal: :func:`prepare` validates the public arguments once, wraps the model as an
:class:`~stochrobust.Estimator`, enters the model-state guard for the whole public call,
draws the seeds and computes the clean outputs once without gradient. The objectives then
evaluate the perturbed outputs through the fused
:meth:`~stochrobust.Estimator.forward_seeds` (one model call for all ``B·K`` rows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from stochrobust._checks import (
    check_batch_input,
    check_data_range,
    check_eps,
    check_finite,
    check_generator,
    check_int,
    check_positive,
)
from stochrobust._guard import check_input_rank, stage
from stochrobust._seeds import tree_cat, tree_leaves
from stochrobust.errors import (
    ModelError,
    NonFiniteError,
    RangeError,
    StochRobustError,
    StochRobustTypeError,
)
from stochrobust.estimator import Estimator, Seeds, as_estimator
from stochrobust.metrics.wasserstein import optimal_assignment
from stochrobust.sensitivity._ascent import check_box
from stochrobust.sensitivity._gradient import gradient_of, not_differentiable
from stochrobust.sensitivity.projections import check_ball
from stochrobust.sensitivity.protocol import default_solver
from stochrobust.sensitivity.solvers import Solver, check_solver_type


@dataclass
class Prepared:
    """Validated arguments, seeds and clean outputs of one sensitivity computation."""

    est: Estimator
    y: torch.Tensor
    eps: torch.Tensor
    ball: str
    box: tuple[float, float] | None
    solver: Solver
    n_seeds: int
    seeds: Seeds
    clean: torch.Tensor
    any_active: bool
    data_range: float | None = None


def check_solver(solver: object, ball: str) -> Solver:
    """``solver`` or the default one for ``ball``; type-checked."""
    if solver is None:
        return default_solver(ball)
    s = check_solver_type(solver)
    if ball not in s.balls:
        raise StochRobustTypeError(
            f"solver: expected a solver supporting ball {ball!r}, got {s!r} (supports {s.balls})"
        )
    return s


def check_output(out: torch.Tensor, what: str) -> None:
    """Raise :class:`NonFiniteError` naming the model output if ``out`` is not finite."""
    if not bool(torch.isfinite(out).all()):
        raise NonFiniteError(
            f"model output: expected finite values {what}, got NaN or Inf in an output of "
            f"shape {tuple(out.shape)}"
        )


def _check_precision(y: torch.Tensor, eps: torch.Tensor, ball: str) -> None:
    """Refuse a radius too small to move ``y`` in its dtype (one host sync)."""
    d = y[0].numel()
    scale = {"l2": d**-0.5, "l1": 1.0 / d, "linf": 1.0}[ball]
    step = (eps * scale).reshape(-1, *([1] * (y.ndim - 1)))
    moved = (y + step).ne(y).flatten(1).any(dim=1) | (eps == 0)
    if not bool(moved.all()):
        raise RangeError(
            f"eps: expected a radius that changes y in its dtype {y.dtype}, got eps with "
            f"minimum {float(eps.min()):g}: y + delta == y for perturbations of that size "
            f"(about {float(step.min()):.3g} per entry on the {ball} ball, below the "
            f"{y.dtype} spacing near max|y| = {float(y.abs().max()):.3g}); pass y in "
            "float64 or use a larger eps"
        )


def _checked_inputs(
    y: object, eps: object, ball: object, data_range: object, box: object
) -> tuple[torch.Tensor, torch.Tensor, str, float | None]:
    if torch.is_inference_mode_enabled():
        raise StochRobustError(
            "y: expected a call outside torch.inference_mode(), got one inside it; the "
            "attacks need gradients with respect to y, which inference mode forbids "
            "(torch.no_grad() around the call is fine)"
        )
    yt = check_batch_input(y, "y")
    check_finite(yt, "y")
    # A box declares the inputs' value range itself (checked by check_box).
    r = check_data_range(yt, data_range if box is None else None, "y")
    if box is not None and data_range is not None:
        r = check_positive(data_range, "data_range")
    e = check_eps(eps, yt.shape[0], device=yt.device, dtype=yt.dtype)  # type: ignore[arg-type]
    return yt, e, check_ball(ball), r


@contextlib.contextmanager
def prepare(
    estimator: object,
    y: object,
    eps: float | torch.Tensor,
    ball: object,
    n_seeds: object,
    solver: object,
    generator: object,
    box: object,
    *,
    entry: str,
    allow_zero: bool = True,
    data_range: object = None,
    freeze: bool = True,
) -> Iterator[Prepared]:
    """Validate once, enter the model-state guard, draw the seeds, run the clean pass.

    A context manager: the guard of ``entry`` (eval mode, frozen parameters unless
    ``freeze=False``, protected buffers) stays active for the whole ``with`` block, so the
    public function enters it once. Inside, model failures are
    :class:`~stochrobust.ModelError` naming ``entry`` and the stage (``"clean pass"`` here;
    the block is labelled ``"perturbed pass"``). Deterministic estimators get one seed.
    """
    est = as_estimator(estimator)  # type: ignore[arg-type]
    yt, e, n, r = _checked_inputs(y, eps, ball, data_range, box)
    if not allow_zero:
        e = check_eps(e, yt.shape[0], allow_zero=False)
    k = check_int(n_seeds, "n_seeds", minimum=1)
    b = check_box(box, yt)
    s = check_solver(solver, n)
    g = check_generator(generator)
    k_eff = k if est.is_stochastic else 1
    with est.guarded(entry, freeze=freeze, eval_mode=True, arg="estimator"):
        check_input_rank(yt, "y")
        if bool((e > 0).any()):
            _check_precision(yt, e, n)
        with stage("clean pass"), torch.no_grad():
            seeds = est.sample_seeds(yt, k_eff, generator=g)
            clean = est.forward_seeds(yt, seeds)
        check_output(clean, "at y")
        with stage("perturbed pass"):
            yield Prepared(est, yt, e, n, b, s, k_eff, seeds, clean, bool((e > 0).any()), r)


def is_chunked(est: Estimator, seeds: Seeds) -> bool:
    """Whether a gradient through ``est`` goes chunk by chunk (``max_batch`` < model rows)."""
    if est.max_batch is None:
        return False
    leaf = tree_leaves(seeds)[0]
    rows = leaf.shape[0] * (leaf.shape[1] if est.is_stochastic else 1)
    return rows > est.max_batch


def matched_cost(
    est: Estimator, y: torch.Tensor, delta: torch.Tensor, seeds: Seeds, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``E_k ‖G(y + δ, z_k) − target_k‖²`` per sample and its δ-gradient, chunk by chunk.

    The value is a sum over the fused rows, so each chunk's term is back-propagated into a
    δ-gradient accumulator with :func:`torch.autograd.grad` and its graph freed before the
    next chunk (:meth:`~stochrobust.Estimator.foreach_chunk`): the gradient memory is that
    of one chunk, the result that of the one-shot gradient up to summation order.

    Returns:
        ``(values (B,), outputs (B, K, ...), grad (B, *in_shape))``, detached.
    """
    batch, k = target.shape[:2]
    flat = target.reshape(batch * k, *target.shape[2:])
    d = delta.detach().requires_grad_(True)
    value = torch.zeros(batch, dtype=target.dtype, device=target.device)
    grad = torch.zeros_like(d)
    outs: list[torch.Tensor] = []

    def consume(rows: slice, out: torch.Tensor) -> None:
        if out.shape[1:] != flat.shape[1:]:
            raise ModelError(
                f"model: expected an output of shape {tuple(flat.shape[1:])} per sample "
                f"at y + delta (as at y), got {tuple(out.shape[1:])}"
            )
        term = (out - flat[rows]).pow(2).flatten(1).sum(1)
        if not term.requires_grad:
            raise not_differentiable()
        (g,) = torch.autograd.grad(term.sum() / k, d)
        grad.add_(g)
        index = torch.arange(rows.start, rows.stop, device=value.device) // k
        value.index_add_(0, index, term.detach())
        outs.append(out.detach())

    with torch.enable_grad():
        est.foreach_chunk(y + d, seeds, consume)
    return value / k, torch.cat(outs).reshape(target.shape), grad


class SameSeedObjective:
    """``δ ↦ E_k ‖G(y, z_k) − G(y + δ, z_k)‖²`` per sample ([O23] eq. 6), fused over seeds.

    Returns ``(values (B,), perturbed outputs (B, K, ...))``; the outputs are the solver's
    ``aux`` so that eq. 9 can be computed at the best ``δ`` without another forward pass.
    With a ``max_batch`` below ``B·K`` its :meth:`value_and_grad` back-propagates chunk by
    chunk (:func:`matched_cost`).
    """

    def __init__(self, est: Estimator, y: torch.Tensor, seeds: Seeds, clean: torch.Tensor):
        self.est, self.y, self.seeds, self.clean = est, y, seeds, clean
        self.chunked = is_chunked(est, seeds)

    def __call__(self, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.est.forward_seeds(self.y + delta, self.seeds)
        if out.shape != self.clean.shape:
            raise ModelError(
                f"model: expected an output of shape {tuple(self.clean.shape[2:])} per sample "
                f"at y + delta (as at y), got {tuple(out.shape[2:])}"
            )
        value = (out - self.clean).pow(2).flatten(2).sum(-1).mean(-1)
        return value, out

    def value_and_grad(
        self, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Values, perturbed outputs and ``∇_δ Σ_b values_b`` (chunked with ``max_batch``)."""
        if not self.chunked:
            return gradient_of(self, delta)
        value, out, grad = matched_cost(self.est, self.y, delta, self.seeds, self.clean)
        return value, out, grad


class W2Objective:
    """``δ ↦ W₂²({G(y, z_k)}, {G(y + δ, z'_k)})`` per sample, exact assignment ([O23] eq. 4).

    The optimal matching is found on the detached outputs (host, SciPy); the matched cost is
    then differentiable in ``δ`` (envelope theorem). ``seeds`` are ``z'``.

    Chunked (``max_batch`` below ``B·K``): the assignment couples the seeds, so the outputs
    at ``y + δ`` are first computed without gradient (one pass, chunked, no graph) and the
    assignment is solved on them; the matched cost
    ``(1/K) Σ_j ‖G(y + δ, z'_j) − G(y, z_{π⁻¹(j)})‖²`` is then a sum over the perturbed
    rows ``j`` and is back-propagated chunk by chunk (:func:`matched_cost`) — a second
    forward pass, with the gradient memory of one chunk.
    """

    def __init__(self, est: Estimator, y: torch.Tensor, seeds: Seeds, clean: torch.Tensor):
        self.est, self.y, self.seeds = est, y, seeds
        self.clean_flat, self.clean_shape = clean.flatten(2), clean.shape
        self.chunked = is_chunked(est, seeds)

    def _perturbed(self, delta: torch.Tensor) -> torch.Tensor:
        out = self.est.forward_seeds(self.y + delta, self.seeds).flatten(2)
        if out.shape != self.clean_flat.shape:
            raise ModelError(
                f"model: expected {self.clean_flat.shape[2]} output values per sample at "
                f"y + delta (as at y), got {out.shape[2]}"
            )
        return out

    def __call__(self, delta: torch.Tensor) -> torch.Tensor:
        out = self._perturbed(delta)
        perm = optimal_assignment(self.clean_flat, out.detach())
        matched = torch.gather(out, 1, perm.unsqueeze(-1).expand(-1, -1, out.shape[2]))
        return (self.clean_flat - matched).pow(2).sum(-1).mean(-1)

    def value_and_grad(
        self, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Values and ``∇_δ Σ_b values_b``: assignment on detached outputs, cost chunked."""
        if not self.chunked:
            return gradient_of(self, delta)
        with torch.no_grad():
            out = self._perturbed(delta.detach())
        perm = optimal_assignment(self.clean_flat, out)
        inverse = perm.argsort(dim=1)  # perturbed row j is matched to clean row inverse[j]
        index = inverse.unsqueeze(-1).expand(-1, -1, out.shape[2])
        target = torch.gather(self.clean_flat, 1, index)
        shaped = target.reshape(self.clean_shape)
        value, _, grad = matched_cost(self.est, self.y, delta, self.seeds, shaped)
        return value, None, grad


def fused_same_seed_loss(
    est: Estimator, y: torch.Tensor, delta: torch.Tensor, seeds: Seeds
) -> torch.Tensor:
    """Per-sample eq. 6 at a fixed ``delta`` with clean and perturbed passes in one call.

    Differentiable through both halves (w.r.t. the model's parameters); ``(2·B·K)`` rows.
    """
    batch = y.shape[0]
    both = est.forward_seeds(torch.cat([y, y + delta], dim=0), tree_cat(seeds, seeds))
    clean, pert = both[:batch], both[batch:]
    return (pert - clean).pow(2).flatten(2).sum(-1).mean(-1)
