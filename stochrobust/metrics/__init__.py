"""Metrics: perceptual quality, Wasserstein-2 distances, diversity and full-reference quality.

- :func:`precision_recall`, :func:`manifold_radii`, :func:`realism_score` — improved
  precision/recall (Kynkäänniemi et al. 2019), exact and memory-bounded;
- :func:`w2_dirac`, :func:`w2_empirical`, :func:`optimal_assignment` — exact ``W₂`` between
  Diracs and between empirical clouds;
- :func:`frechet_distance`, :func:`gaussian_w2`, :func:`fid_from_features` — the Gaussian
  ``W₂`` (FID convention: squared) with any feature network;
- :func:`per_pixel_std`, :func:`dataset_per_pixel_std` — output diversity;
- :func:`psnr`, :func:`ssim`, :func:`joint_perceptual_index` — quality of restorations;
- :func:`prdc`, :func:`density_coverage`, :func:`sharded_prdc` — precision, recall,
  density and coverage (Naeem et al. 2020) in one exact pass, one process or sharded;
- :class:`MetricState` and its states (:class:`MeanState`, :class:`PixelStdState`,
  :class:`FrechetState`, :class:`PSNRState`, :class:`SSIMState`,
  :class:`CertifiedRateState`, :class:`PRDCState`) — streaming, mergeable, synced over
  ``torch.distributed`` (collectives in :mod:`stochrobust.metrics.distributed`).

Set-level statistics (precision, recall, Fréchet distance, dataset diversity) are returned
as 0-d float64 tensors on the features' device; per-sample results keep the input dtype.

References:
    [O23] §2.1 (perceptual index), §5 (W₂), §6.1.1 (metrics), eq. 9 (PSNR robustness);
    [O24] (joint perceptual index).
"""

from stochrobust.metrics.counting import CertifiedRate, CertifiedRateState, PRDCState
from stochrobust.metrics.density_coverage import PRDC, density_coverage, prdc, sharded_prdc
from stochrobust.metrics.diversity import dataset_per_pixel_std, per_pixel_std
from stochrobust.metrics.frechet import fid_from_features, frechet_distance, gaussian_w2
from stochrobust.metrics.joint import joint_perceptual_index_gaussian, joint_perceptual_index_sliced
from stochrobust.metrics.precision_recall import (
    PrecisionRecall,
    manifold_radii,
    precision_recall,
    realism_score,
)
from stochrobust.metrics.quality import joint_perceptual_index, psnr, ssim
from stochrobust.metrics.states import FrechetState, PixelStdState, PSNRState, SSIMState
from stochrobust.metrics.streaming import MeanState, MetricState, chan_merge
from stochrobust.metrics.wasserstein import optimal_assignment, w2_dirac, w2_empirical

__all__ = [
    "PRDC",
    "CertifiedRate",
    "CertifiedRateState",
    "FrechetState",
    "MeanState",
    "MetricState",
    "PRDCState",
    "PSNRState",
    "PixelStdState",
    "PrecisionRecall",
    "SSIMState",
    "chan_merge",
    "dataset_per_pixel_std",
    "density_coverage",
    "fid_from_features",
    "frechet_distance",
    "gaussian_w2",
    "joint_perceptual_index",
    "joint_perceptual_index_gaussian",
    "joint_perceptual_index_sliced",
    "manifold_radii",
    "optimal_assignment",
    "per_pixel_std",
    "prdc",
    "precision_recall",
    "psnr",
    "realism_score",
    "sharded_prdc",
    "ssim",
    "w2_dirac",
    "w2_empirical",
]
