"""stochrobust: robustness primitives for image-restoration models.

Wrap any torch generator — deterministic ``G(y)`` or stochastic ``G(y, z)`` — in an
:class:`Estimator` and measure, regularise, project and certify it:

- :mod:`stochrobust.sensitivity` — worst-case sensitivity and robustness ([O23] eqs. 2–9),
  attack solvers, norm-ball projections and a training regulariser;
- :mod:`stochrobust.consistency` — degradation operators and exact projections onto
  ``D(x) = y``;
- :mod:`stochrobust.smoothing` — median randomized smoothing with certified bounds;
- :mod:`stochrobust.metrics` — precision/recall, Wasserstein-2, Fréchet distance,
  per-pixel diversity, PSNR/SSIM.

Subpackages are imported lazily on first attribute access, so ``import stochrobust`` stays
fast.

Example:
    >>> import torch, stochrobust as sr
    >>> est = sr.Estimator(lambda y, z: y + 0.1 * z, seed_shape=(1, 8, 8))
    >>> est.sample(torch.zeros(2, 1, 8, 8), 4).shape
    torch.Size([2, 4, 1, 8, 8])
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from stochrobust._checks import (
    ModelError,
    NonFiniteError,
    RangeError,
    ShapeError,
    StochRobustError,
    StochRobustTypeError,
    frozen,
)
from stochrobust.estimator import Estimator, as_estimator

__version__ = "0.1.0"

_SUBMODULES = (
    "sensitivity",
    "consistency",
    "smoothing",
    "metrics",
    "nets",
    "toy",
    "testing",
    "cli",
)

if TYPE_CHECKING:  # pragma: no cover
    from stochrobust import consistency, metrics, sensitivity, smoothing, testing  # noqa: F401

__all__ = [
    "Estimator",
    "ModelError",
    "NonFiniteError",
    "RangeError",
    "ShapeError",
    "StochRobustError",
    "StochRobustTypeError",
    "__version__",
    "as_estimator",
    "frozen",
]


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"stochrobust.{name}")
    raise AttributeError(f"module 'stochrobust' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
