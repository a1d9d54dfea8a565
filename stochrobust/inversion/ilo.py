"""Intermediate Layer Optimization (ILO, Daras et al. 2021) for any layered torch generator.

``G = layers[m-1] ∘ … ∘ layers[0]``. ILO starts with CSGM on the latent ``z ∈ B₂(r₁)``;
then, for every split ``j`` (the input of ``layers[j]``), it searches the *extended range*
``c + B₁(r_j)`` around the point ``c`` that the earlier layers produce, by projected
gradient descent on ``‖A G_{≥j}(w) − y‖²`` with the library's batched L1 projection, and
projects the solution ``w̃`` back to the range of the earlier layers: ``min ‖G_{<j}(u) −
w̃‖²`` over the previous stage's feasible set, ``c ← G_{<j}(u)``, repeated for ``rounds``
rounds. The best point of the extended range is kept and carried to the next split, whose
ball is centred on its image. Every optimisation is batched over measurements and random
starts, on device, without host synchronisation.

References:
    [D21] Daras, Dean, Jalal, Dimakis. *Intermediate Layer Optimization for Inverse
    Problems using Deep Generative Models*. ICML 2021: Algorithm 1 (one split: lines 1–7),
    §2.2 (the extended range ``G₁(B₂ᵏ(r₁)) ⊕ B₁ᵖ(r₂)``, eq. 3–4), §4 (radii growing with
    the layer, Stochastic Noise Addition) and App. (Adam, projected gradient descent,
    Duchi et al.'s L1 projection).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from stochrobust._checks import (
    check_callable,
    check_generator,
    check_int,
    check_positive,
    describe,
    frozen,
)
from stochrobust.consistency import LinearOperator
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.inversion._descent import (
    Chain,
    UserLoss,
    check_measurements,
    check_options,
    check_output,
    descend,
    l1_ball_around,
    l2_ball,
    measurement_objective,
    squared_error,
    starts,
)
from stochrobust.inversion.range import project_to_range
from stochrobust.inversion.results import ILOResult, ILOStage

__all__ = ["ilo"]

Layer = Callable[[torch.Tensor], torch.Tensor]


def _check_layers(layers: object) -> list[Layer]:
    if isinstance(layers, nn.Module) and not isinstance(layers, (nn.ModuleList, nn.Sequential)):
        raise StochRobustTypeError(
            "layers: expected a sequence of modules whose composition is the generator "
            f"(e.g. net.layers), got {describe(layers)}"
        )
    if not isinstance(layers, (Sequence, nn.ModuleList, nn.Sequential)):
        raise StochRobustTypeError(
            f"layers: expected a sequence of modules, got {describe(layers)}"
        )
    items = list(layers)
    if len(items) < 2:
        raise RangeError(f"layers: expected at least 2 layers to split between, got {len(items)}")
    for item in items:
        check_callable(item, "layers")
    return items


def _check_splits(splits: object, m: int) -> list[int]:
    if splits is None:
        return list(range(1, m))
    if isinstance(splits, (int, str)) or not isinstance(splits, Sequence) or not splits:
        raise StochRobustTypeError(f"splits: expected a sequence of layer indices, got {splits!r}")
    out = [check_int(s, "splits") for s in splits]
    if out != sorted(set(out)) or out[0] < 1 or out[-1] > m - 1:
        raise RangeError(
            f"splits: expected increasing indices in [1, {m - 1}], got {list(splits)!r}"
        )
    return out


def _check_radii(radii: object, n: int) -> list[float]:
    if isinstance(radii, Sequence) and not isinstance(radii, str):
        values = [check_positive(r, "radii") for r in radii]
        if len(values) != n:
            raise RangeError(f"radii: expected one radius per split ({n}), got {len(values)}")
        return values
    base = check_positive(radii, "radii")
    return [base * 2.0**s for s in range(n)]


def ilo(
    layers: Sequence[Layer],
    op: LinearOperator,
    y: torch.Tensor,
    *,
    z0: torch.Tensor | None = None,
    n_seeds: int = 1,
    latent_shape: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    radius: float | None = None,
    csgm_steps: int = 100,
    splits: Sequence[int] | None = None,
    radii: float | Sequence[float] = 1.0,
    rounds: int = 2,
    steps_per_layer: int = 50,
    project_back_steps: int = 25,
    lr: float = 0.05,
    noise_std: float = 0.0,
    loss: UserLoss | None = None,
    check: bool = True,
) -> ILOResult:
    """Reconstruct from ``y = A x`` by Intermediate Layer Optimization ([D21] Algorithm 1).

    1. CSGM: ``ẑ = argmin_{z ∈ B₂(r₁)} ‖A G(z) − y‖²`` from ``z0`` (``csgm_steps`` steps).
    2. For each split ``j`` in ``splits`` (default: every layer boundary, in order), with
       ``c = G_{<j}(u)`` the image of the previous stage's best point ``u``, repeat
       ``rounds`` times: (a) extended-range search ``w̃ = argmin_{w ∈ c + B₁(r_j)}
       ‖A G_{≥j}(w) − y‖²`` by projected Adam (``steps_per_layer`` steps, started at the
       previous ``w̃`` projected onto the current ball); (b) projection back to the range,
       ``u = argmin ‖G_{<j}(u) − w̃‖²`` over the previous stage's feasible set
       (``project_back_steps`` steps from the current ``u``), ``c = G_{<j}(u)``; its
       residual ``‖c − w̃‖₂`` is reported in :attr:`ILOStage.residual`.
    3. Return ``G_{≥j}(w*)`` for the best ``w*`` of the extended range at the last split.

    Each stage starts from the previous best point (deviation ``0``), so the best loss
    never increases from one split to the next (exactly, without SNA noise or a user
    ``loss``). Everything is batched over the ``B`` measurements and ``K`` starts and never
    synchronises with the host inside the loops; the L1 projection is
    :func:`stochrobust.sensitivity.project_l1` (on CPU it reads one count per call to size
    a partial sort, which is not a device synchronisation). Differentiable with respect to
    ``y`` and ``z0`` by unrolling, exactly as :func:`~stochrobust.inversion.csgm`.

    Args:
        layers: the generator as a sequence of at least two callables (modules) whose
            composition is ``G``, e.g. :attr:`LayeredGenerator.layers`.
        op: the degradation operator ``A``.
        y: measurements ``(B, *range_shape)``.
        z0: starting latents ``(B, K, *latent_shape)``; ``None``: ``n_seeds`` draws of
            ``N(0, I)`` from ``generator``.
        n_seeds: random starts per measurement when ``z0`` is ``None`` (the seeds of the
            stochastic estimator ``G(y, z₀)``, hence the name).
        latent_shape: per-row latent shape, required when ``z0`` is ``None``.
        generator: random generator for the starts and the SNA noise.
        radius: ``r₁``, the latent L2 ball; ``None``: ``2·sqrt(k)``.
        csgm_steps: Adam steps of the CSGM stage.
        splits: the layer indices ``j ∈ [1, m−1]`` to optimise, increasing; ``None``: all.
        radii: the L1 radii ``r_j``: one per split, or a number ``r`` for ``r·2^s`` at the
            ``s``-th split (radii growing with depth, as in [D21] App.).
        rounds: extended-search / project-back rounds per split (``r`` of Algorithm 1).
        steps_per_layer: Adam steps of each extended-range search.
        project_back_steps: Adam steps of each projection back to the range.
        lr: Adam learning rate of every stage.
        noise_std: SNA: std of the Gaussian noise added to the generated image before ``A``
            in the measurement losses ([D21] §4); ``0``: none.
        loss: an extra term ``loss(x, y) → (R,)`` added to the measurement losses.
        check: validate the tensors and the result's finiteness (``False``: no host sync).

    Returns:
        An :class:`ILOResult` (reconstructions, best points, per-stage diagnostics).

    Raises:
        StochRobustTypeError: ``layers`` is not a sequence of callables, ``op`` is not a
            ``LinearOperator``, wrong ``splits`` / ``generator`` / ``loss``, no latent shape.
        RangeError: fewer than 2 layers, invalid ``splits``, ``radii`` of the wrong length,
            a non-positive radius or ``lr``, a negative step count or ``noise_std``,
            ``rounds < 1``.
        ShapeError: ``y`` is not in ``op``'s range or ``z0`` is not ``(B, K, ...)``.
        NonFiniteError: NaN or Inf in ``y`` or ``z0``.
        ModelError: the optimisation produced NaN or Inf.

    Shape:
        - ``y``: ``(B, *range_shape)``; ``z0``: ``(B, K, *latent_shape)``;
          ``x_hat``: ``(B, K, C, H, W)``; ``loss``: ``(B, K)``.

    References:
        [D21] Algorithm 1, eq. 3–4 (extended range), §4 (radii, SNA); Duchi et al. ICML 2008
        (the L1 projection).

    Examples:
        >>> from stochrobust.consistency import PartialCirculant
        >>> from stochrobust.inversion import LayeredGenerator
        >>> g = torch.Generator().manual_seed(0)
        >>> net = LayeredGenerator(4, (16,), (1, 4, 4), generator=g)
        >>> op = PartialCirculant((1, 4, 4), 12, generator=g)
        >>> y = op.A(torch.rand(2, 1, 4, 4, generator=g))
        >>> res = ilo(net.layers, op, y, latent_shape=(4,), n_seeds=2, generator=g)
        >>> bool((res.loss <= res.csgm_loss + 1e-6).all())
        True
        >>> res.stages[0].residual.shape
        torch.Size([2, 2, 2])
    """
    items = _check_layers(layers)
    if check:
        y = check_measurements(op, y)
        check_generator(generator)
    counts, rate, std = check_options(
        steps=[
            ("csgm_steps", csgm_steps),
            ("steps_per_layer", steps_per_layer),
            ("project_back_steps", project_back_steps),
        ],
        lr=lr,
        noise_std=noise_std,
        loss=loss,
    )
    n_csgm, n_search, n_back = counts
    n_rounds = check_int(rounds, "rounds", minimum=1)
    cuts = _check_splits(splits, len(items))
    balls = _check_radii(radii, len(cuts))
    z_start, batch, k, latent, r1, y_rows = starts(
        y, z0=z0, n_seeds=n_seeds, latent_shape=latent_shape, net=None, radius=radius,
        generator=generator, check=check,
    )  # fmt: skip
    unroll = torch.is_grad_enabled() and (y.requires_grad or z_start.requires_grad)

    def measurement(start: int) -> Callable[[torch.Tensor], torch.Tensor]:
        return measurement_objective(
            Chain(items[start:]), op, y_rows, noise_std=std, loss=loss, generator=generator
        )

    def per_row(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(batch, k, *t.shape[1:])

    with frozen(nn.ModuleList([i for i in items if isinstance(i, nn.Module)])):
        with torch.enable_grad():
            first = descend(
                measurement(0),
                z_start.reshape(batch * k, *latent),
                l2_ball(r1),
                steps=n_csgm,
                lr=rate,
                unroll=unroll,
            )
            with torch.set_grad_enabled(unroll):
                csgm_loss = squared_error(op.A(Chain(items)(first.x), check=False), y_rows)
            n_evals = first.n_evals + 1
            u, prev, prev_ball = first.x, 0, _Ball(None, r1)
            stages: list[ILOStage] = []
            for s, j in enumerate(cuts):
                stage, u, prev_ball = _split(
                    measurement(j),
                    Chain(items[prev:j]),
                    u,
                    prev_ball,
                    balls[s],
                    rounds=n_rounds,
                    search=n_search,
                    back=n_back,
                    lr=rate,
                    unroll=unroll,
                )
                stages.append(
                    ILOStage(
                        split=j,
                        radius=balls[s],
                        loss=per_row(stage.loss),
                        deviation=stage.deviation.reshape(n_rounds, batch, k),
                        residual=stage.residual.reshape(n_rounds, batch, k),
                        n_evals=stage.n_evals,
                    )
                )
                n_evals += stage.n_evals
                prev = j
            with torch.set_grad_enabled(unroll):
                x_hat = Chain(items[prev:])(u)
                err = squared_error(op.A(x_hat, check=False), y_rows)
            n_evals += 1
    if check:
        check_output(x_hat, "layers")
    return ILOResult(
        x_hat=per_row(x_hat),
        latent=per_row(u),
        z=per_row(first.x),
        loss=per_row(err),
        csgm_loss=per_row(csgm_loss),
        stages=stages,
        n_evals=n_evals,
    )


@dataclass
class _Ball:
    """A feasible set: ``B₂(radius)`` around 0 (``center`` None) or ``center + B₁(radius)``."""

    center: torch.Tensor | None
    radius: float


@dataclass
class _SplitOutcome:
    loss: torch.Tensor
    deviation: torch.Tensor
    residual: torch.Tensor
    n_evals: int


def _split(
    objective: Callable[[torch.Tensor], torch.Tensor],
    earlier: Chain,
    u: torch.Tensor,
    previous: _Ball,
    r: float,
    *,
    rounds: int,
    search: int,
    back: int,
    lr: float,
    unroll: bool,
) -> tuple[_SplitOutcome, torch.Tensor, _Ball]:
    """One split of ILO: ``rounds`` × (extended-range search, projection back to the range).

    ``u`` is the previous stage's best point and ``previous`` its feasible set. Returns the
    diagnostics, the best point of this split's extended range and the extended-range ball
    it lies in (the next split's "range of the earlier layers").
    """
    with torch.set_grad_enabled(unroll):
        center = earlier(u)
    center = center if unroll else center.detach()
    n_evals = 1
    w = center
    best_w, best_c, best_loss = center, center, None
    deviations, residuals = [], []
    for _ in range(rounds):
        found = descend(objective, w, l1_ball_around(center, r), steps=search, lr=lr, unroll=unroll)
        n_evals += found.n_evals
        if best_loss is None:
            best_w, best_c, best_loss = found.x, center, found.loss
        else:
            better = (found.loss < best_loss).reshape(-1, *([1] * (found.x.ndim - 1)))
            best_w = torch.where(better, found.x, best_w)
            best_c = torch.where(better, center, best_c)
            best_loss = torch.minimum(found.loss, best_loss)
        deviations.append((found.x - center).detach().flatten(1).norm(dim=1))
        pulled = project_to_range(
            earlier,
            found.x,
            u,
            radius=previous.radius,
            center=previous.center,
            steps=back,
            lr=lr,
            check=False,
        )
        n_evals += pulled.n_evals
        u, center = pulled.u, pulled.point
        residuals.append(pulled.residual)
        w = found.x  # the next search projects it onto the ball around the new centre
    assert best_loss is not None
    outcome = _SplitOutcome(best_loss, torch.stack(deviations), torch.stack(residuals), n_evals)
    return outcome, best_w, _Ball(best_c, r)
