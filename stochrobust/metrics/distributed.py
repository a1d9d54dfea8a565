"""Collectives for metric states over ``torch.distributed``, safe with uneven shard sizes.

Every function here is a collective when a process group with more than one rank is in use:
all ranks of the group must call it, in the same order, whatever their shard sizes (an
empty shard is fine). Without ``torch.distributed`` initialised, or with one rank, nothing
is communicated. Tensors must live where the backend expects them (CPU for Gloo, the
rank's current CUDA device for NCCL: call ``torch.cuda.set_device(local_rank)`` first).

Uneven sizes never deadlock because the sizes travel first: :func:`all_gather_uneven`
gathers every rank's shape, pads each flattened tensor to the largest size, gathers the
padded buffers and cuts them back; :func:`iter_shards` broadcasts every rank's rows in
chunks of at most ``chunk_rows`` rows, so a rank never holds more than one chunk of
another rank's data.

References:
    PyTorch documentation, *Distributed communication package* (``all_gather``,
    ``broadcast``, ``all_reduce``); torchmetrics issue #2170 (uneven list states deadlock).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist

from stochrobust.errors import StochRobustTypeError

__all__ = [
    "all_gather_uneven",
    "all_reduce_sum",
    "is_distributed",
    "iter_shards",
    "rank_info",
    "shard_sizes",
]

ProcessGroup = dist.ProcessGroup | None


def is_distributed(group: ProcessGroup = None) -> bool:
    """Whether ``torch.distributed`` is initialised and the group has more than one rank.

    Args:
        group: a process group, or ``None`` for the default one.

    Returns:
        ``True`` when collectives are needed.

    Examples:
        >>> is_distributed()  # a plain Python process
        False
    """
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def rank_info(group: ProcessGroup = None) -> tuple[int, int]:
    """``(rank, world_size)`` of this process in ``group``; ``(0, 1)`` when not distributed.

    Args:
        group: a process group, or ``None`` for the default one.

    Returns:
        The rank in the group and the number of ranks.

    Examples:
        >>> rank_info()
        (0, 1)
    """
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def _global(group: ProcessGroup, rank: int) -> int:
    return rank if group is None else dist.get_global_rank(group, rank)


def all_reduce_sum(tensor: torch.Tensor, group: ProcessGroup = None) -> torch.Tensor:
    """Sum of ``tensor`` over the ranks (a new tensor; the input is left unchanged).

    Args:
        tensor: the same shape and dtype on every rank.
        group: a process group, or ``None`` for the default one.

    Returns:
        The elementwise sum over all ranks (a copy of ``tensor`` with one rank).

    Examples:
        >>> all_reduce_sum(torch.tensor([1, 2])).tolist()
        [1, 2]
    """
    out = tensor.clone()
    if is_distributed(group):
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
    return out


def all_gather_uneven(tensor: torch.Tensor, group: ProcessGroup = None) -> list[torch.Tensor]:
    """Every rank's tensor, in rank order, whatever its shape (uneven sizes, empty shards).

    Shapes and dtypes are exchanged first; each rank then sends its flattened tensor padded
    to the largest size in the common (promoted) dtype, and the padding is cut off again.

    Args:
        tensor: any tensor (shapes may differ between ranks, dtypes must promote).
        group: a process group, or ``None`` for the default one.

    Returns:
        One tensor per rank, in rank order (``[tensor]`` with one rank).

    Raises:
        StochRobustTypeError: ``tensor`` is not a tensor.

    Examples:
        >>> [t.tolist() for t in all_gather_uneven(torch.tensor([1.0, 2.0]))]
        [[1.0, 2.0]]
    """
    if not isinstance(tensor, torch.Tensor):
        raise StochRobustTypeError(f"tensor: expected a torch.Tensor, got {type(tensor).__name__}")
    if not is_distributed(group):
        return [tensor]
    size = dist.get_world_size(group)
    meta: list[tuple[tuple[int, ...], torch.dtype] | None] = [None] * size
    dist.all_gather_object(meta, (tuple(tensor.shape), tensor.dtype), group=group)
    shapes = [m[0] for m in meta if m is not None]
    dtype = tensor.dtype
    for m in meta:
        if m is not None:
            dtype = torch.promote_types(dtype, m[1])
    numels = [int(torch.Size(s).numel()) for s in shapes]
    longest = max(numels)
    if longest == 0:
        return [tensor.new_empty(s, dtype=dtype) for s in shapes]
    flat = tensor.detach().reshape(-1).to(dtype)
    buf = flat.new_zeros(longest)
    buf[: flat.numel()] = flat
    bufs = [torch.empty_like(buf) for _ in range(size)]
    dist.all_gather(bufs, buf, group=group)
    return [b[:n].reshape(s) for b, n, s in zip(bufs, numels, shapes, strict=True)]


def iter_shards(
    local: torch.Tensor, chunk_rows: int, group: ProcessGroup = None
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Broadcast every rank's rows to all ranks, one chunk at a time, in rank order.

    Yields ``(source, offset, chunk)``: ``chunk`` holds rows ``offset : offset + len(chunk)``
    of rank ``source``'s ``local`` (global row ``offset`` counts from the start of rank 0's
    rows). All ranks must iterate to the end. Memory: one chunk of another rank's rows.

    Args:
        local: this rank's rows ``(n_r, *tail)``; ``tail`` and dtype equal on every rank.
        chunk_rows: at most this many rows per broadcast.
        group: a process group, or ``None`` for the default one.

    Yields:
        ``(source, global_offset, chunk)`` triples.

    Examples:
        >>> [(s, o, c.tolist()) for s, o, c in iter_shards(torch.arange(3.0), 2)]
        [(0, 0, [0.0, 1.0]), (0, 2, [2.0])]
    """
    me, size = rank_info(group)
    sizes = shard_sizes(local.shape[0], local.device, group)
    offset = 0
    for src in range(size):
        for start in range(0, sizes[src], chunk_rows):
            rows = min(chunk_rows, sizes[src] - start)
            if src == me:
                chunk = local[start : start + rows].contiguous()
            else:
                chunk = local.new_empty((rows, *local.shape[1:]))
            if size > 1:
                dist.broadcast(chunk, src=_global(group, src), group=group)
            yield src, offset + start, chunk
        offset += sizes[src]


def shard_sizes(n: int, device: torch.device, group: ProcessGroup = None) -> list[int]:
    """Every rank's row count, in rank order (one small all-gather).

    Args:
        n: this rank's number of rows.
        device: where the collective's buffer lives (the backend's device).
        group: a process group, or ``None`` for the default one.

    Returns:
        The row counts of all ranks (``[n]`` with one rank).

    Examples:
        >>> shard_sizes(5, torch.device("cpu"))
        [5]
    """
    if not is_distributed(group):
        return [n]
    mine = torch.tensor([n], dtype=torch.int64, device=device)
    bufs = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(bufs, mine, group=group)
    return [int(b) for b in bufs]
