"""Counting states: certification rates and precision / recall / density / coverage.

Their values are ratios of integer counts, so ``compute()`` on any number of ranks equals
the one-process value exactly, not only to float reduction order.

References:
    [C24] §4 (certified median smoothing); Naeem et al. 2020 (density, coverage);
    Kynkäänniemi et al. 2019 (improved precision and recall).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist

from stochrobust._checks import check_features, check_int
from stochrobust.errors import StochRobustTypeError
from stochrobust.metrics.density_coverage import PRDC, prdc, sharded_prdc
from stochrobust.metrics.distributed import all_gather_uneven, is_distributed
from stochrobust.metrics.streaming import MetricState

__all__ = ["CertifiedRate", "CertifiedRateState", "PRDCState"]

_Group = dist.ProcessGroup | None


class CertifiedRate(NamedTuple):
    """Result of :class:`CertifiedRateState`."""

    coordinates: torch.Tensor
    """Share of certified output coordinates, 0-d float64."""
    inputs: torch.Tensor
    """Share of inputs whose every coordinate is certified, 0-d float64."""


class CertifiedRateState(MetricState):
    """Certification rates over a data set from per-coordinate ``certified`` masks.

    ``update(certified)`` takes the boolean mask of a smoothing certificate (e.g.
    ``certify_percentile(...).certified``, ``(B, *out)``); counts are int64, so the rates
    are exact on any number of ranks.

    Args:
        group: process group for :meth:`compute`.
        sync_on_compute: sync in :meth:`compute` when distributed.

    Raises:
        StochRobustTypeError: ``certified`` is not a boolean tensor with a batch dim.

    Shape:
        - ``certified``: ``(B, *out)`` bool; outputs: ``()`` float64.

    References:
        [C24] §4 (certified median smoothing).

    Examples:
        >>> st = CertifiedRateState(); st.update(torch.tensor([[True, True], [True, False]]))
        >>> [float(v) for v in st.compute()]
        [0.75, 0.5]
    """

    counts: torch.Tensor

    def __init__(self, *, group: _Group = None, sync_on_compute: bool = True) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        self.add_state("counts", torch.zeros(4, dtype=torch.int64), "sum")

    def update(self, certified: torch.Tensor) -> None:
        """Add a batch of masks.

        Args:
            certified: ``(B, *out)`` boolean mask, ``True`` where certified.
        """
        if not isinstance(certified, torch.Tensor) or certified.dtype != torch.bool:
            raise StochRobustTypeError(
                f"certified: expected a boolean tensor, got {type(certified).__name__}"
                + (f" of dtype {certified.dtype}" if isinstance(certified, torch.Tensor) else "")
            )
        if certified.ndim < 1:
            raise StochRobustTypeError("certified: expected a (B, *out) mask, got a 0-d tensor")
        flat = certified.reshape(certified.shape[0], -1)
        batch = torch.stack(
            [
                flat.sum(),
                flat.new_tensor(flat.numel(), dtype=torch.int64),
                flat.all(1).sum(),
                flat.new_tensor(flat.shape[0], dtype=torch.int64),
            ]
        )
        self.counts = self.counts.to(batch.device) + batch

    def value(self) -> CertifiedRate:
        """``CertifiedRate(coordinates, inputs)`` of this state."""
        c = self.counts.to(torch.float64)
        return CertifiedRate(c[0] / c[1], c[2] / c[3])


class PRDCState(MetricState):
    """Streaming precision / recall / density / coverage, exact and sharded when distributed.

    ``update(real=..., fake=...)`` stores feature rows ("cat" states: any sizes per rank).
    ``compute()`` under ``torch.distributed`` runs :func:`sharded_prdc` on the ranks'
    shards — no rank gathers the others' features — and equals :func:`prdc` on the
    concatenated sets exactly; ``value()`` uses this rank's rows only.

    Args:
        k: neighbour rank of the radii.
        block_size: query rows per fast product.
        chunk_rows: rows per broadcast chunk (memory per rank, independent of ``N``).
        group: process group for :meth:`compute`.
        sync_on_compute: run the sharded computation in :meth:`compute` when distributed.

    Raises:
        ShapeError: features not ``(N, D)`` or feature dims that differ.

    Shape:
        - ``real``: ``(N_i, D)``, ``fake``: ``(M_i, D)``; outputs: ``()`` float64.

    References:
        Naeem et al. 2020, §3; Kynkäänniemi et al. 2019, eqs. 1–2.

    Examples:
        >>> st = PRDCState(k=1)
        >>> st.update(real=torch.tensor([[0.0], [1.0]]))
        >>> st.update(real=torch.tensor([[2.0], [3.0]]))
        >>> st.update(fake=torch.tensor([[0.5], [0.6], [9.0]]))
        >>> [round(float(v), 4) for v in st.compute()]
        [0.6667, 0.75, 1.3333, 0.5]
    """

    real: list[torch.Tensor]
    fake: list[torch.Tensor]

    def __init__(
        self,
        k: int = 3,
        block_size: int = 1024,
        chunk_rows: int = 16384,
        *,
        group: _Group = None,
        sync_on_compute: bool = True,
    ) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        self.k = check_int(k, "k", minimum=1)
        self.block_size = check_int(block_size, "block_size", minimum=1)
        self.chunk_rows = check_int(chunk_rows, "chunk_rows", minimum=1)
        self.add_state("real", torch.zeros(0, 0), "cat")
        self.add_state("fake", torch.zeros(0, 0), "cat")

    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        """Store rows of the real and/or the generated set.

        Args:
            real: real features ``(N_i, D)``, or ``None``.
            fake: generated features ``(M_i, D)``, or ``None``.
        """
        for name, feats in (("real", real), ("fake", fake)):
            if feats is not None:
                getattr(self, name).append(check_features(feats, name).detach())

    def _local(self, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        held = [*self.real, *self.fake]
        like = held[0] if held else torch.zeros(0, dim)
        sets = []
        for rows in (self.real, self.fake):
            sets.append(torch.cat(rows) if rows else like.new_zeros(0, dim))
        return sets[0], sets[1]

    def value(self) -> PRDC:
        """:func:`prdc` of this rank's rows."""
        real, fake = self._local(0)
        return prdc(real, fake, self.k, self.block_size, self.chunk_rows)

    def compute(self) -> PRDC:
        """:func:`sharded_prdc` over every rank's rows (a collective when distributed)."""
        if not (self.sync_on_compute and is_distributed(self.group)):
            return self.value()
        held = [*self.real, *self.fake]
        device = held[0].device if held else None
        mine = torch.tensor([held[0].shape[1] if held else 0], device=device)
        dim = max(int(d) for d in all_gather_uneven(mine, self.group))
        real, fake = self._local(dim)
        return sharded_prdc(real, fake, self.k, self.block_size, self.chunk_rows, group=self.group)
