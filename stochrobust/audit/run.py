"""The audit engine: :func:`run_audit` measures a model at given inputs.

Every input is attacked once (:func:`~stochrobust.sensitivity.sensitivity_at`, in chunks of
``batch_size`` inputs, aggregated by :class:`~stochrobust.sensitivity.RobustnessAggregator`);
the [O24] Lipschitz lower bound is read at each maximiser and, for stochastic models, the
per-pixel standard deviation over a few fused samples is added. The result, an
:class:`~stochrobust.audit.AuditReport` (table, JSON, bounds), lives in
:mod:`stochrobust.audit.report`.

References:
    [O23] eqs. 2, 6, 7, 9 and Table 2 (per-pixel std).
    [O24] Ohayon, Michaeli, Elad. The Perception-Robustness Tradeoff in Deterministic Image
    Restoration. ICML 2024 (Lipschitz lower bound).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from stochrobust._checks import check_batch, check_int, check_model_input, check_positive
from stochrobust._deprecate import renamed
from stochrobust._guard import stage
from stochrobust.audit.report import AuditReport
from stochrobust.errors import ShapeError
from stochrobust.estimator import Estimator, as_estimator
from stochrobust.metrics.diversity import per_pixel_std
from stochrobust.sensitivity.aggregate import RobustnessAggregator
from stochrobust.sensitivity.protocol import default_solver
from stochrobust.sensitivity.solvers import Solver
from stochrobust.testing._report import worst_ai_psnr

__all__ = ["run_audit"]


def _probe(est: Estimator, y: torch.Tensor, generator: torch.Generator | None) -> None:
    """One forward pass on the first input; a crash of the model is a ModelError.

    Its seed comes from a generator of its own (on ``generator``'s device), so the caller's
    generator drives the attacks exactly as in :func:`~stochrobust.sensitivity.robustness`.
    """
    own = torch.Generator(device=y.device if generator is None else generator.device)
    with stage("probe on the first input"), torch.no_grad():
        est.sample(y[:1], 1, generator=own.manual_seed(0))


@renamed(inputs="y", model_or_estimator="estimator", norm="ball",
          diversity_samples="n_diversity_seeds")  # fmt: skip
def run_audit(
    estimator: Estimator | Callable[..., torch.Tensor],
    y: torch.Tensor,
    eps: float,
    *,
    ball: str = "l2",
    n_seeds: int = 10,
    solver: Solver | None = None,
    generator: torch.Generator | None = None,
    box: tuple[float, float] | None = None,
    batch_size: int = 16,
    n_diversity_seeds: int = 8,
    names: Sequence[str] | None = None,
    data_range: float = 1.0,
) -> AuditReport:
    """Audit a model's robustness at the inputs ``y`` (the engine of ``stochrobust audit``).

    For each chunk of ``batch_size`` inputs one attack
    (:func:`~stochrobust.sensitivity.sensitivity_at`), aggregated by
    :class:`~stochrobust.sensitivity.RobustnessAggregator` — so the same inputs, chunks and
    generator state give the figures of :func:`~stochrobust.sensitivity.robustness` — and
    then, for a stochastic estimator, ``n_diversity_seeds`` fused samples per input for
    :func:`~stochrobust.metrics.per_pixel_std`.
    The Lipschitz lower bound is taken at the attack's maximiser ``δ`` —
    ``sqrt(eq. 6) / ‖δ‖₂``, what :func:`~stochrobust.sensitivity.local_lipschitz` returns
    for that ``δ`` — so no second attack is run. The 0.1 keywords ``inputs``, ``norm`` and
    ``diversity_samples`` still work and warn ``DeprecationWarning``.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        y: the inputs ``(N, *in_shape)``, finite.
        eps: the radius, ``> 0``.
        ball: ``"l2"`` (the paper's), ``"linf"`` or ``"l1"``.
        n_seeds: seeds per input for eq. 6 (stochastic estimators).
        solver: the attack (default :func:`~stochrobust.sensitivity.default_solver`).
        generator: random generator (seeds, starts, diversity samples); ``None`` uses
            torch's global generator.
        box: ``(lo, hi)`` constraint on ``y + δ`` or ``None``.
        batch_size: inputs per attack (bounds memory; ``≥ 1``).
        n_diversity_seeds: seeds per input for the per-pixel std (``≥ 2``).
        names: one name per input (default ``"0"``, ``"1"``, ...).
        data_range: peak-to-peak value range of the inputs and outputs (for the PSNRs).

    Returns:
        An :class:`~stochrobust.audit.AuditReport`.

    Raises:
        ModelError: the model crashes on the inputs, returns a wrong batch size, a
            non-finite output or does not depend differentiably on its input.
        RangeError, ShapeError, NonFiniteError, StochRobustTypeError: invalid arguments.

    Shape:
        - ``y``: ``(N, *in_shape)``; report tensors: ``(N,)``, ``delta`` like ``y``.

    References:
        [O23] eqs. 6, 7, 9; [O24] (Lipschitz lower bound).

    Examples:
        >>> import stochrobust as sr
        >>> est = sr.Estimator(lambda y, z: y + 0.1 * z, seed_shape=(1, 4, 4))
        >>> rep = run_audit(est, torch.rand(2, 1, 4, 4), 0.1, n_seeds=4,
        ...                 generator=torch.Generator().manual_seed(0))
        >>> rep.stochastic, rep.diversity is not None, round(float(rep.root[0]), 3)
        (True, True, 0.1)
    """
    est = as_estimator(estimator)
    y = check_batch(y, "y")
    check_model_input(y, "y", data_range if box is None else None)
    e = check_positive(eps, "eps")
    chunk = check_int(batch_size, "batch_size", minimum=1)
    n_div = check_int(n_diversity_seeds, "n_diversity_seeds", minimum=2)
    used = default_solver(ball) if solver is None else solver
    label = list(names) if names is not None else [str(i) for i in range(y.shape[0])]
    if len(label) != y.shape[0]:
        raise ShapeError(f"names: expected {y.shape[0]} names, got {len(label)}")
    agg = RobustnessAggregator(
        e, ball=ball, n_seeds=n_seeds, solver=used, generator=generator, box=box,
        data_range=data_range,
    )  # fmt: skip
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("x", "l", "d")}
    with est.guarded("run_audit", freeze=True, eval_mode=True, arg="estimator"):
        _probe(est, y, generator)
        for start in range(0, y.shape[0], chunk):
            part = y[start : start + chunk]
            res = agg.attack(est, part)
            step = res.delta.flatten(1).norm(dim=1)
            parts["x"].append(res.delta)
            parts["l"].append(res.root / step.clamp_min(torch.finfo(step.dtype).tiny))
        if est.is_stochastic:  # after every attack, so that they draw as robustness() does
            with torch.no_grad():
                for start in range(0, y.shape[0], chunk):
                    draws = est.sample(y[start : start + chunk], n_div, generator=generator)
                    parts["d"].append(per_pixel_std(draws))
    shape = tuple(int(s) for s in y.shape[1:])

    def cat(key: str) -> torch.Tensor:
        return torch.cat(parts[key]).detach().cpu()

    rob = agg.value()  # this process's inputs (no collective)
    return AuditReport(
        robustness=rob, delta=cat("x"), lipschitz=cat("l"),
        diversity=cat("d") if parts["d"] else None, eps=e,
        ai_psnr=worst_ai_psnr(shape, e, ball, data_range), ball=ball, n_seeds=rob.n_seeds,
        solver=repr(used), stochastic=est.is_stochastic, names=label, input_shape=shape,
    )  # fmt: skip
