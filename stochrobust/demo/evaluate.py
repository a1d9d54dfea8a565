"""Measurements of the ``stochrobust demo``: precision/recall and eq. 6 sensitivity.

:func:`evaluate` draws everything from one seeded generator and returns one
:class:`EstimatorResult` per estimator: ``X̂_α`` for each α, then the disk's posterior
sampler.

References:
    [O23] §4.1 (precision/recall of ``X̂_α``), eqs. 6–7 (sensitivity), App. D.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from stochrobust._checks import check_int, check_positive
from stochrobust.errors import RangeError
from stochrobust.estimator import Estimator
from stochrobust.toy.data import sample_disk
from stochrobust.toy.estimators import disk_posterior_estimator, sine_disk_estimator

if TYPE_CHECKING:  # pragma: no cover
    from stochrobust.sensitivity import RobustnessReport, Solver

__all__ = [
    "DemoConfig",
    "EstimatorResult",
    "demo_estimators",
    "demo_robustness",
    "demo_solver",
    "evaluate",
]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and constants of the demo.

    Attributes:
        alphas: frequencies of the deterministic estimators ``X̂_α``.
        n_samples: outputs and data points per precision/recall evaluation (paper: 1000).
        n_draws: independent precision/recall draws averaged.
        k: neighbour rank of precision/recall (paper: 5 for the toy problem).
        n_inputs: inputs ``y ~ p_Y`` over which the eq. 6 sensitivity is averaged.
        n_seeds: seeds per input in eq. 6 (the posterior sampler; deterministic estimators
            need one).
        eps: L2 radius of the input perturbation (paper: 1e-3).
        restarts: random restarts of the PGD maximiser of eq. 6 (see :func:`demo_solver`).
        n_support: outputs tracing each estimator's support in the figure (paper: 10 000).
        n_shown: samples against data points in the figure (paper: 100).
        seed: seed of the single random generator that drives everything.
    """

    alphas: tuple[float, ...] = (1.0, 5.0, 20.0, 50.0)
    n_samples: int = 1000
    n_draws: int = 5
    k: int = 5
    n_inputs: int = 1000
    n_seeds: int = 10
    eps: float = 1e-3
    restarts: int = 8
    n_support: int = 10_000
    n_shown: int = 100
    seed: int = 0

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smaller configuration for smoke tests (a few seconds)."""
        return cls(n_samples=400, n_draws=1, n_inputs=200, restarts=3, n_support=1000)

    def validated(self) -> DemoConfig:
        """Return ``self`` after checking every field.

        Returns:
            ``self``.

        Raises:
            RangeError: no ``alphas``, a non-positive ``alpha`` or ``eps``, a size below 1,
                or ``k ≥ n_samples``.
            StochRobustTypeError: a size that is not an integer.

        Examples:
            >>> DemoConfig.quick().validated().n_samples
            400
        """
        if len(self.alphas) == 0:
            raise RangeError("alphas: expected at least one frequency, got none")
        for a in self.alphas:
            check_positive(a, "alphas")
        names = ("n_samples", "n_draws", "n_inputs", "n_seeds", "restarts", "n_support", "n_shown")
        for name in names:
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.k, "k", minimum=1)
        if self.k >= self.n_samples:
            raise RangeError(f"k: expected k < n_samples = {self.n_samples}, got {self.k}")
        check_positive(self.eps, "eps")
        check_int(self.seed, "seed", minimum=0)
        return self


@dataclass
class EstimatorResult:
    """Measurements of one estimator (one row of the table, one entry of the JSON).

    Attributes:
        name: short identifier (``"X_1"`` … or ``"posterior"``).
        alpha: ``α`` of ``X̂_α``; ``None`` for the posterior sampler.
        stochastic: whether the estimator draws a random seed.
        precision: mean precision over the draws.
        recall: mean recall over the draws.
        precision_std: standard deviation of the precision over the draws.
        recall_std: standard deviation of the recall over the draws.
        sensitivity: mean over inputs of the eq. 6 value ``r̃(y)`` (squared), i.e. ``R̃``.
        sensitivity_sqrt: ``sqrt(R̃)`` (what [O23] Table 3 reports).
        sensitivity_median: median over inputs of ``r̃(y)``.
        eps: the perturbation radius.
        seconds: wall time spent on this estimator.
    """

    name: str
    alpha: float | None
    stochastic: bool
    precision: float
    recall: float
    precision_std: float
    recall_std: float
    sensitivity: float
    sensitivity_sqrt: float
    sensitivity_median: float
    eps: float
    seconds: float

    @property
    def label(self) -> str:
        """Human-readable name for tables and figures."""
        return "posterior sampler" if self.alpha is None else f"X_alpha, alpha={self.alpha:g}"


def demo_estimators(config: DemoConfig) -> list[tuple[str, float | None, Estimator]]:
    """The estimators of the demo as ``(name, alpha, estimator)``.

    Args:
        config: gives the frequencies ``alphas``.

    Returns:
        ``X̂_α`` for each α in increasing order (``alpha`` set), then the posterior sampler
        (``alpha`` ``None``).

    References:
        [O23] §4 (``X̂_α``), Thm. 3.1 (the posterior sampler).

    Examples:
        >>> tuple((n, a) for n, a, _ in demo_estimators(DemoConfig(alphas=(20.0, 1.0))))
        (('X_1', 1.0), ('X_20', 20.0), ('posterior', None))
    """
    out: list[tuple[str, float | None, Estimator]] = [
        (f"X_{a:g}", float(a), sine_disk_estimator(a)) for a in sorted(config.alphas)
    ]
    out.append(("posterior", None, disk_posterior_estimator()))
    return out


def demo_solver(restarts: int = 8) -> Solver:
    """The maximiser of eq. 6 used by the demo: PGD with random restarts.

    The input is 1-D, so the ball is the segment ``[y − ε, y + ε]`` and eq. 6 may have a
    local maximum at each end; a few random restarts find the better one (the mean over
    inputs then matches a brute-force grid search over ``δ`` to about 1e-4 relative).

    Args:
        restarts: number of random restarts (``≥ 1``).

    Returns:
        A fresh :class:`~stochrobust.sensitivity.PGD` (20 steps each).

    Raises:
        RangeError: ``restarts < 1``.

    Examples:
        >>> demo_solver().restarts
        8
    """
    from stochrobust.sensitivity import PGD

    return PGD(restarts=restarts)


def _mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1)
    return m, math.sqrt(var)


def demo_robustness(
    estimator: Estimator,
    y: torch.Tensor,
    config: DemoConfig,
    *,
    generator: torch.Generator | None = None,
) -> RobustnessReport:
    """The demo's eq. 6 / eq. 7 measurement of one estimator at the inputs ``y``.

    One attack of every input on the L2 ball of radius ``config.eps`` with ``y + δ`` kept in
    ``[−1, 1]``, ``config.n_seeds`` seeds and :func:`demo_solver`, aggregated by
    :class:`~stochrobust.sensitivity.RobustnessAggregator` (the aggregate of
    :func:`~stochrobust.sensitivity.robustness` and ``stochrobust audit``).

    Args:
        estimator: one of :func:`demo_estimators`' estimators (or any 1-D-input estimator).
        y: the inputs ``(N, 1)`` in ``[−1, 1]``.
        config: gives ``eps``, ``n_seeds`` and ``restarts``.
        generator: random generator of the attack; ``None`` uses torch's global one.

    Returns:
        The :class:`~stochrobust.sensitivity.RobustnessReport` (``r_tilde`` is ``R̃``).

    Raises:
        RangeError, ShapeError, NonFiniteError, ModelError: as
            :func:`~stochrobust.sensitivity.sensitivity_at`.

    Shape:
        - ``y``: ``(N, 1)``; report tensors ``(N,)``.

    References:
        [O23] eqs. 6–7, §4 (the disk toy problem).

    Examples:
        >>> from stochrobust.toy import sine_disk_estimator
        >>> rep = demo_robustness(sine_disk_estimator(1.0), torch.zeros(3, 1), DemoConfig(),
        ...                       generator=torch.Generator().manual_seed(0))
        >>> rep.n_samples, rep.sqrt_r_tilde > 1e-3    # the output moves more than eps
        (3, True)
    """
    from stochrobust.sensitivity import RobustnessAggregator

    agg = RobustnessAggregator(
        config.eps, n_seeds=config.n_seeds, solver=demo_solver(config.restarts),
        generator=generator, box=(-1.0, 1.0),
    )  # fmt: skip
    agg.update(estimator, y)
    return agg.compute()


def _evaluate_one(
    name: str,
    alpha: float | None,
    est: Estimator,
    config: DemoConfig,
    gen: torch.Generator,
    device: torch.device,
) -> EstimatorResult:
    from stochrobust.metrics import precision_recall

    start = time.perf_counter()
    precisions, recalls = [], []
    for _ in range(config.n_draws):
        real, _ = sample_disk(config.n_samples, generator=gen, device=device)
        _, y = sample_disk(config.n_samples, generator=gen, device=device)
        fake = est.sample(y, 1, generator=gen)[:, 0]
        p, r = precision_recall(real, fake, k=config.k)
        precisions.append(float(p))
        recalls.append(float(r))
    _, y = sample_disk(config.n_inputs, generator=gen, device=device)
    rep = demo_robustness(est, y, config, generator=gen)
    pm, ps = _mean_std(precisions)
    rm, rs = _mean_std(recalls)
    return EstimatorResult(
        name=name,
        alpha=alpha,
        stochastic=est.is_stochastic,
        precision=pm,
        recall=rm,
        precision_std=ps,
        recall_std=rs,
        sensitivity=rep.r_tilde,
        sensitivity_sqrt=rep.sqrt_r_tilde,
        sensitivity_median=float(rep.values.double().median()),
        eps=config.eps,
        seconds=time.perf_counter() - start,
    )


def evaluate(
    config: DemoConfig,
    *,
    device: str | torch.device = "cpu",
    progress: Callable[[str], None] | None = None,
) -> list[EstimatorResult]:
    """Measure precision/recall and eq. 6 sensitivity of every demo estimator.

    Args:
        config: sizes and constants.
        device: where to compute.
        progress: called with one line of text per finished estimator (e.g. ``print``).

    Returns:
        The results: ``X̂_α`` by increasing α, then the posterior sampler.

    Raises:
        RangeError: an invalid configuration.

    References:
        [O23] §4.1 (precision/recall of ``X̂_α``), eqs. 6–7 (sensitivity).

    Examples:
        >>> cfg = DemoConfig(alphas=(1.0,), n_samples=50, n_draws=1, n_inputs=20)
        >>> tuple(r.name for r in evaluate(cfg))
        ('X_1', 'posterior')
    """
    config = config.validated()
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(config.seed)
    ests = demo_estimators(config)
    results = []
    for i, (name, alpha, est) in enumerate(ests, start=1):
        r = _evaluate_one(name, alpha, est, config, gen, dev)
        results.append(r)
        if progress is not None:
            progress(
                f"[{i}/{len(ests)}] {r.label:<22} precision {r.precision:.3f}  recall "
                f"{r.recall:.3f}  sensitivity {r.sensitivity:.3g}  ({r.seconds:.1f} s)"
            )
    return results
