"""Scale measurements of ``benchmarks/precision_recall.py`` at ``D = 2048`` (helpers).

Not a benchmark of its own (not registered in ``run.py``): :func:`scale_rows` is called
by ``precision_recall.run``. Run as a script under ``torchrun`` it is the 2-rank worker:
``torchrun --nproc_per_node 2 benchmarks/scale_runs.py N OUT.json``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import child_peak, interleaved, row, sync

DIM = 2048
BLOCK, CHUNK = 1024, 16384
TARGET_N = 50_000
HERE = Path(__file__).resolve().parent


def features(n: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` real and ``n`` generated 2048-D features (Inception-pool-like: non-negative)."""
    g = torch.Generator().manual_seed(n)
    real = torch.randn(n, DIM, generator=g).abs_()
    fake = (1.1 * torch.randn(n, DIM, generator=g) + 0.1).abs_()
    return real.to(device), fake.to(device)


def floor(real: torch.Tensor, fake: torch.Tensor) -> None:
    """The three blockwise distance products, alone (float32, same block shapes)."""
    for a, b in ((real, real), (fake, fake), (fake, real)):
        b_sq = b.mul(b).sum(1).unsqueeze(0)
        for i in range(0, a.shape[0], BLOCK):
            q = a[i : i + BLOCK]
            for j in range(0, b.shape[0], CHUNK):
                torch.addmm(b_sq[:, j : j + CHUNK], q, b[j : j + CHUNK].T, alpha=-2.0)


def memory(device: str, n: int) -> Callable[[], dict]:
    """Child set-up for ``_common.child_peak``: one timed ``prdc`` call."""
    from stochrobust.metrics import prdc

    real, fake = features(n, device)

    def call() -> dict:
        start = time.perf_counter()
        prdc(real, fake, k=3)
        sync(device)
        return {"seconds": time.perf_counter() - start}

    return call


def two_ranks(n: int) -> dict | None:
    """Run this file under ``torchrun`` on 2 Gloo ranks; ``None`` without torchrun."""
    exe = shutil.which("torchrun")
    if exe is None or not torch.distributed.is_gloo_available():
        return None
    import stochrobust

    source = str(Path(stochrobust.__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), source, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranks.json"
        cmd = [
            exe,
            "--nproc_per_node",
            "2",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            "localhost:0",
            str(Path(__file__)),
            str(n),
            str(out),
        ]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"2-rank run failed:\n{res.stdout}\n{res.stderr}")
        return dict(json.loads(out.read_text()))


def scale_rows(name: str, n: int, device: str) -> list[dict]:
    """Rows of the scale section (see ``precision_recall``'s docstring)."""
    from stochrobust.metrics import prdc

    data = features(n, device)
    repeats = 3 if n <= 2000 else 1
    times = interleaved(
        {"floor": lambda: floor(*data), "prdc": lambda: prdc(*data, k=3)},
        repeats,
        device,
        warmup=1 if n <= 2000 else 0,
    )
    quick = n < 6000
    tag = f"d{DIM}_n{n}"
    rows = [
        row(name, f"floor_seconds_{tag}", times["floor"]),
        row(name, f"prdc_seconds_{tag}", times["prdc"]),
        row(name, f"prdc_over_floor_{tag}", times["prdc"] / times["floor"], None if quick else 1.3),
    ]
    peak = child_peak("scale_runs", "memory", device, n=n)
    rows.append(row(name, f"prdc_peak_mb_{tag}", peak["peak_mb"]))
    scale = TARGET_N / n
    rows.append(row(name, f"extrapolated_seconds_d{DIM}_n{TARGET_N}", times["prdc"] * scale**2))
    extra = peak["extra_mb"] if peak["extra_mb"] is not None else peak["peak_mb"]
    resident = peak["peak_mb"] - extra
    rows.append(
        row(
            name,
            f"extrapolated_peak_mb_d{DIM}_n{TARGET_N}",
            resident + extra * scale,
            None if quick else 6000.0,
        )
    )
    if device == "cpu":
        ranks = two_ranks(n)
        if ranks is not None:
            rows.append(row(name, f"ranks2_seconds_{tag}", ranks["seconds"]))
            rows.append(row(name, f"ranks2_over_floor_{tag}", ranks["seconds"] / times["floor"]))
            rows.append(row(name, f"ranks2_peak_mb_per_rank_{tag}", ranks["peak_mb"]))
    return rows


def _worker() -> None:
    import torch.distributed as dist

    from stochrobust.metrics import sharded_prdc

    n, out = int(sys.argv[1]), Path(sys.argv[2])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    real, fake = features(n, "cpu")
    lo, hi = n * rank // world, n * (rank + 1) // world
    real, fake = real[lo:hi].clone(), fake[lo:hi].clone()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    dist.barrier()
    start = time.perf_counter()
    sharded_prdc(real, fake, k=3)
    dist.barrier()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/status") as f:
            peak = next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        pass
    info: list[object] = [None] * world
    dist.all_gather_object(info, {"seconds": seconds, "peak_mb": peak})
    if rank == 0:
        out.write_text(
            json.dumps(
                {
                    "seconds": max(i["seconds"] for i in info),  # type: ignore[index]
                    "peak_mb": max(i["peak_mb"] for i in info),  # type: ignore[index]
                }
            )
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    _worker()
