"""Empirical W2: ours (exact assignment / HiGHS LP) against POT's ``ot.emd2``, side by side.

Clouds in 8-D, in this process, 2 threads: equal-size uniform clouds of n = 500 and 2 000
points (our assignment path), uniform clouds of 300 and 200 points (assignment after
repeating the points to lcm = 600) and the same sizes with random weights (our HiGHS LP
path). Reported: median time over repeats after a warm-up, the ratio ours / POT (< 1: ours
is faster) and the absolute difference of the squared distances (target 1e-8: both exact).

Run: ``PYTHONPATH=. python benchmarks/w2_empirical.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch


def _median_seconds(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _row(metric: str, value: float, target: float | None = None) -> dict:
    return {
        "benchmark": "w2_empirical",
        "metric": metric,
        "value": float(value),
        "target": target,
        "meets_target": None if target is None else value <= target,
    }


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure ours against POT; ``device`` holds the clouds (the solvers run on the host)."""
    import ot

    from stochrobust.metrics import w2_empirical

    cases = [(500, 500, False), (300, 200, False), (300, 200, True)]
    if not quick:
        cases.insert(1, (2000, 2000, False))
    rows: list[dict] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for n, m, weighted in cases:
            g = torch.Generator().manual_seed(n + m)
            a = torch.randn(n, 8, generator=g, dtype=torch.float64)
            b = (1.2 * torch.randn(m, 8, generator=g, dtype=torch.float64) + 0.3).to(device)
            a = a.to(device)
            if weighted:
                ta = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
                tb = torch.rand(m, generator=g, dtype=torch.float64) + 0.1
                ta, tb = ta / ta.sum(), tb / tb.sum()
            else:
                ta = torch.full((n,), 1.0 / n, dtype=torch.float64)
                tb = torch.full((m,), 1.0 / m, dtype=torch.float64)
            wa, wb = ta.numpy(), tb.numpy()
            kw = {"weights_a": ta.to(device), "weights_b": tb.to(device)} if weighted else {}

            def ours(a: torch.Tensor = a, b: torch.Tensor = b, kw: dict = kw) -> float:
                return float(w2_empirical(a, b, squared=True, **kw))

            def peer(a: torch.Tensor = a, b: torch.Tensor = b, wa: Any = wa, wb: Any = wb) -> float:
                an, bn = a.cpu().numpy(), b.cpu().numpy()
                return float(ot.emd2(wa, wb, ot.dist(an, bn), numItermax=10**7))

            repeats = 1 if (quick or n >= 2000) else 5
            t_ours = _median_seconds(ours, repeats)
            t_peer = _median_seconds(peer, repeats)
            tag = (f"n{n}" if n == m else f"n{n}_m{m}") + ("_weighted" if weighted else "")
            rows.append(_row(f"seconds_{tag}", t_ours))
            rows.append(_row(f"peer_seconds_{tag}", t_peer))
            rows.append(_row(f"ours_over_peer_{tag}", t_ours / t_peer))
            rows.append(_row(f"abs_diff_vs_peer_{tag}", abs(ours() - peer()), 1e-8))
    finally:
        torch.set_num_threads(threads)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for row in run(quick=args.quick, device=args.device):
        print(json.dumps(row))
