"""The results of the inversion functions: CSGM, ILO and the projection back to the range.

The result types of :func:`~stochrobust.inversion.csgm`, :func:`~stochrobust.inversion.ilo`
and :func:`~stochrobust.inversion.project_to_range`. Every tensor of a CSGM or ILO result is
per measurement ``b`` and random start ``k`` (leading dims ``(B, K)``); ``best()`` picks,
per measurement, the start with the lowest measurement error. A range projection's tensors
are per row.

References:
    [D21] Algorithm 1 (the CSGM solution, the best point of the extended range) and §2.2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["CSGMResult", "ILOResult", "ILOStage", "RangeProjection"]


class _PerStart:
    """Reconstructions ``x_hat`` ``(B, K, *out)`` and their errors ``loss`` ``(B, K)``."""

    x_hat: torch.Tensor
    loss: torch.Tensor

    def best(self) -> torch.Tensor:
        """The reconstruction of the start with the lowest measurement error, ``(B, *out)``.

        Returns:
            ``x_hat[b, argmin_k loss[b, k]]`` per measurement ``b``.

        Examples:
            >>> r = CSGMResult(torch.arange(4.0).reshape(1, 2, 2), torch.zeros(1, 2, 1),
            ...                torch.tensor([[3.0, 1.0]]), 1)
            >>> r.best().tolist()                       # start 1 has the lower loss
            [[2.0, 3.0]]
        """
        idx = self.loss.argmin(dim=1)
        return self.x_hat[torch.arange(self.x_hat.shape[0], device=idx.device), idx]


def _mean(t: torch.Tensor) -> str:
    """The mean of ``t`` for a ``repr`` (in float64, detached)."""
    return f"{float(t.detach().double().mean()):.4g}"


@dataclass(repr=False)
class CSGMResult(_PerStart):
    """What :func:`csgm` returns; every tensor is per measurement ``b`` and start ``k``.

    Attributes:
        x_hat: ``(B, K, *out_shape)`` the reconstructions ``G(ẑ)``.
        z: ``(B, K, *latent_shape)`` the best latent found from each start.
        loss: ``(B, K)`` the noise-free measurement error ``‖A x̂ − y‖²`` at ``ẑ``.
        n_evals: generator evaluations spent per row (``steps + 2``: one per step, one at
            the last iterate, one for the returned reconstruction).

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Unflatten(1, (1, 4, 4)))
        >>> from stochrobust.inversion import csgm
        >>> res = csgm(net, AvgPoolDownsample(2), torch.zeros(3, 1, 2, 2), latent_shape=(2,),
        ...            n_seeds=5, steps=10)
        >>> res.x_hat.shape, res.loss.shape, res.n_evals
        (torch.Size([3, 5, 1, 4, 4]), torch.Size([3, 5]), 12)
    """

    x_hat: torch.Tensor
    z: torch.Tensor
    loss: torch.Tensor
    n_evals: int

    def __repr__(self) -> str:
        return (
            f"CSGMResult(x_hat={tuple(self.x_hat.shape)}, "
            f"loss mean={_mean(self.loss)}, "
            f"n_evals={self.n_evals})"
        )


@dataclass(repr=False)
class ILOStage:
    """Diagnostics of one split of :func:`ilo` (tensors per measurement ``b`` and start ``k``).

    Attributes:
        split: the index ``j``: the input of ``layers[j]`` is optimised.
        radius: the L1 radius ``r_j`` of the extended-range ball.
        loss: ``(B, K)`` the best objective found in the extended range at this split
            (``‖A x − y‖²`` plus the user term; with SNA noise, at a noisy evaluation).
        deviation: ``(rounds, B, K)`` ``‖w̃ − c‖₂`` per round: how far the extended-range
            search moved off the range of the earlier layers.
        residual: ``(rounds, B, K)`` ``‖G_{<j}(u) − w̃‖₂`` after each projection back to the
            range (never above ``deviation``: the projection starts at ``c = G_{<j}(u)``).
        n_evals: (partial) generator evaluations spent per row at this split.

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> from stochrobust.inversion import LayeredGenerator, ilo
        >>> net = LayeredGenerator(2, (8,), (1, 4, 4), generator=torch.Generator().manual_seed(0))
        >>> res = ilo(net.layers, AvgPoolDownsample(2), torch.full((1, 1, 2, 2), 0.5),
        ...           latent_shape=(2,), csgm_steps=5, steps_per_layer=5, project_back_steps=5)
        >>> stage = res.stages[0]
        >>> stage.split, stage.residual.shape, bool((stage.residual <= stage.deviation).all())
        (1, torch.Size([2, 1, 1]), True)
    """

    split: int
    radius: float
    loss: torch.Tensor
    deviation: torch.Tensor
    residual: torch.Tensor
    n_evals: int

    def __repr__(self) -> str:
        return (
            f"ILOStage(split={self.split}, radius={self.radius:g}, "
            f"loss mean={_mean(self.loss)}, "
            f"residual mean={_mean(self.residual[-1])})"
        )


@dataclass(repr=False)
class ILOResult(_PerStart):
    """What :func:`ilo` returns; tensors are per measurement ``b`` and start ``k``.

    Attributes:
        x_hat: ``(B, K, *out_shape)`` the reconstructions: the image of the best point of the
            extended range at the last split.
        latent: ``(B, K, *p)`` that best point (the input of ``layers[splits[-1]]``).
        z: ``(B, K, *latent_shape)`` the CSGM latent the search started from.
        loss: ``(B, K)`` the noise-free measurement error ``‖A x̂ − y‖²``.
        csgm_loss: ``(B, K)`` the same error after the CSGM stage alone.
        stages: one :class:`ILOStage` per split.
        n_evals: (partial) generator evaluations spent per row, each counted as a full one
            although a split evaluates only part of ``G``: ``csgm_steps + 2`` for CSGM and
            its error, ``1 + rounds·(steps_per_layer + project_back_steps + 3)`` per split
            (its centre; per round both descents' ``steps + 1`` and the new centre) and
            ``1`` for ``x_hat``.

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> from stochrobust.inversion import LayeredGenerator, ilo
        >>> net = LayeredGenerator(2, (8,), (1, 4, 4), generator=torch.Generator().manual_seed(0))
        >>> res = ilo(net.layers, AvgPoolDownsample(2), torch.full((1, 1, 2, 2), 0.5),
        ...           latent_shape=(2,), csgm_steps=5, steps_per_layer=5, project_back_steps=5)
        >>> res.x_hat.shape, [s.split for s in res.stages], res.n_evals
        (torch.Size([1, 1, 1, 4, 4]), [1], 35)
    """

    x_hat: torch.Tensor
    latent: torch.Tensor
    z: torch.Tensor
    loss: torch.Tensor
    csgm_loss: torch.Tensor
    stages: list[ILOStage] = field(default_factory=list)
    n_evals: int = 0

    def __repr__(self) -> str:
        return (
            f"ILOResult(x_hat={tuple(self.x_hat.shape)}, "
            f"loss mean={_mean(self.loss)}, "
            f"splits={[s.split for s in self.stages]}, n_evals={self.n_evals})"
        )


@dataclass(repr=False)
class RangeProjection:
    """What :func:`~stochrobust.inversion.project_to_range` returns (per row).

    Attributes:
        u: ``(R, *u_shape)`` the best feasible input found.
        point: ``(R, *p)`` its image ``G₁(u)``: the new point of the range.
        residual: ``(R,)`` ``‖G₁(u) − target‖₂``.
        start_distance: ``(R,)`` ``‖G₁(u₀) − target‖₂`` (``residual ≤ start_distance``).
        n_evals: evaluations of ``G₁`` per row (``steps + 2``).

    Examples:
        >>> from stochrobust.inversion import project_to_range
        >>> res = project_to_range(torch.nn.Linear(2, 3), torch.ones(4, 3), torch.zeros(4, 2),
        ...                        radius=1.0, steps=5)
        >>> res.u.shape, res.point.shape, res.residual.shape, res.n_evals
        (torch.Size([4, 2]), torch.Size([4, 3]), torch.Size([4]), 7)
    """

    u: torch.Tensor
    point: torch.Tensor
    residual: torch.Tensor
    start_distance: torch.Tensor
    n_evals: int

    def __repr__(self) -> str:
        return f"RangeProjection(u={tuple(self.u.shape)}, residual mean={_mean(self.residual)})"
