"""CertSR fine-tuning batches: Gaussian noise augmentation and per-group medians.

[C24] §4.2 ("MRS fine-tuning") and §5 ("Fine-tuning"): every training batch is duplicated
five times; two copies get i.i.d. Gaussian noise with σ = 0.03, two with σ = 0.2 and one
stays clean. The generator is run on all copies and, per Fig. 2, "the median of predictions
associated with each standard deviation" is computed and enters the usual SR loss
(``L1 + L_perc + L_adv``) in place of a single prediction. The paper gives no formula for
that step; :func:`noise_augment` returns the labels for both readings — one median per
original image over all its copies (``index``), or one per original image *and* σ value
(``group``) — and :func:`median_aggregate` computes either, with the module-wide convention
that the median of ``m`` values is the ``⌈m/2⌉``-th smallest (with two copies per σ: the
smaller one, per pixel).

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4.2, Fig. 2, §5 (fine-tuning details).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stochrobust._checks import check_batch, check_generator, check_int, check_positive, describe
from stochrobust._deprecate import keyword_only_generator, renamed
from stochrobust._seeds import draw
from stochrobust.errors import RangeError, ShapeError, StochRobustTypeError

__all__ = ["NoiseAugmentation", "median_aggregate", "noise_augment"]


@dataclass(frozen=True)
class NoiseAugmentation:
    """A noise-augmented batch (see :func:`noise_augment`); ``S = len(sigmas)``.

    Attributes:
        y: the noisy model inputs ``(S·N, ...)``; rows ``j·N .. j·N + N − 1`` are copy
            ``j`` (noise level ``sigmas[j]``) of the whole batch (``inputs``: deprecated 0.1
            name, warns).
        index: original row of every copy, ``(S·N,)`` (``int64``).
        sigma: noise level of every copy, ``(S·N,)`` in the input dtype.
        group: label of the pair (original row, distinct σ value) of every copy, ``(S·N,)``;
            label ``u·N + b`` for original ``b`` and the ``u``-th distinct σ (in order of
            first appearance in ``sigmas``).
        group_index: original row of every group, ``(U·N,)``, ``U`` distinct σ values.
        group_sigma: σ value of every group, ``(U·N,)``.
    """

    y: torch.Tensor
    index: torch.Tensor
    sigma: torch.Tensor
    group: torch.Tensor
    group_index: torch.Tensor
    group_sigma: torch.Tensor

    @property
    def inputs(self) -> torch.Tensor:
        """Deprecated 0.1 name of :attr:`y` (warns ``DeprecationWarning``)."""
        warnings.warn(
            "NoiseAugmentation.inputs is deprecated since 0.2, use NoiseAugmentation.y",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.y


@renamed(x="y")
@keyword_only_generator
def noise_augment(
    y: torch.Tensor,
    sigmas: Sequence[float] = (0.03, 0.03, 0.2, 0.2, 0.0),
    *,
    generator: torch.Generator | None = None,
) -> NoiseAugmentation:
    """Duplicate a batch once per σ and add Gaussian noise (the CertSR fine-tuning recipe).

    Copy ``j`` of the batch is ``y + sigmas[j]·g`` with ``g ~ N(0, I)`` drawn for all
    ``S·N`` rows in one ``torch.randn`` call (so a ``σ = 0`` copy is ``y`` exactly). The
    input is not modified; the result is differentiable with respect to ``y``.

    Args:
        y: batch ``(N, ...)`` of model inputs, e.g. low-resolution images in ``[0, 1]``
            (``x=``: deprecated 0.1 spelling).
        sigmas: one noise level (``≥ 0``) per copy; the default is [C24] §5's recipe
            (two copies at 0.03, two at 0.2, one clean).
        generator: random generator for the noise, keyword-only (positional: deprecated
            0.1 use); ``None`` draws from torch's global generator.

    Returns:
        A :class:`NoiseAugmentation` with the noisy inputs and the index maps.

    Raises:
        RangeError: a negative σ.
        NonFiniteError: a non-finite σ or input.
        ShapeError: an empty batch.
        StochRobustTypeError: ``sigmas`` is not a non-empty sequence of numbers.

    Shape:
        - ``y``: ``(N, *)``; result ``y``: ``(S·N, *)``; ``index``, ``sigma``, ``group``:
          ``(S·N,)``.

    References:
        [C24] §4.2 and §5 (five copies: σ = 0.03, 0.03, 0.2, 0.2 and clean).

    Examples:
        >>> aug = noise_augment(torch.zeros(2, 1, 4, 4), generator=torch.Generator().manual_seed(0))
        >>> aug.y.shape, aug.index.tolist()
        (torch.Size([10, 1, 4, 4]), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
        >>> aug.group.tolist()
        [0, 1, 0, 1, 2, 3, 2, 3, 4, 5]
        >>> bool(aug.y[8:].eq(0).all())  # the σ = 0 copy is the clean batch
        True
    """
    y = check_batch(y, "y")
    check_generator(generator)
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or not sigmas:
        raise StochRobustTypeError(
            f"sigmas: expected a non-empty sequence of numbers, got {describe(sigmas)}"
        )
    levels = [check_positive(s, f"sigmas[{j}]", allow_zero=True) for j, s in enumerate(sigmas)]
    distinct = list(dict.fromkeys(levels))
    n, s_count, u_count = y.shape[0], len(levels), len(distinct)
    noise = draw(
        torch.randn, (s_count * n, *y.shape[1:]), generator=generator, dtype=y.dtype,
        device=y.device,
    )  # fmt: skip
    sigma = torch.tensor(levels, dtype=y.dtype, device=y.device).repeat_interleave(n)
    rep = y.unsqueeze(0).expand(s_count, *y.shape).reshape(s_count * n, *y.shape[1:])
    noisy = rep + sigma.view(-1, *([1] * (y.ndim - 1))) * noise
    rows = torch.arange(n, device=y.device)
    slot = torch.tensor([distinct.index(s) for s in levels], device=y.device)
    return NoiseAugmentation(
        y=noisy,
        index=rows.repeat(s_count),
        sigma=sigma,
        group=(slot.repeat_interleave(n) * n + rows.repeat(s_count)),
        group_index=rows.repeat(u_count),
        group_sigma=torch.tensor(distinct, dtype=y.dtype, device=y.device).repeat_interleave(n),
    )


def median_aggregate(
    outputs: torch.Tensor, index: torch.Tensor, num_groups: int | None = None
) -> torch.Tensor:
    """Per-group, per-coordinate median of the rows of ``outputs``.

    Row ``r`` belongs to group ``index[r]``; group ``g`` of ``m_g`` rows gets the
    ``⌈m_g/2⌉``-th smallest value per coordinate (the module-wide percentile convention:
    the middle one for odd ``m_g``, the lower middle one for even ``m_g``). Groups may have
    different sizes. Vectorised (two stable sorts, no loop over groups) and differentiable:
    the gradient flows to the selected rows.

    Use ``aug.group`` from :func:`noise_augment` for the per-σ median of CertSR's Fig. 2
    (compare row ``g`` of the result with the target of ``aug.group_index[g]``), or
    ``aug.index`` for one median per original image over all its copies.

    Args:
        outputs: model outputs on the augmented batch, ``(M, ...)``.
        index: group label of every row, integer tensor ``(M,)`` with values in
            ``0 .. num_groups − 1``; every group must be non-empty.
        num_groups: number of groups (default: ``index.max() + 1``).

    Returns:
        ``(num_groups, ...)`` medians.

    Raises:
        ShapeError: ``index`` is not ``(M,)`` or a group is empty.
        RangeError: a label outside ``0 .. num_groups − 1``.
        StochRobustTypeError: ``index`` is not an integer tensor.

    Shape:
        - ``outputs``: ``(M, *)``; ``index``: ``(M,)``; output: ``(G, *)``.

    References:
        [C24] §4.2, Fig. 2 ("the median of predictions associated with each standard
        deviation").

    Examples:
        >>> out = torch.tensor([[1.0], [5.0], [3.0], [2.0], [9.0]])
        >>> median_aggregate(out, torch.tensor([0, 0, 0, 1, 1])).tolist()
        [[3.0], [2.0]]
    """
    outputs = check_batch(outputs, "outputs", finite=False)
    if not isinstance(index, torch.Tensor) or index.is_floating_point() or index.is_complex():
        raise StochRobustTypeError(f"index: expected an integer tensor, got {describe(index)}")
    m = outputs.shape[0]
    if index.shape != (m,):
        raise ShapeError(f"index: expected shape ({m},) matching outputs, got {tuple(index.shape)}")
    index = index.to(device=outputs.device, dtype=torch.long)
    low, high = int(index.min()), int(index.max())
    groups = high + 1 if num_groups is None else check_int(num_groups, "num_groups", minimum=1)
    if low < 0 or high >= groups:
        raise RangeError(
            f"index: expected labels in [0, {groups - 1}], got labels in [{low}, {high}]"
        )
    counts = torch.bincount(index, minlength=groups)
    if not bool((counts > 0).all()):
        empty = int((counts == 0).nonzero()[0, 0])
        raise ShapeError(f"index: expected every group to be non-empty, got group {empty} empty")
    flat = outputs.reshape(m, -1)
    values, perm = flat.sort(dim=0, stable=True)  # per coordinate, ascending
    labels = index[:, None].expand_as(perm).gather(0, perm)
    by_group = labels.sort(dim=0, stable=True).indices  # groups contiguous, still sorted
    ordered = values.gather(0, by_group)
    starts = torch.cumsum(counts, 0) - counts
    pos = starts + torch.div(counts + 1, 2, rounding_mode="floor") - 1  # ⌈m/2⌉ − 1
    return ordered[pos].reshape(groups, *outputs.shape[1:])
