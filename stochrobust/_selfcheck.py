"""A short self-check of the foundation (Estimator and projections).

``stochrobust demo`` runs it until the full demonstration lands.
"""

from __future__ import annotations

import torch

import stochrobust
from stochrobust.estimator import Estimator
from stochrobust.sensitivity.projections import project


def run_selfcheck() -> int:
    """Check fused seed evaluation and projections on small random data; print a report.

    Returns:
        0 when every check passes, 1 otherwise.
    """
    gen = torch.Generator().manual_seed(0)
    lin = torch.nn.Conv2d(1, 1, 3, padding=1)
    est = Estimator(lambda y, z: lin(y) + 0.1 * z, seed_shape=(1, 8, 8), max_batch=7)
    y = torch.rand(3, 1, 8, 8, generator=gen)
    seeds = est.sample_seeds(y, 5, generator=gen)
    assert isinstance(seeds, torch.Tensor)
    with torch.no_grad():
        fused = est.forward_seeds(y, seeds)
        loop = torch.stack([lin(y) + 0.1 * seeds[:, k] for k in range(5)], dim=1)
    checks = {"fused seeds == per-seed loop": torch.allclose(fused, loop, atol=1e-6)}
    delta = torch.randn(4, 3, 8, 8, generator=gen)
    for norm, order in (("l2", 2.0), ("linf", float("inf")), ("l1", 1.0)):
        p = project(delta, 0.5, norm)
        inside = bool((p.flatten(1).norm(p=order, dim=1) <= 0.5 * (1 + 1e-5)).all())
        idem = torch.allclose(project(p, 0.5, norm), p, atol=1e-6)
        checks[f"{norm} projection lands in the ball and is idempotent"] = inside and idem
    print(f"stochrobust {stochrobust.__version__} (torch {torch.__version__}) self-check")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    return 0 if all(checks.values()) else 1
