"""Metrics: Wasserstein-2 distances and full-reference quality.

References:
    [O23] §2.1 (perceptual index), §5 (W₂), eq. 9 (PSNR robustness).
"""

from stochrobust.metrics.quality import psnr
from stochrobust.metrics.wasserstein import optimal_assignment, w2_dirac, w2_empirical

__all__ = ["optimal_assignment", "psnr", "w2_dirac", "w2_empirical"]
