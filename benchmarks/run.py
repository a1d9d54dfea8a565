"""Run the stochrobust benchmarks side by side and print / save their ratios.

Usage (from the repository root; works with the package installed or with ``PYTHONPATH=.``)::

    python benchmarks/run.py [--quick] [--device cpu|cuda] [--json PATH] [--only NAME,...]
                             [--threads N] [--clock wall|cpu]

Every benchmark module of this folder exposes ``run(quick, device) -> list[dict]`` returning
rows ``{"benchmark", "metric", "value", "target", "meets_target"}`` (``target`` is an upper
bound or ``None``). This script runs the selected modules one after another in this
process, prints one table and writes ``{"device", "torch", "machine", "quick", "rows"}`` as
JSON. A missed target is reported, never an error: the exit status is 1 only when a
benchmark raised (its traceback is printed and the others still run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling benchmark modules and _common
try:
    import stochrobust  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # a plain checkout: use the repository's sources
    sys.path.insert(1, str(HERE.parent))

import _common  # noqa: E402
import torch  # noqa: E402

BENCHMARKS = (
    "eq6_unet",
    "regularizer_step",
    "median_smoothing",
    "precision_recall",
    "w2_empirical",
    "joint_index",
    "l1_projection",
    "ilo_batched",
    "guard_overhead",
    "attack_strength",
    "memory",
)


def machine(device: str) -> dict:
    """CPU model, cores, threads, platform, load and (on CUDA) the GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info: dict = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "clock": _common.clock_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.2e}"
    return f"{x:.4g}"


def table(rows: list[dict]) -> str:
    """The rows as an aligned text table (target: an upper bound)."""
    lines = [("benchmark", "metric", "value", "target (<=)", "ok")]
    for r in rows:
        ok = {None: "", True: "yes", False: "MISSED"}[r["meets_target"]]
        lines.append((r["benchmark"], r["metric"], _fmt(r["value"]), _fmt(r["target"]), ok))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run (no timing targets)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: perf_counter (default); cpu: process time, for --threads 1 on a shared CPU",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="intra-op CPU threads (default: 1 with --quick, torch's default otherwise)",
    )
    args = parser.parse_args(argv)
    names = (
        BENCHMARKS if not args.only else tuple(n.strip() for n in args.only.split(",") if n.strip())
    )
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.clock == "cpu" and torch.device(args.device).type != "cpu":
        parser.error("--clock cpu: process time measures CPU work only; use --clock wall")
    _common.set_clock(args.clock)
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    if threads is not None:
        torch.set_num_threads(threads)

    info = machine(args.device)
    rows: list[dict] = []
    failed: list[str] = []
    start = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        print(f"== {name} ...", file=sys.stderr, flush=True)
        try:
            got = importlib.import_module(name).run(quick=args.quick, device=args.device)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        rows.extend(got)
        print(f"== {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    info["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    info["seconds"] = round(time.perf_counter() - start, 1)

    print(table(rows))
    missed = [f"{r['benchmark']}.{r['metric']}" for r in rows if r["meets_target"] is False]
    print(f"\n{len(rows)} rows in {info['seconds']} s; targets missed: {len(missed)}")
    if args.json is not None:
        result = {
            "device": args.device,
            "torch": torch.__version__,
            "machine": info,
            "quick": args.quick,
            "rows": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    if failed:
        print(f"benchmarks that raised: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
