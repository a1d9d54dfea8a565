"""Result types of the sensitivity functions ([O23] eqs. 2, 4, 6 and 9).

:class:`SensitivityResult` is what :func:`~stochrobust.sensitivity.sensitivity_at` returns,
:class:`W2SensitivityResult` what :func:`~stochrobust.sensitivity.w2_sensitivity_at`
returns; both carry the attack's :class:`~stochrobust.sensitivity.Diagnostics`.

References:
    [O23] eqs. 2, 4, 6, 9 and Table 3 (``sqrt(R̃)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stochrobust._deprecate import warn_renamed
from stochrobust.sensitivity.diagnostics import Diagnostics

__all__ = ["SensitivityResult", "W2SensitivityResult"]


def _summary(t: torch.Tensor) -> str:
    return f"mean {float(t.float().mean()):.4g}" if t.numel() else "empty"


@dataclass(repr=False)
class SensitivityResult:
    """Per-sample result of :func:`sensitivity_at`.

    Attributes:
        value: ``(B,)`` the **squared** same-seed sensitivity
            ``E_Z ‖G(y, Z) − G(y + δ, Z)‖²`` at the maximiser ``δ`` ([O23] eq. 6; eq. 2
            *squared* for a deterministic model). Its batch mean is ``R̃`` (eq. 7).
        root: ``(B,)`` ``sqrt(value)`` — for a deterministic model this is eq. 2,
            ``‖G(y) − G(y + δ)‖₂`` (not squared); [O23] Table 3 reports ``sqrt(R̃)``.
        delta: ``(B, *in_shape)`` the maximiser found (feasible: in the ball and the box).
        output_psnr: ``(B,)`` eq. 9 per sample: the mean over the seeds of
            ``PSNR(G(y, z_k), G(y + δ, z_k))`` in dB (``inf`` where the outputs coincide).
        input_psnr: ``(B,)`` the adversarial-input PSNR ``PSNR(y + δ, y)`` (AI-PSNR).
        eps: ``(B,)`` the radii.
        ball: the ball's norm, ``"l2"``, ``"linf"`` or ``"l1"``.
        n_seeds: seeds evaluated per sample (1 for a deterministic estimator).
        solver: ``repr`` of the solver used.
        diagnostics: how converged the search is
            (:class:`~stochrobust.sensitivity.Diagnostics`; ``None`` when ``eps = 0``
            everywhere and no search ran).

    Examples:
        >>> from stochrobust.sensitivity import sensitivity_at
        >>> res = sensitivity_at(lambda y: 2 * y, torch.zeros(2, 3), 0.5)
        >>> [round(v, 6) for v in res.value.tolist()], res.ball   # eq. 6 = (2·0.5)**2
        ([1.0, 1.0], 'l2')
        >>> torch.allclose(res.value, res.root**2)
        True
        >>> res.diagnostics.evaluations
        100
    """

    value: torch.Tensor
    root: torch.Tensor
    delta: torch.Tensor
    output_psnr: torch.Tensor
    input_psnr: torch.Tensor
    eps: torch.Tensor
    ball: str
    n_seeds: int
    solver: str
    diagnostics: Diagnostics | None = None

    @property
    def norm(self) -> torch.Tensor:
        """Deprecated 0.1 name of :attr:`root` (warns ``DeprecationWarning``)."""
        warn_renamed("SensitivityResult.norm", "SensitivityResult.root")
        return self.root

    def __repr__(self) -> str:
        return (
            f"SensitivityResult(B={self.value.shape[0]}, value {_summary(self.value)}, "
            f"root {_summary(self.root)}, output_psnr {_summary(self.output_psnr)} dB, "
            f"ball={self.ball!r}, n_seeds={self.n_seeds}, solver={self.solver})"
        )


@dataclass(repr=False)
class W2SensitivityResult:
    """Per-sample result of :func:`w2_sensitivity_at`.

    Attributes:
        value: ``(B,)`` the eq. 4 estimate: the empirical **squared** ``W₂`` between the
            seed clouds ``{G(y, z_k)}`` and ``{G(y + δ, z'_k)}`` at the maximiser ``δ``.
        same_seed_value: ``(B,)`` the eq. 6 objective ``mean_k ‖G(y, z_k) − G(y + δ, z_k)‖²``
            at the same ``δ``. With ``same_seeds=True``, ``value ≤ same_seed_value`` holds
            exactly (App. D; the identity matching is one feasible coupling).
        delta: ``(B, *in_shape)`` the maximiser found.
        eps: ``(B,)`` the radii.
        ball: the ball's norm.
        n_seeds: points per cloud.
        same_seeds: whether the two clouds used the same seeds (``z' = z``).
        solver: ``repr`` of the solver used.
        diagnostics: how converged the search of eq. 4 is (``None`` when no search ran).

    Examples:
        >>> from stochrobust.sensitivity import w2_sensitivity_at
        >>> res = w2_sensitivity_at(lambda y: 2 * y, torch.zeros(2, 3), 0.5)
        >>> [round(v, 6) for v in (*res.value.tolist(), *res.same_seed_value.tolist())]
        [1.0, 1.0, 1.0, 1.0]
    """

    value: torch.Tensor
    same_seed_value: torch.Tensor
    delta: torch.Tensor
    eps: torch.Tensor
    ball: str
    n_seeds: int
    same_seeds: bool
    solver: str
    diagnostics: Diagnostics | None = None

    def __repr__(self) -> str:
        return (
            f"W2SensitivityResult(B={self.value.shape[0]}, value {_summary(self.value)}, "
            f"same_seed_value {_summary(self.same_seed_value)}, ball={self.ball!r}, "
            f"n_seeds={self.n_seeds}, same_seeds={self.same_seeds}, solver={self.solver})"
        )
