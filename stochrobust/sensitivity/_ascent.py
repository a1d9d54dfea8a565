"""Machinery shared by the attack solvers.

The feasible set, random starts, steepest-ascent directions and on-device tracking of the
best iterate.

Nothing here synchronises with the host inside an iteration: the best iterate is selected
with ``torch.where`` and the "gradient is identically zero" diagnosis is accumulated in a
device tensor and read once, when the solver finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeAlias

import torch

from stochrobust._checks import check_batch, check_eps, check_generator, describe
from stochrobust._seeds import draw
from stochrobust.errors import (
    ModelError,
    NonFiniteError,
    RangeError,
    ShapeError,
    StochRobustTypeError,
)
from stochrobust.sensitivity._gradient import gradient_of
from stochrobust.sensitivity.diagnostics import Diagnostics
from stochrobust.sensitivity.projections import check_ball, clip_box, project_ball

ObjectiveOutput: TypeAlias = "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"
Objective: TypeAlias = Callable[[torch.Tensor], "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]
Box: TypeAlias = "tuple[float, float] | None"


class Ascent(NamedTuple):
    """Result of :meth:`Solver.maximize`.

    Attributes:
        delta: the best perturbation found per sample, ``(B, *in_shape)``, detached.
        value: the objective at ``delta``, ``(B,)``, detached.
        aux: the objective's side output at ``delta`` (``None`` if it returns none).
        diagnostics: how converged the search is
            (:class:`~stochrobust.sensitivity.Diagnostics`).

    Examples:
        >>> from stochrobust.sensitivity import PGD
        >>> best = PGD(steps=2).maximize(lambda d: d.pow(2).sum(1), torch.zeros(1, 2), 1.0)
        >>> best._fields, round(float(best.value[0]), 4)
        (('delta', 'value', 'aux', 'diagnostics'), 1.0)
    """

    delta: torch.Tensor
    value: torch.Tensor
    aux: torch.Tensor | None
    diagnostics: Diagnostics | None = None


def check_box(box: object, y: torch.Tensor | None = None) -> tuple[float, float] | None:
    """Validate ``box`` (``None`` or ``(lo, hi)`` with ``lo ≤ hi``); ``y`` must lie inside it.

    Checking ``y`` costs one host synchronisation; call at an API boundary only.
    """
    if box is None:
        return None
    if not isinstance(box, (tuple, list)) or len(box) != 2:
        raise StochRobustTypeError(f"box: expected None or a pair (lo, hi), got {describe(box)}")
    try:
        lo, hi = float(box[0]), float(box[1])
    except (TypeError, ValueError):
        raise StochRobustTypeError(
            f"box: expected a pair of real numbers (lo, hi), got {box!r}"
        ) from None
    if not lo <= hi:
        raise RangeError(f"box: expected lo <= hi, got ({lo:g}, {hi:g})")
    if y is not None and bool(((y < lo) | (y > hi)).any()):
        raise RangeError(
            f"y: expected values inside box [{lo:g}, {hi:g}], got range "
            f"[{float(y.min()):g}, {float(y.max()):g}]"
        )
    return lo, hi


def _rand_like(
    y: torch.Tensor, generator: torch.Generator | None, kind: str = "rand"
) -> torch.Tensor:
    """Uniform (``rand``) or normal (``randn``) noise shaped like ``y``.

    Drawn on the generator's device and moved to ``y``'s.
    """
    fn = torch.rand if kind == "rand" else torch.randn
    return draw(fn, y.shape, generator=generator, dtype=y.dtype, device=y.device)


def uniform_ball(
    y: torch.Tensor, eps: torch.Tensor, ball: str, generator: torch.Generator | None
) -> torch.Tensor:
    """A point drawn uniformly from the ``ball`` of radius ``eps[b]`` per row.

    L∞: uniform in the cube. L2: Gaussian direction, radius ``ε·U^(1/d)``. L1: the first
    ``d`` of ``d + 1`` normalised exponential spacings (uniform on the simplex), random signs.
    """
    flat = y.flatten(1)
    d = flat.shape[1]
    e = eps.reshape(-1, 1)
    if ball == "linf":
        u = _rand_like(flat, generator)
        return ((2 * u - 1) * e).reshape(y.shape)
    if ball == "l2":
        g = _rand_like(flat, generator, "randn")
        u = _rand_like(flat[:, :1], generator)
        tiny = torch.finfo(y.dtype).tiny
        direction = g / g.norm(dim=1, keepdim=True).clamp_min(tiny)
        point: torch.Tensor = (direction * e * u.pow(1.0 / d)).reshape(y.shape)
        return point
    # l1: exponential spacings, then random signs.
    expo = -torch.log(_rand_like(torch.empty_like(flat[:, :1]).expand(-1, d + 1), generator))
    expo = expo.clamp_max(torch.finfo(y.dtype).max / (4 * (d + 1)))
    mag = expo[:, :d] / expo.sum(dim=1, keepdim=True)
    signs = torch.where(_rand_like(flat, generator) < 0.5, -1.0, 1.0).to(y.dtype)
    return (signs * mag * e).reshape(y.shape)


def steepest(grad: torch.Tensor, ball: str, topk: int = 1) -> torch.Tensor:
    """Unit steepest-ascent direction of ``grad`` for the ``ball``'s norm (row by row).

    L2: ``g / ‖g‖₂``; L∞: ``sign(g)``; L1: ``sign(g)`` on the ``topk`` coordinates of largest
    ``|g|``, each ``1/topk`` (L1 norm 1; ``topk = 1`` is the exact steepest direction).
    """
    if ball == "linf":
        return torch.sign(grad)
    flat = grad.flatten(1)
    if ball == "l2":
        tiny = torch.finfo(grad.dtype).tiny
        unit: torch.Tensor = flat / flat.norm(dim=1, keepdim=True).clamp_min(tiny)
        return unit.reshape(grad.shape)
    k = min(topk, flat.shape[1])
    idx = flat.abs().topk(k, dim=1).indices
    out = torch.zeros_like(flat).scatter_(1, idx, torch.sign(flat.gather(1, idx)) / k)
    return out.reshape(grad.shape)


class Problem:
    """One maximisation: objective, centre ``y``, radii, ball, box; evaluates and tracks.

    The public contract between a :class:`~stochrobust.sensitivity.Solver` and the search
    it runs: a solver's :meth:`~stochrobust.sensitivity.Solver.ascend` receives a Problem and
    calls :meth:`start`, :meth:`value_and_grad`, :meth:`evaluate` and :meth:`project`; the
    Problem records every evaluated iterate, keeps the best per sample on the device (with
    ``torch.where``, no host synchronisation) and builds the
    :class:`~stochrobust.sensitivity.Diagnostics` in :meth:`finish`.

    An objective may also define ``objective.value_and_grad(delta)`` returning
    ``(values, aux or None, ∇_δ Σ_b values_b)``, detached: :meth:`value_and_grad` then uses
    it instead of back-propagating through ``objective(delta)`` in one piece. The
    sensitivity objectives use this to back-propagate chunk by chunk
    (:meth:`~stochrobust.Estimator.foreach_chunk`) when the estimator has a ``max_batch``.

    Args:
        objective: ``objective(delta)`` → ``(B,)`` values, or ``(values, aux)`` with ``aux``
            a tensor with leading dim ``B`` kept for the best iterate.
        y: the centre ``(B, ...)``; only its shape, dtype and device and the box are used.
        eps: radii ``(B,)`` on ``y``'s device.
        ball: ``"l2"``, ``"linf"`` or ``"l1"``.
        box: ``(lo, hi)`` on ``y + delta`` or ``None``.
        random_start: whether the solver starts at a random point (changes the message of
            the zero-gradient error only).

    References:
        [O23] App. E.2.3 (projection after every step); Croce & Hein, ICML 2020 (best
        iterate kept over all steps and restarts).

    Examples:
        >>> problem = Problem(lambda d: d.pow(2).sum(1), torch.zeros(2, 3),
        ...                   torch.ones(2), "l2", None, True)
        >>> delta = problem.start(generator=torch.Generator().manual_seed(0))
        >>> _ = problem.evaluate(problem.project(2 * delta / delta.norm(dim=1, keepdim=True)))
        >>> [round(v, 6) for v in problem.finish().value.tolist()]
        [1.0, 1.0]
    """

    def __init__(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: torch.Tensor,
        ball: str,
        box: tuple[float, float] | None,
        random_start: bool = True,
    ) -> None:
        self.objective = objective
        self.y = y
        self.eps = eps
        self.eps_view = eps.reshape(-1, *([1] * (y.ndim - 1)))
        self.active = eps > 0
        self.ball = ball
        self.box = box
        self.random_start = random_start
        self.best_delta = torch.zeros_like(y)
        self.best_value = torch.full((y.shape[0],), float("-inf"), dtype=y.dtype, device=y.device)
        self.best_aux: torch.Tensor | None = None
        self._signal: torch.Tensor | None = None
        self._history: list[torch.Tensor] = []
        self._start_values: list[torch.Tensor] = []
        self.evaluations = 0
        self.gradient_evaluations = 0

    # ------------------------------------------------------------------ feasibility
    def project(self, delta: torch.Tensor) -> torch.Tensor:
        """Project onto the ball, then clip to the box (a point of ball ∩ box).

        Args:
            delta: ``(B, *in_shape)``.

        Returns:
            The feasible point.
        """
        out = project_ball(delta, self.eps, self.ball, check=False)
        if self.box is not None:
            out = clip_box(out, self.y, self.box, check=False)
        return out

    def start(
        self, *, generator: torch.Generator | None = None, random: bool = True
    ) -> torch.Tensor:
        """Begin a new independent start; return its point (uniform in the ball, or zeros).

        Args:
            generator: random generator of the start.
            random: ``False`` starts at ``delta = 0``.

        Returns:
            The start, clipped to the box.
        """
        self._start_values.append(torch.full_like(self.best_value, float("-inf")))
        if not random:
            return torch.zeros_like(self.y)
        return self.project(uniform_ball(self.y, self.eps, self.ball, generator))

    # ------------------------------------------------------------------ evaluation
    def _split(self, out: object) -> tuple[torch.Tensor, torch.Tensor | None]:
        aux = None
        if isinstance(out, tuple) and len(out) == 2:
            out, aux = out
        if not isinstance(out, torch.Tensor) or out.shape != (self.y.shape[0],):
            raise ShapeError(
                f"objective: expected to return values of shape ({self.y.shape[0]},), "
                f"got {describe(out)}"
            )
        if aux is not None and (
            not isinstance(aux, torch.Tensor) or aux.ndim < 1 or aux.shape[0] != self.y.shape[0]
        ):
            raise ShapeError(
                f"objective: expected an aux tensor with leading dimension {self.y.shape[0]}, "
                f"got {describe(aux)}"
            )
        return out, aux

    def value_and_grad(
        self, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Objective and its gradient in ``delta``; records the iterate for the best-of.

        Args:
            delta: a feasible point ``(B, *in_shape)``.

        Returns:
            ``(value (B,), aux or None, grad (B, *in_shape))``, detached.

        Raises:
            ModelError: the objective does not require grad.
            ShapeError: the objective returns the wrong shape.
        """
        own = getattr(self.objective, "value_and_grad", None)
        if callable(own):
            value, aux, grad = own(delta.detach())
            self._split((value, aux))
        else:
            value, aux, grad = gradient_of(self.objective, delta, self._split)
        value = value.detach()
        aux = None if aux is None else aux.detach()
        d = delta.detach()
        if self._signal is None:
            self._signal = (grad.flatten(1).ne(0).any(dim=1) & self.active).any()
        self.gradient_evaluations += 1
        self.record(d, value, aux)
        return value, aux, grad

    def evaluate(self, delta: torch.Tensor) -> torch.Tensor:
        """Objective without gradient; records the iterate for the best-of.

        Args:
            delta: a feasible point ``(B, *in_shape)``.

        Returns:
            ``(B,)`` values.

        Raises:
            ShapeError: the objective returns the wrong shape.
        """
        with torch.no_grad():
            value, aux = self._split(self.objective(delta))
        self.record(delta, value, aux)
        return value

    def record(self, delta: torch.Tensor, value: torch.Tensor, aux: torch.Tensor | None) -> None:
        """Keep ``delta`` for the rows where ``value`` beats the best so far (on device).

        Args:
            delta: the evaluated point.
            value: its ``(B,)`` values (NaN never wins).
            aux: its side output or ``None``.
        """
        self.evaluations += 1
        better = value > self.best_value
        self.best_value = torch.where(better, value, self.best_value)
        self.best_delta = torch.where(better.reshape(self.eps_view.shape), delta, self.best_delta)
        self._history.append(self.best_value)
        if self._start_values:
            current = self._start_values[-1]
            self._start_values[-1] = torch.where(value > current, value, current)
        if aux is not None:
            if self.best_aux is None:
                self.best_aux = aux.clone()
            else:
                self.best_aux = torch.where(
                    better.reshape(-1, *([1] * (aux.ndim - 1))), aux, self.best_aux
                )

    def finish(self, start_values: torch.Tensor | None = None) -> Ascent:
        """Diagnose a zero gradient or non-finite values (one host sync) and return.

        Args:
            start_values: ``(starts, B)`` the best value of each start, for solvers that
                interleave their starts (:class:`~stochrobust.sensitivity.Protocol`);
                ``None`` uses the values recorded since each :meth:`start`.

        Returns:
            The best iterate per sample with its :class:`Diagnostics`.

        Raises:
            ModelError: the gradient was identically zero at the first evaluation.
            NonFiniteError: some sample has no finite value.
        """
        if self._signal is not None and bool(self.active.any()) and not bool(self._signal):
            hint = (
                "; the solver starts at delta = 0 (random_start=False), where the "
                "sensitivity objectives have an exactly zero gradient: enable random_start"
                if not self.random_start
                else ""
            )
            raise ModelError(
                "objective: expected a non-zero gradient in delta at the start point, got a "
                "gradient that is identically zero for every sample (the model must be "
                f"differentiable in its input, not piecewise constant or detached){hint}"
            )
        if self.evaluations and not bool(torch.isfinite(self.best_value).all()):
            raise NonFiniteError(
                "objective: expected finite values at y + delta, got NaN or Inf for every "
                "iterate of some sample (the model output is not finite near y)"
            )
        diagnostics = None
        if self._history:
            if start_values is None:
                start_values = (
                    torch.stack(self._start_values)
                    if self._start_values
                    else self.best_value.unsqueeze(0)
                )
            diagnostics = Diagnostics.from_history(
                self._history, start_values, self.gradient_evaluations
            )
        return Ascent(self.best_delta, self.best_value, self.best_aux, diagnostics)


def validate(
    y: object,
    eps: float | torch.Tensor,
    ball: object,
    box: object,
    generator: object,
) -> tuple[torch.Tensor, torch.Tensor, str, tuple[float, float] | None]:
    """Boundary validation of a solver call (at most a couple of host syncs)."""
    yt = check_batch(y, "y")
    e = check_eps(eps, yt.shape[0], device=yt.device, dtype=yt.dtype)
    n = check_ball(ball)
    b = check_box(box, yt)
    check_generator(generator)
    return yt, e, n, b
