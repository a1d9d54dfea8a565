"""The base class of the degradation operators and the input checks they share.

:class:`LinearOperator` fixes deepinv's vocabulary — ``A(x)``, ``A_adjoint(y)``,
``A_pinv(y)`` — and adds ``project(x, y)``, the orthogonal projection onto
``{x : A x = y}``. Operators are ``nn.Module`` objects, so that their masks, kernels and
random draws are buffers that move with ``.to(device)``; the concrete operators live in
:mod:`stochrobust.consistency.operators`, :mod:`stochrobust.consistency.blur` and
:mod:`stochrobust.consistency.circulant`.

References:
    [O23] §2.2 (consistency ``D(x̂) = y``); Bahat & Michaeli, *Explorable Super
    Resolution*, CVPR 2020 (the projection ``x + Aᵀ(A Aᵀ)⁻¹(y − A x)``).
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from stochrobust._checks import check_batch, check_image, check_int
from stochrobust.consistency._cg import normal_solve
from stochrobust.errors import ShapeError
from stochrobust.metrics.quality import psnr

__all__ = ["Downsampling", "LinearOperator"]


def _nearest_upsample(y: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor: every pixel becomes an s×s block."""
    if scale == 1:
        return y
    n, c, h, w = y.shape
    big = y[:, :, :, None, :, None].expand(n, c, h, scale, w, scale)
    return big.reshape(n, c, h * scale, w * scale)


def _check_divisible(shape: Sequence[int], scale: int, name: str) -> tuple[int, int]:
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


# 0.1 spelling of the hooks → 0.2 spelling (deprecated aliases for one release).
_OLD_HOOKS = {
    "_A": "apply_A",
    "_At": "apply_A_adjoint",
    "_pinv": "apply_A_pinv",
    "_project": "apply_project",
    "_normal_solve": "normal_solve",
    "_measurement_psnr": "measurement_psnr",
}


class LinearOperator(nn.Module, abc.ABC):
    """A linear degradation ``y = A x`` with adjoint, pseudo-inverse and projection.

    Subclasses implement the unchecked maths ``apply_A``, ``apply_A_adjoint`` and the shape maps
    :meth:`range_shape` / :meth:`domain_shape`; they override ``apply_A_pinv`` and ``apply_project``
    where a closed form exists. The defaults are matrix-free and assume ``A`` has full
    row rank: ``A⁺ y = Aᵀ (A Aᵀ)⁻¹ y`` with ``(A Aᵀ)⁻¹`` applied by conjugate gradients
    (``normal_solve``), and ``project(x, y) = x + A⁺(y − A x)``, which is the orthogonal
    projection of ``x`` onto ``{x : A x = y}``: the correction ``A⁺(y − A x)`` lies in the
    row space of ``A`` (orthogonal to its null space) and ``A A⁺ = I`` makes the result
    consistent. ``measurement_psnr`` (used by ``consistency_psnr``) compares ``A x`` with
    ``y`` entry by entry; override it when ``A``'s output holds entries that are not
    measurements (as :class:`Inpainting` does for its missing pixels).

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

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> op = AvgPoolDownsample(2)
        >>> x, y = torch.rand(1, 1, 4, 4), torch.rand(1, 1, 2, 2)
        >>> torch.allclose(op.A(op.project(x, y)), y, atol=1e-6)
        True
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Map the 0.1 hook names of a subclass to the public ones, with a warning."""
        super().__init_subclass__(**kwargs)
        for old, new in _OLD_HOOKS.items():
            if old in cls.__dict__ and new not in cls.__dict__:
                warnings.warn(
                    f"{cls.__name__}.{old}: the operator hook is now called {new!r}; the old "
                    "name is deprecated and will be removed in stochrobust 0.3",
                    DeprecationWarning,
                    stacklevel=2,
                )
                setattr(cls, new, cls.__dict__[old])

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
    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` without validation (the hook behind :meth:`A`)."""

    @abc.abstractmethod
    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` without validation (the hook behind :meth:`A_adjoint`)."""

    def normal_solve(self, r: torch.Tensor) -> torch.Tensor:
        """``(A Aᵀ)⁻¹ r`` by conjugate gradients (differentiable; see :mod:`._cg`)."""
        return normal_solve(r, lambda v: self.apply_A(self.apply_A_adjoint(v)))

    def apply_A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``A⁺ y`` without validation (the hook behind :meth:`A_pinv`)."""
        return self.apply_A_adjoint(self.normal_solve(y))

    def apply_project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The projection of ``x`` onto ``{A x = y}`` (behind :meth:`project`)."""
        return x + self.apply_A_pinv(y - self.apply_A(x))

    def measurement_psnr(
        self, x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0
    ) -> torch.Tensor:
        """Per-sample PSNR between ``A x`` and ``y`` over the entries that are measurements."""
        return psnr(self.apply_A(x), y, data_range=data_range)

    # ------------------------------------------------------------------ validation
    def _check_x(self, x: object, name: str = "x") -> torch.Tensor:
        t = check_image(x, name)
        self.range_shape(t.shape, name)
        return t

    def _check_y(self, y: object, name: str = "y") -> torch.Tensor:
        t = check_batch(y, name)
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

        Shape:
            - ``x``: ``(N, C, H, W)``; output: ``range_shape(x.shape)``.

        References:
            [O23] §2.1: the degradation ``y = D(x)``.

        Examples:
            >>> from stochrobust.consistency import Colorization
            >>> Colorization().A(torch.ones(2, 3, 4, 4)).shape
            torch.Size([2, 1, 4, 4])
        """
        if check:
            x = self._check_x(x)
        return self.apply_A(x)

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

        Shape:
            - ``y``: the range shape; output: ``domain_shape(y.shape)``.

        References:
            [O23] §6.1.1 and CEM (``Aᵀ`` in ``x + Aᵀ(A Aᵀ)⁻¹(y − A x)``).

        Examples:
            >>> from stochrobust.consistency import AvgPoolDownsample
            >>> AvgPoolDownsample(2).A_adjoint(torch.ones(1, 1, 1, 1)).flatten().tolist()
            [0.25, 0.25, 0.25, 0.25]
        """
        if check:
            y = self._check_y(y)
        return self.apply_A_adjoint(y)

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

        Shape:
            - ``y``: the range shape; output: ``domain_shape(y.shape)``.

        References:
            [O23] §6.1.1 (``A⁺`` = nearest upsampling for plain averaging).

        Examples:
            >>> from stochrobust.consistency import AvgPoolDownsample
            >>> AvgPoolDownsample(2).A_pinv(torch.ones(1, 1, 1, 1)).flatten().tolist()
            [1.0, 1.0, 1.0, 1.0]
        """
        if check:
            y = self._check_y(y)
        return self.apply_A_pinv(y)

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

        Shape:
            - ``x``: ``(N, C, H, W)``; ``y``: ``range_shape(x.shape)``; output: like ``x``.

        References:
            [O23] §6.1.1 (pasting for inpainting, CEM for super-resolution).

        Examples:
            >>> from stochrobust.consistency import AvgPoolDownsample
            >>> x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
            >>> AvgPoolDownsample(2).project(x, torch.full((1, 1, 1, 1), 2.5)).flatten().tolist()
            [1.0, 2.0, 3.0, 4.0]
        """
        if check:
            x, y = self.check_pair(x, y)
        return self.apply_project(x, y)

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

        Examples:
            >>> from stochrobust.consistency import AvgPoolDownsample
            >>> AvgPoolDownsample(2).check_pair(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3))
            Traceback (most recent call last):
            ...
            stochrobust.errors.ShapeError: y: expected the shape of A(x), (1, 1, 2, 2), got ...
        """
        xt = check_image(x, x_name)
        expected = self.range_shape(xt.shape, x_name)
        yt = check_batch(y, y_name)
        if tuple(yt.shape) != expected:
            raise ShapeError(
                f"{y_name}: expected the shape of A({x_name}), {expected}, got {tuple(yt.shape)}"
            )
        return xt, yt


class Downsampling(LinearOperator):
    """Base class of the operators that shrink ``H`` and ``W`` by an integer factor ``s``.

    Holds ``scale`` and the shape maps ``(N, C, H, W) ↔ (N, C, H / s, W / s)`` shared by
    :class:`~stochrobust.consistency.AvgPoolDownsample` and
    :class:`~stochrobust.consistency.BlurDownsample`; a subclass implements
    :meth:`~LinearOperator.apply_A` and :meth:`~LinearOperator.apply_A_adjoint` only.

    Args:
        scale: the integer factor ``s ≥ 1``.

    Raises:
        StochRobustTypeError: ``scale`` is not an integer.
        RangeError: ``scale < 1``.
        ShapeError: at call time, ``H`` or ``W`` is not divisible by ``scale``.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y = A x``: ``(N, C, H / s, W / s)``.

    References:
        [O23] §6.1.1 (super-resolution by factors 4, 8 and 16).

    Examples:
        >>> class EveryOther(Downsampling):               # keep the top-left pixel of a block
        ...     def apply_A(self, x):
        ...         return x[..., :: self.scale, :: self.scale]
        ...     def apply_A_adjoint(self, y):
        ...         out = y.new_zeros(*y.shape[:2], *(self.scale * n for n in y.shape[2:]))
        ...         out[..., :: self.scale, :: self.scale] = y
        ...         return out
        >>> op = EveryOther(2)
        >>> op.range_shape((1, 3, 8, 6)), op.domain_shape((1, 3, 4, 3))
        ((1, 3, 4, 3), (1, 3, 8, 6))
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = check_int(scale, "scale", minimum=1)

    def range_shape(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """``(N, C, H / s, W / s)``; :class:`ShapeError` unless ``s`` divides ``H`` and ``W``."""
        h, w = _check_divisible(shape, self.scale, name)
        return (shape[0], shape[1], h, w)

    def domain_shape(self, shape: Sequence[int], name: str = "y") -> tuple[int, ...]:
        """``(N, C, s·h, s·w)``."""
        if len(shape) != 4:
            raise ShapeError(f"{name}: expected a 4-D shape (N, C, h, w), got {tuple(shape)}")
        return (shape[0], shape[1], shape[2] * self.scale, shape[3] * self.scale)
