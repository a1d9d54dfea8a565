"""Empirical W2: ours (assignment / POT's network simplex / HiGHS) against ``ot.emd2``.

Clouds in 8-D: equal-size uniform clouds of n = 500 and 2 000 points (our assignment
path), uniform clouds of 300 and 200 points and the same sizes with random weights. With
POT installed the library solves the last two with POT's network simplex; the
``scipy_*`` rows time the same calls with POT hidden from the library — the path its users
get without POT (assignment after repeating the points to lcm = 600, and HiGHS's LP for the
weighted clouds). Reported: median time over interleaved repeats after a warm-up, the
ratio ours / POT (< 1: ours is faster) and the absolute difference of the squared
distances (target 1e-8: both are exact). POT is in the ``test`` and ``bench`` extras;
without it only our (SciPy) times are reported.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import torch
from _common import interleaved, note, row

NAME = "w2_empirical"


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure ours against POT; ``device`` holds the clouds (the solvers run on the host)."""
    from stochrobust.metrics import w2_empirical, wasserstein

    try:
        import ot
    except ImportError:
        ot = None
        note(NAME, "POT is not installed (pip install POT): peer columns skipped")

    cases = [(500, 500, False), (300, 200, False), (300, 200, True)]
    if not quick:
        cases.insert(1, (2000, 2000, False))
    rows: list[dict] = []
    for n, m, weighted in cases:
        g = torch.Generator().manual_seed(n + m)
        a = torch.randn(n, 8, generator=g, dtype=torch.float64).to(device)
        b = (1.2 * torch.randn(m, 8, generator=g, dtype=torch.float64) + 0.3).to(device)
        if weighted:
            ta = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
            tb = torch.rand(m, generator=g, dtype=torch.float64) + 0.1
            ta, tb = ta / ta.sum(), tb / tb.sum()
        else:
            ta = torch.full((n,), 1.0 / n, dtype=torch.float64)
            tb = torch.full((m,), 1.0 / m, dtype=torch.float64)
        kw = {"weights_a": ta.to(device), "weights_b": tb.to(device)} if weighted else {}

        def ours(a: torch.Tensor = a, b: torch.Tensor = b, kw: dict = kw) -> float:
            return float(w2_empirical(a, b, squared=True, **kw))

        def peer(a: torch.Tensor = a, b: torch.Tensor = b, wa: Any = ta, wb: Any = tb) -> float:
            an, bn = a.cpu().numpy(), b.cpu().numpy()
            return float(ot.emd2(wa.numpy(), wb.numpy(), ot.dist(an, bn), numItermax=10**7))

        def scipy_only(a: torch.Tensor = a, b: torch.Tensor = b, kw: dict = kw) -> float:
            with mock.patch.object(wasserstein, "_network_simplex", lambda: None):
                return float(w2_empirical(a, b, squared=True, **kw))

        variants = {"ours": ours} if ot is None else {"ours": ours, "peer": peer}
        if ot is not None and (weighted or n != m):
            variants["scipy"] = scipy_only
        repeats = 2 if (quick or n >= 2000) else 5
        times = interleaved(variants, repeats, device)
        tag = (f"n{n}" if n == m else f"n{n}_m{m}") + ("_weighted" if weighted else "")
        rows.append(row(NAME, f"seconds_{tag}", times["ours"]))
        if ot is not None:
            rows.append(row(NAME, f"peer_seconds_{tag}", times["peer"]))
            rows.append(row(NAME, f"ours_over_peer_{tag}", times["ours"] / times["peer"]))
            rows.append(row(NAME, f"abs_diff_vs_peer_{tag}", abs(ours() - peer()), 1e-8))
        if "scipy" in variants:
            rows.append(row(NAME, f"seconds_scipy_{tag}", times["scipy"]))
            rows.append(row(NAME, f"scipy_over_peer_{tag}", times["scipy"] / times["peer"]))
            rows.append(
                row(NAME, f"abs_diff_scipy_vs_peer_{tag}", abs(scipy_only() - peer()), 1e-8)
            )
    return rows
