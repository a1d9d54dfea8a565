"""Batched exact L1-ball projection (``project_l1``) vs naive sort-based implementations.

``B = 8`` perturbations of 3×256×256 (196 608 coordinates each, standard normal, float32)
projected onto the L1 ball of radius 1 000 (about 0.6 % of their L1 norm: a sparse result,
the regime of L1 attacks). Two naive peers of the same sort-based algorithm (Duchi et al.
2008): a Python loop over the rows with NumPy (``np.sort``, float64 cumulative sums), and
a Python loop over the rows with torch (no batching). Reported: ``ours_over_numpy_loop``,
``ours_over_torch_loop``, the times and ``max_abs_diff`` against the NumPy result.
``--quick``: ``B = 4`` of 3×64×64, radius 100.
"""

from __future__ import annotations

import numpy as np
import torch
from _common import interleaved, row

from stochrobust.sensitivity import project_l1

NAME = "l1_projection"


def numpy_loop(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Row by row with NumPy: sort |v|, cumulative sums, threshold θ, soft-threshold."""
    flat = delta.detach().cpu().flatten(1).numpy()
    out = np.empty_like(flat)
    for i, v in enumerate(flat):
        mag = np.abs(v)
        if mag.sum(dtype=np.float64) <= eps:
            out[i] = v
            continue
        mu = np.sort(mag)[::-1].astype(np.float64)
        cums = np.cumsum(mu)
        j = np.arange(1, mu.size + 1)
        rho = int(np.nonzero(mu * j > cums - eps)[0][-1])
        theta = (cums[rho] - eps) / (rho + 1)
        out[i] = np.sign(v) * np.maximum(mag - theta, 0.0)
    return torch.from_numpy(out).reshape(delta.shape).to(delta.device)


def torch_loop(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Row by row with torch (the same algorithm, no batching)."""
    rows = []
    for v in delta.flatten(1):
        mag = v.abs()
        if float(mag.sum(dtype=torch.float64)) <= eps:
            rows.append(v)
            continue
        mu = torch.sort(mag, descending=True).values.double()
        cums = torch.cumsum(mu, 0)
        j = torch.arange(1, mu.numel() + 1, device=v.device, dtype=torch.float64)
        rho = int(torch.nonzero(mu * j > cums - eps)[-1])
        theta = (cums[rho] - eps) / (rho + 1)
        rows.append(torch.sign(v) * torch.clamp(mag - theta.float(), min=0))
    return torch.stack(rows).reshape(delta.shape)


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure ours against both loops; see the module docstring."""
    batch, size, eps = (4, 64, 100.0) if quick else (8, 256, 1000.0)
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(batch, 3, size, size, generator=g).to(device)
    times = interleaved(
        {
            "ours": lambda: project_l1(delta, eps),
            "numpy_loop": lambda: numpy_loop(delta, eps),
            "torch_loop": lambda: torch_loop(delta, eps),
        },
        3 if quick else 7,
        device,
    )
    ours = project_l1(delta, eps)
    diff = (ours - numpy_loop(delta, eps)).abs().max()
    target = None if quick else 1.0
    return [
        row(NAME, "ours_over_numpy_loop", times["ours"] / times["numpy_loop"], target),
        row(NAME, "ours_over_torch_loop", times["ours"] / times["torch_loop"], target),
        *(row(NAME, f"seconds_{name}", seconds) for name, seconds in times.items()),
        row(NAME, "max_abs_diff", float(diff), 1e-5),
    ]
