"""Hypothesis strategies for property tests of restoration models.

- :func:`images` — batches ``(B, C, H, W)`` in ``[0, 1]`` with sizes in given ranges;
- :func:`perturbations` — ``δ`` inside an L2 / L∞ / L1 ball of radius ``ε`` per sample,
  from the interior to the boundary and the vertices;
- :func:`inpainting_masks` — random masks and the paper's "upper fraction masked" masks;
- :func:`sr_scales_and_images` — a super-resolution factor with high-resolution images
  whose sizes it divides.

Tensor contents come from a :class:`torch.Generator` seeded by a hypothesis draw (drawing
every pixel through hypothesis would be slow), so examples replay and shrink like any other
hypothesis data; shapes, dtypes, kinds and radii are drawn by hypothesis itself. Every
tensor is on the CPU. Needs ``hypothesis`` (the ``test`` extra).

References:
    [O23] §6.1.1 (upper 3/4 masked 64×64 images; super-resolution by ×4, ×8, ×16) and
    App. E.2.3 (the ε-ball of the attack); Duchi et al. 2008 (L1-ball projection); docs:
    sensitivity.md (balls and projections).
"""

from __future__ import annotations

try:  # checked once here, before any family module imports it
    import hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError(
        "stochrobust.testing.strategies needs hypothesis: "
        "pip install 'stochrobust[test]' (or pip install hypothesis)"
    ) from exc

from stochrobust.testing.strategies._common import IntRange as IntRange
from stochrobust.testing.strategies._images import Kind as Kind
from stochrobust.testing.strategies._images import images, sr_scales_and_images
from stochrobust.testing.strategies._masks import inpainting_masks
from stochrobust.testing.strategies._perturbations import perturbations

__all__ = ["images", "inpainting_masks", "perturbations", "sr_scales_and_images"]
