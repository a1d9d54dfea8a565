"""Randomly signed partial circulant measurements (ILO's structured compressed sensing).

``A = P_m · F⁻¹ diag(F g) F · D_±`` acts on flattened images ``x ∈ ℝⁿ``, ``n = C·H·W``:
flip the sign of every entry with a random ``±1`` (``D_±``), circularly convolve with a
Gaussian vector ``g`` of variance ``1/m`` (``F`` = the length-``n`` DFT) and keep the first
``m`` entries (``P_m``). It is applied in ``O(n log n)`` by real FFTs and never stored as a
dense ``m × n`` matrix — at ILO's size (``n`` = 3 million) that would take gigabytes.

``A Aᵀ = P_m C D_± D_± Cᵀ P_mᵀ = P_m C Cᵀ P_mᵀ`` (the signs cancel; ``C`` the circulant,
``C Cᵀ`` applied by two FFTs) is the leading ``m × m`` block of a circulant: a symmetric
Toeplitz matrix ``T`` with ``T[i, j] = a[|i − j|]``, ``a`` the circular autocorrelation of
``g``. It has no closed-form inverse, so ``(A Aᵀ)⁻¹`` is applied by conjugate gradients,
preconditioned by T. Chan's optimal circulant approximation of ``T`` (first column
``c_k = ((m − k) a_k + k a_{m−k}) / m``, inverted by a length-``m`` FFT). For ``m = n`` the
preconditioner is exact and one iteration suffices; for ``m ≪ n`` ``T`` is well conditioned
anyway.

References:
    [D21] §3.4 and Lemma 1 (randomly signed partial circulant matrices, ``g_i ~ N(0, 1/m)``;
    "matrix-vector products can be computed much faster using FFT").
    T. Chan, *An optimal circulant preconditioner for Toeplitz systems*, SIAM J. Sci.
    Stat. Comput. 9(4), 1988.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch

from stochrobust._checks import check_generator, check_int, check_number, describe
from stochrobust._deprecate import keyword_only_generator
from stochrobust.consistency._cg import DEFAULT_MAX_ITER, normal_solve
from stochrobust.consistency.base import LinearOperator
from stochrobust.errors import RangeError, ShapeError, StochRobustTypeError

__all__ = ["PartialCirculant"]


def _rfft(x: torch.Tensor) -> torch.Tensor:
    return cast(torch.Tensor, torch.fft.rfft(x))


def _irfft(x: torch.Tensor, n: int) -> torch.Tensor:
    return cast(torch.Tensor, torch.fft.irfft(x, n=n))


class PartialCirculant(LinearOperator):
    """Compressed sensing ``y = P_m (g ⊛ (σ ⊙ x))`` with random signs ``σ`` and Gaussian ``g``.

    The image batch ``(N, C, H, W)`` is flattened to ``(N, n)``, ``n = C·H·W``; every entry
    is multiplied by a fixed random sign ``σ_i = ±1``, the result is circularly convolved
    with a fixed Gaussian vector ``g`` (i.i.d. ``N(0, 1/m)``, so that
    ``E‖A x‖² = ‖x‖²``) and the *first* ``m`` entries are kept (a partial circulant matrix
    is the first ``m`` rows of a circulant; the first rows keep ``A Aᵀ`` Toeplitz, which is
    what the preconditioner exploits). ``A`` and ``Aᵀ`` are computed by real FFTs;
    ``A⁺ = Aᵀ (A Aᵀ)⁻¹`` and the projection ``x + Aᵀ (A Aᵀ)⁻¹ (y − A x)`` solve with
    ``A Aᵀ`` by preconditioned conjugate gradients to the relative residual ``tol``
    (matrix-free; differentiable, the backward pass is another solve). ``A`` has full row
    rank with probability 1.

    The signs and ``g`` are drawn once, in float64, from ``generator`` and stored as
    buffers; the same generator state gives the same operator.

    Args:
        shape: the image shape ``(C, H, W)``.
        m: the number of measurements, ``1 ≤ m ≤ C·H·W``.
        generator: random generator for the signs and ``g``, keyword-only (positional:
            deprecated 0.1 use); ``None`` draws from torch's global generator.
        tol: relative residual tolerance of the solves (``None``: ``1e-12`` in float64,
            ``≈1.2e-6`` in float32).
        max_iter: maximum number of conjugate-gradient iterations per solve.

    Raises:
        StochRobustTypeError: ``shape`` is not a sequence of 3 integers, ``m`` not an
            integer, ``generator`` not a ``torch.Generator``.
        RangeError: a size ``< 1``, ``m`` outside ``[1, C·H·W]``, ``tol`` not in
            ``(0, 1)``, ``max_iter < 1``.
        ShapeError: at call time, images not of shape ``(N, C, H, W)`` or measurements not
            of shape ``(N, m)``.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y = A x``: ``(N, m)``.

    References:
        [D21] §3.4, Lemma 1 and §4 ("compressed sensing with partial circulant matrices").

    Examples:
        >>> op = PartialCirculant((1, 8, 8), m=16, generator=torch.Generator().manual_seed(0))
        >>> x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
        >>> y = op.A(x)
        >>> y.shape
        torch.Size([2, 16])
        >>> p = op.project(torch.zeros_like(x), y)   # the minimum-norm consistent image
        >>> bool((op.A(p) - y).abs().max() < 1e-10)
        True
    """

    signs: torch.Tensor
    g: torch.Tensor

    @keyword_only_generator
    def __init__(
        self,
        shape: Sequence[int],
        m: int,
        *,
        generator: torch.Generator | None = None,
        tol: float | None = None,
        max_iter: int = DEFAULT_MAX_ITER,
    ) -> None:
        super().__init__()
        if isinstance(shape, (int, str)) or not isinstance(shape, Sequence) or len(shape) != 3:
            raise StochRobustTypeError(
                f"shape: expected a sequence of 3 integers (C, H, W), got {describe(shape)}"
            )
        self.shape = tuple(check_int(v, "shape", minimum=1) for v in shape)
        self.n = math.prod(self.shape)
        self.m = check_int(m, "m", minimum=1)
        if self.m > self.n:
            raise RangeError(f"m: expected an integer in [1, C·H·W = {self.n}], got {self.m}")
        check_generator(generator)
        self.tol = (
            None
            if tol is None
            else check_number(
                tol, "tol", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
            )
        )
        self.max_iter = check_int(max_iter, "max_iter", minimum=1)
        dev = generator.device if generator is not None else torch.device("cpu")
        bits = torch.randint(0, 2, (self.n,), generator=generator, device=dev)
        g = torch.randn(self.n, generator=generator, dtype=torch.float64, device=dev)
        self.register_buffer("signs", (2 * bits - 1).to(torch.float64))
        self.register_buffer("g", g / math.sqrt(self.m))

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        return f"shape={self.shape}, m={self.m}, tol={self.tol}, max_iter={self.max_iter}"

    # ------------------------------------------------------------------ shapes
    def range_shape(self, shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
        """``(N, m)``."""
        if len(shape) != 4 or tuple(shape[1:]) != self.shape:
            dims = ", ".join(map(str, self.shape))
            raise ShapeError(f"{name}: expected a shape (N, {dims}), got {tuple(shape)}")
        return (shape[0], self.m)

    def domain_shape(self, shape: Sequence[int], name: str = "y") -> tuple[int, ...]:
        """``(N, C, H, W)``."""
        if len(shape) != 2 or shape[1] != self.m:
            raise ShapeError(f"{name}: expected a shape (N, {self.m}), got {tuple(shape)}")
        return (shape[0], *self.shape)

    # ------------------------------------------------------------------ maths
    def _signs_and_spectrum(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        signs = self.signs.to(device=like.device, dtype=like.dtype)
        ghat = _rfft(self.g.to(device=like.device, dtype=like.dtype))
        return signs, ghat

    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` without validation (the hook behind :meth:`A`)."""
        signs, ghat = self._signs_and_spectrum(x)
        v = x.reshape(x.shape[0], self.n) * signs
        return _irfft(ghat * _rfft(v), n=self.n)[:, : self.m]

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` without validation (the hook behind :meth:`A_adjoint`)."""
        signs, ghat = self._signs_and_spectrum(y)
        padded = torch.nn.functional.pad(y, (0, self.n - self.m))
        v = _irfft(ghat.conj() * _rfft(padded), n=self.n) * signs
        return v.reshape(y.shape[0], *self.shape)

    def normal_solve(self, r: torch.Tensor) -> torch.Tensor:
        """``(A Aᵀ)⁻¹ r``, used by the default :meth:`apply_A_pinv`."""
        # A Aᵀ = P_m C D_± D_± Cᵀ P_mᵀ = P_m C Cᵀ P_mᵀ: the signs cancel, and C Cᵀ is the
        # circulant with eigenvalues |ĝ|². Two FFTs per product, none for the signs.
        ghat = _rfft(self.g.to(device=r.device, dtype=r.dtype))
        power = ghat.real.square() + ghat.imag.square()
        n, m = self.n, self.m

        def matvec(v: torch.Tensor) -> torch.Tensor:
            padded = torch.nn.functional.pad(v, (0, n - m))
            return _irfft(power * _rfft(padded), n=n)[:, :m]

        # T. Chan's optimal circulant preconditioner of the Toeplitz matrix A Aᵀ, whose
        # first row is the autocorrelation a of g: c_k = ((m − k) a_k + k a_{m−k}) / m.
        a = _irfft(power.to(ghat.dtype), n=n)[:m]
        k = torch.arange(m, device=r.device, dtype=r.dtype)
        a_rev = torch.cat([a[:1], a[1:].flip(0)])  # a_{m−k} for k ≥ 1
        lam = _rfft(((m - k) * a + k * a_rev) / m).real
        eps = torch.finfo(r.dtype).eps
        lam = lam.clamp_min(torch.finfo(r.dtype).tiny + eps * lam.amax())

        def precond(v: torch.Tensor) -> torch.Tensor:
            return _irfft(_rfft(v) / lam, n=m)

        return normal_solve(r, matvec, precond=precond, tol=self.tol, max_iter=self.max_iter)
