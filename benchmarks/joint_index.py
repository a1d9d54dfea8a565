"""Joint perceptual index at scale: exact assignment vs the sliced and Gaussian variants.

Disk samples (the [O24] toy: joint points ``[x, y]`` in 3-D) for ``n`` = 1 000 and 4 000
(quick: 500) and the erratic estimator ``X̂_50``. Reported per ``n``: median seconds of the
exact index (``joint_perceptual_index``, an optimal assignment, ``O(n³)``), the sliced one
(256 directions) and the Gaussian one, their time ratios to the exact one, and the value
ratios (sliced / exact must be ``≤ 1``: ``SW₂ ≤ W₂``, the target). With POT installed,
POT's ``ot.sliced_wasserstein_distance`` (same number of directions) is timed as the peer
of the sliced variant.
"""

from __future__ import annotations

from typing import Any

import torch
from _common import interleaved, note, row

NAME = "joint_index"


def _case(n: int, device: str, ot: Any) -> list[dict]:
    from stochrobust.metrics import (
        joint_perceptual_index,
        joint_perceptual_index_gaussian,
        joint_perceptual_index_sliced,
    )
    from stochrobust.metrics.joint import joint_samples
    from stochrobust.toy import sample_disk, sine_disk

    x, y = sample_disk(n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    x, y = x.to(device), y.to(device)
    xh = sine_disk(y, 50.0)
    u, v = joint_samples(x, y, xh)

    def exact() -> float:
        return float(joint_perceptual_index(x, y, xh))

    def sliced() -> float:
        g = torch.Generator(device=device).manual_seed(0)
        return float(joint_perceptual_index_sliced(x, y, xh, generator=g))

    def gaussian() -> float:
        return float(joint_perceptual_index_gaussian(x, y, xh))

    variants = {"exact": exact, "sliced": sliced, "gaussian": gaussian}
    if ot is not None:
        un, vn = u.cpu().numpy(), v.cpu().numpy()

        def peer() -> float:
            return float(ot.sliced_wasserstein_distance(un, vn, n_projections=256, seed=0))

        variants["peer_sliced"] = peer
    times = interleaved(variants, 1 if n >= 4000 else 3, device)
    rows = [row(NAME, f"seconds_{name}_n{n}", t) for name, t in times.items()]
    rows.append(row(NAME, f"sliced_over_exact_time_n{n}", times["sliced"] / times["exact"]))
    rows.append(row(NAME, f"gaussian_over_exact_time_n{n}", times["gaussian"] / times["exact"]))
    rows.append(row(NAME, f"sliced_over_exact_value_n{n}", sliced() / exact(), 1.0))
    rows.append(row(NAME, f"gaussian_over_exact_value_n{n}", gaussian() / exact()))
    if ot is not None:
        rows.append(
            row(NAME, f"sliced_over_peer_time_n{n}", times["sliced"] / times["peer_sliced"])
        )
    return rows


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Time the three estimators side by side; ``device`` holds the samples."""
    try:
        import ot
    except ImportError:
        ot = None
        note(NAME, "POT is not installed (pip install POT): peer column skipped")
    rows: list[dict] = []
    for n in [500] if quick else [1000, 4000]:
        rows += _case(n, device, ot)
    return rows
