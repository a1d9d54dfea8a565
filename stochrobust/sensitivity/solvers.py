"""Attack solvers: maximise a differentiable per-sample objective over a norm ball.

A solver is objective-agnostic. It receives ``objective(delta) -> (B,)`` — values to
*maximise*, differentiable in ``delta`` — the centre ``y`` (only its shape, dtype, device and
box matter), the radius ``eps`` (a number or a ``(B,)`` tensor), the ball (``"l2"``,
``"linf"``, ``"l1"``) and an optional box ``[lo, hi]`` on ``y + delta``, and returns the best
feasible ``delta`` it evaluated, per sample, over all steps and restarts::

    delta = solver(objective, y, eps, norm="l2", box=(0.0, 1.0), generator=g)
    best = solver.maximize(objective, y, eps)      # Ascent(delta, value, aux)

The objective may also return ``(values, aux)``; ``aux`` (leading dim ``B``) is kept for the
best iterate (the sensitivity functions use it to keep the perturbed outputs).

Conventions shared by every solver:

- ``steps`` gradient evaluations per restart (forward + backward), then one final
  evaluation of the last iterate without gradient: ``steps + 1`` objective values per
  restart, the best of which is returned. The best is tracked on the device with
  ``torch.where``; there is no host synchronisation inside the loop.
- Random start (default): uniform in the ball (then clipped to the box). The sensitivity
  objectives ``‖G(y) − G(y + δ)‖²`` have an exactly zero gradient at ``δ = 0``, so a solver
  started there never moves ([O23] eq. 6; SPEC §2). With ``random_start=False`` the start is
  ``δ = 0`` and an identically zero gradient raises :class:`~stochrobust.ModelError`.
- Projection onto the ball, then clipping to the box, after every step ([O23] App. E.2.3).
- ``restarts`` independent runs, the best per sample kept; the first restart draws exactly
  what a single run draws from ``generator``, so more restarts are never worse.
- Gradients are taken with :func:`torch.autograd.grad` with respect to ``delta`` only, so
  no ``.grad`` attribute is ever written.

References:
    [O23] Ohayon et al. 2023, App. E.2.3 (5 Adam steps, lr 1, projection after each step)
    and App. E.1 (4 Adam steps, lr 1e-4).
    [C24] Chaouai et al. 2024, §3.1, eq. 1 (FGSM), its iterative form (BIM), PGD with a
    uniform start, eq. 2 (Carlini–Wagner in tanh space).
    Madry et al. 2018 (PGD); Dong et al. 2018 and Croce & Hein 2020 (momentum in PGD).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch

from stochrobust._checks import (
    RangeError,
    check_int,
    check_number,
    check_positive,
)
from stochrobust.sensitivity._ascent import (
    Ascent,
    Objective,
    Problem,
    steepest,
    validate,
)
from stochrobust.sensitivity.projections import NORMS, project_l2

__all__ = ["BIM", "CW", "FGSM", "PGD", "AdamAscent", "Ascent", "Solver", "default_solver"]


class Solver(abc.ABC):
    """Base class: validation, restarts and best-of bookkeeping around :meth:`_ascend`.

    Subclasses implement one restart in :meth:`_ascend` on a
    :class:`~stochrobust.sensitivity._ascent.Problem` (which evaluates the objective,
    projects and records the best iterate).

    Args:
        restarts: independent runs, best kept per sample (``≥ 1``).
        random_start: start uniformly in the ball instead of at ``delta = 0``.

    Raises:
        RangeError: ``restarts < 1``.

    References:
        [O23] App. E.2.3 (projection after each step); SPEC §2 (random start).

    Example:
        >>> all(issubclass(c, Solver) for c in (PGD, AdamAscent, FGSM, BIM, CW))
        True
    """

    norms: ClassVar[tuple[str, ...]] = NORMS
    """The balls this solver supports."""

    def __init__(self, *, restarts: int = 1, random_start: bool = True) -> None:
        self.restarts = check_int(restarts, "restarts", minimum=1)
        self.random_start = bool(random_start)

    def __call__(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: float | torch.Tensor,
        *,
        norm: str = "l2",
        box: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Return the best ``delta`` found: ``self.maximize(...).delta``.

        Args:
            objective: values to maximise, see :meth:`maximize`.
            y: centre of the ball ``(B, ...)``.
            eps: radius, a number or ``(B,)``.
            norm: the ball.
            box: ``(lo, hi)`` on ``y + delta`` or ``None``.
            generator: random generator for the starts.

        Returns:
            ``delta``, ``(B, ...)``, detached.

        Raises:
            RangeError, ShapeError, NonFiniteError, ModelError: see :meth:`maximize`.

        Example:
            >>> PGD()(lambda d: d.sum(1) ** 2, torch.zeros(1, 2), 1.0, norm="l1").abs().sum()
            tensor(1.)
        """
        return self.maximize(objective, y, eps, norm=norm, box=box, generator=generator).delta

    def maximize(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: float | torch.Tensor,
        *,
        norm: str = "l2",
        box: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
    ) -> Ascent:
        """Maximise ``objective`` over ``{delta : ‖delta‖ ≤ eps, y + delta ∈ box}``.

        Args:
            objective: ``objective(delta)`` → ``(B,)`` values to maximise, differentiable in
                ``delta``, or ``(values, aux)`` with ``aux`` a tensor of leading dim ``B``.
                Rows must be independent (row ``b`` of the values depends on row ``b`` of
                ``delta`` only).
            y: centre of the ball, ``(B, ...)``; finite.
            eps: radius, a number or a ``(B,)`` tensor, ``≥ 0``.
            norm: ``"l2"``, ``"linf"`` or ``"l1"`` (see :attr:`norms`).
            box: ``(lo, hi)`` constraint on ``y + delta`` or ``None``; ``y`` must lie inside.
            generator: random generator for the random starts.

        Returns:
            :class:`Ascent` ``(delta, value, aux)``, all detached.

        Raises:
            NonFiniteError: ``y`` holds NaN/Inf, or the objective is not finite at any
                iterate of some sample.
            RangeError: a negative ``eps``, an unsupported ``norm``, ``lo > hi`` or ``y``
                outside the box.
            ShapeError: ``eps`` or the objective's output has the wrong shape.
            ModelError: the objective does not depend differentiably on ``delta`` (does not
                require grad, or its gradient is identically zero at the start).

        Shape:
            - ``y``, ``delta``: ``(B, *)``; ``eps``, ``value``: ``(B,)``.

        Example:
            >>> A = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
            >>> obj = lambda d: (d @ A.T).pow(2).sum(1)
            >>> best = PGD().maximize(obj, torch.zeros(1, 2), 1.0,
            ...                       generator=torch.Generator().manual_seed(0))
            >>> round(float(best.value[0]), 4)  # sigma_max(A)**2 * eps**2
            9.0
        """
        yt, e, n, b = validate(y, eps, norm, box, generator)
        if n not in self.norms:
            raise RangeError(
                f"norm: expected one of {self.norms} for {type(self).__name__}, got {n!r}"
            )
        return self._solve(objective, yt, e, n, b, generator)

    def _solve(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: torch.Tensor,
        norm: str,
        box: tuple[float, float] | None,
        generator: torch.Generator | None,
    ) -> Ascent:
        """:meth:`maximize` on validated arguments.

        ``eps`` is a ``(B,)`` tensor on ``y``'s device. Used by the sensitivity functions,
        which validate once themselves.
        """
        problem = Problem(objective, y, eps, norm, box, self.random_start)
        for _ in range(self.restarts):
            last = self._ascend(problem, problem.start(generator, self.random_start))
            self._conclude(problem, last)
        return problem.finish()

    def _conclude(self, problem: Problem, last: torch.Tensor) -> None:
        """Evaluate the last iterate of a restart (no gradient)."""
        problem.evaluate(last)

    @abc.abstractmethod
    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        """Run one restart from ``delta``; return the last (not yet evaluated) iterate."""

    def _extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._extra_repr()
        sep = ", " if extra else ""
        return (
            f"{type(self).__name__}({extra}{sep}restarts={self.restarts}, "
            f"random_start={self.random_start})"
        )


class PGD(Solver):
    """Projected steepest ascent with heavy-ball momentum, for L2, L∞ and L1 balls.

    One step: ``delta ← Π(delta + step_size·ε·d(g) + momentum·(delta − delta_prev))`` where
    ``g`` is the gradient, ``Π`` the projection onto the ball (then the box) and ``d`` the
    unit steepest-ascent direction of the ball's norm: ``g/‖g‖₂`` (L2), ``sign(g)`` (L∞),
    ``sign(g)`` on the ``l1_topk`` largest ``|g|`` coordinates, each ``1/l1_topk`` (L1; ``1``
    is the exact steepest direction, which moves from vertex to vertex of the L1 ball).

    The default step (four radii, then projected) makes every step land on the boundary,
    where the maxima of the (locally convex) sensitivity objectives lie; for a linear model
    it is a shifted power iteration on ``AᵀA``, which converges at the rate of the spectral
    gap ``(σ₂/σ₁)²`` per step. The momentum term is the heavy-ball form of MI-FGSM / APGD.

    Args:
        steps: gradient evaluations per restart (``≥ 1``).
        step_size: step length as a multiple of ``eps`` (per sample), ``> 0``.
        momentum: heavy-ball coefficient in ``[0, 1)``.
        restarts: independent runs, best kept per sample.
        random_start: start uniformly in the ball (needed: zero gradient at ``delta = 0``).
        l1_topk: coordinates moved per L1 step (``≥ 1``).
        mirror: also evaluate the mirrored last iterate ``−delta`` (one forward pass per
            restart). Sensitivity objectives are even to first order in ``delta``, so the
            ascent converges to whichever of ``±delta`` its random start favoured; the
            second-order term decides which is larger (up to ~10% on the 1-D disk toy).

    Raises:
        RangeError: an argument out of range.
        StochRobustTypeError: a non-integer ``steps``, ``restarts`` or ``l1_topk``.

    References:
        Madry et al. 2018 (PGD); [C24] §3.1 (PGD with uniform start); Croce & Hein 2020
        (momentum 0.75 in APGD); SPEC §2 (random start).

    Example:
        >>> obj = lambda d: (2.0 * d).pow(2).sum(1)
        >>> y = torch.zeros(3, 4)
        >>> delta = PGD(steps=5)(obj, y, 0.5, norm="linf",
        ...                      generator=torch.Generator().manual_seed(0))
        >>> delta.abs().max().item()  # every coordinate at the L-inf radius
        0.5
    """

    def __init__(
        self,
        steps: int = 20,
        step_size: float = 4.0,
        momentum: float = 0.75,
        *,
        restarts: int = 1,
        random_start: bool = True,
        l1_topk: int = 1,
        mirror: bool = True,
    ) -> None:
        super().__init__(restarts=restarts, random_start=random_start)
        self.mirror = bool(mirror)
        self.steps = check_int(steps, "steps", minimum=1)
        self.step_size = check_positive(step_size, "step_size")
        self.momentum = check_number(momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        self.l1_topk = check_int(l1_topk, "l1_topk", minimum=1)

    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        alpha = self.step_size * problem.eps_view
        prev = delta
        for _ in range(self.steps):
            _, _, grad = problem.value_and_grad(delta)
            move = alpha * steepest(grad, problem.norm, self.l1_topk)
            if self.momentum > 0:
                move = move + self.momentum * (delta - prev)
            prev, delta = delta, problem.project(delta + move)
        return delta

    def _conclude(self, problem: Problem, last: torch.Tensor) -> None:
        problem.evaluate(last)
        if self.mirror:
            problem.evaluate(problem.project(-last))

    def _extra_repr(self) -> str:
        return (
            f"steps={self.steps}, step_size={self.step_size:g}, momentum={self.momentum:g}, "
            f"l1_topk={self.l1_topk}, mirror={self.mirror}"
        )


class FGSM(PGD):
    """Fast gradient (sign) method from a random start: one steepest step of length ``ε``.

    ``delta = Π(delta₀ + step_size·ε·d(∇))`` with ``d`` as in :class:`PGD` (``sign`` on L∞,
    [C24] eq. 1). The classical FGSM starts at ``delta₀ = 0``; for the sensitivity
    objectives the gradient there is exactly zero, so this one starts at a uniform random
    point of the ball (as R+FGSM, Tramèr et al. 2018) and returns the better of the start
    and the step.

    Args:
        step_size: step length as a multiple of ``eps``.
        restarts: independent runs.
        random_start: start uniformly in the ball.

    References:
        Goodfellow et al. 2015; [C24] eq. 1.

    Example:
        >>> obj = lambda d: d.pow(2).sum(1)
        >>> delta = FGSM()(obj, torch.zeros(2, 3), 0.1, norm="linf",
        ...                generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(delta.abs(), torch.full((2, 3), 0.1))
        True
    """

    def __init__(
        self, step_size: float = 1.0, *, restarts: int = 1, random_start: bool = True
    ) -> None:
        super().__init__(
            steps=1,
            step_size=step_size,
            momentum=0.0,
            restarts=restarts,
            random_start=random_start,
            mirror=False,
        )

    def _extra_repr(self) -> str:
        return f"step_size={self.step_size:g}"


class BIM(PGD):
    """Basic iterative method (I-FGSM): ``steps`` sign steps of ``α = ε / steps``.

    [C24]'s iterative form of eq. 1, ``x_t = x_{t−1} + α·sign(∇)``, with ``α = ε/T``, from a
    uniform random start (the sensitivity objectives have a zero gradient at ``delta = 0``)
    and a projection onto the ball (and box) after each step. On L2 / L1 balls the sign is
    replaced by the ball's steepest direction (see :class:`PGD`). Choi et al.'s I-FGSM for
    super-resolution is ``BIM(steps=50)`` on an L∞ ball.

    Args:
        steps: number of steps ``T``.
        restarts: independent runs.
        random_start: start uniformly in the ball.

    References:
        Kurakin et al. 2017; [C24] §3.1; Choi et al. 2019.

    Example:
        >>> obj = lambda d: d.sum(1) ** 2
        >>> delta = BIM(steps=4)(obj, torch.zeros(1, 3), 0.2, norm="linf",
        ...                      generator=torch.Generator().manual_seed(0))
        >>> bool(delta.abs().max() <= 0.2)
        True
    """

    def __init__(self, steps: int = 10, *, restarts: int = 1, random_start: bool = True) -> None:
        steps = check_int(steps, "steps", minimum=1)
        super().__init__(
            steps=steps,
            step_size=1.0 / steps,
            momentum=0.0,
            restarts=restarts,
            random_start=random_start,
            mirror=False,
        )

    def _extra_repr(self) -> str:
        return f"steps={self.steps}"


class AdamAscent(Solver):
    """Projected Adam ascent — the attack of [O23] App. E.2.3.

    Adam on ``-objective`` with a fresh optimiser state for every call (the paper
    re-initialises it for every new batch), bias correction, and a projection of ``delta``
    onto the ball (then the box) after every step. The first Adam step moves every
    coordinate by about ``lr`` (it is a sign step), so ``lr`` is absolute, not relative to
    ``eps``: with the paper's ``lr = 1`` and image-sized inputs every step overshoots and is
    projected back onto the sphere.

    Args:
        steps: Adam steps (gradient evaluations) per restart.
        lr: learning rate (absolute), ``> 0``.
        betas: Adam's ``(β₁, β₂)``, each in ``[0, 1)``.
        adam_eps: Adam's denominator offset, ``> 0``.
        restarts: independent runs.
        random_start: start uniformly in the ball.

    References:
        [O23] App. E.2.3 (natural images: 5 steps, lr 1, betas (0.9, 0.999)) and App. E.1
        (toy: 4 steps, lr 1e-4); Kingma & Ba 2015.

    Example:
        >>> obj = lambda d: (3.0 * d).pow(2).sum(1)
        >>> best = AdamAscent().maximize(obj, torch.zeros(2, 8), 0.5,
        ...                              generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(best.value, torch.full((2,), 9 * 0.25))
        True
    """

    def __init__(
        self,
        steps: int = 5,
        lr: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        adam_eps: float = 1e-8,
        *,
        restarts: int = 1,
        random_start: bool = True,
    ) -> None:
        super().__init__(restarts=restarts, random_start=random_start)
        self.steps = check_int(steps, "steps", minimum=1)
        self.lr = check_positive(lr, "lr")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise RangeError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        self.betas = (
            check_number(betas[0], "betas[0]", low=0.0, high=1.0, high_inclusive=False),
            check_number(betas[1], "betas[1]", low=0.0, high=1.0, high_inclusive=False),
        )
        self.adam_eps = check_positive(adam_eps, "adam_eps")

    @classmethod
    def paper_natural_images(cls) -> AdamAscent:
        """[O23] App. E.2.3 preset (inpainting and super-resolution on 64×64 images).

        5 steps, ``lr = 1``, ``betas = (0.9, 0.999)``; use it with ``n_seeds = 10`` and ``ε``
        from :func:`~stochrobust.sensitivity.eps_for_psnr` (2.5 for inpainting; 0.553, 0.276,
        0.138 for super-resolution ×4, ×8, ×16).

        Returns:
            The solver.

        Example:
            >>> AdamAscent.paper_natural_images()
            AdamAscent(steps=5, lr=1, betas=(0.9, 0.999), restarts=1, random_start=True)
        """
        return cls(steps=5, lr=1.0, betas=(0.9, 0.999))

    @classmethod
    def paper_toy(cls) -> AdamAscent:
        """[O23] App. E.1 preset (2-D toy problem): 4 steps, ``lr = 1e-4``.

        Use it with ``ε = 1e-3`` and ``n_seeds = 50``.

        Returns:
            The solver.

        Example:
            >>> AdamAscent.paper_toy().lr
            0.0001
        """
        return cls(steps=4, lr=1e-4, betas=(0.9, 0.999))

    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        b1, b2 = self.betas
        m = torch.zeros_like(delta)
        v = torch.zeros_like(delta)
        for t in range(1, self.steps + 1):
            _, _, grad = problem.value_and_grad(delta)
            m = m.mul(b1).add_(grad, alpha=1 - b1)
            v = v.mul(b2).addcmul_(grad, grad, value=1 - b2)
            step_size = self.lr / (1 - b1**t)
            denom = (v / (1 - b2**t)).sqrt_().add_(self.adam_eps)
            delta = problem.project(delta + step_size * m / denom)
        return delta

    def _extra_repr(self) -> str:
        return f"steps={self.steps}, lr={self.lr:g}, betas=({self.betas[0]:g}, {self.betas[1]:g})"


class CW(Solver):
    """Carlini–Wagner L2 attack in tanh space ([C24] eq. 2), tied to the ε-ball.

    The box is enforced by the change of variables ``y + δ = lo + (hi − lo)·½(tanh(w) + 1)``
    (``[0, 1]`` when no box is given). [C24] eq. 2 minimises ``‖δ‖₂ − c·L(δ)`` without a
    radius; here the objective is evaluated at the projection ``Π_ε(δ)`` of the tanh-space
    point onto the ε-ball (a rescaling, which stays in the box because ``y`` does), so every
    iterate is feasible and the best feasible one is returned; the ``‖δ‖₂`` term keeps the raw
    iterate near the ball. To make ``c`` independent of the objective's scale, the loss is
    ``‖δ‖₂/ε − c·L(Π_ε δ)/L(δ₀)`` with ``L(δ₀)`` the objective at the start (this is eq. 2
    with a per-sample constant ``c·ε/L(δ₀)``). Adam minimises it over ``w``.

    Args:
        steps: Adam steps on ``w`` per restart.
        lr: Adam learning rate in tanh space.
        c: trade-off constant (scale-free, see above), ``> 0``.
        restarts: independent runs.
        random_start: start at a uniform random point of the ball (clipped to the box).

    References:
        Carlini & Wagner 2017; [C24] eq. 2 and §3.1 (Adam, lr 1e-2).

    Example:
        >>> obj = lambda d: (4.0 * d).pow(2).sum(1)
        >>> y = torch.full((2, 6), 0.5)
        >>> delta = CW()(obj, y, 0.3, generator=torch.Generator().manual_seed(0))
        >>> bool((delta.norm(dim=1) <= 0.3 + 1e-6).all() and ((y + delta) >= 0).all())
        True
    """

    norms: ClassVar[tuple[str, ...]] = ("l2",)

    def __init__(
        self,
        steps: int = 20,
        lr: float = 0.05,
        c: float = 10.0,
        *,
        restarts: int = 1,
        random_start: bool = True,
    ) -> None:
        super().__init__(restarts=restarts, random_start=random_start)
        self.steps = check_int(steps, "steps", minimum=1)
        self.lr = check_positive(lr, "lr")
        self.c = check_positive(c, "c")

    def _solve(
        self,
        objective: Objective,
        y: torch.Tensor,
        eps: torch.Tensor,
        norm: str,
        box: tuple[float, float] | None,
        generator: torch.Generator | None,
    ) -> Ascent:
        return super()._solve(objective, y, eps, norm, box or (0.0, 1.0), generator)

    def _ascend(self, problem: Problem, delta: torch.Tensor) -> torch.Tensor:
        assert problem.box is not None  # set by _solve
        lo, hi = problem.box
        width = max(hi - lo, torch.finfo(delta.dtype).tiny)
        y = problem.y
        shrink = 1.0 - 4.0 * torch.finfo(delta.dtype).eps
        w = torch.atanh(((y + delta - lo) / width * 2 - 1).clamp(-shrink, shrink))
        m = torch.zeros_like(w)
        v = torch.zeros_like(w)
        b1, b2 = 0.9, 0.999
        scale: torch.Tensor | None = None
        tiny = torch.finfo(delta.dtype).tiny
        eps_safe = problem.eps.clamp_min(tiny)
        last = delta
        for t in range(1, self.steps + 1):
            w = w.detach().requires_grad_(True)
            with torch.enable_grad():
                raw = lo + width * 0.5 * (torch.tanh(w) + 1) - y
                feasible = project_l2(raw, problem.eps, check=False)
            value, _, grad = problem.value_and_grad(feasible.detach())
            if scale is None:
                scale = self.c * eps_safe / value.abs().clamp_min(tiny)
            with torch.enable_grad():
                surrogate = raw.flatten(1).norm(dim=1) - scale * (feasible * grad).flatten(1).sum(1)
                (gw,) = torch.autograd.grad(surrogate.sum(), w)
            m = m.mul(b1).add_(gw, alpha=1 - b1)
            v = v.mul(b2).addcmul_(gw, gw, value=1 - b2)
            denom = (v / (1 - b2**t)).sqrt_().add_(1e-8)
            w = w.detach() - (self.lr / (1 - b1**t)) * m / denom
            raw_next = lo + width * 0.5 * (torch.tanh(w) + 1) - y
            last = problem.project(raw_next)
        return last

    def _extra_repr(self) -> str:
        return f"steps={self.steps}, lr={self.lr:g}, c={self.c:g}"


_L1_RESTARTS = 10


def default_solver(norm: str = "l2") -> Solver:
    """The solver :func:`~stochrobust.sensitivity.sensitivity_at` uses when none is given.

    ``PGD()`` (20 steps, step ``4ε``, momentum 0.75, one random start) for the L2 and L∞
    balls; ``PGD(steps=10, restarts=10)`` for the L1 ball, where every vertex ``±ε·eᵢ`` is a
    local maximum of a convex objective and only restarts find the best one.

    Args:
        norm: ``"l2"``, ``"linf"`` or ``"l1"``.

    Returns:
        A fresh solver.

    Raises:
        RangeError: unknown ``norm``.

    Example:
        >>> solver = default_solver("l1")
        >>> type(solver).__name__, solver.steps, solver.restarts
        ('PGD', 10, 10)
    """
    if norm not in NORMS:
        raise RangeError(f"norm: expected one of {NORMS}, got {norm!r}")
    if norm == "l1":
        return PGD(steps=10, restarts=_L1_RESTARTS)
    return PGD()
