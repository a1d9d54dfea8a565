"""Formatting of the assertion messages (internal).

The messages are read in a pytest failure report: short lines, the numbers first, the
configuration that produced them last.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def _hide(excinfo: object) -> bool:
    """Whether pytest hides a helper's frame when this returns True: for its AssertionError only."""
    errisinstance = getattr(excinfo, "errisinstance", None)
    return bool(errisinstance(AssertionError)) if errisinstance is not None else False


HIDE_ASSERTION_FRAMES = _hide
"""``__tracebackhide__`` value of the assertions: a failure points at the user's test line,
while errors (bad arguments, a broken model) keep the library frames."""

SHOWN = 5
"""At most this many offending inputs are listed in a message."""


def num(v: float) -> str:
    """A number in 4 significant digits (``inf``/``nan`` spelled out)."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.4g}"


def db(v: float) -> str:
    """A PSNR in dB with two decimals."""
    return f"{v:.2f} dB" if math.isfinite(v) else f"{num(v)} dB"


def ratio(found: float, bound: float) -> str:
    """``(12.3x the bound)`` or an empty string when not meaningful."""
    if bound > 0 and math.isfinite(found):
        return f" ({found / bound:.3g}x the bound)"
    return ""


def worst_first(scores: torch.Tensor, mask: torch.Tensor, *, largest: bool) -> list[int]:
    """Indices of ``mask``'s true entries, the most offending (by ``scores``) first."""
    idx = torch.nonzero(mask.flatten(), as_tuple=False).flatten()
    if idx.numel() == 0:
        return []
    order = torch.argsort(scores.flatten()[idx].double(), descending=largest, stable=True)
    return [int(i) for i in idx[order].tolist()]


def worst_ai_psnr(shape: Sequence[int], eps: float, norm: str, data_range: float) -> float:
    """Lowest ``PSNR(y + δ, y)`` over the ball (the AI-PSNR the radius guarantees).

    ``‖δ‖₂ ≤ ε`` on the L2 and L1 balls and ``‖δ‖₂ ≤ ε·sqrt(n)`` on the L∞ ball.
    """
    from stochrobust.sensitivity.budget import psnr_for_eps

    l2 = eps * math.sqrt(math.prod(shape)) if norm == "linf" else eps
    return psnr_for_eps(tuple(shape), l2, data_range)


def eps_line(eps: torch.Tensor, shape: Sequence[int], norm: str, data_range: float | None) -> str:
    """``eps = 0.1 on the l2 ball (worst-case AI-PSNR 34.00 dB for inputs of shape (3, 8, 8))``.

    Without a data range (``None``) there is no AI-PSNR: only the radius is reported.
    """
    lo, hi = float(eps.min()), float(eps.max())
    shp = tuple(int(s) for s in shape)
    if data_range is None:
        span = num(lo) if lo == hi else f"in [{num(lo)}, {num(hi)}]"
        return f"eps = {span} on the {norm} ball (inputs of shape {shp}, no data range)"
    if lo == hi:
        ai = worst_ai_psnr(shp, lo, norm, data_range)
        return (
            f"eps = {num(lo)} on the {norm} ball (worst-case AI-PSNR {db(ai)} for inputs of "
            f"shape {shp}, data range {num(data_range)})"
        )
    a_hi = worst_ai_psnr(shp, hi, norm, data_range)
    a_lo = worst_ai_psnr(shp, lo, norm, data_range)
    return (
        f"eps per input in [{num(lo)}, {num(hi)}] on the {norm} ball (worst-case AI-PSNR "
        f"{db(a_hi)} to {db(a_lo)} for inputs of shape {shp})"
    )


def more_line(total: int, shown: int, what: str) -> list[str]:
    """``(3 more <what>)`` when not every offender was listed."""
    return [f"    ... and {total - shown} more {what}"] if total > shown else []
