"""Median randomized smoothing with finite-sample certified percentile bounds.

- :class:`MedianSmoothing` — the smoothed model (per-pixel Monte-Carlo median of
  ``f(x + σg)``, fused evaluation), its percentiles and certificates;
- :func:`certified_indices`, :func:`certified_radius`, :func:`percentile_index` — the
  order-statistic maths of the certificate;
- :func:`noise_augment`, :func:`median_aggregate` — the CertSR fine-tuning batch recipe.

References:
    [C24] Chaouai, Tamaazousti. Universal robustness via median randomized smoothing for
    real-world super resolution. 2024, §4.
    [Ch20] Chiang et al. Detection as regression: certified object detection with median
    smoothing. NeurIPS 2020.
"""

from stochrobust.smoothing.augment import NoiseAugmentation, median_aggregate, noise_augment
from stochrobust.smoothing.certificates import (
    certified_indices,
    certified_radius,
    percentile_index,
)
from stochrobust.smoothing.certify import (
    CertificationWarning,
    SmoothingCertificate,
    certify_percentile,
)
from stochrobust.smoothing.median import MedianSmoothing
from stochrobust.smoothing.sampling import sample_noisy_outputs, smoothed_percentile

__all__ = [
    "CertificationWarning",
    "MedianSmoothing",
    "NoiseAugmentation",
    "SmoothingCertificate",
    "certified_indices",
    "certified_radius",
    "certify_percentile",
    "median_aggregate",
    "noise_augment",
    "percentile_index",
    "sample_noisy_outputs",
    "smoothed_percentile",
]
