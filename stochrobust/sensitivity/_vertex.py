"""Vertex steps of the budgeted protocol on the L1 and L∞ balls (coordinate moves).

On a polytope ball, gradient ascent on a convex objective stops at *a* vertex: the
steepest step of every vertex of the L1 ball points back at it whenever the objective's
first-order change to another vertex is smaller than its curvature gain, and on the L∞ ball
the sign iteration stops at a sign vector from which no single first-order step improves.
Near ``delta = 0`` the sensitivity objectives are quadratic,
``f(δ) ≈ δᵀ JᵀJ δ`` with ``J`` the model's Jacobian, so

- on the L1 ball the worst case is ``ε²·max_j ‖J e_j‖²``: the vertex ``±ε e_j`` of the
  coordinate whose Jacobian column is largest. Gradients at random points estimate those
  column norms (``E[g_j²] ∝ (JᵀJ Σ JᵀJ)_jj``, the gradient energy): :func:`screen` evaluates
  the vertices of the coordinates with the most gradient energy;
- on the L∞ ball flipping the sign of coordinate ``j`` changes the value by
  ``−2ε s_j g_j + 2ε² (JᵀJ)_jj``: the first-order loss ``s_j g_j`` says which flips are
  cheap and the curvature may pay for them. :func:`flip` evaluates the flips of the
  cheapest coordinates and keeps the best improving one, round after round (a 1-flip local
  search).

Both are batched and per sample (``torch.where``), without host synchronisation.
"""

from __future__ import annotations

import torch

from stochrobust.sensitivity._ascent import Problem


class Energy:
    """Running sum of ``g² / ‖g‖²`` and of ``g`` per sample (an ``observe`` callback)."""

    def __init__(self) -> None:
        self.energy: torch.Tensor | None = None
        self.signed: torch.Tensor | None = None

    def __call__(self, grad: torch.Tensor) -> None:
        flat = grad.flatten(1)
        sq = flat.pow(2)
        unit = sq / sq.sum(dim=1, keepdim=True).clamp_min(torch.finfo(sq.dtype).tiny)
        self.energy = unit if self.energy is None else self.energy + unit
        self.signed = flat if self.signed is None else self.signed + flat


def _better(
    value: torch.Tensor, x: torch.Tensor, best: torch.Tensor, best_x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    win = value > best
    return torch.where(win, value, best), torch.where(
        win.reshape(-1, *([1] * (x.ndim - 1))), x, best_x
    )


def screen(problem: Problem, energy: Energy, count: int) -> torch.Tensor:
    """Evaluate the L1 vertices ``±ε e_j`` of the ``count`` coordinates with most energy.

    The sign is the one with the larger room in the box (the vertex is clipped to the box
    by :meth:`Problem.project`), and the sign of the summed gradients without a box.

    Args:
        problem: the Problem (every evaluation goes through it).
        energy: the gradient energy observed so far (at least one gradient).
        count: vertices evaluated per sample (``count`` evaluations).

    Returns:
        ``(B,)`` the best vertex value per sample (the Problem keeps the vertex itself).
    """
    assert energy.energy is not None and energy.signed is not None
    y = problem.y
    flat = y.flatten(1)
    top = energy.energy.topk(min(count, flat.shape[1]), dim=1).indices
    sign = torch.where(energy.signed >= 0, 1.0, -1.0).to(y.dtype)
    if problem.box is not None:
        lo, hi = problem.box
        sign = torch.where(hi - flat >= flat - lo, 1.0, -1.0).to(y.dtype)
    eps = problem.eps.reshape(-1, 1)
    best = torch.full_like(problem.eps, float("-inf"))
    for j in range(top.shape[1]):
        idx = top[:, j : j + 1]
        vertex = torch.zeros_like(flat).scatter(1, idx, sign.gather(1, idx) * eps)
        best = torch.maximum(best, problem.evaluate(problem.project(vertex.reshape(y.shape))))
    return best


def flip(
    problem: Problem,
    x: torch.Tensor,
    grad: torch.Tensor,
    value: torch.Tensor,
    rounds: int,
    width: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """1-flip local search on the L∞ ball from ``x`` (gradient ``grad``, value ``value``).

    Each round evaluates, with gradients, the ``width`` flips ``x_j → −x_j`` (``ε·sign(g_j)``
    where ``x_j = 0``) of the coordinates with the smallest first-order loss ``x_j g_j``,
    each projected onto ball ∩ box, and moves to the best one where it improves.

    Args:
        problem: the Problem.
        x: the start ``(B, ...)``.
        grad: the gradient at ``x``.
        value: ``(B,)`` the value at ``x``.
        rounds: rounds of the search.
        width: flips evaluated per round (``rounds·width`` evaluations).

    Returns:
        ``(value (B,), delta, grad)`` the best point per sample and its gradient.
    """
    eps = problem.eps_view
    width = min(width, x[0].numel())
    for _ in range(rounds):
        flat, g = x.flatten(1), grad.flatten(1)
        target = torch.where(flat != 0, -flat, (eps.flatten(1) * torch.sign(g)))
        order = (flat * g).topk(width, dim=1, largest=False).indices
        best, best_x, best_g = value, x, grad
        for j in range(width):
            idx = order[:, j : j + 1]
            moved = problem.project(flat.scatter(1, idx, target.gather(1, idx)).reshape(x.shape))
            v, _, gm = problem.value_and_grad(moved)
            win = (v > best).reshape(eps.shape)
            best_g = torch.where(win, gm, best_g)
            best, best_x = _better(v, moved, best, best_x)
        value, x, grad = best, best_x, best_g
    return value, x, grad
