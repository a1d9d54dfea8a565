"""Adapters between deepinv's linear physics and stochrobust's operators.

deepinv (Tachella et al., *DeepInverse*, 2023–) describes a forward model as a
``LinearPhysics`` with ``A``, ``A_adjoint`` and ``A_dagger``. :func:`from_deepinv` makes one a
:class:`~stochrobust.consistency.LinearOperator`, so the projections, :class:`Consistent`,
:func:`consistency_psnr` and the ILO inversion of stochrobust apply to it;
:func:`to_deepinv` goes the other way, so stochrobust's exact operators (CEM blur by FFT,
partial circulant) can be used inside deepinv's solvers. deepinv is an optional dependency
(``pip install "stochrobust[deepinv]"``), imported only when these functions are called.

References:
    [O23] §2.2 (consistency ``D(x̂) = y``); Bahat & Michaeli, CVPR 2020 (the projection
    ``x + Aᵀ(A Aᵀ)⁻¹(y − A x)``); deepinv's ``LinearPhysics`` documentation.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch

from stochrobust._checks import describe
from stochrobust.consistency.base import LinearOperator
from stochrobust.errors import StochRobustTypeError

__all__ = ["DeepinvOperator", "from_deepinv", "to_deepinv"]


def _deepinv() -> Any:
    try:
        return importlib.import_module("deepinv")
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            "deepinv is not installed: pip install 'stochrobust[deepinv]' (or pip install "
            "deepinv) to use the deepinv adapters"
        ) from exc


class DeepinvOperator(LinearOperator):
    """A deepinv ``LinearPhysics`` seen as a stochrobust operator (built by :func:`from_deepinv`).

    ``A`` and ``Aᵀ`` are the physics' own ``A`` and ``A_adjoint`` (noise-free: the physics'
    noise model is never applied). ``A⁺`` is the physics' ``A_dagger`` when it is exact
    (a ``DecomposablePhysics``, e.g. ``Inpainting``, whose pseudo-inverse is closed form);
    otherwise stochrobust's conjugate-gradient ``Aᵀ (A Aᵀ)⁻¹`` (exact to the solver's
    tolerance for full-row-rank ``A``), since deepinv's iterative ``A_dagger`` stops at a
    looser tolerance. The measurement shape of an image shape is found once by applying
    ``A`` to zeros and cached.

    Args:
        physics: a ``deepinv.physics.LinearPhysics``.

    Raises:
        StochRobustTypeError: ``physics`` is not a deepinv ``LinearPhysics``.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y``: whatever ``physics.A`` returns.

    References:
        [O23] §2.2; deepinv's ``LinearPhysics`` and ``DecomposablePhysics``.

    Examples:
        >>> import deepinv
        >>> physics = deepinv.physics.Inpainting(img_size=(1, 4, 4), mask=0.5,
        ...                                      rng=torch.Generator().manual_seed(0))
        >>> op = from_deepinv(physics)
        >>> x, y = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
        >>> torch.allclose(op.A(op.project(x, physics.A(y))), physics.A(y))
        True
    """

    def __init__(self, physics: Any) -> None:
        super().__init__()
        dinv = _deepinv()
        if not isinstance(physics, dinv.physics.LinearPhysics):
            raise StochRobustTypeError(
                f"physics: expected a deepinv.physics.LinearPhysics, got {describe(physics)}"
            )
        self.physics = physics
        self.exact_dagger = isinstance(physics, dinv.physics.DecomposablePhysics)
        self._range: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._domain: dict[tuple[int, ...], tuple[int, ...]] = {}

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        return f"physics={type(self.physics).__name__}, exact_dagger={self.exact_dagger}"

    def range_shape(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """The shape of ``physics.A`` applied to an image batch of shape ``shape``."""
        key = tuple(int(s) for s in shape)
        if key not in self._range:
            from stochrobust.errors import ShapeError

            if len(key) != 4:
                raise ShapeError(f"{name}: expected a 4-D shape (N, C, H, W), got {key}")
            try:
                with torch.no_grad():
                    out = self.physics.A(torch.zeros(key, device=self._device()))
            except Exception as exc:
                raise ShapeError(
                    f"{name}: expected a shape the deepinv physics accepts, got {key} "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            self._range[key] = tuple(out.shape)
            self._domain[tuple(out.shape)] = key
        return self._range[key]

    def domain_shape(self, shape: Sequence[int], name: str = "y") -> tuple[int, ...]:
        """The image shape whose measurements have shape ``shape`` (seen by ``range_shape``)."""
        key = tuple(int(s) for s in shape)
        if key not in self._domain:
            with torch.no_grad():
                out = self.physics.A_adjoint(torch.zeros(key, device=self._device()))
            self._domain[key] = tuple(out.shape)
            self._range.setdefault(tuple(out.shape), key)
        return self._domain[key]

    def _device(self) -> torch.device:
        for t in (*self.physics.parameters(), *self.physics.buffers()):
            device: torch.device = t.device
            return device
        return torch.device("cpu")

    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        """``physics.A(x)`` (noise-free)."""
        out: torch.Tensor = self.physics.A(x)
        return out

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``physics.A_adjoint(y)``."""
        out: torch.Tensor = self.physics.A_adjoint(y)
        return out

    def apply_A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``physics.A_dagger(y)`` where exact, else conjugate gradients on ``A Aᵀ``."""
        if self.exact_dagger:
            out: torch.Tensor = self.physics.A_dagger(y)
            return out
        return super().apply_A_pinv(y)


def from_deepinv(physics: Any) -> DeepinvOperator:
    """Wrap a deepinv ``LinearPhysics`` as a stochrobust operator.

    Args:
        physics: a ``deepinv.physics.LinearPhysics`` (``Inpainting``, ``Downsampling``,
            ``Blur``, ``CompressedSensing``, ...).

    Returns:
        A :class:`DeepinvOperator`; check it with
        :func:`stochrobust.testing.check_linear_operator`.

    Raises:
        ImportError: deepinv is not installed.
        StochRobustTypeError: ``physics`` is not a deepinv ``LinearPhysics``.

    References:
        [O23] §2.2 (consistency); deepinv's ``LinearPhysics``.

    Examples:
        >>> import deepinv
        >>> physics = deepinv.physics.Downsampling(img_size=(1, 8, 8), filter="bicubic",
        ...                                        factor=2, padding="circular")
        >>> op = from_deepinv(physics)
        >>> op.range_shape((3, 1, 8, 8))
        (3, 1, 4, 4)
    """
    return DeepinvOperator(physics)


def to_deepinv(op: LinearOperator) -> Any:
    """Wrap a stochrobust operator as a deepinv ``LinearPhysics`` (noise-free).

    ``A``, ``A_adjoint`` and ``A_dagger`` are the operator's exact ``A``, ``A_adjoint`` and
    ``A_pinv`` (closed form or FFT for the library's operators), so deepinv's solvers and
    ``adjointness_test`` run on them unchanged.

    Args:
        op: a :class:`~stochrobust.consistency.LinearOperator`.

    Returns:
        A ``deepinv.physics.LinearPhysics``.

    Raises:
        ImportError: deepinv is not installed.
        StochRobustTypeError: ``op`` is not a ``LinearOperator``.

    References:
        Bahat & Michaeli, CVPR 2020 (the exact CEM pseudo-inverse); deepinv's
        ``LinearPhysics``.

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> physics = to_deepinv(AvgPoolDownsample(2))
        >>> x = torch.rand(1, 1, 4, 4)
        >>> torch.allclose(physics.A(physics.A_dagger(physics.A(x))), physics.A(x))
        True
    """
    if not isinstance(op, LinearOperator):
        raise StochRobustTypeError(
            f"op: expected a stochrobust.consistency.LinearOperator, got {describe(op)}"
        )
    dinv = _deepinv()

    class _StochrobustPhysics(dinv.physics.LinearPhysics):  # type: ignore[misc, name-defined]
        def A_dagger(self, y: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            return op.A_pinv(y)

    physics = _StochrobustPhysics(A=op.A, A_adjoint=op.A_adjoint)
    physics.operator = op
    return physics
