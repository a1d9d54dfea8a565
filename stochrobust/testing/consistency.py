"""Consistency assertion for unit tests: ``PSNR(A x̂, y) ≥ 45 dB`` for every restoration.

References:
    [O23] §2.2 (consistent restorations ``D(x̂) = y`` and the 45 dB criterion of Lugmayr et
    al.) and §6.1.1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stochrobust._checks import check_batch, check_generator, check_int, check_number
from stochrobust.consistency.base import LinearOperator
from stochrobust.consistency.projection import consistency_psnr
from stochrobust.estimator import Estimator, as_estimator
from stochrobust.testing import _report as rp
from stochrobust.testing._report import HIDE_ASSERTION_FRAMES as _HIDE_ASSERTION_FRAMES
from stochrobust.testing.assertions import default_generator
from stochrobust.testing.session import current_seed

__all__ = ["assert_consistent"]


def _restorations(
    model: Estimator | Callable[..., torch.Tensor],
    y: torch.Tensor,
    n_samples: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``(B, n, *out)`` restorations of ``y`` (``n = 1`` for a deterministic model)."""
    est = as_estimator(model)
    n = n_samples if est.is_stochastic else 1
    gen = default_generator() if generator is None else generator
    with torch.no_grad():
        return est.sample(y, n, generator=gen)


def assert_consistent(
    x_hat_or_model: torch.Tensor | Estimator | Callable[..., torch.Tensor],
    y: torch.Tensor,
    op: LinearOperator,
    psnr_db: float = 45.0,
    *,
    n_samples: int = 4,
    generator: torch.Generator | None = None,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Assert that restorations are consistent with their measurements: ``PSNR(A x̂, y) ≥ 45``.

    Given restorations ``x̂`` (a tensor), checks them directly. Given a model or an
    :class:`~stochrobust.Estimator` mapping measurements to restorations, restores ``y``
    first: once for a deterministic model, ``n_samples`` times (fused, with ``generator``)
    for a stochastic one, and checks every sample. The PSNR is
    :func:`~stochrobust.consistency.consistency_psnr` (over the observed pixels only for
    inpainting).

    Args:
        x_hat_or_model: restorations ``(B, C, H, W)``, or a model / estimator.
        y: the measurements, shape ``op.A(x̂).shape``.
        op: the degradation operator ``A``.
        psnr_db: the threshold in dB (Lugmayr et al.: 45).
        n_samples: restorations per input for a stochastic model (``≥ 1``).
        generator: random generator for the seeds; ``None`` uses the (deterministic)
            session default.
        data_range: peak value of the measurements.

    Returns:
        The consistency PSNRs: ``(B,)`` for given restorations, ``(B, n)`` for a model.

    Raises:
        AssertionError: some restoration is below the threshold; the message lists them.
        StochRobustTypeError: ``op`` is not a LinearOperator; a wrong argument type.
        ShapeError, NonFiniteError, ModelError: malformed ``y``, restorations or model.

    Shape:
        - ``x̂``: ``(B, C, H, W)``; ``y``: ``op.range_shape(x̂.shape)``.

    References:
        [O23] §2.2 (consistency, 45 dB); Lugmayr et al., NTIRE 2021.

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample, project
        >>> op = AvgPoolDownsample(2)
        >>> y = torch.rand(3, 1, 4, 4)
        >>> x_hat = project(torch.rand(3, 1, 8, 8), y, op)       # consistent
        >>> bool((assert_consistent(x_hat, y, op) > 100).all())  # dB, float32 round-off
        True
        >>> assert_consistent(x_hat + 0.1, y, op)
        Traceback (most recent call last):
        ...
        AssertionError: stochrobust: 3 of 3 restorations are not consistent: ...
        ...
    """
    __tracebackhide__ = _HIDE_ASSERTION_FRAMES
    threshold = check_number(psnr_db, "psnr_db")
    yt = check_batch(y, "y")
    check_generator(generator)
    if isinstance(x_hat_or_model, torch.Tensor):
        psnrs = consistency_psnr(x_hat_or_model, yt, op, data_range=data_range)
        source = "restorations given"
    else:
        n = check_int(n_samples, "n_samples", minimum=1)
        samples = _restorations(x_hat_or_model, yt, n, generator)
        batch, k = samples.shape[:2]
        y_rep = yt.unsqueeze(1).expand(batch, k, *yt.shape[1:]).flatten(0, 1)
        flat = consistency_psnr(samples.flatten(0, 1), y_rep, op, data_range=data_range)
        psnrs = flat.reshape(batch, k)
        gen_note = f"default (seed {current_seed()})" if generator is None else "given"
        source = f"restored by the model, {k} sample(s) per input, generator {gen_note}"
    bad = psnrs < threshold
    order = rp.worst_first(psnrs, bad, largest=False)
    if not order:
        return psnrs
    per_input = psnrs.ndim == 2
    rows = []
    for flat_i in order[: rp.SHOWN]:
        if per_input:
            b, k = divmod(flat_i, psnrs.shape[1])
            where = f"input {b}, sample {k}" if psnrs.shape[1] > 1 else f"input {b}"
        else:
            where = f"input {flat_i}"
        rows.append(f"    {where}: {rp.db(float(psnrs.flatten()[flat_i]))}")
    lines = [
        f"stochrobust: {len(order)} of {psnrs.numel()} restorations are not consistent: "
        f"PSNR(A x_hat, y) below {rp.db(threshold)}",
        "  failing (lowest consistency PSNR first):",
        *rows,
        *rp.more_line(len(order), min(len(order), rp.SHOWN), "failing restorations"),
        f"  op = {op!r}, data range {rp.num(data_range)}",
        f"  {source}",
    ]
    raise AssertionError("\n".join(lines))
