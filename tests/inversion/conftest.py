"""Shared pieces of the inversion tests: small generators and operators."""

from __future__ import annotations

import pytest
import torch

from stochrobust.consistency import AvgPoolDownsample, Inpainting, LinearOperator, PartialCirculant
from stochrobust.inversion import LayeredGenerator


@pytest.fixture
def net() -> LayeredGenerator:
    """A random 3-block generator 4 → 16 → 32 → 1×8×8 (fixed seed)."""
    return LayeredGenerator(4, (16, 32), (1, 8, 8), generator=torch.Generator().manual_seed(0))


def operators() -> dict[str, LinearOperator]:
    """Inpainting (half the pixels), ×4 SR by averaging, partial circulant (m = 32) on 8×8."""
    g = torch.Generator().manual_seed(5)
    return {
        "inpainting": Inpainting(torch.rand(8, 8, generator=g) > 0.5),
        "sr4": AvgPoolDownsample(4),
        "circulant": PartialCirculant((1, 8, 8), 32, generator=g),
    }
