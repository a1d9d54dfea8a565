"""Seed trees and random draws: the one implementation the library shares.

Internal. A seed is a tensor or a tuple / list / dict of seeds (e.g. one tensor per U-Net
level); :func:`tree_map`, :func:`tree_leaves` and :func:`tree_cat` walk such trees.
:func:`draw` makes a random tensor on the generator's device and moves it to the target
device, so that a CPU generator drives a GPU computation reproducibly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

import torch

from stochrobust._checks import check_callable, check_int, describe
from stochrobust.errors import ShapeError, StochRobustTypeError

__all__ = [
    "Seeds",
    "check_row_seeds",
    "check_seed_law",
    "draw",
    "seed_dims",
    "tree_cat",
    "tree_leaves",
    "tree_map",
]

Seeds: TypeAlias = torch.Tensor | Sequence["Seeds"] | Mapping[str, "Seeds"]
"""A seed: a tensor, or a tuple / list / dict of seeds (e.g. one tensor per U-Net level)."""


def _bad(tree: object) -> StochRobustTypeError:
    return StochRobustTypeError(
        f"seeds: expected a tensor or a tuple/list/dict of tensors, got {describe(tree)}"
    )


def tree_map(fn: Callable[..., torch.Tensor], tree: Seeds, *others: Seeds) -> Seeds:
    """Apply ``fn`` leaf by leaf to ``tree`` (and the matching leaves of ``others``)."""
    if isinstance(tree, torch.Tensor):
        return fn(tree, *others)
    if isinstance(tree, Mapping):
        return {k: tree_map(fn, v, *(o[k] for o in others)) for k, v in tree.items()}  # type: ignore[index, call-overload]
    if isinstance(tree, (tuple, list)):
        parts = zip(tree, *others, strict=True)
        return type(tree)(tree_map(fn, v, *rest) for v, *rest in parts)
    raise _bad(tree)


def tree_leaves(tree: Seeds) -> list[torch.Tensor]:
    """The tensors of ``tree``, depth first."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, Mapping):
        return [leaf for v in tree.values() for leaf in tree_leaves(v)]
    if isinstance(tree, (tuple, list)):
        return [leaf for v in tree for leaf in tree_leaves(v)]
    raise _bad(tree)


def _cat(*leaves: torch.Tensor) -> torch.Tensor:
    return torch.cat(leaves, dim=0)


def tree_cat(*trees: Seeds) -> Seeds:
    """Concatenate seed trees of the same structure along the batch dimension."""
    return tree_map(_cat, trees[0], *trees[1:])


def draw(
    fn: Callable[..., torch.Tensor],
    shape: Sequence[int],
    *,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device | str,
) -> torch.Tensor:
    """``fn(shape)`` (``torch.rand`` / ``torch.randn``) drawn on the generator's device.

    The draw happens where ``generator`` lives (or on ``device`` when it is ``None``: torch's
    global generator of that device) and the result is moved to ``device``.
    """
    where = generator.device if generator is not None else device
    return fn(tuple(shape), generator=generator, dtype=dtype, device=where).to(device)


def seed_dims(y: torch.Tensor, seeds: Seeds) -> tuple[int, int]:
    """``(B, n)`` of ``seeds``, checked against ``y``."""
    leaves = tree_leaves(seeds)
    if not leaves:
        raise ShapeError("seeds: expected at least one tensor, got an empty structure")
    batch = y.shape[0]
    n = leaves[0].shape[1] if leaves[0].ndim >= 2 else -1
    for leaf in leaves:
        if leaf.ndim < 2 or leaf.shape[0] != batch or leaf.shape[1] != n:
            raise ShapeError(
                f"seeds: expected leading dims (B, n) = ({batch}, {n}) matching y, "
                f"got {describe(leaf)}"
            )
    return batch, n


def check_seed_law(seed_shape: object, seed_sampler: object) -> tuple[int, ...] | None:
    """Validate the seed law of an Estimator (at most one of the two); the shape as a tuple."""
    if seed_shape is not None and seed_sampler is not None:
        raise StochRobustTypeError(
            "seed_sampler: expected None when seed_shape is given (pass one of them), "
            f"got {describe(seed_sampler)}"
        )
    if seed_sampler is not None:
        check_callable(seed_sampler, "seed_sampler")
    if seed_shape is None:
        return None
    if isinstance(seed_shape, int) or not isinstance(seed_shape, Sequence):
        raise StochRobustTypeError(
            f"seed_shape: expected a tuple of integers, got {describe(seed_shape)}"
        )
    return tuple(check_int(s, "seed_shape", minimum=0) for s in seed_shape)


def check_row_seeds(y: torch.Tensor, z: Seeds | None, *, stochastic: bool) -> None:
    """``z``: seeds with one row per row of ``y`` when ``stochastic``, else ``None``."""
    if stochastic and z is None:
        raise StochRobustTypeError("z: expected seeds for a stochastic estimator, got None")
    if not stochastic and z is not None:
        raise StochRobustTypeError(
            f"z: expected None for a deterministic estimator, got {describe(z)}"
        )
    for leaf in tree_leaves(z) if z is not None else []:
        if leaf.ndim < 1 or leaf.shape[0] != y.shape[0]:
            raise ShapeError(
                f"z: expected seeds with leading dimension B = {y.shape[0]} (one per "
                f"row of y; no broadcasting), got {describe(leaf)}"
            )
