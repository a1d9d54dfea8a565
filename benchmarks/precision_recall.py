"""Precision/recall: time and whole-process peak memory, and speed against piq.PR.

- ``seconds_n30000`` / ``peak_mb_n30000``: ``stochrobust.metrics.precision_recall`` on
  30 000 real and 30 000 generated 64-D features (k = 3), in a fresh subprocess limited to
  2 threads; the peak is the child's whole-process maximum resident set size (``ru_maxrss``,
  which includes torch itself — ``peak_mb_baseline`` is the same process without the call).
  Targets: < 60 s and < 1.5 GB (a dense implementation holds three 30 000² float32 matrices,
  about 10.8 GB).
- ``peak_mb_n10000`` / ``peer_peak_mb_n10000``: the same measurement for ours and for
  ``piq.PR`` at 10 000 points, side by side (piq is dense: O(N²) memory).
- ``ours_over_peer_n2000``: median time of ours over median time of ``piq.PR`` at 2 000
  points, measured in this process after a warm-up (ratio < 1: ours is faster).
- ``precision_diff_vs_peer_n2000``: |ours − piq| on the precision term, where piq is right.

Run: ``PYTHONPATH=. python benchmarks/precision_recall.py [--quick] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
import torch
torch.set_num_threads(2)
n, d, device, which = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
g = torch.Generator().manual_seed(0)
real = torch.randn(n, d, generator=g).to(device)
fake = (1.1 * torch.randn(n, d, generator=g) + 0.1).to(device)
start = time.perf_counter()
if which == "ours":
    from stochrobust.metrics import precision_recall
    p, r = precision_recall(real, fake, k=3)
    p, r = float(p), float(r)
elif which == "piq":
    import piq
    p, r = (float(v) for v in piq.PR(nearest_k=3).compute_metric(real, fake))
else:
    import stochrobust.metrics  # baseline: imports and data only
    p = r = float("nan")
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "gpu_mb": gpu_mb,
                  "precision": p, "recall": r}))
"""


def _child(n: int, d: int, device: str, which: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it reports."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "2")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n), str(d), device, which],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _median_seconds(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _row(metric: str, value: float, target: float | None = None, below: bool = True) -> dict:
    meets = None if target is None else (value < target if below else value > target)
    return {
        "benchmark": "precision_recall",
        "metric": metric,
        "value": float(value),
        "target": target,
        "meets_target": meets,
    }


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure; ``quick`` shrinks the sizes (no targets then)."""
    import piq

    from stochrobust.metrics import precision_recall

    rows: list[dict] = []
    big, mid, small, d = (4000, 2000, 500, 64) if quick else (30_000, 10_000, 2000, 64)
    on_target = not quick

    base = _child(big, d, device, "baseline")
    ours = _child(big, d, device, "ours")
    rows.append(_row(f"seconds_n{big}", ours["seconds"], 60.0 if on_target else None))
    rows.append(_row(f"peak_mb_n{big}", ours["peak_mb"], 1500.0 if on_target else None))
    rows.append(_row("peak_mb_baseline", base["peak_mb"]))
    if ours["gpu_mb"] is not None:
        rows.append(_row(f"peak_gpu_mb_n{big}", ours["gpu_mb"]))
    rows.append(_row(f"dense_estimate_mb_n{big}", 3 * big * big * 4 / 2**20))

    if not quick:
        mine, peer = _child(mid, d, device, "ours"), _child(mid, d, device, "piq")
        rows.append(_row(f"peak_mb_n{mid}", mine["peak_mb"]))
        rows.append(_row(f"peer_peak_mb_n{mid}", peer["peak_mb"]))
        rows.append(_row(f"seconds_n{mid}", mine["seconds"]))
        rows.append(_row(f"peer_seconds_n{mid}", peer["seconds"]))

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(1)
        real = torch.randn(small, d, generator=g).to(device)
        fake = (1.1 * torch.randn(small, d, generator=g) + 0.1).to(device)
        metric = piq.PR(nearest_k=3)
        repeats = 3 if quick else 7
        t_ours = _median_seconds(lambda: precision_recall(real, fake, k=3), repeats)
        t_peer = _median_seconds(lambda: metric.compute_metric(real, fake), repeats)
        p_ours = float(precision_recall(real, fake, k=3).precision)
        p_peer = float(metric.compute_metric(real, fake)[0])
    finally:
        torch.set_num_threads(threads)
    rows.append(_row(f"seconds_n{small}", t_ours))
    rows.append(_row(f"peer_seconds_n{small}", t_peer))
    rows.append(_row(f"ours_over_peer_n{small}", t_ours / t_peer))
    rows.append(_row(f"precision_diff_vs_peer_n{small}", abs(p_ours - p_peer), 1e-6))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for row in run(quick=args.quick, device=args.device):
        print(json.dumps(row))
