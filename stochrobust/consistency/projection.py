"""Exact projections onto ``{x : A x = y}``, a consistency wrapper and consistency metrics.

[O23]'s results concern *perfectly consistent* estimators, ``D(x̂) = y``: their inpainting
models paste the observed pixels back, their super-resolution models use CEM. This module
makes any generator consistent (:class:`Consistent`), projects single batches
(:func:`project`) and measures how consistent an output is (:func:`consistency_psnr`,
:func:`is_consistent`, the criterion of Lugmayr et al.).

References:
    [O23] §2.2 (consistency, the 45 dB criterion) and §6.1.1 (inpainting and SR set-ups).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from stochrobust._checks import check_batch, check_callable, check_number, describe
from stochrobust.consistency.base import LinearOperator
from stochrobust.errors import ModelError, RangeError, ShapeError, StochRobustTypeError

__all__ = ["Consistent", "consistency_psnr", "is_consistent", "project"]

UPSAMPLE = ("nearest", "pinv")


def _check_op(op: object) -> LinearOperator:
    if not isinstance(op, LinearOperator):
        raise StochRobustTypeError(
            f"op: expected a stochrobust.consistency.LinearOperator, got {describe(op)}"
        )
    return op


def project(
    x: torch.Tensor, y: torch.Tensor, op: LinearOperator, *, check: bool = True
) -> torch.Tensor:
    """The orthogonal projection of ``x`` onto ``{x : A x = y}``: ``x + A⁺(y − A x)``.

    The closest consistent image to ``x`` in the Euclidean norm, computed per sample and
    differentiably (with respect to ``x`` and ``y``). Exact for inpainting (pasting),
    averaging SR and colorization (closed forms), exact to float precision for the
    circular blur + stride of CEM (FFT), and to the solver tolerance for the partial
    circulant (conjugate gradients). Idempotent; a consistent ``x`` is left unchanged.

    Args:
        x: images ``(N, C, H, W)``.
        y: measurements of shape ``op.A(x).shape``.
        op: the degradation operator.
        check: validate the inputs (``False``: no validation, no host sync).

    Returns:
        The projected images, same shape, dtype and device as ``x``.

    Raises:
        StochRobustTypeError: ``op`` is not a :class:`LinearOperator`; ``x`` or ``y`` not a
            real floating-point tensor.
        ShapeError: ``x`` not 4-D or not in ``op``'s domain; ``y`` not of ``A(x)``'s shape.
        NonFiniteError: NaN or Inf in ``x`` or ``y``.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y``: ``op.range_shape(x.shape)``; output: like ``x``.

    References:
        [O23] §6.1.1; Bahat & Michaeli, CVPR 2020 (CEM).

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> op = AvgPoolDownsample(4)
        >>> x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4)
        >>> torch.allclose(op.A(project(x, y, op)), y, atol=1e-6)
        True
    """
    op = _check_op(op)
    return op.project(x, y, check=check)


def consistency_psnr(
    x_hat: torch.Tensor, y: torch.Tensor, op: LinearOperator, data_range: float = 1.0
) -> torch.Tensor:
    """Per-sample PSNR between the re-degraded restoration ``A x̂`` and the input ``y``.

    The PSNR is taken over the measurements: for :class:`Inpainting`, whose ``A`` returns
    the masked full-size image, only the observed pixels count (the zeros at missing
    pixels are not measurements and would otherwise raise the PSNR by
    ``10·log10(1 / observed fraction)``, +6 dB for the paper's mask), and missing pixels of
    ``y`` are ignored, as in :meth:`Inpainting.project`.

    Args:
        x_hat: restorations ``(N, C, H, W)``.
        y: the measurements they were restored from, shape ``op.A(x_hat).shape``.
        op: the degradation operator.
        data_range: the peak value of the measurements (``1.0`` for images in ``[0, 1]``).

    Returns:
        ``(N,)`` PSNR values in dB (``+inf`` for a perfectly consistent sample),
        differentiable.

    Raises:
        StochRobustTypeError: ``op`` is not a :class:`LinearOperator`.
        ShapeError: ``x_hat`` not in ``op``'s domain or ``y`` of the wrong shape.
        NonFiniteError: NaN or Inf in the inputs.
        RangeError: ``data_range <= 0``.

    Shape:
        - ``x_hat``: ``(N, C, H, W)``; ``y``: ``op.range_shape(x_hat.shape)``; output:
          ``(N,)``.

    References:
        [O23] §2.2: ``PSNR(D(X̂), D(X))``, after Lugmayr et al. (NTIRE 2021/2022).

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> op = AvgPoolDownsample(2)
        >>> y = torch.full((1, 1, 2, 2), 0.5)
        >>> consistency_psnr(torch.full((1, 1, 4, 4), 0.6), y, op)  # MSE = 0.01
        tensor([20.0000])
    """
    op = _check_op(op)
    x_hat, y = op.check_pair(x_hat, y, "x_hat", "y")
    return op.measurement_psnr(x_hat, y, data_range)


def is_consistent(
    x_hat: torch.Tensor,
    y: torch.Tensor,
    op: LinearOperator,
    psnr_db: float = 45.0,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Whether each restoration is consistent: ``PSNR(A x̂, y) ≥ psnr_db`` (45 dB).

    The practical criterion of Lugmayr et al., used in [O23] §2.2: a restoration counts as
    consistent when re-degrading it reproduces the input to within 45 dB PSNR (for images
    in ``[0, 1]``, a root-mean-square error of about ``0.0056``, i.e. 1.4 grey levels out of
    255). Outputs of :func:`project` and :class:`Consistent` pass with a wide margin.

    Args:
        x_hat: restorations ``(N, C, H, W)``.
        y: the measurements, shape ``op.A(x_hat).shape``.
        op: the degradation operator.
        psnr_db: the threshold in dB.
        data_range: the peak value of the measurements.

    Returns:
        ``(N,)`` bool.

    Raises:
        StochRobustTypeError: ``op`` is not a :class:`LinearOperator`.
        ShapeError: wrong shapes.
        NonFiniteError: NaN or Inf in the inputs or a non-finite ``psnr_db``.
        RangeError: ``data_range <= 0``.

    Shape:
        - ``x_hat``: ``(N, C, H, W)``; output: ``(N,)``.

    References:
        [O23] §2.2; Lugmayr et al., NTIRE 2021 learning the super-resolution space challenge.

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> op = AvgPoolDownsample(2)
        >>> y = torch.full((2, 1, 2, 2), 0.5)
        >>> x_hat = torch.stack([torch.full((1, 4, 4), 0.5), torch.full((1, 4, 4), 0.6)])
        >>> is_consistent(x_hat, y, op).tolist()
        [True, False]
    """
    threshold = check_number(psnr_db, "psnr_db")
    return consistency_psnr(x_hat, y, op, data_range=data_range) >= threshold


class Consistent(nn.Module):
    """Wrap a generator so that its outputs are exactly consistent: ``project(G(·), y)``.

    ``forward(y)`` returns ``op.project(model(u), y)`` and ``forward(y, z)`` returns
    ``op.project(model(u, z), y)``, where the network input ``u`` is ``y`` itself
    (``upsample=None``, e.g. inpainting, where ``y`` is the masked image), the
    nearest-upsampled ``y`` (``"nearest"``: for super-resolution networks whose input and
    output sizes are equal, as in [O23] §6.1.1; resized to the spatial size of ``op``'s
    domain, channels unchanged) or ``A⁺ y`` (``"pinv"``: any operator, e.g. the
    back-projection for compressed sensing; for :class:`AvgPoolDownsample` it equals
    ``"nearest"``).

    The wrapper adds no state of its own: calling it does what calling the model does (the
    caller's train/eval mode is used, gradients flow to the model's parameters and to
    ``y``); a wrapped ``nn.Module`` is registered as a submodule, so ``.to()``,
    ``.parameters()`` and ``.train()`` reach it. It composes with
    :class:`stochrobust.Estimator`: ``Estimator(Consistent(G, op), seed_shape=...)``.
    ``forward`` checks shapes but not finiteness, so that it never synchronises.

    Args:
        model: the generator, ``model(u)`` or ``model(u, z)`` (an ``nn.Module`` or any
            callable) returning images of ``op``'s domain shape.
        op: the degradation operator.
        upsample: ``None``, ``"nearest"`` or ``"pinv"`` (see above).

    Raises:
        StochRobustTypeError: ``model`` not callable, ``op`` not a :class:`LinearOperator`.
        RangeError: unknown ``upsample``.

    Shape:
        - ``y``: ``op``'s range shape; ``z``: whatever the model takes; output:
          ``op.domain_shape(y.shape)``.

    References:
        [O23] §6.1 ("all the algorithms are enforced to produce perfectly consistent
        restorations"), §6.1.1 (pasting for inpainting, CEM and nearest-upsampled inputs
        for SR).

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> net = torch.nn.Conv2d(2, 1, 3, padding=1)
        >>> G = Consistent(lambda u, z: net(torch.cat([u, z], 1)), AvgPoolDownsample(4),
        ...                upsample="nearest")
        >>> y = torch.rand(2, 1, 4, 4)
        >>> x_hat = G(y, torch.randn(2, 1, 16, 16))
        >>> x_hat.shape, bool(is_consistent(x_hat, y, AvgPoolDownsample(4)).all())
        (torch.Size([2, 1, 16, 16]), True)
    """

    def __init__(
        self,
        model: Callable[..., torch.Tensor],
        op: LinearOperator,
        upsample: Literal["nearest", "pinv"] | None = None,
    ) -> None:
        super().__init__()
        check_callable(model, "model")
        self.op = _check_op(op)
        if upsample is not None and upsample not in UPSAMPLE:
            raise RangeError(f"upsample: expected None or one of {UPSAMPLE}, got {upsample!r}")
        self.model = model
        self.upsample = upsample

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        return f"upsample={self.upsample!r}"

    def network_input(self, y: torch.Tensor) -> torch.Tensor:
        """The input fed to the network for measurements ``y`` (see ``upsample``).

        Args:
            y: measurements.

        Returns:
            ``y``, its nearest upsampling or ``A⁺ y``.

        Raises:
            ShapeError: ``y`` is not in ``op``'s range, or not an image batch with
                ``upsample="nearest"``.
        """
        y = check_batch(y, "y", finite=False)
        target = self.op.domain_shape(y.shape)
        if self.upsample is None:
            return y
        if self.upsample == "pinv":
            return self.op.A_pinv(y, check=False)
        if y.ndim != 4:
            raise ShapeError(
                "y: expected (N, C, h, w) measurements for upsample='nearest', "
                f"got shape {tuple(y.shape)}"
            )
        if tuple(y.shape[-2:]) == tuple(target[-2:]):
            return y
        return torch.nn.functional.interpolate(y, size=tuple(target[-2:]), mode="nearest")

    def forward(self, y: torch.Tensor, z: object = None) -> torch.Tensor:
        """Restore ``y`` (with seed ``z`` for a stochastic model) and project onto ``A x = y``.

        Args:
            y: measurements.
            z: the seed passed on to the model, or ``None`` for ``model(u)``.

        Returns:
            Consistent restorations of shape ``op.domain_shape(y.shape)``.

        Raises:
            ShapeError: ``y`` not in ``op``'s range.
            ModelError: the model returns something else than a tensor of that shape.
        """
        u = self.network_input(y)
        out = self.model(u) if z is None else self.model(u, z)
        expected = self.op.domain_shape(y.shape)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            raise ModelError(
                f"model: expected an output of shape {expected} (op's domain for y of shape "
                f"{tuple(y.shape)}), got {describe(out)}"
            )
        return self.op.project(out, y, check=False)
