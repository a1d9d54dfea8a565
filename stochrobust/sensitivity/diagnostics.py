"""Convergence diagnostics of a worst-case search (every solver result carries them).

A solver returns the best value it evaluated; nothing guarantees it is the maximum. Two
observable symptoms say that it may still be low:

- **late gain**: the best value was still rising at the end of the run. ``late_gain`` is
  ``(best − best after 75 % of the evaluations) / |best|``: the fraction the last quarter of
  the budget added. A run that still gains at the end would likely gain more with more steps.
- **restart spread**: independent starts disagree. ``runner_up`` is the best value of the
  second-best start divided by the best; ``spread`` is ``(best − median over starts) / |best|``.
  If only one start reached the best value, the landscape has several local maxima and more
  starts could find a higher one.

The rule (documented in ``docs/sensitivity.md``, "How strong is the attack?"): a sample is
``converged`` when ``late_gain ≤ tol`` **and** at least two starts were run and the runner-up
reached ``≥ (1 − tol)·best``, with ``tol = 0.01``. A single-start solver (``PGD()``) can never
show agreement, so its results are never flagged converged. The flag is a heuristic lower
bound on trust, not a certificate: a flagged-converged value can still be a local maximum
that every start found.

References:
    Croce & Hein, Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks, ICML 2020 (§3: checkpoints and the best-vs-restart analysis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["CONVERGENCE_TOL", "Diagnostics"]

CONVERGENCE_TOL = 0.01
"""Relative tolerance of the convergence rule (1 %)."""

_LATE = 0.75
"""The late gain is measured against the best value after this fraction of the evaluations."""


@dataclass(frozen=True, repr=False)
class Diagnostics:
    """How converged a worst-case search is, per sample.

    Attributes:
        evaluations: objective evaluations spent per input (forward passes; each gradient
            evaluation counts once).
        gradient_evaluations: of these, the ones with a backward pass.
        starts: independent starts run (restarts).
        start_values: ``(starts, B)`` the best value each start reached.
        late_gain: ``(B,)`` relative gain of the last 25 % of the evaluations.
        runner_up: ``(B,)`` best value of the second-best start over the best (``nan`` for
            one start).
        spread: ``(B,)`` ``(best − median over starts) / |best|`` (``0`` for one start).
        converged: ``(B,)`` bool, the rule of the module docstring.

    Examples:
        >>> from stochrobust.sensitivity import PGD
        >>> best = PGD(steps=3, restarts=2).maximize(
        ...     lambda d: d.pow(2).sum(1), torch.zeros(2, 3), 1.0,
        ...     generator=torch.Generator().manual_seed(0))
        >>> diag = best.diagnostics
        >>> diag.evaluations, diag.starts, diag.converged.tolist()
        (10, 2, [True, True])
    """

    evaluations: int
    gradient_evaluations: int
    starts: int
    start_values: torch.Tensor
    late_gain: torch.Tensor
    runner_up: torch.Tensor
    spread: torch.Tensor
    converged: torch.Tensor

    @classmethod
    def from_history(
        cls,
        history: list[torch.Tensor],
        start_values: torch.Tensor,
        gradient_evaluations: int,
        tol: float = CONVERGENCE_TOL,
    ) -> Diagnostics:
        """Build the diagnostics from the running best after each evaluation.

        Args:
            history: the best value so far ``(B,)`` after each evaluation, in order.
            start_values: ``(starts, B)`` the best value of each start.
            gradient_evaluations: how many evaluations had a backward pass.
            tol: the relative tolerance of the rule.

        Returns:
            The diagnostics (all tensors detached, on the values' device).

        Examples:
            >>> h = [torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([2.0]),
            ...      torch.tensor([4.0])]
            >>> d = Diagnostics.from_history(h, torch.tensor([[4.0], [3.0]]), 4)
            >>> d.late_gain.tolist(), d.runner_up.tolist(), d.converged.tolist()
            ([0.5], [0.75], [False])
        """
        best = history[-1]
        n = len(history)
        early = history[max(0, math.ceil(_LATE * n) - 1)]
        tiny = torch.finfo(best.dtype).tiny
        scale = best.abs().clamp_min(tiny)
        gain = torch.where(best > early, (best - early) / scale, torch.zeros_like(best))
        starts = start_values.shape[0]
        if starts >= 2:
            top2 = start_values.topk(2, dim=0).values
            runner = torch.where(
                top2[0] == top2[1], torch.ones_like(best), top2[1] / top2[0].abs().clamp_min(tiny)
            )
            median = start_values.median(dim=0).values
            spread = (top2[0] - median) / top2[0].abs().clamp_min(tiny)
            agree = runner >= 1 - tol
        else:
            runner = torch.full_like(best, float("nan"))
            spread = torch.zeros_like(best)
            agree = torch.zeros_like(best, dtype=torch.bool)
        return cls(
            evaluations=n,
            gradient_evaluations=gradient_evaluations,
            starts=starts,
            start_values=start_values,
            late_gain=gain,
            runner_up=runner,
            spread=spread,
            converged=(gain <= tol) & agree,
        )

    def summary(self) -> str:
        """One line: converged count, budget, worst late gain and worst spread.

        Returns:
            e.g. ``"converged 3/4, 98 evaluations/input, 4 starts, late gain ≤ 0.2 %,
            spread ≤ 12 %"``.

        Examples:
            >>> d = Diagnostics.from_history([torch.tensor([1.0])] * 4,
            ...                              torch.tensor([[1.0], [1.0]]), 3)
            >>> d.summary()
            'converged 1/1, 4 evaluations/input, 2 starts, late gain <= 0 %, spread <= 0 %'
        """
        b = self.converged.numel()
        ok = int(self.converged.sum())
        gain = float(self.late_gain.max()) if b else 0.0
        spread = float(self.spread.max()) if b else 0.0
        return (
            f"converged {ok}/{b}, {self.evaluations} evaluations/input, {self.starts} "
            f"start{'s' if self.starts != 1 else ''}, late gain <= {100 * gain:.3g} %, "
            f"spread <= {100 * spread:.3g} %"
        )

    def __repr__(self) -> str:
        return f"Diagnostics({self.summary()})"


def warn_unconverged(diagnostics: Diagnostics | None, where: str, *, stacklevel: int = 3) -> None:
    """Warn :class:`~stochrobust.ConvergenceWarning` if some sample has not converged.

    One host synchronisation (reads the flags); call once per reported result.

    Args:
        diagnostics: the result's diagnostics (``None``: nothing to say).
        where: the public function reporting the result (named in the message).
        stacklevel: passed to :func:`warnings.warn`.
    """
    if diagnostics is None or bool(diagnostics.converged.all()):
        return
    import warnings

    from stochrobust.errors import ConvergenceWarning

    gain = float(diagnostics.late_gain.max())
    reasons = []
    if gain > CONVERGENCE_TOL:
        reasons.append(f"the last quarter of the budget still gained up to {100 * gain:.3g} %")
    if diagnostics.starts < 2:
        reasons.append("only one start was run, so no second start confirms the value")
    else:
        runner = float(diagnostics.runner_up.nan_to_num(1.0).min())
        if runner < 1 - CONVERGENCE_TOL:
            reasons.append(f"the runner-up start reached only {100 * runner:.3g} % of the best")
    warnings.warn(
        f"{where}: {diagnostics.summary()}; the worst case may be higher than reported "
        f"({'; '.join(reasons)}). Raise the budget, e.g. solver=Protocol('thorough'), or see "
        "docs/sensitivity.md, 'How strong is the attack?'",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )
