"""ILO and CSGM ([D21]): one batched inversion of B·K rows vs a Python loop over the starts.

Generator ``LayeredGenerator(8, (32, 64), (1, 8, 8))``, ×2 average pooling, ``B = 8``
measurements, ``K = 8`` random starts each (the seeds of the stochastic estimator), ILO with
``csgm_steps=60, steps_per_layer=30, project_back_steps=15, rounds=1`` (161 evaluations per
row) and CSGM with the same budget. ``fused``: one ``ilo``/``csgm`` call with ``z0`` of
shape ``(B, K, 8)``; ``loop``: ``K`` calls, one start each (every call batched over the
``B`` measurements). ``max_abs_diff_*`` checks that both compute the same reconstructions.
``unrolled_over_plain``: the cost of one differentiable ILO (``y`` requiring grad, the
optimisation unrolled) plus its backward pass, relative to a plain ILO — what one attack
step on an ``InversionEstimator`` costs. ``--quick``: ``B = K = 2`` and a fifth of the steps.
"""

from __future__ import annotations

import torch
from _common import interleaved, row

from stochrobust.consistency import AvgPoolDownsample
from stochrobust.inversion import LayeredGenerator, csgm, ilo

NAME = "ilo_batched"


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure the fused/loop ratios and the unrolled cost; see the module docstring."""
    g = torch.Generator().manual_seed(0)
    net = LayeredGenerator(8, (32, 64), (1, 8, 8), generator=g).to(device)
    op = AvgPoolDownsample(2)
    batch = k = 2 if quick else 8
    scale = 5 if quick else 1
    opts = {
        "csgm_steps": 60 // scale,
        "steps_per_layer": 30 // scale,
        "project_back_steps": 15 // scale,
        "rounds": 1,
    }
    y = torch.rand(batch, 1, 4, 4, generator=g).to(device)
    z0 = torch.randn(batch, k, 8, generator=g).to(device)
    budget = ilo(net.layers, op, y[:1], z0=z0[:1, :1], **opts).n_evals - 2

    def ilo_loop() -> torch.Tensor:
        return torch.cat(
            [ilo(net.layers, op, y, z0=z0[:, i : i + 1], **opts).x_hat for i in range(k)], 1
        )

    def csgm_loop() -> torch.Tensor:
        return torch.cat(
            [csgm(net, op, y, z0=z0[:, i : i + 1], steps=budget).x_hat for i in range(k)], 1
        )

    def unrolled() -> None:
        yy = y.clone().requires_grad_()
        ilo(net.layers, op, yy, z0=z0, **opts).x_hat.sum().backward()

    variants = {
        "ilo_fused": lambda: ilo(net.layers, op, y, z0=z0, **opts),
        "ilo_loop": ilo_loop,
        "csgm_fused": lambda: csgm(net, op, y, z0=z0, steps=budget),
        "csgm_loop": csgm_loop,
        "ilo_unrolled": unrolled,
    }
    repeats = 2 if quick else 5
    times = interleaved(variants, repeats, device)
    target = None if quick else 0.5
    rows = [
        row(NAME, "ilo_fused_over_loop", times["ilo_fused"] / times["ilo_loop"], target),
        row(NAME, "csgm_fused_over_loop", times["csgm_fused"] / times["csgm_loop"], target),
        row(NAME, "unrolled_over_plain", times["ilo_unrolled"] / times["ilo_fused"]),
    ]
    rows += [row(NAME, f"seconds_{name}", seconds) for name, seconds in times.items()]
    fused = ilo(net.layers, op, y, z0=z0, **opts).x_hat
    rows.append(row(NAME, "max_abs_diff_ilo", float((fused - ilo_loop()).abs().max()), 1e-5))
    fused_c = csgm(net, op, y, z0=z0, steps=budget).x_hat
    rows.append(row(NAME, "max_abs_diff_csgm", float((fused_c - csgm_loop()).abs().max()), 1e-5))
    return rows
