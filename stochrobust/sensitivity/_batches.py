"""Iterating over a data set given as a tensor or as an iterable of batches (internal).

Shared by the data-set level functions (:func:`~stochrobust.sensitivity.robustness`,
:func:`~stochrobust.sensitivity.lipschitz_lower_bound`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from stochrobust._checks import describe
from stochrobust.errors import ShapeError, StochRobustTypeError


def iter_batches(
    data: torch.Tensor | Iterable[object], batch_size: int
) -> tuple[Iterator[torch.Tensor], int | None]:
    """Batches of ``data`` and their number when it is known.

    A tensor is cut into ``batch_size`` rows; of an iterable, each item's first element.
    """
    if isinstance(data, torch.Tensor):
        if data.ndim < 1 or data.shape[0] == 0:
            raise ShapeError(
                f"data: expected a non-empty batch (N, ...), got shape {tuple(data.shape)}"
            )
        starts = range(0, data.shape[0], batch_size)
        return (data[s : s + batch_size] for s in starts), len(starts)
    if not isinstance(data, Iterable):
        raise StochRobustTypeError(
            f"data: expected a tensor, an iterable of batches or a DataLoader, got {describe(data)}"
        )
    try:
        total: int | None = len(data)  # type: ignore[arg-type]
    except TypeError:
        total = None

    def first(item: object) -> torch.Tensor:
        if isinstance(item, (tuple, list)) and item:
            item = item[0]
        if not isinstance(item, torch.Tensor):
            raise StochRobustTypeError(
                "data: expected batches that are tensors or (y, ...) tuples/lists, got "
                f"{describe(item)}"
            )
        return item

    return (first(item) for item in data), total
