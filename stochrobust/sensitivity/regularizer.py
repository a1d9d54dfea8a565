"""The robustness training loss ``L_R`` ([O23] eq. 7 inside eq. 8) as an ``nn.Module``.

References:
    [O23] eq. 8 (``L_GAN + λ_R·L_R``), §6.1 and App. E.2.2–E.2.3 (5 Adam steps, 10 seeds,
    ``L_R`` added on every third generator step, ``λ_R = 500``), App. E.1 (toy: 4 Adam steps,
    lr 1e-4, 50 seeds, ``λ_R = 0.1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

from stochrobust._checks import (
    check_batch_input,
    check_finite,
    check_int,
    check_number,
    check_positive,
)
from stochrobust._deprecate import _UNSET, keyword_only_generator, renamed_argument
from stochrobust._guard import guard, stage
from stochrobust._seeds import tree_leaves, tree_map
from stochrobust.errors import RangeError
from stochrobust.estimator import Estimator
from stochrobust.sensitivity._ascent import check_box
from stochrobust.sensitivity._objective import (
    Prepared,
    SameSeedObjective,
    check_solver,
    fused_same_seed_loss,
    prepare,
)
from stochrobust.sensitivity.adaptive import AdamAscent
from stochrobust.sensitivity.projections import check_ball
from stochrobust.sensitivity.solvers import Solver

__all__ = ["RobustnessRegularizer"]

REDUCTIONS = ("mean", "sum")


def _pair_chunks(batch: int, k: int, max_batch: int | None) -> list[tuple[int, int, int, int]]:
    """``(b0, b1, k0, k1)`` blocks of pairs, each at most ``max_batch`` model rows (2/pair)."""
    if max_batch is None:
        return [(0, batch, 0, k)]
    pairs = max(1, max_batch // 2)
    if k >= pairs:
        return [
            (b, b + 1, k0, min(k0 + pairs, k)) for b in range(batch) for k0 in range(0, k, pairs)
        ]
    per = max(1, pairs // k)
    return [(b0, min(b0 + per, batch), 0, k) for b0 in range(0, batch, per)]


class RobustnessRegularizer(nn.Module):
    """Differentiable same-seed robustness loss ``L_R = mean_b r̃(y_b) / D`` ([O23] eq. 7).

    ``loss = reg(G, y)`` finds, for every ``y_b``, a perturbation ``δ*_b`` maximising
    ``mean_k ‖G(y_b, z_k) − G(y_b + δ, z_k)‖²`` (eq. 6) with the solver, then returns the
    batch mean of that objective at ``δ*`` (detached), differentiable with respect to the
    model's parameters through *both* the clean and the perturbed outputs, which are
    evaluated together in one fused ``(2·B·K)``-row call. Use it as
    ``loss = gan_loss + lam * reg(G, y)`` (eq. 8).

    Reduction. Eq. 6 is a *sum* over the ``D`` output values of a sample. With
    ``reduction="mean"`` (the default) each sample's eq. 6 is divided by ``D``, so ``λ``
    weighs a per-value squared change, like an MSE term, whatever the image size
    (``λ = 500`` is [O23]'s natural-image weight read as such); ``"sum"`` keeps eq. 6 as
    written (0.1's loss; the same loss as ``"mean"`` with ``λ · D``). The docs' regulariser
    section tabulates the papers' ``λ_R`` in both reductions.

    Model state. The attack runs under :func:`~stochrobust.frozen`: eval mode (BatchNorm
    uses its running statistics, dropout is off) and frozen parameters, so it computes no
    weight gradients. The final differentiable evaluation runs in the caller's mode for a
    raw model (an :class:`~stochrobust.Estimator` follows its own ``eval_mode`` flag): in
    training mode BatchNorm normalises with the statistics of the fused clean+perturbed
    batch. Every buffer of the model (BatchNorm running statistics, ``num_batches_tracked``)
    is protected during that evaluation — it runs on temporary copies — so after ``forward``
    the model's mode, ``requires_grad`` flags, ``.grad`` attributes and buffers are exactly
    as before; the returned loss holds a graph to the parameters, and ``loss.backward()``
    accumulates their gradients as usual. Dropout active in training mode draws different
    masks for the clean and perturbed halves (breaking the common random numbers): put such
    models in eval mode or wrap them in ``Estimator(model, eval_mode=True)``.

    Applying every k-th step ([O23] App. E.2.2: two generator steps with the GAN loss only,
    the third with ``L_R``): with ``every = k``, calls number ``k, 2k, 3k, …`` compute the loss
    and the others return a constant zero at once, without calling the model. The counter
    advances only while the module is in training mode (``reg.train()``, the default); in
    eval mode every call computes the loss and the counter is left alone. See
    :attr:`step_count`, :attr:`applies_next` and :meth:`reset`.

    Args:
        eps: L2 radius of the attack (``≥ 0``; see
            :func:`~stochrobust.sensitivity.eps_for_psnr`).
        n_seeds: seeds ``K`` per input for stochastic estimators (1 is used for
            deterministic ones).
        solver: the inner maximiser; ``None`` means ``AdamAscent()`` (the paper's 5 steps,
            lr 1).
        every: apply the loss on every ``every``-th training call (``≥ 1``).
        ball: the ball (``"l2"`` in the paper).
        norm: deprecated spelling of ``ball`` (0.1; warns).
        box: optional ``(lo, hi)`` on ``y + δ``.
        reduction: ``"mean"`` (eq. 6 divided by the number of output values per sample)
            or ``"sum"`` (eq. 6 as written); the batch is averaged in both.

    Raises:
        RangeError: ``eps < 0``, ``n_seeds < 1``, ``every < 1`` or an unknown
            ``reduction``.
        StochRobustTypeError: ``solver`` is not a :class:`~stochrobust.sensitivity.Solver`.

    References:
        [O23] eqs. 6–8, App. E.1, E.2.2, E.2.3.

    Examples:
        >>> G = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
        ...                         torch.nn.Linear(8, 4))
        >>> reg = RobustnessRegularizer(eps=0.1, every=3)
        >>> y = torch.rand(5, 4)
        >>> [float(reg(G, y)) == 0.0 for _ in range(2)]   # calls 1 and 2: skipped
        [True, True]
        >>> loss = reg(G, y)                              # call 3: applied
        >>> loss.backward()
        >>> G[0].weight.grad is not None and bool(loss > 0)
        True
    """

    def __init__(
        self,
        eps: float,
        n_seeds: int = 10,
        solver: Solver | None = None,
        every: int = 1,
        *,
        ball: str = "l2",
        box: tuple[float, float] | None = None,
        reduction: Literal["mean", "sum"] = "mean",
        norm: Any = _UNSET,
    ) -> None:
        super().__init__()
        self.eps = check_positive(eps, "eps", allow_zero=True)
        self.n_seeds = check_int(n_seeds, "n_seeds", minimum=1)
        self.ball = check_ball(renamed_argument("norm", norm, "ball", ball, "l2"))
        self.solver = check_solver(AdamAscent() if solver is None else solver, self.ball)
        self.every = check_int(every, "every", minimum=1)
        self.box = check_box(box)
        if reduction not in REDUCTIONS:
            raise RangeError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._calls = 0

    @classmethod
    def paper_natural_images(cls, eps: float) -> RobustnessRegularizer:
        """[O23] preset for 64×64 images: 10 seeds, 5 Adam steps (lr 1), every third step.

        ``reduction="mean"``: combine with ``λ_R = 500``, [O23]'s weight read as weighing a
        per-value mean (with ``"sum"`` that is ``500 / (3·64·64) ≈ 0.0407``); ``eps`` = 2.5
        (inpainting) or 0.553 / 0.276 / 0.138 (super-resolution ×4 / ×8 / ×16).

        Args:
            eps: the L2 radius.

        Returns:
            The regulariser.

        Examples:
            >>> reg = RobustnessRegularizer.paper_natural_images(2.5)
            >>> reg.every, reg.reduction
            (3, 'mean')
        """
        return cls(
            eps, n_seeds=10, solver=AdamAscent.paper_natural_images(), every=3, reduction="mean"
        )

    @classmethod
    def paper_toy(cls, eps: float = 1e-3) -> RobustnessRegularizer:
        """[O23] App. E.1 preset for the 2-D toy: 50 seeds, 4 Adam steps with lr 1e-4.

        ``reduction="sum"``: combine with ``λ_R = 0.1``, the paper's weight on its one-value
        output ``X⁽²⁾`` — and on the consistent output ``(Y, X⁽²⁾)`` too, whose first value
        moves by ``δ`` whatever the parameters (it adds ``‖δ‖²`` but no gradient; with
        ``"mean"`` over those 2 values the same loss needs ``λ = 0.2``).

        Args:
            eps: the L2 radius (``1e-3`` in the paper).

        Returns:
            The regulariser.

        Examples:
            >>> reg = RobustnessRegularizer.paper_toy()
            >>> reg.n_seeds, reg.reduction
            (50, 'sum')
        """
        return cls(eps, n_seeds=50, solver=AdamAscent.paper_toy(), every=1, reduction="sum")

    @property
    def step_count(self) -> int:
        """Number of training-mode calls since construction or the last :meth:`reset`."""
        return self._calls

    @property
    def applies_next(self) -> bool:
        """Whether the next training-mode call computes the loss (not a skipped zero)."""
        return (self._calls + 1) % self.every == 0

    def reset(self, step_count: int = 0) -> None:
        """Set the call counter (e.g. when resuming training from a checkpoint).

        Args:
            step_count: the new counter value (``≥ 0``).

        Raises:
            RangeError: a negative ``step_count``.

        Examples:
            >>> reg = RobustnessRegularizer(0.1, every=3)
            >>> reg.reset(2)
            >>> reg.step_count, reg.applies_next
            (2, True)
        """
        self._calls = check_int(step_count, "step_count", minimum=0)

    @keyword_only_generator
    def forward(
        self,
        model: Estimator | nn.Module | Callable[..., torch.Tensor],
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Compute ``L_R`` on the batch ``y`` (or a zero on a skipped step).

        Args:
            model: an :class:`~stochrobust.Estimator` or a model ``G(y)`` (wrapped as a
                deterministic estimator evaluated in the caller's mode).
            y: the batch of inputs ``(B, *in_shape)``.
            generator: random generator for the seeds and the attack's random start.

        Returns:
            A scalar tensor: the batch mean of eq. 6 at ``δ*`` (divided by the number of
            output values per sample for ``reduction="mean"``), differentiable in the
            model's parameters; a constant ``0`` (no graph) on skipped steps or ``eps = 0``.

        Raises:
            NonFiniteError, ModelError, ShapeError: as
                :func:`~stochrobust.sensitivity.sensitivity_at`; ``y`` is validated on
                skipped calls too (a NaN, a list or a 1-D tensor never passes silently).
            StochRobustTypeError: ``y`` is not a floating-point tensor.
        """
        found = self._attack(model, y, generator)
        if found is None:
            return torch.zeros((), dtype=y.dtype, device=y.device)
        est, p, delta = found
        # The loss runs in the caller's mode with trainable parameters, on buffer clones.
        with guard(est, entry="RobustnessRegularizer", eval_mode=False, freeze=False):
            with stage("loss pass"):
                per_sample = fused_same_seed_loss(est, p.y, delta, p.seeds)
        return (per_sample / self._values_per_sample(p)).mean()

    def _values_per_sample(self, p: Prepared) -> int:
        """The divisor of the ``"mean"`` reduction: output values per sample (1 for "sum")."""
        return p.clean[0, 0].numel() if self.reduction == "mean" else 1

    def backward(
        self,
        model: Estimator | nn.Module | Callable[..., torch.Tensor],
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        weight: float = 1.0,
    ) -> torch.Tensor:
        """Accumulate ``weight · ∂L_R/∂θ`` into the parameters' ``.grad``, chunk by chunk.

        The memory-bounded form of ``(weight * reg(model, y, generator=generator)).backward()``: the
        same call count, attack, seeds and ``δ*`` as :meth:`forward`, then the final
        evaluation ``L_R = (1/(B·K)) Σ_{b,k} ‖G(y_b + δ*_b, z_bk) − G(y_b, z_bk)‖²`` — a sum
        over the pairs ``(b, k)`` — is cut into chunks of pairs, each chunk's clean and
        perturbed rows evaluated in one call of at most ``max_batch`` rows (an
        :class:`~stochrobust.Estimator`'s ``max_batch``; ``None``: one chunk) and
        back-propagated at once, freeing its graph. The gradients equal those of
        ``forward(...).backward()`` up to summation order for models whose rows are
        independent (no BatchNorm in training mode: there each chunk is normalised with its
        own statistics instead of those of the whole fused batch). Call it next to the
        main loss's ``backward()``, before ``optimizer.step()``; gradients add up as
        usual.

        Args:
            model: as :meth:`forward`.
            y: the batch of inputs ``(B, *in_shape)``.
            generator: random generator for the seeds and the attack's random start.
            weight: the factor of ``L_R`` in the training loss (``λ_R`` of [O23] eq. 8).

        Returns:
            ``L_R`` (a detached scalar; ``0`` on skipped steps, where nothing accumulates).

        Raises:
            NonFiniteError, ModelError, ShapeError: as :meth:`forward`.
            StochRobustTypeError: ``weight`` is not a real number.

        Shape:
            - ``y``: ``(B, *in_shape)``.

        References:
            [O23] eqs. 7–8 (``L_GAN + λ_R·L_R``).

        Examples:
            >>> G = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
            ...                         torch.nn.Linear(8, 4))
            >>> reg = RobustnessRegularizer(eps=0.1)
            >>> value = reg.backward(Estimator(G, max_batch=4), torch.rand(5, 4))
            >>> G[0].weight.grad is not None and bool(value > 0)
            True
        """
        w = check_number(weight, "weight")
        found = self._attack(model, y, generator)
        if found is None:
            return torch.zeros((), dtype=y.dtype, device=y.device)
        est, p, delta = found
        batch, k = tree_leaves(p.seeds)[0].shape[:2]
        total = torch.zeros((), dtype=p.y.dtype, device=p.y.device)
        with guard(est, entry="RobustnessRegularizer", eval_mode=False, freeze=False):
            with stage("loss pass"):
                for b0, b1, k0, k1 in _pair_chunks(batch, k, est.max_batch):
                    seeds = tree_map(lambda t, b0=b0, b1=b1, k0=k0, k1=k1: t[b0:b1, k0:k1], p.seeds)
                    part = fused_same_seed_loss(est, p.y[b0:b1], delta[b0:b1], seeds).sum()
                    part = part * ((k1 - k0) / (batch * k * self._values_per_sample(p)))
                    torch.autograd.backward(w * part)
                    total = total + part.detach()
        return total

    def _attack(
        self,
        model: Estimator | nn.Module | Callable[..., torch.Tensor],
        y: torch.Tensor,
        generator: torch.Generator | None,
    ) -> tuple[Estimator, Prepared, torch.Tensor] | None:
        """Count the call, run the attack; ``None`` on a skipped step or ``eps = 0``."""
        check_batch_input(y, "y")
        check_finite(y, "y")
        if self.training:
            self._calls += 1
            if self._calls % self.every != 0:
                return None
        est = model if isinstance(model, Estimator) else Estimator(model, eval_mode=False)
        with prepare(
            est, y, self.eps, self.ball, self.n_seeds, self.solver, generator, self.box,
            entry="RobustnessRegularizer",
        ) as p:  # fmt: skip
            if not p.any_active:
                return None
            objective = SameSeedObjective(est, p.y, p.seeds, p.clean)
            best = p.solver.maximize(
                objective, p.y, p.eps, ball=p.ball, box=p.box, generator=generator,
                validate_args=False,
            )  # fmt: skip
        return est, p, best.delta

    def extra_repr(self) -> str:
        """Configuration shown by ``repr``."""
        return (
            f"eps={self.eps:g}, n_seeds={self.n_seeds}, solver={self.solver!r}, "
            f"every={self.every}, ball={self.ball!r}, reduction={self.reduction!r}, "
            f"step_count={self._calls}"
        )
