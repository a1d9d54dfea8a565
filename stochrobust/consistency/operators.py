"""Linear degradation operators ``A`` with adjoints, pseudo-inverses and exact projections.

Every operator follows deepinv's vocabulary: ``A(x)`` degrades a batch of images,
``A_adjoint(y)`` applies ``Aᵀ``, ``A_pinv(y)`` the Moore–Penrose pseudo-inverse ``A⁺`` and
``project(x, y)`` the orthogonal projection of ``x`` onto the affine set
``{x : A x = y}``, i.e. ``x + A⁺(y − A x)``. Operators are ``nn.Module`` objects: their
masks, kernels and random draws are buffers that move with ``.to(device)``; they are also
cast to the input's device at call time, so an operator built on the CPU works on any
input. Images are ``(N, C, H, W)``; every method keeps the input's dtype and device and is
differentiable.

This file holds the base class and the operators with a closed-form pseudo-inverse
(inpainting, super-resolution by plain averaging, colorization). The blur + stride operator
of CEM lives in :mod:`stochrobust.consistency.blur`, the partial circulant compressed-sensing
operator of ILO in :mod:`stochrobust.consistency.circulant`.

References:
    [O23] §2.2 (consistency ``D(x̂) = y``) and §6.1.1 (inpainting with the upper 3/4
    masked, super-resolution by plain averaging with factors 4, 8, 16).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
from torch import nn

from stochrobust._checks import (
    NonFiniteError,
    RangeError,
    ShapeError,
    StochRobustTypeError,
    check_finite,
    check_image,
    check_int,
    check_number,
    check_tensor,
    describe,
)
from stochrobust.consistency._cg import normal_solve

__all__ = ["AvgPoolDownsample", "Colorization", "Inpainting", "LinearOperator"]


def check_real_image(x: object, name: str, *, finite: bool = True) -> torch.Tensor:
    """A finite, real floating-point ``(N, C, H, W)`` batch."""
    t = check_tensor(x, name)
    if t.is_complex():
        raise StochRobustTypeError(f"{name}: expected a real floating-point tensor, got {t.dtype}")
    return check_image(t, name, finite=finite)


def check_measurement(y: object, name: str, *, finite: bool = True) -> torch.Tensor:
    """A finite, real floating-point tensor with a non-empty batch dimension."""
    t = check_tensor(y, name)
    if t.is_complex():
        raise StochRobustTypeError(f"{name}: expected a real floating-point tensor, got {t.dtype}")
    if t.ndim < 1 or t.shape[0] == 0:
        raise ShapeError(f"{name}: expected a non-empty batch (N, ...), got shape {tuple(t.shape)}")
    if finite:
        check_finite(t, name)
    return t


def nearest_upsample(y: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor: every pixel becomes an s×s block."""
    if scale == 1:
        return y
    n, c, h, w = y.shape
    big = y[:, :, :, None, :, None].expand(n, c, h, scale, w, scale)
    return big.reshape(n, c, h * scale, w * scale)


def check_divisible(shape: Sequence[int], scale: int, name: str) -> tuple[int, int]:
    """The low-resolution size ``(H / s, W / s)``; ShapeError unless ``s`` divides both."""
    if len(shape) != 4:
        raise ShapeError(f"{name}: expected a 4-D shape (N, C, H, W), got {tuple(shape)}")
    height, width = shape[-2], shape[-1]
    if height % scale or width % scale:
        raise ShapeError(
            f"{name}: expected height and width divisible by the scale {scale}, "
            f"got shape {tuple(shape)}"
        )
    return height // scale, width // scale


class LinearOperator(nn.Module, abc.ABC):
    """A linear degradation ``y = A x`` with adjoint, pseudo-inverse and projection.

    Subclasses implement the unchecked maths ``_A``, ``_At`` and the shape maps
    :meth:`range_shape` / :meth:`domain_shape`; they override ``_pinv`` and ``_project``
    where a closed form exists. The defaults are matrix-free and assume ``A`` has full
    row rank: ``A⁺ y = Aᵀ (A Aᵀ)⁻¹ y`` with ``(A Aᵀ)⁻¹`` applied by conjugate gradients
    (``_normal_solve``), and ``project(x, y) = x + A⁺(y − A x)``, which is the orthogonal
    projection of ``x`` onto ``{x : A x = y}``: the correction ``A⁺(y − A x)`` lies in the
    row space of ``A`` (orthogonal to its null space) and ``A A⁺ = I`` makes the result
    consistent.

    The public methods validate their inputs (4-D real floating-point images, measurement
    shapes matching the operator's range, no NaN or Inf — one host sync) unless called with
    ``check=False``, which does no validation and never synchronises; library code calls
    them that way after validating once at its own API boundary.

    Calling the module applies ``A``: ``op(x) == op.A(x)``.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y``: :meth:`range_shape` of ``x``'s shape.

    References:
        [O23] §2.2 (consistency); Bahat & Michaeli, *Explorable Super Resolution*, CVPR 2020
        (the projection ``x + Aᵀ(A Aᵀ)⁻¹(y − A x)`` of CEM).

    Example:
        >>> op = AvgPoolDownsample(2)
        >>> x, y = torch.rand(1, 1, 4, 4), torch.rand(1, 1, 2, 2)
        >>> torch.allclose(op.A(op.project(x, y)), y)
        True
    """

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def range_shape(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """The shape of ``A x`` for an image batch of shape ``shape``.

        Args:
            shape: ``(N, C, H, W)``.
            name: the argument named in error messages.

        Returns:
            The measurement shape.

        Raises:
            ShapeError: ``shape`` is not in the operator's domain.
        """

    @abc.abstractmethod
    def domain_shape(self, shape: Sequence[int], name: str = "y") -> tuple[int, ...]:
        """The shape of ``Aᵀ y`` for a measurement batch of shape ``shape``.

        Args:
            shape: the measurement shape.
            name: the argument named in error messages.

        Returns:
            The image shape ``(N, C, H, W)``.

        Raises:
            ShapeError: ``shape`` is not in the operator's range.
        """

    @abc.abstractmethod
    def _A(self, x: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def _At(self, y: torch.Tensor) -> torch.Tensor: ...

    def _normal_solve(self, r: torch.Tensor) -> torch.Tensor:
        """``(A Aᵀ)⁻¹ r`` by conjugate gradients (differentiable; see :mod:`._cg`)."""
        return normal_solve(r, self._A, self._At)

    def _pinv(self, y: torch.Tensor) -> torch.Tensor:
        return self._At(self._normal_solve(y))

    def _project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self._pinv(y - self._A(x))

    # ------------------------------------------------------------------ validation
    def _check_x(self, x: object, name: str = "x") -> torch.Tensor:
        t = check_real_image(x, name)
        self.range_shape(t.shape, name)
        return t

    def _check_y(self, y: object, name: str = "y") -> torch.Tensor:
        t = check_measurement(y, name)
        self.domain_shape(t.shape, name)
        return t

    # ------------------------------------------------------------------ public API
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``A`` (same as :meth:`A`)."""
        return self.A(x)

    def A(self, x: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """The degradation ``A x``.

        Args:
            x: images ``(N, C, H, W)``.
            check: validate ``x`` (``False``: no validation, no host sync).

        Returns:
            The measurements, shape :meth:`range_shape` of ``x.shape``.

        Raises:
            ShapeError: ``x`` is not 4-D or not in the operator's domain.
            NonFiniteError: NaN or Inf in ``x``.
            StochRobustTypeError: ``x`` is not a real floating-point tensor.
        """
        if check:
            x = self._check_x(x)
        return self._A(x)

    def A_adjoint(self, y: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """The adjoint ``Aᵀ y``: ``⟨A u, v⟩ = ⟨u, Aᵀ v⟩`` for all ``u``, ``v``.

        Args:
            y: measurements.
            check: validate ``y``.

        Returns:
            Images, shape :meth:`domain_shape` of ``y.shape``.

        Raises:
            ShapeError: ``y`` is not in the operator's range.
            NonFiniteError: NaN or Inf in ``y``.
            StochRobustTypeError: ``y`` is not a real floating-point tensor.
        """
        if check:
            y = self._check_y(y)
        return self._At(y)

    def A_pinv(self, y: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """The Moore–Penrose pseudo-inverse ``A⁺ y``: the minimum-norm least-squares solution.

        Args:
            y: measurements.
            check: validate ``y``.

        Returns:
            Images, shape :meth:`domain_shape` of ``y.shape``.

        Raises:
            ShapeError: ``y`` is not in the operator's range.
            NonFiniteError: NaN or Inf in ``y``.
            StochRobustTypeError: ``y`` is not a real floating-point tensor.
        """
        if check:
            y = self._check_y(y)
        return self._pinv(y)

    def project(self, x: torch.Tensor, y: torch.Tensor, *, check: bool = True) -> torch.Tensor:
        """The orthogonal projection ``x + A⁺(y − A x)`` of ``x`` onto ``{x : A x = y}``.

        Args:
            x: images ``(N, C, H, W)``.
            y: measurements, shape ``A(x).shape``.
            check: validate ``x`` and ``y``.

        Returns:
            The consistent images closest to ``x``, same shape as ``x``.

        Raises:
            ShapeError: ``x`` is not in the domain, or ``y``'s shape is not ``A(x).shape``.
            NonFiniteError: NaN or Inf in ``x`` or ``y``.
            StochRobustTypeError: ``x`` or ``y`` is not a real floating-point tensor.
        """
        if check:
            x, y = self.check_pair(x, y)
        return self._project(x, y)

    def check_pair(
        self, x: object, y: object, x_name: str = "x", y_name: str = "y"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate an image batch and measurements of the matching range shape.

        Args:
            x: images ``(N, C, H, W)``.
            y: measurements; their shape must be :meth:`range_shape` of ``x``'s.
            x_name: the name of ``x`` in error messages.
            y_name: the name of ``y`` in error messages.

        Returns:
            ``(x, y)``.

        Raises:
            ShapeError: wrong shapes.
            NonFiniteError: NaN or Inf.
            StochRobustTypeError: not real floating-point tensors.
        """
        xt = check_real_image(x, x_name)
        expected = self.range_shape(xt.shape, x_name)
        yt = check_measurement(y, y_name)
        if tuple(yt.shape) != expected:
            raise ShapeError(
                f"{y_name}: expected the shape of A({x_name}), {expected}, got {tuple(yt.shape)}"
            )
        return xt, yt


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

    Example:
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

    def _A(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(self._mask(x), x, torch.zeros((), dtype=x.dtype, device=x.device))

    def _At(self, y: torch.Tensor) -> torch.Tensor:
        return self._A(y)

    def _pinv(self, y: torch.Tensor) -> torch.Tensor:
        return self._A(y)

    def _project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.where(self._mask(x), y, x)


class AvgPoolDownsample(LinearOperator):
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

    Example:
        >>> op = AvgPoolDownsample(2)
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> op.A(x)
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])
        >>> op.A_pinv(op.A(x))[0, 0, 0].tolist()
        [2.5, 2.5, 4.5, 4.5]
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = check_int(scale, "scale", minimum=1)

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        return f"scale={self.scale}"

    def range_shape(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """``(N, C, H / s, W / s)``."""
        h, w = check_divisible(shape, self.scale, name)
        return (shape[0], shape[1], h, w)

    def domain_shape(self, shape: Sequence[int], name: str = "y") -> tuple[int, ...]:
        """``(N, C, s·h, s·w)``."""
        if len(shape) != 4:
            raise ShapeError(f"{name}: expected a 4-D shape (N, C, h, w), got {tuple(shape)}")
        return (shape[0], shape[1], shape[2] * self.scale, shape[3] * self.scale)

    def _A(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale
        n, c, height, width = x.shape
        return x.reshape(n, c, height // s, s, width // s, s).mean(dim=(3, 5))

    def _At(self, y: torch.Tensor) -> torch.Tensor:
        return nearest_upsample(y, self.scale) / self.scale**2

    def _pinv(self, y: torch.Tensor) -> torch.Tensor:
        return nearest_upsample(y, self.scale)

    def _project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + nearest_upsample(y - self._A(x), self.scale)


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

    Example:
        >>> op = Colorization()
        >>> x = torch.tensor([0.0, 0.3, 0.9]).reshape(1, 3, 1, 1)
        >>> op.A(x).flatten()
        tensor([0.4000])
        >>> op.A_pinv(torch.full((1, 1, 1, 1), 0.5)).flatten().tolist()
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

    def _A(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self._w(x)).sum(dim=1, keepdim=True)

    def _At(self, y: torch.Tensor) -> torch.Tensor:
        return y * self._w(y)

    def _pinv(self, y: torch.Tensor) -> torch.Tensor:
        w = self._w(y)
        return y * (w / w.pow(2).sum())

    def _project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self._pinv(y - self._A(x))
