"""The audit report: per-input and aggregate robustness figures of one model.

:class:`AuditReport` is what :func:`~stochrobust.audit.run_audit` (in
:mod:`stochrobust.audit.run`) collects: per input the eq. 6 value (squared) and its square
root, the eq. 9 output PSNR, the AI-PSNR at the maximiser, the [O24] Lipschitz lower bound
``‖G(y+δ) − G(y)‖/‖δ‖`` at that maximiser and, for stochastic models, the per-pixel standard
deviation over a few samples. The report prints as a table and serialises to JSON.

References:
    [O23] eqs. 2, 6, 7, 9, Table 2 (per-pixel std) and Table 3 (``sqrt(R̃)``).
    [O24] Ohayon, Michaeli, Elad. The Perception-Robustness Tradeoff in Deterministic Image
    Restoration. ICML 2024 (Lipschitz lower bound).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from stochrobust._deprecate import warn_renamed
from stochrobust.sensitivity.report import RobustnessReport

__all__ = ["AuditReport"]


def __getattr__(name: str) -> Any:
    if name == "run_audit":  # 0.1 location; the engine lives in stochrobust.audit.run
        warn_renamed("stochrobust.audit.report.run_audit", "stochrobust.audit.run_audit")
        from stochrobust.audit.run import run_audit

        return run_audit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _f(v: float) -> float | str:
    """A JSON-safe float: ``inf``/``nan`` as strings (strict JSON has no such numbers)."""
    return v if math.isfinite(v) else str(v)


@dataclass
class AuditReport:
    """What :func:`~stochrobust.audit.run_audit` measures: per-input and aggregate figures.

    Attributes:
        robustness: the aggregate of eqs. 3, 7 and 9 over the inputs, with the per-input
            tensors (:class:`~stochrobust.sensitivity.RobustnessAggregator`'s report, the
            same as :func:`~stochrobust.sensitivity.robustness` gives).
        delta: ``(N, *input_shape)`` the maximiser found for each input (CPU).
        lipschitz: ``(N,)`` Lipschitz lower bound ``root / ‖δ‖₂``.
        diversity: ``(N,)`` mean per-pixel std over ``n_diversity_seeds`` samples, or
            ``None`` for a deterministic model.
        eps: the radius.
        ai_psnr: the worst-case AI-PSNR the radius allows.
        ball: ``"l2"``, ``"linf"`` or ``"l1"``.
        n_seeds: seeds per input for eq. 6 (1 when deterministic).
        solver: ``repr`` of the solver.
        stochastic: whether the model takes a seed.
        names: one name per input.
        input_shape: per-input shape.
        settings: free-form settings recorded in the JSON (model spec, seed, ...).

    Examples:
        >>> from stochrobust.audit import run_audit
        >>> rep = run_audit(lambda y: 2 * y, torch.rand(3, 1, 4, 4), 0.1,
        ...                 generator=torch.Generator().manual_seed(0))
        >>> [round(v, 3) for v in rep.root.tolist()], round(rep.aggregate()["max_lipschitz"], 3)
        ([0.2, 0.2, 0.2], 2.0)
    """

    robustness: RobustnessReport
    delta: torch.Tensor
    lipschitz: torch.Tensor
    diversity: torch.Tensor | None
    eps: float
    ai_psnr: float
    ball: str
    n_seeds: int
    solver: str
    stochastic: bool
    names: list[str]
    input_shape: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> torch.Tensor:
        """``(N,)`` eq. 6 value (squared; eq. 2 squared for a deterministic model)."""
        return self.robustness.values

    @property
    def root(self) -> torch.Tensor:
        """``(N,)`` the square root of :attr:`value` (eq. 2 for a deterministic model)."""
        return self.robustness.roots

    @property
    def output_psnr(self) -> torch.Tensor:
        """``(N,)`` eq. 9 PSNR in dB (``inf``: the outputs did not move)."""
        return self.robustness.output_psnr

    @property
    def input_psnr(self) -> torch.Tensor:
        """``(N,)`` AI-PSNR ``PSNR(y + δ, y)`` at the maximiser."""
        return self.robustness.input_psnr

    @property
    def norm(self) -> torch.Tensor:
        """Deprecated spelling of :attr:`root` (0.1); warns ``DeprecationWarning``."""
        warnings.warn("AuditReport.norm is deprecated, use .root", DeprecationWarning, 2)
        return self.root

    def aggregate(self) -> dict[str, Any]:
        """Aggregate figures over the inputs.

        Returns:
            ``r_tilde`` (eq. 7, mean eq. 6 value), ``sqrt_r_tilde`` ([O23] Table 3),
            ``mean_root`` (eq. 3 for a deterministic model), ``mean_output_psnr`` (eq. 9),
            ``max_value`` with ``argmax_value``, ``min_input_psnr``, ``max_lipschitz``
            and ``mean_diversity`` (``None`` when deterministic).

        Examples:
            >>> from stochrobust.audit import run_audit
            >>> rep = run_audit(lambda y: 3 * y, torch.zeros(2, 4), 0.1)
            >>> round(rep.aggregate()["sqrt_r_tilde"], 4)    # [O23] Table 3: 3 * eps
            0.3
        """
        rob = self.robustness
        v = self.value.double()
        worst = int(v.argmax())
        return {
            "r_tilde": rob.r_tilde,
            "sqrt_r_tilde": rob.sqrt_r_tilde,
            "mean_root": rob.r,
            "mean_output_psnr": rob.mean_output_psnr,
            "max_value": float(v[worst]),
            "argmax_value": worst,
            "min_input_psnr": float(self.input_psnr.double().min()),
            "max_lipschitz": float(self.lipschitz.double().max()),
            "mean_diversity": (
                None if self.diversity is None else float(self.diversity.double().mean())
            ),
        }

    def exceeding(
        self, max_value: float | None = None, *, max_root: float | None = None
    ) -> list[int]:
        """Indices of the inputs above a bound (``value > max_value`` or ``root > max_root``).

        Args:
            max_value: the bound on the (squared) eq. 6 value, or ``None``.
            max_root: the bound on its square root (eq. 2 for deterministic models), or
                ``None``.

        Returns:
            The indices, worst (largest value) first.

        Examples:
            >>> from stochrobust.audit import run_audit
            >>> rep = run_audit(lambda y: y, torch.zeros(2, 4), 0.1)
            >>> rep.exceeding(0.001), rep.exceeding(0.1), rep.exceeding(max_root=0.05)
            ([0, 1], [], [0, 1])
        """
        above = torch.zeros_like(self.value, dtype=torch.bool)
        if max_value is not None:
            above |= self.value > max_value
        if max_root is not None:
            above |= self.root > max_root
        over = torch.nonzero(above).flatten()
        order = torch.argsort(self.value[over].double(), descending=True, stable=True)
        return [int(i) for i in over[order].tolist()]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (non-finite numbers as the strings ``"inf"``, ``"nan"``).

        Returns:
            ``settings``, ``per_input`` (one dict per input) and ``aggregate``.

        Examples:
            >>> from stochrobust.audit import run_audit
            >>> d = run_audit(lambda y: y, torch.zeros(1, 2), 0.5).to_dict()
            >>> row = d["per_input"].pop()
            >>> sorted(d), row["lipschitz_lower_bound"]
            (['aggregate', 'per_input', 'settings'], 1.0)
        """
        rows = []
        for i, name in enumerate(self.names):
            rows.append(
                {
                    "index": i,
                    "name": name,
                    "value": _f(float(self.value[i])),
                    "root": _f(float(self.root[i])),
                    "output_psnr": _f(float(self.output_psnr[i])),
                    "input_psnr": _f(float(self.input_psnr[i])),
                    "lipschitz_lower_bound": _f(float(self.lipschitz[i])),
                    "per_pixel_std": (
                        None if self.diversity is None else _f(float(self.diversity[i]))
                    ),
                }
            )
        agg = {k: (_f(v) if isinstance(v, float) else v) for k, v in self.aggregate().items()}
        settings = {
            "eps": self.eps,
            "ai_psnr": _f(self.ai_psnr),
            "ball": self.ball,
            "n_seeds": self.n_seeds,
            "solver": self.solver,
            "stochastic": self.stochastic,
            "input_shape": list(self.input_shape),
            "n_inputs": len(self.names),
            **self.settings,
        }
        return {"settings": settings, "per_input": rows, "aggregate": agg}

    def label(self, i: int) -> str:
        """How input ``i`` is named in messages: ``"3"``, or ``"3: name.png"`` for files.

        Args:
            i: the input's index.

        Returns:
            The label.

        Examples:
            >>> from stochrobust.audit import run_audit
            >>> rep = run_audit(lambda y: y, torch.zeros(2, 3), 0.1, names=["0", "b.png"])
            >>> rep.label(0), rep.label(1)
            ('0', '1: b.png')
        """
        return str(i) if self.names[i] == str(i) else f"{i}: {self.names[i]}"

    def format_table(self, max_rows: int = 20) -> str:
        """The report as a text table (all inputs, or the ``max_rows`` worst by eq. 6).

        Args:
            max_rows: most per-input rows to print.

        Returns:
            The table (several lines).

        Examples:
            >>> from stochrobust.audit import run_audit
            >>> rep = run_audit(lambda y: y, torch.zeros(3, 2), 0.1, names=["a", "b", "c"])
            >>> print(rep.format_table(max_rows=1).splitlines()[0])
            per input (the 1 most sensitive of 3):
        """
        n = len(self.names)
        order = list(range(n))
        note = ""
        if n > max_rows:
            top = torch.argsort(self.value.double(), descending=True, stable=True)[:max_rows]
            order = [int(i) for i in top.tolist()]
            note = f" (the {max_rows} most sensitive of {n})"
        width = max([5, *(len(self.names[i]) for i in order)])
        cols = ["eq6 value", "sqrt(eq6)", "eq9 PSNR", "AI-PSNR", "Lip LB"]
        if self.diversity is not None:
            cols.append("pix std")
        head = f"  {'#':>4}  {'input':<{width}}" + "".join(f"  {c:>10}" for c in cols)
        lines = [f"per input{note}:", head]
        for i in order:
            cells = [
                f"{float(self.value[i]):.4g}",
                f"{float(self.root[i]):.4g}",
                f"{float(self.output_psnr[i]):.2f}",
                f"{float(self.input_psnr[i]):.2f}",
                f"{float(self.lipschitz[i]):.4g}",
            ]
            if self.diversity is not None:
                cells.append(f"{float(self.diversity[i]):.4g}")
            lines.append(
                f"  {i:>4}  {self.names[i]:<{width}}" + "".join(f"  {c:>10}" for c in cells)
            )
        a = self.aggregate()
        lines += [
            f"aggregate over {n} inputs:",
            f"  R~ = mean eq. 6 value (eq. 7)       {a['r_tilde']:.4g}",
            f"  sqrt(R~) ([O23] Table 3)            {a['sqrt_r_tilde']:.4g}",
            f"  mean sqrt(eq. 6) (eq. 3 if determ.) {a['mean_root']:.4g}",
            f"  mean eq. 9 output PSNR              {a['mean_output_psnr']:.2f} dB",
            f"  max eq. 6 value                     {a['max_value']:.4g} "
            f"(input {self.label(a['argmax_value'])})",
            f"  min AI-PSNR at the maximisers       {a['min_input_psnr']:.2f} dB",
            f"  max Lipschitz lower bound ([O24])   {a['max_lipschitz']:.4g}",
        ]
        if a["mean_diversity"] is not None:
            lines.append(f"  mean per-pixel std (diversity)      {a['mean_diversity']:.4g}")
        return "\n".join(lines)
