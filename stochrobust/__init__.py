"""stochrobust: robustness primitives for image-restoration models.

Equations implemented, and the public name that computes each (papers: [O23] Ohayon et al.,
ICML 2023; [O24] Ohayon et al., ICML 2024; [C24] Chaouai & Tamaazousti, 2024; [D21] Daras
et al., ICML 2021 — full references on the docs' home page, derivations in the guide):

- [O23] eq. 2, deterministic sensitivity ``r(y)`` (a norm): the root of
  ``sensitivity.sensitivity_at``'s value for a deterministic model.
- [O23] eq. 3, deterministic robustness ``R = E[r(Y)]``: ``sensitivity.robustness``.
- [O23] eq. 4, stochastic sensitivity (squared ``W₂`` between output laws):
  ``sensitivity.w2_sensitivity_at``, with ``metrics.w2_empirical``.
- [O23] eq. 5, stochastic robustness: the mean of ``w2_sensitivity_at`` over inputs.
- [O23] eq. 6, same-seed sensitivity ``r̃(y)`` (squared): ``sensitivity.sensitivity_at``,
  its seeds fused by ``Estimator.forward_seeds`` (common random numbers).
- [O23] eq. 7, same-seed robustness ``R̃`` (the loss ``L_R``): ``sensitivity.robustness``,
  ``sensitivity.RobustnessRegularizer``.
- [O23] eq. 8, training objective ``L_GAN + λ_R·L_R``: ``RobustnessRegularizer`` added to
  the caller's GAN loss.
- [O23] eq. 9, reported robustness ``E[PSNR(G(Y, Z), G(Y + δ(Y), Z))]``: the
  ``output_psnr`` of ``sensitivity_at``; ``metrics.psnr``.
- [O23] eq. 10, zigzag ``W₂(p_X, p_X̂) → 0``: ``toy.zigzag``, ``toy.sample_square``.
- [O23] eq. 11, ``W₂²`` as optimal transport: ``metrics.w2_empirical``,
  ``metrics.optimal_assignment``, ``metrics.w2_dirac``; Gaussian case
  ``metrics.gaussian_w2``, ``metrics.frechet_distance``.
- [O23] eq. 20 (App. D), eq. 5 ≤ eq. 7: ``w2_sensitivity_at`` reports both sides.
- [O23] §2.2, consistency ``D(x̂) = y``: ``consistency.project``, ``consistency.Consistent``,
  ``consistency.is_consistent``, ``testing.assert_consistent``.
- [O23] §2.1 and §4.1, precision and recall: ``metrics.precision_recall``.
- [O24], the Lipschitz lower bound ``‖G(y + δ) − G(y)‖ / ‖δ‖``:
  ``sensitivity.local_lipschitz``; the joint perceptual index ``W₂(p_{X,Y}, p_{X̂,Y})``:
  ``metrics.joint_perceptual_index``.
- [C24] eq. 1, FGSM: ``sensitivity.FGSM``; its iterative form: ``sensitivity.BIM``.
- [C24] eq. 2, Carlini–Wagner L2: ``sensitivity.CW``.
- [C24] eq. 3 (Lemma 4.1), certified percentile bounds: ``smoothing.certified_indices``,
  ``smoothing.certify_percentile``, ``smoothing.MedianSmoothing.certify``.
- [C24] §4.1, median smoothing: ``smoothing.MedianSmoothing``; §4.2, fine-tuning
  augmentation: ``smoothing.noise_augment``, ``smoothing.median_aggregate``.
- [D21] eq. 1, measurements ``y = A x``: ``consistency.LinearOperator`` and its
  operators; §3.4 and Lemma 1, partial circulant ``A``: ``consistency.PartialCirculant``.
- [D21] eq. 3, the L1 ball ``B₁ᵖ(r₂)`` around the generator's range:
  ``sensitivity.project_l1``.

Wrap any torch generator — deterministic ``G(y)`` or stochastic ``G(y, z)`` — in an
:class:`Estimator` and measure, regularise, project and certify it:

- :mod:`stochrobust.sensitivity` — worst-case sensitivity and robustness ([O23] eqs. 2–9),
  attack solvers, norm-ball projections and a training regulariser;
- :mod:`stochrobust.consistency` — degradation operators and exact projections onto
  ``D(x) = y``;
- :mod:`stochrobust.inversion` — CSGM and Intermediate Layer Optimization ([D21]) with a
  pre-trained generator, as stochastic estimators whose seed is the initial latent;
- :mod:`stochrobust.smoothing` — median randomized smoothing with certified bounds;
- :mod:`stochrobust.metrics` — precision/recall, Wasserstein-2, Fréchet distance,
  per-pixel diversity, PSNR/SSIM.

Everything is imported lazily on first attribute access, so ``import stochrobust`` is
instant and does not import torch; only the exception types of :mod:`stochrobust.errors`
(a module that imports nothing) are bound at import.

Examples:
    >>> import torch, stochrobust as sr
    >>> est = sr.Estimator(lambda y, z: y + 0.1 * z, seed_shape=(1, 8, 8))
    >>> est.sample(torch.zeros(2, 1, 8, 8), 4).shape
    torch.Size([2, 4, 1, 8, 8])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stochrobust import errors
from stochrobust.errors import *  # noqa: F403  (the names in errors.__all__)

__version__ = "0.1.0"

# Public names and the module that defines each; imported on first access so that
# ``import stochrobust`` (and the pytest plugin, which pytest loads in every session of an
# environment where stochrobust is installed) does not import torch.
_LAZY = {
    "Estimator": "stochrobust.estimator",
    "as_estimator": "stochrobust.estimator",
    "frozen": "stochrobust._guard",
}

_SUBMODULES = (
    "sensitivity",
    "consistency",
    "inversion",
    "smoothing",
    "metrics",
    "nets",
    "toy",
    "testing",
    "audit",
    "cli",
    "errors",
    "interop",
    "memory",
)

if TYPE_CHECKING:  # pragma: no cover
    from stochrobust import (  # noqa: F401
        audit,
        consistency,
        inversion,
        memory,
        metrics,
        nets,
        sensitivity,
        smoothing,
        testing,
        toy,
    )
    from stochrobust._guard import frozen
    from stochrobust.estimator import Estimator, as_estimator

# The exception types are listed once, in errors.__all__ (``__all__ += submodule.__all__`` is
# an idiom of the typing spec's library-interface rules; mypy exports them through the
# wildcard import above).
__all__ = ["Estimator", "__version__", "as_estimator", "frozen"]
__all__ += errors.__all__


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"stochrobust.{name}")
    raise AttributeError(f"module 'stochrobust' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
