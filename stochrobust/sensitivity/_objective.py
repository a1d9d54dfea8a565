"""Objectives of the sensitivity attacks and the shared validation/preparation step.

Internal: :func:`prepare` validates the public arguments once, wraps the model as an
:class:`~stochrobust.Estimator`, draws the seeds and computes the clean outputs once without
gradient. The objectives then evaluate the perturbed outputs through the fused
:meth:`~stochrobust.Estimator.forward_seeds` (one model call for all ``B·K`` rows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from stochrobust._checks import (
    ModelError,
    NonFiniteError,
    StochRobustTypeError,
    check_batch,
    check_eps,
    check_generator,
    check_int,
    frozen,
    modules_of,
)
from stochrobust.estimator import Estimator, Seeds, as_estimator
from stochrobust.metrics.wasserstein import optimal_assignment
from stochrobust.sensitivity._ascent import check_box
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
    allow_zero: bool = True,
) -> Prepared:
    """Validate once, draw the seeds and compute the clean outputs (no grad, eval mode).

    The clean pass runs under its own :func:`~stochrobust.frozen` guard; the caller guards
    the attack. Deterministic estimators get one seed (``n_seeds`` is ignored for them).
    """
    est = as_estimator(estimator)  # type: ignore[arg-type]
    yt = check_batch(y, "y")
    e = check_eps(eps, yt.shape[0], device=yt.device, dtype=yt.dtype, allow_zero=allow_zero)
    n = check_ball(ball)
    k = check_int(n_seeds, "n_seeds", minimum=1)
    b = check_box(box, yt)
    s = check_solver(solver, n)
    g = check_generator(generator)
    k_eff = k if est.is_stochastic else 1
    with frozen(est.model), torch.no_grad():
        seeds = est.sample_seeds(yt, k_eff, g)
        clean = est.forward_seeds(yt, seeds)
    check_output(clean, "at y")
    return Prepared(est, yt, e, n, b, s, k_eff, seeds, clean, bool((e > 0).any()))


class SameSeedObjective:
    """``δ ↦ E_k ‖G(y, z_k) − G(y + δ, z_k)‖²`` per sample ([O23] eq. 6), fused over seeds.

    Returns ``(values (B,), perturbed outputs (B, K, ...))``; the outputs are the solver's
    ``aux`` so that eq. 9 can be computed at the best ``δ`` without another forward pass.
    """

    def __init__(self, est: Estimator, y: torch.Tensor, seeds: Seeds, clean: torch.Tensor):
        self.est, self.y, self.seeds, self.clean = est, y, seeds, clean

    def __call__(self, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.est.forward_seeds(self.y + delta, self.seeds)
        if out.shape != self.clean.shape:
            raise ModelError(
                f"model: expected an output of shape {tuple(self.clean.shape[2:])} per sample "
                f"at y + delta (as at y), got {tuple(out.shape[2:])}"
            )
        value = (out - self.clean).pow(2).flatten(2).sum(-1).mean(-1)
        return value, out


class W2Objective:
    """``δ ↦ W₂²({G(y, z_k)}, {G(y + δ, z'_k)})`` per sample, exact assignment ([O23] eq. 4).

    The optimal matching is found on the detached outputs (host, SciPy); the matched cost is
    then differentiable in ``δ`` (envelope theorem). ``seeds`` are ``z'``.
    """

    def __init__(self, est: Estimator, y: torch.Tensor, seeds: Seeds, clean: torch.Tensor):
        self.est, self.y, self.seeds = est, y, seeds
        self.clean_flat = clean.flatten(2)

    def __call__(self, delta: torch.Tensor) -> torch.Tensor:
        out = self.est.forward_seeds(self.y + delta, self.seeds).flatten(2)
        if out.shape != self.clean_flat.shape:
            raise ModelError(
                f"model: expected {self.clean_flat.shape[2]} output values per sample at "
                f"y + delta (as at y), got {out.shape[2]}"
            )
        perm = optimal_assignment(self.clean_flat, out.detach())
        matched = torch.gather(out, 1, perm.unsqueeze(-1).expand(-1, -1, out.shape[2]))
        return (self.clean_flat - matched).pow(2).sum(-1).mean(-1)


def cat_seeds(seeds: Seeds, other: Seeds) -> Seeds:
    """Concatenate two seed structures along the batch dimension."""
    if isinstance(seeds, torch.Tensor):
        assert isinstance(other, torch.Tensor)
        return torch.cat([seeds, other], dim=0)
    if isinstance(seeds, dict):
        assert isinstance(other, dict)
        return {key: cat_seeds(seeds[key], other[key]) for key in seeds}
    assert isinstance(seeds, (tuple, list)) and isinstance(other, (tuple, list))
    return type(seeds)(cat_seeds(a, b) for a, b in zip(seeds, other, strict=True))


@contextlib.contextmanager
def protected_buffers(model: object) -> Iterator[None]:
    """Let ``model`` run (e.g. in training mode) without changing its buffers.

    Every buffer (BatchNorm running statistics, ``num_batches_tracked``, spectral-norm
    vectors, ...) is swapped for a clone for the duration and the original tensor object is
    put back on exit, also on exceptions. The originals are never written, so autograd graphs
    that saved them stay valid, and the clones the forward pass updated are discarded.
    """
    saved: list[tuple[dict[str, torch.Tensor | None], str, torch.Tensor]] = []
    seen: set[int] = set()
    try:
        for root in modules_of(model):
            for mod in root.modules():
                if id(mod) in seen:
                    continue
                seen.add(id(mod))
                for name, buf in list(mod._buffers.items()):
                    if buf is not None:
                        saved.append((mod._buffers, name, buf))
                        mod._buffers[name] = buf.clone()
        yield
    finally:
        for table, name, buf in saved:
            table[name] = buf


def fused_same_seed_loss(
    est: Estimator, y: torch.Tensor, delta: torch.Tensor, seeds: Seeds
) -> torch.Tensor:
    """Per-sample eq. 6 at a fixed ``delta`` with clean and perturbed passes in one call.

    Differentiable through both halves (w.r.t. the model's parameters); ``(2·B·K)`` rows.
    """
    batch = y.shape[0]
    both = est.forward_seeds(torch.cat([y, y + delta], dim=0), cat_seeds(seeds, seeds))
    clean, pert = both[:batch], both[batch:]
    return (pert - clean).pow(2).flatten(2).sum(-1).mean(-1)
