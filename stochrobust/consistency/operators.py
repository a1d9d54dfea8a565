"""Degradation operators with a closed-form pseudo-inverse: inpainting, averaging, colorization.

Every operator follows deepinv's vocabulary: ``A(x)`` degrades a batch of images,
``A_adjoint(y)`` applies ``Aᵀ``, ``A_pinv(y)`` the Moore–Penrose pseudo-inverse ``A⁺`` and
``project(x, y)`` the orthogonal projection of ``x`` onto the affine set
``{x : A x = y}``, i.e. ``x + A⁺(y − A x)`` (the contract of the base class
:class:`LinearOperator`). Their buffers move with ``.to(device)`` and are also cast to the input's
device at call time, so an operator built on the CPU works on any input. Images are
``(N, C, H, W)``; every method keeps the input's dtype and device and is differentiable.

The blur + stride operator of CEM lives in :mod:`stochrobust.consistency.blur`, the partial
circulant compressed-sensing operator of ILO in :mod:`stochrobust.consistency.circulant`.

References:
    [O23] §2.2 (consistency ``D(x̂) = y``) and §6.1.1 (inpainting with the upper 3/4
    masked, super-resolution by plain averaging with factors 4, 8, 16).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stochrobust._checks import check_finite, check_number, check_tensor, describe
from stochrobust.consistency.base import Downsampling, LinearOperator, _nearest_upsample
from stochrobust.errors import NonFiniteError, RangeError, ShapeError, StochRobustTypeError
from stochrobust.metrics.quality import psnr

__all__ = ["AvgPoolDownsample", "Colorization", "Inpainting"]


class Inpainting(LinearOperator):
    """Inpainting: keep the observed pixels, ``A = Aᵀ = A⁺ = diag(mask)``.

    ``A`` returns the *masked full-size image* (unobserved pixels set to zero), not the
    vector of observed pixels: the measurements keep the image layout, so ``y`` can be fed
    to an inpainting network directly. With a binary mask ``diag(mask)`` is an orthogonal
    projector, hence its own adjoint and pseudo-inverse, and the projection onto
    ``{x : A x = y}`` is the paper's "paste the observed pixels back":
    ``project(x, y) = where(mask, y, x)`` (exact, bit for bit). Only the observed pixels of
    ``y`` matter.

    Args:
        mask: ``1``/``True`` = observed, ``0``/``False`` = missing; a bool, integer or
            floating tensor of 0s and 1s, 2-D to 4-D, broadcastable to the images
            (``(H, W)``, ``(C, H, W)``, ``(1, C, H, W)`` or ``(N, C, H, W)``).

    Raises:
        StochRobustTypeError: ``mask`` is not a tensor.
        ShapeError: ``mask`` has fewer than 2 or more than 4 dimensions; at call time, it
            does not broadcast to the image shape.
        RangeError: ``mask`` holds values other than 0 and 1.
        NonFiniteError: ``mask`` holds NaN.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y = A x``: the same shape.

    References:
        [O23] §6.1.1: the upper 3/4 of the image is masked; consistency is enforced by
        replacing the bottom 1/4 of the output with that of the input.

    Examples:
        >>> mask = torch.zeros(4, 4, dtype=torch.bool)
        >>> mask[3:] = True                       # observe the bottom quarter
        >>> op = Inpainting(mask)
        >>> x, y = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
        >>> op.project(x, y)[0, 0, :, 0].tolist()
        [0.0, 0.0, 0.0, 1.0]
    """

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        if not isinstance(mask, torch.Tensor):
            raise StochRobustTypeError(f"mask: expected a torch.Tensor, got {describe(mask)}")
        if not 2 <= mask.ndim <= 4:
            raise ShapeError(
                "mask: expected a 2-D to 4-D tensor broadcastable to (N, C, H, W), "
                f"got shape {tuple(mask.shape)}"
            )
        if mask.dtype != torch.bool:
            if mask.is_complex():
                raise StochRobustTypeError(f"mask: expected a real tensor, got {mask.dtype}")
            if mask.is_floating_point() and not bool(torch.isfinite(mask).all()):
                raise NonFiniteError("mask: expected finite values (0 or 1), got NaN or Inf")
            if not bool(((mask == 0) | (mask == 1)).all()):
                raise RangeError(
                    "mask: expected only 0 and 1 (1 = observed), got values "
                    f"{torch.unique(mask)[:5].tolist()}"
                )
        self.register_buffer("mask", mask.detach().to(torch.bool).clone())

    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        return self.mask.to(like.device)

    def range_shape(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """``A x`` has the shape of ``x`` (``mask`` must broadcast to it)."""
        shape = tuple(shape)
        if len(shape) != 4:
            raise ShapeError(f"{name}: expected a 4-D shape (N, C, H, W), got {shape}")
        mshape = tuple(self.mask.shape)
        if not all(m in (1, d) for m, d in zip(mshape[::-1], shape[::-1], strict=False)):
            raise ShapeError(
                f"{name}: expected a shape that the mask {tuple(self.mask.shape)} broadcasts to, "
                f"got {shape}"
            )
        return shape

    def domain_shape(self, shape: Sequence[int], name: str = "y") -> tuple[int, ...]:
        """``Aᵀ y`` has the shape of ``y``."""
        return self.range_shape(shape, name)

    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` without validation (the hook behind :meth:`A`)."""
        return torch.where(self._mask(x), x, torch.zeros((), dtype=x.dtype, device=x.device))

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` without validation (the hook behind :meth:`A_adjoint`)."""
        return self.apply_A(y)

    def apply_A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``A⁺ y`` without validation (the hook behind :meth:`A_pinv`)."""
        return self.apply_A(y)

    def apply_project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The projection of ``x`` onto ``{A x = y}`` (behind :meth:`project`)."""
        return torch.where(self._mask(x), y, x)

    def measurement_psnr(
        self, x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0
    ) -> torch.Tensor:
        """Per-sample PSNR between ``A x`` and ``y`` over the entries that are measurements."""
        # PSNR over the observed pixels only: the full-image PSNR of the masked images plus
        # 10·log10(observed / total); a sample with no observed pixel is vacuously consistent.
        full = psnr(self.apply_A(x), self.apply_A(y), data_range=data_range)
        mask = self._mask(x).expand(x.shape)
        observed = mask.flatten(1).sum(dim=1).to(full.dtype)
        offset = 10.0 * torch.log10(observed.clamp_min(1) / mask[0].numel())
        return torch.where(observed > 0, full + offset, torch.full_like(full, float("inf")))


class AvgPoolDownsample(Downsampling):
    """Super-resolution degradation by plain averaging over ``s × s`` blocks.

    ``A`` = average pooling with kernel and stride ``s``; ``Aᵀ`` = nearest upsampling
    divided by ``s²``; ``A Aᵀ = I / s²``, so ``A⁺ = s² Aᵀ`` = nearest upsampling and
    ``A A⁺ = I``. The projection ``x + A⁺(y − A x)`` adds to each block the difference
    between its target and its current mean. Equals :class:`BlurDownsample` with the box
    kernel ``ones(s, s) / s²``.

    Args:
        scale: the integer factor ``s ≥ 1``.

    Raises:
        StochRobustTypeError: ``scale`` is not an integer.
        RangeError: ``scale < 1``.
        ShapeError: at call time, ``H`` or ``W`` is not divisible by ``scale``.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y = A x``: ``(N, C, H / s, W / s)``.

    References:
        [O23] §6.1.1 ("plain averaging with scaling factors of 4, 8, and 16"; the network
        is fed the nearest-upsampled ``y``).

    Examples:
        >>> op = AvgPoolDownsample(2)
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> op.A(x)
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])
        >>> op.A_pinv(op.A(x))[0, 0, 0].tolist()
        [2.5, 2.5, 4.5, 4.5]
    """

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        return f"scale={self.scale}"

    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` without validation (the hook behind :meth:`A`)."""
        s = self.scale
        n, c, height, width = x.shape
        return x.reshape(n, c, height // s, s, width // s, s).mean(dim=(3, 5))

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` without validation (the hook behind :meth:`A_adjoint`)."""
        return _nearest_upsample(y, self.scale) / self.scale**2

    def apply_A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``A⁺ y`` without validation (the hook behind :meth:`A_pinv`)."""
        return _nearest_upsample(y, self.scale)

    def apply_project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The projection of ``x`` onto ``{A x = y}`` (behind :meth:`project`)."""
        return x + _nearest_upsample(y - self.apply_A(x), self.scale)


class Colorization(LinearOperator):
    """Colorization: a weighted channel sum, ``C → 1`` channels (the channel mean by default).

    ``A x = Σ_c w_c x_c``; ``Aᵀ y`` replicates ``y`` into channel ``c`` with weight
    ``w_c``; ``A Aᵀ = ‖w‖² I``, so ``A⁺ y = w y / ‖w‖²`` (for the mean: replicate ``y``
    into every channel) and the projection adds ``w (y − A x) / ‖w‖²``.

    Args:
        weights: one weight per input channel, a sequence or a 1-D tensor with at least
            one non-zero entry; ``None`` = the mean of 3 channels ``(1/3, 1/3, 1/3)``.

    Raises:
        StochRobustTypeError: ``weights`` is not a sequence of numbers or a tensor.
        ShapeError: ``weights`` is not 1-D and non-empty; at call time, ``x`` does not have
            ``len(weights)`` channels or ``y`` does not have 1.
        RangeError: all weights are zero.
        NonFiniteError: NaN or Inf in ``weights``.

    Shape:
        - ``x``: ``(N, C, H, W)`` with ``C = len(weights)``; ``y = A x``: ``(N, 1, H, W)``.

    References:
        [O23] §1 (colorization as a non-invertible degradation ``D``).

    Examples:
        >>> op = Colorization()
        >>> x = torch.tensor([0.0, 0.3, 0.9]).reshape(1, 3, 1, 1)
        >>> op.A(x).flatten()
        tensor([0.4000])
        >>> [round(v, 6) for v in op.A_pinv(torch.full((1, 1, 1, 1), 0.5)).flatten().tolist()]
        [0.5, 0.5, 0.5]
    """

    weights: torch.Tensor

    def __init__(self, weights: Sequence[float] | torch.Tensor | None = None) -> None:
        super().__init__()
        if weights is None:
            w = torch.full((3,), 1.0 / 3.0, dtype=torch.float64)
        elif isinstance(weights, torch.Tensor):
            w = check_tensor(weights, "weights").detach().to(torch.float64)
        elif isinstance(weights, (list, tuple)):
            w = torch.tensor([check_number(v, "weights") for v in weights], dtype=torch.float64)
        else:
            raise StochRobustTypeError(
                f"weights: expected a sequence of numbers or a 1-D tensor, got {describe(weights)}"
            )
        if w.ndim != 1 or w.numel() == 0:
            raise ShapeError(
                f"weights: expected a non-empty 1-D tensor, got shape {tuple(w.shape)}"
            )
        check_finite(w, "weights")
        if not bool((w != 0).any()):
            raise RangeError("weights: expected at least one non-zero weight, got all zeros")
        self.register_buffer("weights", w.clone())

    @property
    def channels(self) -> int:
        """The number of input channels ``C``."""
        return int(self.weights.numel())

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        return f"weights={[round(v, 6) for v in self.weights.tolist()]}"

    def range_shape(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """``(N, 1, H, W)``."""
        if len(shape) != 4 or shape[1] != self.channels:
            raise ShapeError(
                f"{name}: expected a 4-D shape (N, {self.channels}, H, W), got {tuple(shape)}"
            )
        return (shape[0], 1, shape[2], shape[3])

    def domain_shape(self, shape: Sequence[int], name: str = "y") -> tuple[int, ...]:
        """``(N, C, H, W)``."""
        if len(shape) != 4 or shape[1] != 1:
            raise ShapeError(f"{name}: expected a 4-D shape (N, 1, H, W), got {tuple(shape)}")
        return (shape[0], self.channels, shape[2], shape[3])

    def _w(self, like: torch.Tensor) -> torch.Tensor:
        return self.weights.to(device=like.device, dtype=like.dtype).reshape(1, -1, 1, 1)

    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` without validation (the hook behind :meth:`A`)."""
        return (x * self._w(x)).sum(dim=1, keepdim=True)

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` without validation (the hook behind :meth:`A_adjoint`)."""
        return y * self._w(y)

    def apply_A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``A⁺ y`` without validation (the hook behind :meth:`A_pinv`)."""
        w = self._w(y)
        return y * (w / w.pow(2).sum())

    def apply_project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The projection of ``x`` onto ``{A x = y}`` (behind :meth:`project`)."""
        return x + self.apply_A_pinv(y - self.apply_A(x))
