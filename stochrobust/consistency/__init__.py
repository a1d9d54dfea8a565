"""Degradation operators, exact projections onto ``D(x) = y`` and a consistency wrapper.

- Operators (``A``, ``A_adjoint``, ``A_pinv``, ``project``; batched, differentiable):
  :class:`Inpainting`, :class:`AvgPoolDownsample`, :class:`BlurDownsample` (CEM, exact by
  FFT), :class:`PartialCirculant` (ILO's compressed sensing), :class:`Colorization`; the
  base class :class:`LinearOperator` for your own.
- :func:`project`, :class:`Consistent` (make any generator's outputs consistent),
  :func:`consistency_psnr` and :func:`is_consistent` (the 45 dB criterion).
- deepinv interoperability (optional extra): :func:`from_deepinv`, :func:`to_deepinv`.

References:
    [O23] §2.2, §6.1.1; Bahat & Michaeli, CVPR 2020 (CEM); [D21] §3.4.
"""

from stochrobust.consistency.base import Downsampling, LinearOperator
from stochrobust.consistency.blur import BlurDownsample
from stochrobust.consistency.circulant import PartialCirculant
from stochrobust.consistency.deepinv import DeepinvOperator, from_deepinv, to_deepinv
from stochrobust.consistency.operators import (
    AvgPoolDownsample,
    Colorization,
    Inpainting,
)
from stochrobust.consistency.projection import (
    Consistent,
    consistency_psnr,
    is_consistent,
    project,
)

__all__ = [
    "AvgPoolDownsample",
    "BlurDownsample",
    "Colorization",
    "Consistent",
    "DeepinvOperator",
    "Downsampling",
    "Inpainting",
    "LinearOperator",
    "PartialCirculant",
    "consistency_psnr",
    "from_deepinv",
    "is_consistent",
    "project",
    "to_deepinv",
]
