"""The fused ``(B·n)`` batch of :class:`~stochrobust.Estimator`: row layout and chunks.

Internal. Input ``b`` with seed ``k`` is row ``r = b·n + k`` of one fused batch: the seeds
``(B, n, ...)`` are flattened to ``(B·n, ...)``, the inputs repeated to match, and the
model is called on consecutive chunks of at most ``max_batch`` rows (every call goes
through :func:`stochrobust._guard.run_model`, which names the chunk in its errors). No
Python loop runs over seeds; the only loop is over chunks, and only when ``max_batch``
cuts the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from stochrobust._checks import describe
from stochrobust._guard import run_model
from stochrobust._seeds import Seeds, tree_map
from stochrobust.errors import ModelError

__all__ = ["chunks", "flatten_seeds", "foreach_chunk", "repeat_rows", "run_chunked", "split_rows"]


class _RowSlice:
    """Callable selecting rows ``start:stop`` of a tensor (binds the loop variables)."""

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t[self.start : self.stop]


def chunks(rows: int, max_batch: int | None) -> Iterator[tuple[int, int, str]]:
    """``(start, stop, label)`` of consecutive chunks of at most ``max_batch`` of ``rows``.

    ``max_batch=None`` makes one chunk of all rows. ``label`` names the chunk for
    :func:`~stochrobust._guard.run_model` (``", seed chunk j/count"``; empty for one chunk).
    """
    step = max_batch or rows
    count = -(-rows // step)
    for j, start in enumerate(range(0, rows, step)):
        label = f", seed chunk {j + 1}/{count}" if count > 1 else ""
        yield start, min(start + step, rows), label


def split_rows(seeds: Seeds, batch: int, n: int) -> Seeds:
    """Seeds ``(B·n, ...)`` (row ``b·n + k``) as ``(B, n, ...)``; other leading sizes raise."""
    rows = batch * n

    def unflatten(t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.ndim < 1 or t.shape[0] != rows:
            raise ModelError(
                f"seed_sampler: expected tensors with leading dimension {rows} "
                f"(= B·n = {batch}·{n}), got {describe(t)}"
            )
        return t.reshape(batch, n, *t.shape[1:])

    return tree_map(unflatten, seeds)


def _flatten(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0] * t.shape[1], *t.shape[2:])


def flatten_seeds(seeds: Seeds) -> Seeds:
    """Seeds ``(B, n, ...)`` as ``(B·n, ...)``, row ``b·n + k`` (the inverse of split_rows)."""
    return tree_map(_flatten, seeds)


def repeat_rows(y: torch.Tensor, n: int) -> torch.Tensor:
    """Inputs ``(B, ...)`` repeated to the fused ``(B·n, ...)``: row ``b·n + k`` is ``y[b]``."""
    batch = y.shape[0]
    return y.unsqueeze(1).expand(batch, n, *y.shape[1:]).reshape(batch * n, *y.shape[1:])


def run_chunked(
    model: Callable[..., torch.Tensor], y: torch.Tensor, z: Seeds | None, max_batch: int | None
) -> torch.Tensor:
    """``model(y[, z])`` on the rows of ``y`` (and ``z``), in chunks of ``max_batch`` rows."""
    rows = y.shape[0]
    if max_batch is None or rows <= max_batch:
        return run_model(model, y, z)
    outs = []
    for start, stop, label in chunks(rows, max_batch):
        zc = None if z is None else tree_map(_RowSlice(start, stop), z)
        outs.append(run_model(model, y[start:stop], zc, label))
    return torch.cat(outs, dim=0)


def foreach_chunk(
    model: Callable[..., torch.Tensor],
    y: torch.Tensor,
    seeds: Seeds | None,
    n: int,
    fn: Callable[[slice, torch.Tensor], None],
    max_batch: int | None,
) -> None:
    """Hand ``fn(rows, outputs)`` the fused rows chunk by chunk (``seeds=None``: ``model(y)``).

    Without seeds (a deterministic model) each input is evaluated once, chunks of at most
    ``max_batch`` inputs, and ``fn`` gets its ``n`` identical copies. Nothing is kept between
    chunks, so an autograd graph built inside ``fn`` is freed before the next model call.
    """
    batch = y.shape[0]
    if seeds is None:
        for start, stop, _ in chunks(batch, max_batch):
            out = run_model(model, y[start:stop], None)
            out = out.unsqueeze(1).expand(stop - start, n, *out.shape[1:])
            fn(slice(start * n, stop * n), out.reshape(-1, *out.shape[2:]))
        return
    flat = flatten_seeds(seeds)
    for start, stop, label in chunks(batch * n, max_batch):
        index = torch.arange(start, stop, device=y.device) // n
        zc = tree_map(_RowSlice(start, stop), flat)
        fn(slice(start, stop), run_model(model, y.index_select(0, index), zc, label))
