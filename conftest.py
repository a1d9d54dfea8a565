"""Settings for every test item: unit tests, package doctests and the doctested docs pages."""

from __future__ import annotations

import pytest
import torch

# The tests use tiny models and images: intra-op threads only add synchronisation (MKL
# threads even 16-point FFTs; on a shared 2-core machine each such op then waits ~10 ms for
# a second thread). One thread keeps the suite fast and its timings stable.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_global_rng() -> None:
    """Seed torch's global generator before every test and doctest: none depends on luck."""
    torch.manual_seed(0)
