"""Blur + stride (the degradation of CEM) with an exact projection by FFT.

``A x = S_s(k ⋆ x)``: a circular cross-correlation with a 2-D kernel ``k`` followed by
keeping every ``s``-th pixel in each direction. With circular boundaries everything is
diagonalised by the discrete Fourier transform, and ``A Aᵀ`` — an ``h·w × h·w`` matrix on
the low-resolution grid — is *diagonal* in the low-resolution Fourier basis once the
``s × s`` aliased frequency blocks are summed. The derivation (also on the documentation
page ``docs/consistency.md``), with unnormalised DFTs ``X̂[k] = Σ_n x[n] e^{-2πi k·n/H}``
and ``H = s·h``, ``W = s·w``:

1. The correlation is a circular convolution with a kernel image ``κ`` of size ``H × W``
   (``k`` flipped, anchored and wrapped around), so ``(k ⋆ x)^ = K̂ · X̂`` with
   ``K̂ = FFT(κ)``, and its adjoint multiplies by ``conj(K̂)``.
2. Subsampling ``S`` folds the spectrum: ``(S z)^[u, v] = s⁻² Σ_{p,q<s} Ẑ[u + p h, v + q w]``
   (aliasing). Its adjoint, zero insertion ``Sᵀ``, tiles it: ``(Sᵀ y)^[k, l] = Ŷ[k mod h,
   l mod w]``.
3. Hence ``(A Aᵀ y)^ = s⁻² fold(K̂ · conj(K̂) · tile(Ŷ)) = d · Ŷ`` with
   ``d[u, v] = s⁻² Σ_{p,q<s} |K̂[u + p h, v + q w]|²`` — the eigenvalues of ``A Aᵀ``;
   the singular values of ``A`` are ``√d``.
4. ``A⁺ = Aᵀ (A Aᵀ)⁺`` and the projection ``x + Aᵀ (A Aᵀ)⁻¹ (y − A x)`` become
   ``IFFT(X̂ + conj(K̂) · tile(g(d) · (Ŷ − s⁻² fold(K̂ X̂))))`` with ``g(d) = 1/d``: three
   FFTs, exact to float precision everywhere (no border effects).

Regularisation: frequencies whose singular value ``√d`` is at most ``rtol·√d_max`` are
treated as exact zeros of ``A Aᵀ`` (``g = 0``, as ``numpy.linalg.pinv`` does), which makes
``A⁺`` the Moore–Penrose pseudo-inverse of the numerically rank-deficient operator; on top,
an optional Tikhonov term ``reg`` replaces ``1/d`` by ``1/(d + reg·d_max)`` (the
regularised inverse ``Aᵀ(A Aᵀ + λI)⁻¹``, for noisy ``y``; it trades exact consistency for
stability). The original CEM pads by replication and floors ``|K̂|`` at 0.01, so it is exact
only away from the borders.

References:
    Bahat & Michaeli, *Explorable Super Resolution*, CVPR 2020 (CEM, the consistency
    enforcing module); [O23] §6.1.1 ("consistency is enforced with CEM").
"""

from __future__ import annotations

from typing import cast

import torch

from stochrobust._checks import check_finite, check_number, check_tensor
from stochrobust.consistency.base import Downsampling, _check_divisible
from stochrobust.errors import RangeError, ShapeError

__all__ = ["BlurDownsample"]

BOUNDARIES = ("circular",)


def _fft2(x: torch.Tensor) -> torch.Tensor:
    return cast(torch.Tensor, torch.fft.fft2(x))


def _ifft2_real(x: torch.Tensor) -> torch.Tensor:
    return cast(torch.Tensor, torch.fft.ifft2(x).real)


def _fold(z: torch.Tensor, s: int) -> torch.Tensor:
    """Sum the ``s × s`` aliased blocks of a spectrum ``(..., s·h, s·w)`` → ``(..., h, w)``."""
    *lead, height, width = z.shape
    return z.reshape(*lead, s, height // s, s, width // s).sum(dim=(-4, -2))


def _tile(y: torch.Tensor, s: int) -> torch.Tensor:
    """Periodic replication of a spectrum ``(..., h, w)`` → ``(..., s·h, s·w)``."""
    return y.repeat(*([1] * (y.ndim - 2)), s, s)


class BlurDownsample(Downsampling):
    """Blur with a 2-D kernel, then keep every ``s``-th pixel: ``A x = S_s(k ⋆ x)``.

    Circular boundaries: ``(A x)[i, j] = Σ_{a,b} k[a, b] · x[(s i + a − c_h) mod H,
    (s j + b − c_w) mod W]`` with the anchor ``c = ⌊(kernel size − s) / 2⌋``, which puts
    the centre of the kernel at the centre of each ``s × s`` block (half a pixel after it
    when ``kernel size − s`` is odd). With the box kernel ``ones(s, s) / s²`` this is exactly
    :class:`AvgPoolDownsample`. The kernel is used as given (not normalised) and applied to
    every channel; a kernel larger than the image wraps around.

    ``A``, ``Aᵀ``, ``A⁺`` and the projection ``x + Aᵀ (A Aᵀ)⁻¹ (y − A x)`` are computed
    exactly by FFT; see the module docstring of :mod:`stochrobust.consistency.blur` for the
    aliasing derivation and the regularisation.

    Args:
        kernel: the blur kernel, a finite 2-D floating-point tensor with a positive sum
            (odd or even sizes).
        scale: the integer stride ``s ≥ 1``.
        boundary: ``"circular"`` (the only boundary for which ``A Aᵀ`` is diagonalised by
            the FFT, hence the only one supported).
        reg: Tikhonov weight ``≥ 0`` relative to the largest eigenvalue of ``A Aᵀ``:
            ``(A Aᵀ)⁻¹`` becomes ``(A Aᵀ + reg·d_max I)⁻¹``. ``0`` (default) keeps the
            projection exactly consistent.
        rtol: singular values ``√d ≤ rtol·√d_max`` count as zero (dropped from ``A⁺``);
            ``None`` = ``100·eps`` of the computation's dtype, which only drops the exact
            zeros of a rank-deficient ``A`` (e.g. a box kernel of width ``2s``).

    Raises:
        StochRobustTypeError: ``kernel`` is not a floating-point tensor, ``scale`` is not an
            integer.
        ShapeError: ``kernel`` is not 2-D or is empty; at call time, ``H`` or ``W`` is not
            divisible by ``scale``.
        RangeError: ``kernel`` does not sum to a positive value, ``scale < 1``, a negative
            ``reg`` or ``rtol``, an unknown ``boundary``.
        NonFiniteError: NaN or Inf in ``kernel``.

    Shape:
        - ``x``: ``(N, C, H, W)``; ``y = A x``: ``(N, C, H / s, W / s)``.

    References:
        Bahat & Michaeli, CVPR 2020 (CEM: ``x + Aᵀ(A Aᵀ)⁻¹(y − A x)``); [O23] §6.1.1.

    Examples:
        >>> k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
        >>> op = BlurDownsample(k, scale=2)
        >>> x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 4, 4)
        >>> p = op.project(x, y)
        >>> bool((op.A(p) - y).abs().max() < 1e-5)
        True
        >>> torch.allclose(op.project(p, y), p, atol=1e-6)
        True
    """

    kernel: torch.Tensor

    def __init__(
        self,
        kernel: torch.Tensor,
        scale: int,
        boundary: str = "circular",
        *,
        reg: float = 0.0,
        rtol: float | None = None,
    ) -> None:
        super().__init__(scale)
        k = check_tensor(kernel, "kernel")
        if k.ndim != 2 or k.numel() == 0:
            raise ShapeError(f"kernel: expected a non-empty 2-D tensor, got shape {tuple(k.shape)}")
        check_finite(k, "kernel")
        total = float(k.double().sum())
        if not total > 0:
            raise RangeError(f"kernel: expected entries summing to a positive value, got {total:g}")
        if boundary not in BOUNDARIES:
            raise RangeError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
        self.boundary = boundary
        self.reg = check_number(reg, "reg", low=0.0)
        self.rtol = None if rtol is None else check_number(rtol, "rtol", low=0.0)
        self.register_buffer("kernel", k.detach().to(torch.float64).clone())

    def extra_repr(self) -> str:
        """The configuration shown by ``repr``."""
        kh, kw = self.kernel.shape
        return (
            f"kernel=({kh}, {kw}), scale={self.scale}, boundary={self.boundary!r}, "
            f"reg={self.reg:g}, rtol={self.rtol}"
        )

    # ------------------------------------------------------------------ shapes
    # ------------------------------------------------------------------ spectra
    def spectrum(
        self, height: int, width: int, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """``K̂``: the 2-D DFT of the kernel image (the blur as a circular convolution).

        Args:
            height: the high-resolution height ``H``.
            width: the high-resolution width ``W``.
            dtype: the real dtype of the computation.
            device: the device of the computation.

        Returns:
            A complex ``(H, W)`` tensor: ``FFT2(k ⋆ x) = K̂ · FFT2(x)``.
        """
        k = self.kernel.to(device=device, dtype=dtype)
        kh, kw = k.shape
        ch, cw = (kh - self.scale) // 2, (kw - self.scale) // 2
        rows = (ch - torch.arange(kh, device=device)) % height
        cols = (cw - torch.arange(kw, device=device)) % width
        image = torch.zeros(height, width, dtype=dtype, device=device)
        image.index_put_((rows[:, None].expand(kh, kw), cols[None, :].expand(kh, kw)), k, True)
        return _fft2(image)

    def _gain(self, khat: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``g(d)``: the regularised inverse eigenvalues of ``A Aᵀ``, ``(h, w)``, real."""
        d = _fold(khat.real.square() + khat.imag.square(), self.scale) / self.scale**2
        d_max = d.amax()
        rtol = 100.0 * torch.finfo(dtype).eps if self.rtol is None else self.rtol
        keep = d > (rtol**2) * d_max
        denom = d + self.reg * d_max
        return torch.where(keep, 1.0 / torch.where(keep, denom, torch.ones_like(denom)), 0.0)

    def eigenvalues(
        self, height: int, width: int, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        """The eigenvalues ``d`` of ``A Aᵀ`` on the low-resolution Fourier grid.

        Args:
            height: the high-resolution height ``H`` (divisible by the scale).
            width: the high-resolution width ``W``.
            dtype: the real dtype of the computation.

        Returns:
            ``d`` of shape ``(H / s, W / s)``; ``d[u, v]`` belongs to the Fourier mode
            ``e^{2πi(u i / h + v j / w)}``. ``d.max() / d.min()`` is the condition number
            of ``A Aᵀ``.

        Raises:
            ShapeError: ``height`` or ``width`` is not divisible by the scale.

        Examples:
            >>> op = BlurDownsample(torch.ones(2, 2) / 4, scale=2)  # = AvgPoolDownsample(2)
            >>> op.eigenvalues(4, 4)                                  # A Aᵀ = I / 4
            tensor([[0.2500, 0.2500],
                    [0.2500, 0.2500]], dtype=torch.float64)
        """
        _check_divisible((1, 1, height, width), self.scale, "height, width")
        khat = self.spectrum(height, width, dtype, self.kernel.device)
        return _fold(khat.abs().square(), self.scale) / self.scale**2

    # ------------------------------------------------------------------ maths
    def apply_A(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` without validation (the hook behind :meth:`A`)."""
        s = self.scale
        khat = self.spectrum(x.shape[-2], x.shape[-1], x.dtype, x.device)
        yhat = _fold(khat * _fft2(x), s) / s**2
        return _ifft2_real(yhat)

    def apply_A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` without validation (the hook behind :meth:`A_adjoint`)."""
        s = self.scale
        khat = self.spectrum(y.shape[-2] * s, y.shape[-1] * s, y.dtype, y.device)
        return _ifft2_real(khat.conj() * _tile(_fft2(y), s))

    def apply_A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        """``A⁺ y`` without validation (the hook behind :meth:`A_pinv`)."""
        s = self.scale
        khat = self.spectrum(y.shape[-2] * s, y.shape[-1] * s, y.dtype, y.device)
        gain = self._gain(khat, y.dtype)
        return _ifft2_real(khat.conj() * _tile(gain * _fft2(y), s))

    def apply_project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The projection of ``x`` onto ``{A x = y}`` (behind :meth:`project`)."""
        s = self.scale
        khat = self.spectrum(x.shape[-2], x.shape[-1], x.dtype, x.device)
        xhat = _fft2(x)
        rhat = _fft2(y) - _fold(khat * xhat, s) / s**2
        corr = khat.conj() * _tile(self._gain(khat, x.dtype) * rhat, s)
        return x + _ifft2_real(corr)
