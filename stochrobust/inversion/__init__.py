"""Inverse problems with a pre-trained generator, as stochastic restoration estimators.

- :func:`csgm`: gradient descent on the latent ``z`` of ``G`` in an L2 ball (Bora et al.
  2017), batched over measurements and random starts;
- :func:`ilo`: Intermediate Layer Optimization [D21]: layer after layer, search an L1 ball
  around the range of the earlier layers, then project back to that range;
- :func:`project_to_range`: ILO's projection back to the range, with its residual;
- :class:`InversionEstimator`: either one as a stochastic
  :class:`~stochrobust.Estimator` whose seed is the initial latent, so that sensitivity,
  robustness, diversity and smoothing apply unchanged;
- :class:`LayeredGenerator` and :func:`fit_glo`: a small generator pre-trained in seconds.

References:
    [D21] Daras, Dean, Jalal, Dimakis. Intermediate Layer Optimization for Inverse Problems
    using Deep Generative Models. ICML 2021. Bora, Jalal, Price, Dimakis. Compressed
    Sensing using Generative Models. ICML 2017.
"""

from stochrobust.inversion.csgm import csgm
from stochrobust.inversion.estimator import InversionEstimator
from stochrobust.inversion.generator import LayeredGenerator, fit_glo
from stochrobust.inversion.ilo import ilo
from stochrobust.inversion.range import project_to_range
from stochrobust.inversion.results import CSGMResult, ILOResult, ILOStage, RangeProjection

__all__ = [
    "CSGMResult",
    "ILOResult",
    "ILOStage",
    "InversionEstimator",
    "LayeredGenerator",
    "RangeProjection",
    "csgm",
    "fit_glo",
    "ilo",
    "project_to_range",
]
