"""The one-shot δ-gradient of a solver objective (shared by :class:`Problem` and the objectives).

Internal: :func:`gradient_of` back-propagates through ``objective(delta)`` in one piece; the
sensitivity objectives call it when they do not chunk (see ``_objective.matched_cost``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stochrobust.errors import ModelError

__all__ = ["gradient_of", "not_differentiable"]


def not_differentiable() -> ModelError:
    """The error of an objective whose values do not require grad."""
    return ModelError(
        "objective: expected values that depend differentiably on delta, got a "
        "result that does not require grad (the model must be differentiable in "
        "its input: no torch.no_grad, .detach() or non-torch operations on y)"
    )


def _pair(out: object) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(out, tuple) and len(out) == 2:
        return out[0], out[1]
    return out, None  # type: ignore[return-value]


def gradient_of(
    objective: Callable[[torch.Tensor], object],
    delta: torch.Tensor,
    split: Callable[[object], tuple[torch.Tensor, torch.Tensor | None]] = _pair,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """One-shot ``(values, aux, ∇_δ Σ_b values_b)`` of ``objective`` at ``delta``, detached.

    Every per-sample value depends on its own row of ``delta`` only, so the gradient of the
    sum holds each sample's gradient in its row. ``split`` separates (and checks) the
    values and the aux of the objective's output.
    """
    d = delta.detach().requires_grad_(True)
    with torch.enable_grad():
        value, aux = split(objective(d))
        if not value.requires_grad:
            raise not_differentiable()
        (grad,) = torch.autograd.grad(value.sum(), d)
    return value.detach(), None if aux is None else aux.detach(), grad
